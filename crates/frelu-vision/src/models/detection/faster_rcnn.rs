//! Faster R-CNN (Ren et al., 2015) as torchvision's `fasterrcnn_resnet50_fpn` assembles it:
//! ResNet + FPN backbone, region proposal network, multi-level RoIAlign, two-MLP box head with
//! class-specific regression. This file only assembles the parts; each part's defaults live in
//! its own config, and [`FasterRcnnConfig::new`] says where this benchmark's scale departs from
//! torchvision's.
//!
//! Targets and proposals are built on the host (matching, sampling and NMS have no gradient) and
//! enter the graph as fixed-shape index and weight tensors.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::anchors::AnchorConfig;
use super::backbone::{Backbone, BackboneConfig};
use super::boxes::{BoxXyxy, Detection};
use super::roi_align::{RoiAlignConfig, multi_scale_roi_align};
use super::roi_heads::{BoxHead, RoiHeadsConfig, box_loss, postprocess, roi_targets};
use super::rpn::{RpnConfig, RpnHead, proposals, rpn_loss, rpn_targets};
use crate::models::ModelError;

/// Everything that defines a Faster R-CNN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FasterRcnnConfig {
    /// Object classes (background excluded).
    pub num_classes: usize,
    /// The activation of backbone, RPN head and box head.
    pub activation: ActivationConfig,
    /// ResNet (+ FPN).
    pub backbone: BackboneConfig,
    /// Anchor sizes per level and aspect ratios.
    pub anchors: AnchorConfig,
    /// RPN matching, sampling and proposals.
    pub rpn: RpnConfig,
    /// RoIAlign of the box head.
    pub roi_align: RoiAlignConfig,
    /// Box side that maps to FPN level 4 (torchvision's 224).
    pub canonical_scale: f32,
    /// Width of the box head's two layers (torchvision's 1024).
    pub representation: usize,
    /// Box-head matching, sampling and post-processing.
    pub roi_heads: RoiHeadsConfig,
}

impl FasterRcnnConfig {
    /// torchvision's defaults scaled to images of ~128 px (its are for ~800 px): backbone
    /// ResNet-18 of base width 16 with a 64-channel FPN (ResNet-50, 256); anchor sides
    /// 16–256 over P2–P6 (32–512), canonical RoI side 112 (224), i.e. both halved; box-head
    /// layers of 256 (1024); RPN and box-head counts in [`RpnConfig`] and [`RoiHeadsConfig`].
    /// Without the FPN: one stride-16 map with anchor sides 16, 32, 64, 128.
    pub fn new(num_classes: usize, activation: ActivationConfig, backbone: BackboneConfig) -> Self {
        let sizes = if backbone.fpn {
            vec![vec![16.0], vec![32.0], vec![64.0], vec![128.0], vec![256.0]]
        } else {
            vec![vec![16.0, 32.0, 64.0, 128.0]]
        };
        Self {
            num_classes,
            activation,
            backbone,
            anchors: AnchorConfig {
                sizes,
                aspect_ratios: vec![0.5, 1.0, 2.0],
            },
            rpn: RpnConfig::default(),
            roi_align: RoiAlignConfig::default(),
            canonical_scale: 112.0,
            representation: 256,
            roi_heads: RoiHeadsConfig::default(),
        }
    }

    /// torchvision's own scale: anchor sides doubled (32–512 with the FPN) and the canonical
    /// RoI side 224, for weights trained by torchvision on ~800 px images.
    pub fn torchvision_scale(mut self) -> Self {
        for level in &mut self.anchors.sizes {
            for size in level.iter_mut() {
                *size *= 2.0;
            }
        }
        self.canonical_scale = 224.0;
        self
    }

