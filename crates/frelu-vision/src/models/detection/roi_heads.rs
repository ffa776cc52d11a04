//! The second stage (torchvision's `roi_heads.py`, `TwoMLPHead`, `FastRCNNPredictor`): pooled
//! RoI features → two fully connected layers with the activation → class scores and
//! class-specific box deltas; its training targets, loss and post-processing.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use frelu::{Activation, ActivationConfig};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::boxes::{BoxCoder, BoxXyxy, Detection, clip, iou_matrix, is_large_enough, nms};
use super::matcher::{Match, Matcher, Sampler};
use super::rpn::{SMOOTH_L1_BETA, smooth_l1};

/// Settings of the box head that are not weights. [`RoiHeadsConfig::default`] is their one home.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiHeadsConfig {
    /// Foreground IoU ≥ 0.5, background below (torchvision).
    pub matcher: Matcher,
    /// RoIs per image in the loss and the largest foreground share.
    pub sampler: Sampler,
    /// Lowest class probability kept at inference (torchvision: 0.05).
    pub score_threshold: f32,
    /// IoU of the per-class NMS at inference (torchvision: 0.5).
    pub nms_threshold: f32,
    /// Detections per image at most (torchvision: 100).
    pub detections_per_image: usize,
}

impl Default for RoiHeadsConfig {
    /// torchvision's, with 128 RoIs sampled per image instead of 512 (images of ~128 px with
    /// ≤ 6 objects; a quarter of them can still be foreground).
    fn default() -> Self {
        Self {
            matcher: Matcher {
                high: 0.5,
                low: 0.5,
                allow_low_quality: false,
            },
            sampler: Sampler {
                per_image: 128,
                positive_fraction: 0.25,
            },
            score_threshold: 0.05,
            nms_threshold: 0.5,
            detections_per_image: 100,
        }
    }
}

/// The box head's coder: weights (10, 10, 5, 5).
pub const BOX_CODER: BoxCoder = BoxCoder {
    weights: [10.0, 10.0, 5.0, 5.0],
};

/// Two fully connected layers with the activation, then the predictor.
#[derive(Module, Debug)]
pub struct BoxHead {
    /// Pooled features → representation.
    pub fc6: Linear,
    /// Its activation.
    pub act6: Activation,
    /// Representation → representation.
    pub fc7: Linear,
    /// Its activation.
    pub act7: Activation,
    /// Class logits, background first (`classes + 1`).
    pub cls_score: Linear,
    /// Box deltas per class, background included (`4·(classes + 1)`).
    pub bbox_pred: Linear,
}

impl BoxHead {
    /// A head over `inputs` pooled values per RoI, for `classes` object classes.
    pub fn new(
        inputs: usize,
        representation: usize,
        classes: usize,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            fc6: linear(inputs, representation),
            act6: act.init(representation, device),
            fc7: linear(representation, representation),
            act7: act.init(representation, device),
            cls_score: linear(representation, classes + 1),
            bbox_pred: linear(representation, 4 * (classes + 1)),
        }
    }

    /// # Shapes
    /// - pooled: `[R, C, h, w]`
    /// - outputs: class logits `[R, classes + 1]`, deltas `[R, 4·(classes + 1)]`
    pub fn forward(&self, pooled: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = pooled.flatten(1, 3);
        let x = self.act6.forward(self.fc6.forward(x));
        let x = self.act7.forward(self.fc7.forward(x));
        (self.cls_score.forward(x.clone()), self.bbox_pred.forward(x))
    }
}

/// The sampled RoIs of a batch, `per_image` for every image (padding has weight 0), with their
/// targets.
pub struct RoiTargets {
    /// `(image, box)` of every RoI, image by image.
    pub rois: Vec<(usize, BoxXyxy)>,
    /// Class of each RoI, 0 = background (object classes start at 1).
    pub labels: Vec<i64>,
    /// 1 for real RoIs, 0 for padding.
    pub valid: Vec<f32>,
    /// Deltas from each foreground RoI to its ground truth (zeros elsewhere).
    pub deltas: Vec<f32>,
    /// Real RoIs in the batch (the loss's normaliser).
    pub count: usize,
}

