//! The region proposal network (Ren et al., 2015; torchvision's `rpn.py`): a head shared by
//! every feature level (3×3 conv → activation → objectness and box deltas per anchor), its
//! training targets and loss, and the proposals it makes.

use burn::module::Module;
use burn::nn::Initializer;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData};
use frelu::{Activation, ActivationConfig};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::boxes::{BoxCoder, BoxXyxy, batched_nms, clip, iou_matrix, is_large_enough};
use super::matcher::{Match, Matcher, Sampler};
use crate::models::common::set_bias;

/// Settings of the RPN that are not weights. [`RpnConfig::default`] is their one home.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpnConfig {
    /// Foreground IoU ≥ 0.7, background < 0.3, low-quality matches kept (torchvision).
    pub matcher: Matcher,
    /// 256 anchors per image, half foreground (torchvision).
    pub sampler: Sampler,
    /// Best anchors per level kept before NMS: `[training, testing]`.
    pub pre_nms_top_n: [usize; 2],
    /// Proposals per image kept after NMS: `[training, testing]`.
    pub post_nms_top_n: [usize; 2],
    /// IoU of the NMS among proposals of a level.
    pub nms_threshold: f32,
    /// Smallest proposal side kept, in pixels.
    pub min_size: f32,
}

impl Default for RpnConfig {
    /// torchvision's, with the proposal counts scaled to images of ~128 px holding ≤ 6 objects
    /// (torchvision keeps 2000/1000 per level and per image for ~800 px COCO images).
    fn default() -> Self {
        Self {
            matcher: Matcher {
                high: 0.7,
                low: 0.3,
                allow_low_quality: true,
            },
            sampler: Sampler {
                per_image: 256,
                positive_fraction: 0.5,
            },
            pre_nms_top_n: [1000, 500],
            post_nms_top_n: [500, 300],
            nms_threshold: 0.7,
            min_size: 1e-3,
        }
    }
}

/// The RPN's box coder: weights (1, 1, 1, 1).
pub const RPN_CODER: BoxCoder = BoxCoder { weights: [1.0; 4] };

/// The smooth-L1 β of both stages (torchvision: 1/9).
pub const SMOOTH_L1_BETA: f64 = 1.0 / 9.0;

/// The head: one 3×3 conv with the activation, then 1×1 convs to one objectness logit and four
/// box deltas per anchor. Shared by every level.
#[derive(Module, Debug)]
pub struct RpnHead {
    /// 3×3 conv (with bias, no norm, as torchvision's).
    pub conv: Conv2d,
    /// Its activation.
    pub act: Activation,
    /// 1×1 conv to `anchors` logits.
    pub cls_logits: Conv2d,
    /// 1×1 conv to `4·anchors` deltas.
    pub bbox_pred: Conv2d,
}

impl RpnHead {
    /// A head for `channels`-channel levels and `anchors` anchors per cell, initialised as
    /// torchvision's: normal(0, 0.01) weights, zero biases.
    pub fn new(channels: usize, anchors: usize, act: &ActivationConfig, device: &Device) -> Self {
        let conv = |i, o, k: usize| {
            let p = k / 2;
            let mut layer = Conv2dConfig::new([i, o], [k, k])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.01,
                })
                .init(device);
            set_bias(&mut layer, 0.0);
            layer
        };
        Self {
            conv: conv(channels, channels, 3),
            act: act.init(channels, device),
            cls_logits: conv(channels, anchors, 1),
            bbox_pred: conv(channels, 4 * anchors, 1),
        }
    }

    /// Objectness logits and box deltas of every anchor, flattened level by level in
    /// (row, column, anchor) order — the order of [`super::anchors::AnchorConfig::anchors`].
    ///
    /// # Shapes
    /// - levels: `[N, C, H_l, W_l]`
    /// - outputs: `[N, T]` and `[N, T, 4]`, T = Σ H_l·W_l·A
    pub fn forward(&self, levels: &[Tensor<4>]) -> (Tensor<2>, Tensor<3>) {
        use frelu::fastpath::conv2d;
        let mut logits = Vec::new();
        let mut deltas = Vec::new();
        for x in levels {
            let t = self.act.forward(conv2d(&self.conv, x.clone()));
            let o = conv2d(&self.cls_logits, t.clone());
            let [n, a, h, w] = o.dims();
            logits.push(o.permute([0, 2, 3, 1]).reshape([n, h * w * a]));
            let d = conv2d(&self.bbox_pred, t).reshape([n, a, 4, h, w]);
            deltas.push(d.permute([0, 3, 4, 1, 2]).reshape([n, h * w * a, 4]));
        }
        (Tensor::cat(logits, 1), Tensor::cat(deltas, 1))
    }
}