    /// Builds the network (an error for a backbone it cannot build or anchors that do not fit
    /// its levels).
    pub fn init(&self, device: &Device) -> Result<FasterRcnn, ModelError> {
        let levels = self.backbone.strides().len();
        if self.anchors.sizes.len() != levels
            || self
                .anchors
                .sizes
                .iter()
                .any(|s| s.len() != self.anchors.sizes[0].len())
            || self.anchors.aspect_ratios.is_empty()
        {
            return Err(ModelError::config(
                "Faster R-CNN",
                format!(
                    "the anchors need one equally long list of sizes per feature level ({levels})"
                ),
            ));
        }
        if self.num_classes == 0 || self.representation == 0 {
            return Err(ModelError::config(
                "Faster R-CNN",
                "at least one class and a box head of width ≥ 1 are needed",
            ));
        }
        let channels = self.backbone.out_channels();
        let [ph, pw] = self.roi_align.output_size;
        Ok(FasterRcnn {
            backbone: self.backbone.init(&self.activation, device)?,
            rpn: RpnHead::new(channels, self.anchors.per_cell(0), &self.activation, device),
            box_head: BoxHead::new(
                channels * ph * pw,
                self.representation,
                self.num_classes,
                &self.activation,
                device,
            ),
            config: self.clone(),
        })
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct FasterRcnn {
    /// ResNet (+ FPN).
    pub backbone: Backbone,
    /// Region proposal head.
    pub rpn: RpnHead,
    /// Box head and predictor.
    pub box_head: BoxHead,
    /// The settings that are not weights.
    #[module(skip)]
    pub config: FasterRcnnConfig,
}

/// The four terms of the loss, each a scalar.
pub struct FasterRcnnLoss {
    /// RPN objectness BCE.
    pub objectness: Tensor<1>,
    /// RPN box smooth-L1.
    pub rpn_box: Tensor<1>,
    /// Box-head cross-entropy.
    pub classifier: Tensor<1>,
    /// Box-head smooth-L1.
    pub box_reg: Tensor<1>,
}

impl FasterRcnnLoss {
    /// Their sum (torchvision weights them equally).
    pub fn total(self) -> Tensor<1> {
        self.objectness + self.rpn_box + self.classifier + self.box_reg
    }
}

/// The ground truth of a batch: boxes (input pixels) and contiguous labels per image, and one
/// sampling seed per image.
pub struct Targets<'a> {
    /// Boxes per image.
    pub boxes: &'a [Vec<BoxXyxy>],
    /// Labels per image.
    pub labels: &'a [Vec<usize>],
    /// Seeds of the samplers, per image.
    pub seeds: &'a [u64],
}

impl FasterRcnn {
    /// RPN outputs, anchors and anchors per level for `images` (`[N, 3, S, S]`).
    #[allow(clippy::type_complexity)]
    fn first_stage(
        &self,
        maps: &[Tensor<4>],
        side: usize,
    ) -> ((Tensor<2>, Tensor<3>), Vec<BoxXyxy>, Vec<usize>) {
        let dims: Vec<(usize, usize)> = maps.iter().map(|m| (m.dims()[2], m.dims()[3])).collect();
        let anchors = self.config.anchors.anchors(side, &dims);
        let per_level = dims
            .iter()
            .enumerate()
            .map(|(l, (h, w))| h * w * self.config.anchors.per_cell(l))
            .collect();
        (self.rpn.forward(maps), anchors, per_level)
    }

    fn host(t: Tensor<2>, d: Tensor<3>) -> (Vec<f32>, Vec<f32>) {
        let t = t.detach().try_into_vec_as::<f32>().unwrap_or_default();
        let d = d.detach().try_into_vec_as::<f32>().unwrap_or_default();
        (t, d)
    }

    /// Multi-level RoIAlign of `rois` on the backbone's `maps` (P2–P5, or the one map).
    pub fn pool(&self, maps: &[Tensor<4>], rois: &[(usize, BoxXyxy)]) -> Tensor<4> {
        let levels = self.config.backbone.roi_levels();
        let strides = self.config.backbone.strides();
        multi_scale_roi_align(
            &maps[..levels],
            &strides[..levels],
            rois,
            &self.config.roi_align,
            self.config.canonical_scale,
        )
    }

    /// The training loss of a batch.
    ///
    /// # Shapes
    /// - images: `[N, 3, S, S]`, S a multiple of the coarsest stride
    pub fn loss(&self, images: Tensor<4>, targets: &Targets) -> FasterRcnnLoss {
        let side = images.dims()[2];
        let maps = self.backbone.forward(images);
        let ((logits, deltas), anchors, per_level) = self.first_stage(&maps, side);
        let mut rngs: Vec<StdRng> = targets
            .seeds
            .iter()
            .map(|&s| StdRng::seed_from_u64(s))
            .collect();
        let rpn = rpn_targets(&self.config.rpn, &anchors, targets.boxes, &mut rngs);
        let host = Self::host(logits.clone(), deltas.clone());
        let (objectness, rpn_box) = rpn_loss(logits, deltas, &rpn);
        let proposed: Vec<Vec<BoxXyxy>> = proposals(
            &self.config.rpn,
            true,
            (&host.0, &host.1),
            &anchors,
            &per_level,
            side as f32,
        )
        .into_iter()
        .map(|p| p.into_iter().map(|(b, _)| b).collect())
        .collect();
        let sampled = roi_targets(
            &self.config.roi_heads,
            &proposed,
            (targets.boxes, targets.labels),
            &mut rngs,
        );
        let (class_logits, box_deltas) = self.box_head.forward(self.pool(&maps, &sampled.rois));
        let (classifier, box_reg) = box_loss(class_logits, box_deltas, &sampled);
        FasterRcnnLoss {
            objectness,
            rpn_box,
            classifier,
            box_reg,
        }
    }

