//! RoIAlign (He et al., "Mask R-CNN", 2017), as torchvision's `roi_align`, and its multi-level
//! form (`MultiScaleRoIAlign`).
//!
//! For an axis-aligned box, bilinear sampling on a regular grid averaged per bin is separable:
//! the output of RoI r is `Wy · F · Wxᵀ`, where `Wy[bin row, feature row]` (and `Wx` for
//! columns) holds the averaged bilinear weights of the bin's sample coordinates, built on the
//! host from the boxes. The op is then two batched matrix products, so its gradient with respect
//! to the features is exact and comes from autodiff; like torchvision's, it has none with
//! respect to the boxes (they are proposals, detached).

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::boxes::BoxXyxy;

/// Options of RoIAlign.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiAlignConfig {
    /// Output `[height, width]` (bins).
    pub output_size: [usize; 2],
    /// Samples per bin along each axis; 0 = adaptive, `ceil(box side / bins)`.
    pub sampling_ratio: usize,
    /// Shift the box by half a pixel so that sample centres line up with pixel centres
    /// (`aligned=True`); `false` is the legacy form, which also clamps box sides to ≥ 1.
    pub aligned: bool,
}

impl Default for RoiAlignConfig {
    /// torchvision's box head: 7 × 7 bins, 2 × 2 samples, `aligned=False`.
    fn default() -> Self {
        Self {
            output_size: [7, 7],
            sampling_ratio: 2,
            aligned: false,
        }
    }
}

/// The averaged bilinear weights of one axis: `bins × size`, row `i` the weights that bin `i`
/// gives each feature row (or column). `start`, `end` are the box's edges in feature pixels.
fn axis_weights(
    config: &RoiAlignConfig,
    start: f32,
    end: f32,
    bins: usize,
    size: usize,
) -> Vec<f32> {
    let offset = if config.aligned { 0.5 } else { 0.0 };
    let start = start - offset;
    let mut extent = end - offset - start;
    if !config.aligned {
        extent = extent.max(1.0);
    }
    let bin = extent / bins as f32;
    let grid = if config.sampling_ratio > 0 {
        config.sampling_ratio
    } else {
        (extent / bins as f32).ceil().max(0.0) as usize
    };
    let mut out = vec![0f32; bins * size];
    if grid == 0 {
        return out;
    }
    let limit = size as f32;
    for i in 0..bins {
        let row = &mut out[i * size..(i + 1) * size];
        for k in 0..grid {
            let mut y = start + i as f32 * bin + (k as f32 + 0.5) * bin / grid as f32;
            if y < -1.0 || y > limit {
                continue;
            }
            y = y.max(0.0);
            let mut low = y as usize;
            let high;
            if low >= size - 1 {
                low = size - 1;
                high = low;
                y = low as f32;
            } else {
                high = low + 1;
            }
            let l = y - low as f32;
            row[low] += (1.0 - l) / grid as f32;
            row[high] += l / grid as f32;
        }
    }
    out
}