/// Adds the ground truth to each image's proposals, matches them, samples `per_image` RoIs and
/// encodes their targets. Degenerate ground-truth boxes (zero width or height) are left out.
pub fn roi_targets(
    config: &RoiHeadsConfig,
    proposals: &[Vec<BoxXyxy>],
    (boxes, labels): (&[Vec<BoxXyxy>], &[Vec<usize>]),
    rngs: &mut [impl Rng],
) -> RoiTargets {
    let per = config.sampler.per_image;
    let mut out = RoiTargets {
        rois: Vec::with_capacity(proposals.len() * per),
        labels: Vec::new(),
        valid: Vec::new(),
        deltas: Vec::new(),
        count: 0,
    };
    for (b, rng) in rngs.iter_mut().enumerate().take(proposals.len()) {
        let (gt, gt_labels): (Vec<BoxXyxy>, Vec<usize>) = boxes[b]
            .iter()
            .zip(&labels[b])
            .filter(|(g, _)| is_large_enough(g, f32::MIN_POSITIVE))
            .map(|(g, &l)| (*g, l))
            .unzip();
        let mut candidates = proposals[b].clone();
        candidates.extend(&gt);
        let matches = config
            .matcher
            .assign(&iou_matrix(&gt, &candidates), candidates.len());
        let (pos, neg) = config.sampler.sample(&matches, rng);
        out.count += pos.len() + neg.len();
        for &i in pos.iter().chain(&neg) {
            out.rois.push((b, candidates[i]));
            out.valid.push(1.0);
            match matches[i] {
                Match::Foreground(g) => {
                    out.labels.push(gt_labels[g] as i64 + 1);
                    out.deltas.extend(BOX_CODER.encode(&gt[g], &candidates[i]));
                }
                _ => {
                    out.labels.push(0);
                    out.deltas.extend([0.0; 4]);
                }
            }
        }
        for _ in pos.len() + neg.len()..per {
            out.rois.push((b, [0.0, 0.0, 1.0, 1.0]));
            out.valid.push(0.0);
            out.labels.push(0);
            out.deltas.extend([0.0; 4]);
        }
    }
    out
}

/// The box-head loss `(classification, box)`: cross-entropy over the sampled RoIs (mean) and
/// smooth-L1 of the true class's deltas over the foreground ones, divided by the RoI count.
pub fn box_loss(
    class_logits: Tensor<2>,
    deltas: Tensor<2>,
    targets: &RoiTargets,
) -> (Tensor<1>, Tensor<1>) {
    let [r, k1] = class_logits.dims();
    let device = class_logits.device();
    let labels =
        Tensor::<2, Int>::from_data(TensorData::new(targets.labels.clone(), [r, 1]), &device);
    let valid = Tensor::<2>::from_data(TensorData::new(targets.valid.clone(), [r, 1]), &device);
    let norm = targets.count.max(1) as f64;
    let picked = log_softmax(class_logits, 1).gather(1, labels);
    let classification = (picked * valid).sum().neg().div_scalar(norm);
    let columns: Vec<i64> = targets
        .labels
        .iter()
        .flat_map(|&l| (0..4).map(move |j| l * 4 + j))
        .collect();
    let columns = Tensor::<2, Int>::from_data(TensorData::new(columns, [r, 4]), &device);
    let foreground: Vec<f32> = targets.labels.iter().map(|&l| f32::from(l > 0)).collect();
    let foreground = Tensor::<2>::from_data(TensorData::new(foreground, [r, 1]), &device);
    let target = Tensor::<2>::from_data(TensorData::new(targets.deltas.clone(), [r, 4]), &device);
    debug_assert_eq!(deltas.dims(), [r, 4 * k1]);
    let per_roi = smooth_l1(deltas.gather(1, columns) - target, SMOOTH_L1_BETA) * foreground;
    (classification, per_roi.sum().div_scalar(norm))
}

