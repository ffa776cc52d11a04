//! A single-stage, anchor-free detector in the style of CenterNet (Zhou et al., "Objects as
//! Points", 2019): a small ResNet backbone, a two-level feature pyramid fused at stride 4, and
//! three heads — a class heatmap of object centres, the box size and the sub-cell centre offset.
//! The activation is injected in the backbone, the neck and the heads alike.
//!
//! Loss: CenterNet's penalty-reduced focal loss on the heatmap, L1 on size (weight 0.1) and
//! offset (weight 1) at object centres. Decoding: 3×3 max-pool peak extraction, top-k, then
//! class-wise non-maximum suppression.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2d, Interpolate2dConfig, InterpolateMode};
use burn::tensor::activation::sigmoid;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;

use super::boxes::{Detection, nms};
use crate::data::detection::DetBatch;
use crate::models::common::{ConvBnAct, conv, set_bias};
use crate::models::resnet::{BasicBlock, ShortcutKind};

/// Configuration of [`CenterNet`].
#[derive(Config, Debug)]
pub struct CenterNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Channels of the stem and of the three backbone stages.
    #[config(default = "[16, 16, 32, 64]")]
    pub widths: [usize; 4],
    /// Channels of the neck and the heads.
    #[config(default = 48)]
    pub head_width: usize,
    /// The activation used everywhere.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
}

/// The detector. Output stride 4.
#[derive(Module, Debug)]
pub struct CenterNet {
    /// 3×3/2 stem.
    pub stem: ConvBnAct,
    /// Stage at stride 2.
    pub stage1: BasicBlock,
    /// Stage at stride 4 (two blocks).
    pub stage2: Vec<BasicBlock>,
    /// Stage at stride 8 (two blocks).
    pub stage3: Vec<BasicBlock>,
    /// 1×1 projection of stage 2.
    pub lateral2: Conv2d,
    /// 1×1 projection of stage 3.
    pub lateral3: Conv2d,
    up: Interpolate2d,
    /// 3×3 fusion at stride 4.
    pub fuse: ConvBnAct,
    /// Shared 3×3 trunk of the heads.
    pub trunk: ConvBnAct,
    /// Centre heatmap logits, one channel per class.
    pub heat: Conv2d,
    /// Box width and height, in output cells.
    pub size: Conv2d,
    /// Centre offset within the cell.
    pub offset: Conv2d,
}

/// The raw outputs.
pub struct CenterNetOutput {
    /// `[N, K, H, W]` logits.
    pub heat: Tensor<4>,
    /// `[N, 2, H, W]`.
    pub size: Tensor<4>,
    /// `[N, 2, H, W]`.
    pub offset: Tensor<4>,
}

impl CenterNetConfig {
    /// Builds the detector.
    pub fn init(&self, device: &Device) -> CenterNet {
        let act = &self.activation;
        let [w0, w1, w2, w3] = self.widths;
        let h = self.head_width;
        let block = |i, o, s| BasicBlock::new(i, o, s, ShortcutKind::B, act, device);
        let head = |out: usize, bias: f64| {
            let mut layer = Conv2dConfig::new([h, out], [1, 1]).init(device);
            set_bias(&mut layer, bias);
            layer
        };
        CenterNet {
            stem: ConvBnAct::new(self.in_channels, w0, 3, 2, act, device),
            stage1: block(w0, w1, 1),
            stage2: vec![block(w1, w2, 2), block(w2, w2, 1)],
            stage3: vec![block(w2, w3, 2), block(w3, w3, 1)],
            lateral2: conv(w2, h, 1, 1, 1, device),
            lateral3: conv(w3, h, 1, 1, 1, device),
            up: Interpolate2dConfig::new()
                .with_scale_factor(Some([2.0, 2.0]))
                .with_mode(InterpolateMode::Nearest)
                .init(),
            fuse: ConvBnAct::new(h, h, 3, 1, act, device),
            trunk: ConvBnAct::new(h, h, 3, 1, act, device),
            // Initial centre probability ≈ 0.1 (CenterNet's prior, bias −2.19).
            heat: head(self.num_classes, -2.19),
            size: head(2, 0.0),
            offset: head(2, 0.0),
        }
    }
}