/// RoIAlign of `rois` (each `(image index, box in input pixels)`) on `features`
/// (`spatial_scale` = feature pixels per input pixel).
///
/// # Shapes
/// - features: `[N, C, H, W]`
/// - output: `[rois, C, output_h, output_w]`, in the order of `rois`
pub fn roi_align(
    features: Tensor<4>,
    rois: &[(usize, BoxXyxy)],
    config: &RoiAlignConfig,
    spatial_scale: f32,
) -> Tensor<4> {
    let [n, c, h, w] = features.dims();
    let [ph, pw] = config.output_size;
    let device = features.device();
    if rois.is_empty() {
        return Tensor::zeros([0, c, ph, pw], &device);
    }
    // Slot of each RoI among its image's; the images are padded to the same count.
    let mut counts = vec![0usize; n];
    let slots: Vec<usize> = rois
        .iter()
        .map(|&(b, _)| {
            counts[b] += 1;
            counts[b] - 1
        })
        .collect();
    let r = counts.iter().copied().max().unwrap_or(1);
    let mut wy = vec![0f32; n * r * ph * h];
    // Stored transposed, `[W, output_w]` per RoI, for the second product.
    let mut wx = vec![0f32; n * r * w * pw];
    for (&(b, bx), &j) in rois.iter().zip(&slots) {
        let s = spatial_scale;
        let rows = axis_weights(config, bx[1] * s, bx[3] * s, ph, h);
        let base = (b * r + j) * ph * h;
        wy[base..base + ph * h].copy_from_slice(&rows);
        let cols = axis_weights(config, bx[0] * s, bx[2] * s, pw, w);
        let base = (b * r + j) * w * pw;
        for (bin, weights) in cols.chunks(w).enumerate() {
            for (x, &v) in weights.iter().enumerate() {
                wx[base + x * pw + bin] = v;
            }
        }
    }
    let wy = Tensor::<3>::from_data(TensorData::new(wy, [n, r * ph, h]), &device);
    let wx = Tensor::<3>::from_data(TensorData::new(wx, [n * r, w, pw]), &device);
    // [N, H, C·W] → rows of every RoI: [N, R·ph, C·W] → [N·R, ph·C, W] → [N·R, ph·C, pw].
    let f = features.permute([0, 2, 1, 3]).reshape([n, h, c * w]);
    let t = wy.matmul(f).reshape([n * r, ph * c, w]);
    let out = t
        .matmul(wx)
        .reshape([n * r, ph, c, pw])
        .permute([0, 2, 1, 3]);
    let order: Vec<i64> = rois
        .iter()
        .zip(&slots)
        .map(|(&(b, _), &j)| (b * r + j) as i64)
        .collect();
    if order.len() == n * r && order.iter().enumerate().all(|(i, &o)| o == i as i64) {
        return out;
    }
    out.select(0, index_tensor(order, &device))
}

/// A 1-D index tensor.
pub fn index_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// The FPN level of a box (torchvision's `LevelMapper`): `⌊k0 + log2(√area / s0) + 1e-6⌋`,
/// clamped to `[k_min, k_max]`, returned relative to `k_min`.
pub fn level_of(b: &BoxXyxy, (k_min, k_max): (i32, i32), canonical: (f32, i32)) -> usize {
    let (s0, k0) = canonical;
    let s = ((b[2] - b[0]) * (b[3] - b[1])).max(0.0).sqrt();
    let k = (k0 as f32 + (s / s0 + 1e-8).log2() + 1e-6).floor() as i32;
    (k.clamp(k_min, k_max) - k_min) as usize
}