/// Detections of each image from its RoIs' outputs: softmax, class-specific decoding, clipping
/// to the `image_size` square, score threshold, small boxes out, per-class NMS, the best
/// `detections_per_image`. `rois` are image by image, as the outputs' rows.
pub fn postprocess(
    config: &RoiHeadsConfig,
    (class_logits, deltas): (Tensor<2>, Tensor<2>),
    rois: &[(usize, BoxXyxy)],
    images: usize,
    image_size: f32,
) -> Vec<Vec<Detection>> {
    let [_, k1] = class_logits.dims();
    let probs = softmax(class_logits, 1)
        .try_into_vec_as::<f32>()
        .unwrap_or_default();
    let deltas = deltas.try_into_vec_as::<f32>().unwrap_or_default();
    let mut per_image: Vec<Vec<Detection>> = vec![Vec::new(); images];
    for (row, &(b, roi)) in rois.iter().enumerate() {
        for class in 1..k1 {
            let score = probs[row * k1 + class];
            if score <= config.score_threshold {
                continue;
            }
            let d = &deltas[(row * k1 + class) * 4..(row * k1 + class + 1) * 4];
            let bbox = clip(
                &BOX_CODER.decode(&[d[0], d[1], d[2], d[3]], &roi),
                image_size,
                image_size,
            );
            if is_large_enough(&bbox, 1e-2) {
                per_image[b].push(Detection {
                    bbox,
                    label: class - 1,
                    score,
                });
            }
        }
    }
    per_image
        .into_iter()
        .map(|dets| {
            let mut kept = nms(dets, config.nms_threshold);
            kept.truncate(config.detections_per_image);
            kept
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn targets_add_ground_truth_pad_and_skip_degenerate_boxes() {
        let config = RoiHeadsConfig {
            sampler: Sampler {
                per_image: 8,
                positive_fraction: 0.25,
            },
            ..RoiHeadsConfig::default()
        };
        let proposals = vec![
            vec![
                [0.0, 0.0, 10.0, 10.0],
                [40.0, 40.0, 50.0, 50.0],
                [1.0, 0.0, 10.0, 10.0],
            ],
            vec![[5.0, 5.0, 9.0, 9.0]],
        ];
        let boxes = vec![
            vec![[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 20.0, 30.0]],
            vec![],
        ];
        let labels = vec![vec![3, 1], vec![]];
        let mut rngs = [StdRng::seed_from_u64(0), StdRng::seed_from_u64(1)];
        let t = roi_targets(&config, &proposals, (&boxes, &labels), &mut rngs);
        assert_eq!(t.rois.len(), 16, "a fixed count per image");
        // Image 0: proposals 0 and 2 and the added gt are foreground (class 3 → label 4), but at
        // most 2 (a quarter of 8) are sampled; proposal 1 is background; the zero-width gt box
        // is left out. Image 1 has no ground truth: its one proposal is background.
        let fg = t.labels[..8].iter().filter(|&&l| l == 4).count();
        assert_eq!(fg, 2);
        assert_eq!(t.labels[..8].iter().filter(|&&l| l == 0).count(), 6);
        assert_eq!(t.valid[..8].iter().sum::<f32>(), 3.0);
        assert_eq!((t.rois[8].0, t.labels[8], t.valid[8]), (1, 0, 1.0));
        assert_eq!(t.valid[9..].iter().sum::<f32>(), 0.0);
        assert_eq!(t.count, 4);
    }

    #[test]
    fn postprocess_decodes_thresholds_and_suppresses_per_class() {
        let device = Device::flex();
        // Three RoIs of image 0, two classes (+ background).
        let logits = vec![
            0.0, 5.0, 0.0, // class 0 (label 1), certain
            0.0, 4.0, 0.0, // the same place, weaker: suppressed
            5.0, 0.0, 0.0, // background
        ];
        let logits = Tensor::<2>::from_data(TensorData::new(logits, [3, 3]), &device);
        let deltas = Tensor::<2>::zeros([3, 12], &device);
        let rois = vec![
            (0, [10.0, 10.0, 30.0, 30.0]),
            (0, [11.0, 10.0, 30.0, 30.0]),
            (0, [40.0, 40.0, 60.0, 60.0]),
        ];
        let out = postprocess(&RoiHeadsConfig::default(), (logits, deltas), &rois, 2, 64.0);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 1, "{:?}", out[0]);
        assert_eq!(
            (out[0][0].label, out[0][0].bbox),
            (0, [10.0, 10.0, 30.0, 30.0])
        );
        assert!(out[1].is_empty());
    }
}