impl CenterNet {
    /// Output stride.
    pub const STRIDE: usize = 4;

    /// # Shapes
    /// - input: `[N, in_channels, S, S]` with S a multiple of 8
    /// - outputs: `[N, K | 2 | 2, S/4, S/4]`
    pub fn forward(&self, x: Tensor<4>) -> CenterNetOutput {
        let x = self.stage1.forward(self.stem.forward(x));
        let mut c2 = x;
        for b in &self.stage2 {
            c2 = b.forward(c2);
        }
        let mut c3 = c2.clone();
        for b in &self.stage3 {
            c3 = b.forward(c3);
        }
        use frelu::fastpath::conv2d;
        let p = conv2d(&self.lateral2, c2) + self.up.forward(conv2d(&self.lateral3, c3));
        let t = self.trunk.forward(self.fuse.forward(p));
        CenterNetOutput {
            heat: conv2d(&self.heat, t.clone()),
            size: conv2d(&self.size, t.clone()),
            offset: conv2d(&self.offset, t),
        }
    }

    /// CenterNet's loss on a batch: focal + 0.1 · size L1 + offset L1, each normalised by the
    /// number of objects.
    pub fn loss(&self, batch: &DetBatch) -> Tensor<1> {
        let out = self.forward(batch.images.clone());
        let norm = batch.num_objects.max(1) as f64;
        let p = sigmoid(out.heat).clamp(1e-4, 1.0 - 1e-4);
        let gt = batch.heatmap.clone();
        let pos = gt.clone().equal_elem(1.0).float();
        let neg = pos.clone().neg().add_scalar(1.0);
        let one_minus_p = p.clone().neg().add_scalar(1.0);
        let pos_loss = p.clone().log() * one_minus_p.clone().powi_scalar(2) * pos;
        let neg_weight = gt.neg().add_scalar(1.0).powi_scalar(4);
        let neg_loss = one_minus_p.log() * p.powi_scalar(2) * neg_weight * neg;
        let focal = (pos_loss.sum() + neg_loss.sum()).neg() / norm;
        let mask = batch.mask.clone();
        let size = ((out.size - batch.size.clone()).abs() * mask.clone()).sum() / norm;
        let offset = ((out.offset - batch.offset.clone()).abs() * mask).sum() / norm;
        focal + size * 0.1 + offset
    }
}