/// Host-built targets of the RPN loss for a batch (`[N, T]` each, deltas `[N, T, 4]`).
pub struct RpnTargets {
    /// 1 for foreground, 0 for background.
    pub labels: Vec<f32>,
    /// 1 for the sampled anchors.
    pub sampled: Vec<f32>,
    /// 1 for the sampled foreground anchors.
    pub positive: Vec<f32>,
    /// Deltas from each foreground anchor to its ground truth.
    pub deltas: Vec<f32>,
    /// Sampled anchors in the batch (the loss's normaliser).
    pub count: usize,
}

/// Matches `anchors` to each image's ground truth and samples them (one RNG per image).
pub fn rpn_targets(
    config: &RpnConfig,
    anchors: &[BoxXyxy],
    ground_truth: &[Vec<BoxXyxy>],
    rngs: &mut [impl Rng],
) -> RpnTargets {
    let t = anchors.len();
    let n = ground_truth.len();
    let mut out = RpnTargets {
        labels: vec![0.0; n * t],
        sampled: vec![0.0; n * t],
        positive: vec![0.0; n * t],
        deltas: vec![0.0; n * t * 4],
        count: 0,
    };
    for (b, (gt, rng)) in ground_truth.iter().zip(rngs.iter_mut()).enumerate() {
        let matches = config.matcher.assign(&iou_matrix(gt, anchors), t);
        let (pos, neg) = config.sampler.sample(&matches, rng);
        out.count += pos.len() + neg.len();
        for &i in &neg {
            out.sampled[b * t + i] = 1.0;
        }
        for &i in &pos {
            let Match::Foreground(g) = matches[i] else {
                continue;
            };
            out.sampled[b * t + i] = 1.0;
            out.labels[b * t + i] = 1.0;
            out.positive[b * t + i] = 1.0;
            let d = RPN_CODER.encode(&gt[g], &anchors[i]);
            out.deltas[(b * t + i) * 4..(b * t + i + 1) * 4].copy_from_slice(&d);
        }
    }
    out
}

/// Smooth L1 (Huber divided by β) elementwise: `0.5·d²/β` below β, `|d| − 0.5·β` above.
pub fn smooth_l1<const D: usize>(d: Tensor<D>, beta: f64) -> Tensor<D> {
    let a = d.abs();
    let q = a.clone().clamp_max(beta);
    q.clone().powi_scalar(2).mul_scalar(0.5 / beta) + (a - q)
}

/// The RPN loss `(objectness, box)`: binary cross-entropy over the sampled anchors (mean) and
/// smooth-L1 over the sampled foreground ones, summed and divided by the sampled count.
pub fn rpn_loss(
    logits: Tensor<2>,
    deltas: Tensor<3>,
    targets: &RpnTargets,
) -> (Tensor<1>, Tensor<1>) {
    let [n, t] = logits.dims();
    let device = logits.device();
    let tensor2 =
        |v: &Vec<f32>| Tensor::<2>::from_data(TensorData::new(v.clone(), [n, t]), &device);
    let (labels, sampled, positive) = (
        tensor2(&targets.labels),
        tensor2(&targets.sampled),
        tensor2(&targets.positive),
    );
    let norm = targets.count.max(1) as f64;
    // BCE with logits, stable: max(x, 0) − x·y + log(1 + e^−|x|).
    let bce =
        logits.clone().clamp_min(0.0) - logits.clone() * labels + logits.abs().neg().exp().log1p();
    let objectness = (bce * sampled).sum().div_scalar(norm);
    let target =
        Tensor::<3>::from_data(TensorData::new(targets.deltas.clone(), [n, t, 4]), &device);
    let per_anchor = smooth_l1(deltas - target, SMOOTH_L1_BETA)
        .sum_dim(2)
        .reshape([n, t]);
    let boxes = (per_anchor * positive).sum().div_scalar(norm);
    (objectness, boxes)
}