/// RoIAlign over feature levels of strides `strides` (powers of two, finest first): each RoI is
/// pooled from the level [`level_of`] gives it, with the canonical box side `canonical` at level 4.
///
/// # Shapes
/// - levels: `[N, C, H_l, W_l]`
/// - output: `[rois, C, output_h, output_w]`, in the order of `rois`
pub fn multi_scale_roi_align(
    levels: &[Tensor<4>],
    strides: &[usize],
    rois: &[(usize, BoxXyxy)],
    config: &RoiAlignConfig,
    canonical: f32,
) -> Tensor<4> {
    if levels.len() == 1 {
        return roi_align(levels[0].clone(), rois, config, 1.0 / strides[0] as f32);
    }
    let k = |s: usize| (s as f32).log2().round() as i32;
    let range = (k(strides[0]), k(strides[strides.len() - 1]));
    let assigned: Vec<usize> = rois
        .iter()
        .map(|(_, b)| level_of(b, range, (canonical, 4)))
        .collect();
    let mut parts = Vec::new();
    let mut order = Vec::new();
    for (l, features) in levels.iter().enumerate() {
        let picked: Vec<usize> = (0..rois.len()).filter(|&i| assigned[i] == l).collect();
        if picked.is_empty() {
            continue;
        }
        let subset: Vec<(usize, BoxXyxy)> = picked.iter().map(|&i| rois[i]).collect();
        parts.push(roi_align(
            features.clone(),
            &subset,
            config,
            1.0 / strides[l] as f32,
        ));
        order.extend(picked);
    }
    let out = Tensor::cat(parts, 0);
    if order.iter().enumerate().all(|(i, &o)| o == i) {
        return out;
    }
    // Row `i` of the output is RoI `order[i]`: invert.
    let mut inverse = vec![0i64; order.len()];
    for (row, &roi) in order.iter().enumerate() {
        inverse[roi] = row as i64;
    }
    let device = out.device();
    out.select(0, index_tensor(inverse, &device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        name: String,
        features_shape: [usize; 4],
        features: Vec<f32>,
        boxes: Vec<[f32; 5]>,
        output_size: [usize; 2],
        spatial_scale: f32,
        sampling_ratio: i64,
        aligned: bool,
        output_shape: [usize; 4],
        output: Vec<f32>,
    }

    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }

    #[test]
    fn equals_torchvisions_roi_align() {
        let fixture: Fixture =
            serde_json::from_str(include_str!("fixtures/roi_align_reference.json")).unwrap();
        assert!(fixture.cases.len() >= 6);
        let device = Device::flex();
        let mut seen = (false, false, false);
        for case in &fixture.cases {
            let features = Tensor::<4>::from_data(
                TensorData::new(case.features.clone(), case.features_shape),
                &device,
            );
            let rois: Vec<(usize, BoxXyxy)> = case
                .boxes
                .iter()
                .map(|b| (b[0] as usize, [b[1], b[2], b[3], b[4]]))
                .collect();
            let [_, _, h, w] = case.features_shape;
            seen.0 |= rois.iter().any(|(_, b)| {
                b[0] < 0.0
                    || b[2] * case.spatial_scale > w as f32
                    || b[3] * case.spatial_scale > h as f32
            });
            seen.1 |= case.aligned;
            seen.2 |= !case.aligned;
            let config = RoiAlignConfig {
                output_size: case.output_size,
                sampling_ratio: case.sampling_ratio.max(0) as usize,
                aligned: case.aligned,
            };
            let out = roi_align(features, &rois, &config, case.spatial_scale);
            assert_eq!(out.dims(), case.output_shape, "{}", case.name);
            let got = out.try_into_vec_as::<f32>().unwrap();
            for (i, (a, b)) in got.iter().zip(&case.output).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5,
                    "{}: element {i}: {a} vs {b}",
                    case.name
                );
            }
        }
        assert_eq!(
            seen,
            (true, true, true),
            "the fixture covers boxes outside and both alignments"
        );
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let device = Device::flex().autodiff();
        let shape = [2, 3, 6, 7];
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let rois = vec![
            (1, [0.5, 1.0, 9.0, 7.5]),
            (0, [-2.0, 3.0, 5.0, 20.0]),
            (1, [2.0, 2.0, 3.0, 3.0]),
        ];
        let config = RoiAlignConfig {
            output_size: [3, 2],
            sampling_ratio: 0,
            aligned: true,
        };
        let g = Tensor::<4>::random([3, 3, 3, 2], Distribution::Normal(0.0, 1.0), &device);
        let loss = |x: Tensor<4>| (roi_align(x, &rois, &config, 0.75) * g.clone()).sum();
        let xg = x.clone().require_grad();
        let grads = loss(xg.clone()).backward();
        let analytic = xg.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        let base = x.clone().try_into_vec_as::<f32>().unwrap();
        let eps = 1e-2f32;
        let mut nonzero = 0;
        for i in (0..base.len()).step_by(5) {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                loss(Tensor::from_data(TensorData::new(v, shape), &device)).into_scalar::<f32>()
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 2e-3 * (1.0 + numeric.abs()),
                "{i}: {numeric} vs {}",
                analytic[i]
            );
            nonzero += usize::from(analytic[i] != 0.0);
        }
        assert!(
            nonzero > 10,
            "the check must see real gradients ({nonzero})"
        );
    }

    #[test]
    fn multi_level_pooling_keeps_the_rois_order() {
        let device = Device::flex();
        let fine = Tensor::<4>::random([1, 2, 16, 16], Distribution::Default, &device);
        let coarse = Tensor::<4>::random([1, 2, 8, 8], Distribution::Default, &device);
        let config = RoiAlignConfig::default();
        // Sides 8 and 60 px with a canonical side of 32 at level 4 (strides 4 and 8 are levels
        // 2 and 3): the small box goes to level 2, the large one to 3.
        let small = (0, [4.0, 4.0, 12.0, 12.0]);
        let large = (0, [0.0, 0.0, 60.0, 60.0]);
        assert_eq!(level_of(&small.1, (2, 3), (32.0, 4)), 0);
        assert_eq!(level_of(&large.1, (2, 3), (32.0, 4)), 1);
        let both = multi_scale_roi_align(
            &[fine.clone(), coarse.clone()],
            &[4, 8],
            &[large, small],
            &config,
            32.0,
        );
        let alone_large = roi_align(coarse, &[large], &config, 0.125);
        let alone_small = roi_align(fine, &[small], &config, 0.25);
        let expected = Tensor::cat(vec![alone_large, alone_small], 0);
        both.into_data().assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }
}
