//! Object detectors, split as torchvision's `detection/` is: algorithms without weights
//! ([`boxes`], [`anchors`], [`matcher`], [`roi_align`]), the parts with weights ([`backbone`],
//! [`rpn`], [`roi_heads`]), and the two assembled detectors, [`centernet`] (single stage) and
//! [`faster_rcnn`] (two stages). [`Detector`] is either, behind one training and inference
//! interface.

pub mod anchors;
pub mod backbone;
pub mod boxes;
pub mod centernet;
pub mod faster_rcnn;
pub mod matcher;
pub mod roi_align;
pub mod roi_heads;
pub mod rpn;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::data::detection::DetBatch;
use crate::models::ModelError;
use boxes::Detection;
use centernet::{CenterNet, CenterNetConfig, decode};
use faster_rcnn::{FasterRcnn, FasterRcnnConfig, Targets};

/// The configuration of either detector.
#[derive(Clone, Debug)]
pub enum DetectorConfig {
    /// Single stage.
    CenterNet(CenterNetConfig),
    /// Two stages.
    FasterRcnn(Box<FasterRcnnConfig>),
}

/// Either detector.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Detector {
    /// CenterNet.
    CenterNet(CenterNet),
    /// Faster R-CNN.
    FasterRcnn(FasterRcnn),
}

/// How CenterNet's heatmap peaks become detections (Faster R-CNN's settings are in its config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakDecoding {
    /// Lowest peak score kept.
    pub min_score: f32,
    /// IoU of the class-wise NMS.
    pub nms_iou: f32,
}

impl DetectorConfig {
    /// Builds the detector.
    pub fn init(&self, device: &Device) -> Result<Detector, ModelError> {
        Ok(match self {
            Self::CenterNet(c) => Detector::CenterNet(c.init(device)),
            Self::FasterRcnn(c) => Detector::FasterRcnn(c.init(device)?),
        })
    }

    /// The input side must be a multiple of this.
    pub fn side_multiple(&self) -> usize {
        match self {
            Self::CenterNet(_) => 8,
            Self::FasterRcnn(c) => {
                if c.backbone.fpn {
                    32
                } else {
                    16
                }
            }
        }
    }
}

impl Detector {
    /// The CenterNet target stride the batcher must build heatmaps for (Faster R-CNN builds its
    /// targets itself and ignores them).
    pub const HEATMAP_STRIDE: usize = CenterNet::STRIDE;

    /// The training loss of a batch.
    pub fn loss(&self, batch: &DetBatch) -> Tensor<1> {
        match self {
            Self::CenterNet(net) => net.loss(batch),
            Self::FasterRcnn(net) => net
                .loss(
                    batch.images.clone(),
                    &Targets {
                        boxes: &batch.boxes,
                        labels: &batch.labels,
                        seeds: &batch.seeds,
                    },
                )
                .total(),
        }
    }

    /// Detections of each image, in input (letterboxed) pixels.
    pub fn detect(&self, images: Tensor<4>, peaks: PeakDecoding) -> Vec<Vec<Detection>> {
        match self {
            Self::CenterNet(net) => {
                decode(&net.forward(images), 100, peaks.min_score, peaks.nms_iou)
            }
            Self::FasterRcnn(net) => net.detect(images),
        }
    }
}