    /// Detections of every image, in input pixels.
    pub fn detect(&self, images: Tensor<4>) -> Vec<Vec<Detection>> {
        let [n, _, side, _] = images.dims();
        let maps = self.backbone.forward(images);
        let ((logits, deltas), anchors, per_level) = self.first_stage(&maps, side);
        let host = Self::host(logits, deltas);
        let proposed = proposals(
            &self.config.rpn,
            false,
            (&host.0, &host.1),
            &anchors,
            &per_level,
            side as f32,
        );
        let rois: Vec<(usize, BoxXyxy)> = proposed
            .iter()
            .enumerate()
            .flat_map(|(b, p)| p.iter().map(move |&(bx, _)| (b, bx)))
            .collect();
        if rois.is_empty() {
            return vec![Vec::new(); n];
        }
        let outputs = self.box_head.forward(self.pool(&maps, &rois));
        postprocess(&self.config.roi_heads, outputs, &rois, n, side as f32)
    }
}

/// `(tracked parameters, those without a gradient in grads)` of a module (a test helper).
#[cfg(test)]
pub(crate) fn params_without_grad(
    module: &impl Module,
    grads: &burn::tensor::Gradients,
) -> (usize, usize) {
    struct Count<'a>(&'a burn::tensor::Gradients, usize, usize);
    impl burn::module::ModuleVisitor for Count<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            // Batch norm's running statistics are state, not parameters: not tracked.
            if !param.val().is_require_grad() {
                return;
            }
            self.1 += 1;
            if param.val().grad(self.0).is_none() {
                self.2 += 1;
            }
        }
    }
    let mut count = Count(grads, 0, 0);
    module.visit(&mut count);
    (count.1, count.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn builds_computes_a_finite_loss_and_detects() {
        let device = Device::flex().autodiff();
        let backbone = BackboneConfig::new()
            .with_base_width(4)
            .with_fpn_channels(8);
        let config = FasterRcnnConfig::new(3, ActivationConfig::frelu(), backbone);
        // As burn-train hands it to the training loop: forked onto the device.
        let net = config.init(&device).unwrap().fork(&device);
        let images = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &device);
        let boxes = vec![vec![[4.0, 4.0, 30.0, 40.0]], vec![]];
        let labels = vec![vec![2], vec![]];
        let loss = net.loss(
            images.clone(),
            &Targets {
                boxes: &boxes,
                labels: &labels,
                seeds: &[1, 2],
            },
        );
        let total = loss.total();
        let value = total.clone().into_scalar::<f32>();
        assert!(value.is_finite() && value > 0.0, "{value}");
        // Every parameter gets a gradient: weights, biases (the RPN's and FPN's, set to zero
        // at initialisation, included) and the FReLUs' slopes.
        let grads = total.backward();
        let fc6 = net.box_head.fc6.weight.grad(&grads).unwrap();
        assert!(fc6.abs().sum().into_scalar::<f32>() > 0.0);
        let (count, without) = params_without_grad(&net, &grads);
        assert!(
            count > 90 && without == 0,
            "{without} of {count} parameters have no gradient"
        );
        let detections = net.detect(images.clone());
        assert_eq!(detections.len(), 2);
        // More ground truth than RoIs sampled per image (128) and than anchors could match
        // one-to-one, one of them degenerate: still one fixed-size batch and a finite loss.
        let crowded: Vec<BoxXyxy> = (0..300)
            .map(|i| {
                let (x, y) = ((i % 20) as f32 * 3.0, (i / 20) as f32 * 4.0);
                [x, y, x + 6.0 + (i % 3) as f32, y + 5.0]
            })
            .chain([[10.0, 10.0, 10.0, 30.0]])
            .collect();
        let crowded_labels: Vec<usize> = (0..crowded.len()).map(|i| i % 3).collect();
        let loss = net.loss(
            images,
            &Targets {
                boxes: &[crowded, vec![]],
                labels: &[crowded_labels, vec![]],
                seeds: &[3, 4],
            },
        );
        assert!(loss.total().into_scalar::<f32>().is_finite());
        let bad = FasterRcnnConfig {
            anchors: AnchorConfig {
                sizes: vec![vec![16.0]],
                aspect_ratios: vec![1.0],
            },
            ..config
        };
        assert!(bad.init(&device).is_err());
    }
}