/// Decodes every image of the batch (one list per image): heatmap peaks (3×3 local maxima)
/// above `min_score`, the `top_k` best, with their boxes, then NMS at `nms_iou`.
pub fn decode(
    out: &CenterNetOutput,
    top_k: usize,
    min_score: f32,
    nms_iou: f32,
) -> Vec<Vec<Detection>> {
    let heat = sigmoid(out.heat.clone());
    let peaks = max_pool2d(
        heat.clone(),
        MaxPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]),
    );
    let keep = heat.clone().equal(peaks).float();
    let heat = (heat * keep)
        .try_into_vec_as::<f32>()
        .expect("float heatmap");
    let size = out
        .size
        .clone()
        .try_into_vec_as::<f32>()
        .expect("float size");
    let offset = out
        .offset
        .clone()
        .try_into_vec_as::<f32>()
        .expect("float offset");
    let [n, k, h, w] = out.heat.dims();
    let stride = CenterNet::STRIDE as f32;
    (0..n)
        .map(|b| {
            let scores = &heat[b * k * h * w..(b + 1) * k * h * w];
            let mut order: Vec<usize> = (0..scores.len())
                .filter(|&i| scores[i] >= min_score)
                .collect();
            order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
            order.truncate(top_k);
            let detections = order
                .into_iter()
                .map(|i| {
                    let (label, cell) = (i / (h * w), i % (h * w));
                    let (y, x) = (cell / w, cell % w);
                    let at = |c: usize| b * 2 * h * w + c * h * w + cell;
                    let cx = x as f32 + offset[at(0)];
                    let cy = y as f32 + offset[at(1)];
                    let (bw, bh) = (size[at(0)].max(0.0), size[at(1)].max(0.0));
                    Detection {
                        bbox: [
                            (cx - bw / 2.0) * stride,
                            (cy - bh / 2.0) * stride,
                            (cx + bw / 2.0) * stride,
                            (cy + bh / 2.0) * stride,
                        ],
                        label,
                        score: scores[i],
                    }
                })
                .collect();
            nms(detections, nms_iou)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn output_shapes_and_the_centre_prior() {
        let device = Device::flex();
        let net = CenterNetConfig::new(10)
            .with_activation(ActivationConfig::frelu())
            .init(&device);
        let out = net.forward(Tensor::random(
            [2, 3, 64, 64],
            Distribution::Default,
            &device,
        ));
        assert_eq!(out.heat.dims(), [2, 10, 16, 16]);
        assert_eq!(out.size.dims(), [2, 2, 16, 16]);
        // The prior: the heat head's bias is −2.19, so σ ≈ 0.1 before training. The random
        // weights spread the logits around it (over 40 random nets the median logit fell in
        // −2.55…−1.85 and the mean probability in 0.085…0.152), so the median is what is checked.
        let bias: Vec<f32> = net
            .heat
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert!(bias.iter().all(|&b| (b + 2.19).abs() < 1e-6), "{bias:?}");
        let mut logits: Vec<f32> = out.heat.into_data().try_into_vec_as::<f32>().unwrap();
        logits.sort_by(f32::total_cmp);
        let median = logits[logits.len() / 2];
        assert!((median + 2.19).abs() < 0.7, "median logit {median}");
    }

    #[test]
    fn every_parameter_learns_the_head_biases_included() {
        let device = Device::flex().autodiff();
        let net = CenterNetConfig::new(3)
            .with_widths([4, 4, 4, 4])
            .with_head_width(4)
            .init(&device);
        let out = net.forward(Tensor::random(
            [1, 3, 32, 32],
            Distribution::Default,
            &device,
        ));
        let loss = out.heat.mean() + out.size.mean() + out.offset.mean();
        let grads = loss.backward();
        let (count, without) = super::super::faster_rcnn::params_without_grad(&net, &grads);
        assert!(
            count > 20 && without == 0,
            "{without} of {count} parameters have no gradient"
        );
    }

    #[test]
    fn decode_finds_a_planted_peak() {
        let device = Device::flex();
        let (k, h, w) = (2, 8, 8);
        let mut heat = vec![-10.0f32; k * h * w];
        heat[h * w + 3 * w + 5] = 5.0; // class 1 at (x = 5, y = 3)
        let mut size = vec![0.0f32; 2 * h * w];
        size[3 * w + 5] = 2.0;
        size[h * w + 3 * w + 5] = 4.0;
        let mut offset = vec![0.0f32; 2 * h * w];
        offset[3 * w + 5] = 0.5;
        offset[h * w + 3 * w + 5] = 0.5;
        let out = CenterNetOutput {
            heat: Tensor::from_data(TensorData::new(heat, [1, k, h, w]), &device),
            size: Tensor::from_data(TensorData::new(size, [1, 2, h, w]), &device),
            offset: Tensor::from_data(TensorData::new(offset, [1, 2, h, w]), &device),
        };
        let detections = decode(&out, 10, 0.1, 0.5);
        assert_eq!(detections[0].len(), 1);
        let d = &detections[0][0];
        assert_eq!(d.label, 1);
        // Centre (5.5, 3.5) cells, size 2 × 4 cells, stride 4.
        assert_eq!(d.bbox, [18.0, 6.0, 26.0, 22.0]);
    }
}