/// Proposals of every image: per level the `pre_nms_top_n` best anchors, decoded, clipped to
/// the `image_size` square, small boxes dropped, NMS per level, then the `post_nms_top_n` best
/// over all levels. `logits` `[N·T]` and `deltas` `[N·T·4]` are host copies; `level_sizes` the
/// anchors per level. Returns `(box, objectness probability)` lists, best first.
pub fn proposals(
    config: &RpnConfig,
    training: bool,
    (logits, deltas): (&[f32], &[f32]),
    anchors: &[BoxXyxy],
    level_sizes: &[usize],
    image_size: f32,
) -> Vec<Vec<(BoxXyxy, f32)>> {
    let t = anchors.len();
    let stage = usize::from(!training);
    let n = logits.len() / t.max(1);
    (0..n)
        .map(|b| {
            let scores = &logits[b * t..(b + 1) * t];
            let (mut boxes, mut probs, mut levels) = (Vec::new(), Vec::new(), Vec::new());
            let mut start = 0;
            for (level, &size) in level_sizes.iter().enumerate() {
                let mut order: Vec<usize> = (start..start + size).collect();
                order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
                order.truncate(config.pre_nms_top_n[stage]);
                for i in order {
                    let d = &deltas[(b * t + i) * 4..(b * t + i + 1) * 4];
                    let decoded = RPN_CODER.decode(&[d[0], d[1], d[2], d[3]], &anchors[i]);
                    let boxed = clip(&decoded, image_size, image_size);
                    if is_large_enough(&boxed, config.min_size) {
                        boxes.push(boxed);
                        probs.push(1.0 / (1.0 + (-scores[i]).exp()));
                        levels.push(level);
                    }
                }
                start += size;
            }
            let mut keep = batched_nms(&boxes, &probs, &levels, config.nms_threshold);
            keep.truncate(config.post_nms_top_n[stage]);
            keep.into_iter().map(|i| (boxes[i], probs[i])).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn targets_sample_foreground_and_encode_their_boxes() {
        let anchors = vec![
            [0.0, 0.0, 10.0, 10.0],
            [20.0, 20.0, 30.0, 30.0],
            [1.0, 0.0, 11.0, 10.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        let gt = vec![vec![[0.0, 0.0, 10.0, 10.0]], vec![]];
        let config = RpnConfig::default();
        let mut rngs = [StdRng::seed_from_u64(0), StdRng::seed_from_u64(1)];
        let t = rpn_targets(&config, &anchors, &gt, &mut rngs);
        // Image 0: anchors 0 and 2 overlap the box (IoU 1 and 0.82), the others are background.
        assert_eq!(&t.labels[..4], &[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(&t.sampled[..4], &[1.0; 4]);
        let d = &t.deltas[8..12];
        assert!((d[0] + 0.1).abs() < 1e-6 && d[1].abs() < 1e-6, "{d:?}");
        // Image 1 has no ground truth: every anchor is sampled background.
        assert_eq!(&t.labels[4..], &[0.0; 4]);
        assert_eq!(&t.sampled[4..], &[1.0; 4]);
        assert_eq!(t.count, 8);
    }

    #[test]
    fn smooth_l1_is_quadratic_below_beta_and_linear_above() {
        let device = Device::flex();
        let d = Tensor::<1>::from_data(
            TensorData::new(vec![0.05f32, -0.05, 1.0, -2.0], [4]),
            &device,
        );
        let got = smooth_l1(d, 0.1).try_into_vec_as::<f32>().unwrap();
        let want = [0.0125, 0.0125, 0.95, 1.95];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn proposals_are_decoded_clipped_suppressed_and_capped() {
        let anchors = vec![
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [30.0, 30.0, 40.0, 40.0],
            [70.0, 70.0, 80.0, 80.0],
        ];
        let logits = [3.0, 2.0, 1.0, 0.0];
        let deltas = [0.0f32; 16];
        let config = RpnConfig {
            post_nms_top_n: [2, 2],
            ..RpnConfig::default()
        };
        let p = proposals(&config, true, (&logits, &deltas), &anchors, &[4], 64.0);
        // Anchor 1 overlaps anchor 0 by 0.68 < 0.7 and survives; the cap keeps two. Anchor 3 lies
        // outside the image and clips to an empty box.
        assert_eq!(p[0].len(), 2);
        assert_eq!(p[0][0].0, [0.0, 0.0, 10.0, 10.0]);
        assert!((p[0][0].1 - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
        let all = proposals(
            &RpnConfig::default(),
            false,
            (&logits, &deltas),
            &anchors,
            &[4],
            64.0,
        );
        assert_eq!(all[0].len(), 3, "the anchor outside the image is dropped");
    }
}
