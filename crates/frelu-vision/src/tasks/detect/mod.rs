//! Object detection: a CenterNet-style or a Faster R-CNN detector trained through `tasks::launch` (with the slope
//! schedule), evaluated with COCO's semantics ([`eval`]), and its row of the comparison grid
//! ([`grid`]).

mod eval;
pub mod grid;
pub mod import;
mod train;

use std::path::PathBuf;

use crate::error::ensure;
use frelu::ActivationConfig;
use frelu::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};

use crate::analysis::coco_eval::CocoMetrics;
use crate::data::detection::PixelNorm;
use crate::models::detection::DetectorConfig;
use crate::models::detection::backbone::BackboneConfig;
use crate::models::detection::centernet::CenterNetConfig;
use crate::models::detection::faster_rcnn::FasterRcnnConfig;
use crate::runs::settings::inert_schedule;
use crate::runs::{EpochRow, RunSettings, RunSummary};
pub use eval::{
    COCO_METRICS, DETECTIONS, PREDICTIONS_DIR, TASK_FILES, ap_text, detect_all, eval_run, load_run,
    metrics_line, predict_run,
};
pub use train::train;

/// Which detector a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKind {
    /// The single-stage CenterNet-style detector (the default: it trains in a third of Faster
    /// R-CNN's time on this benchmark, and older runs have no `detector` field).
    #[default]
    Centernet,
    /// The paper's two-stage detector: ResNet + FPN, RPN, RoIAlign, two-MLP box head.
    FasterRcnn,
}

impl DetectorKind {
    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Centernet => "centernet",
            Self::FasterRcnn => "faster-rcnn",
        }
    }
}

impl core::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "centernet" => Ok(Self::Centernet),
            "faster-rcnn" | "faster_rcnn" | "fasterrcnn" => Ok(Self::FasterRcnn),
            _ => Err(format!("unknown detector `{s}`: centernet or faster-rcnn")),
        }
    }
}

/// Everything that defines a detection run. [`DetectConfig::default`] is the one home of its
/// defaults (the CLI's flags take theirs from it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// COCO-layout root: `annotations/instances_{train,val}.json`, `train/`, `val/`.
    pub data: PathBuf,
    /// Training split name.
    pub train_split: String,
    /// Evaluation split name.
    pub val_split: String,
    /// The detector.
    pub detector: DetectorKind,
    /// Activation of backbone, neck and heads.
    pub activation: ActivationConfig,
    /// Slope schedule.
    pub schedule: ScheduleConfig,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Adam learning rate (cosine-annealed).
    pub lr: f64,
    /// Weight decay (Adam's L2 form) of the weights.
    pub weight_decay: f64,
    /// Letterbox side of the input images (a multiple of 8).
    pub image_size: usize,
    /// Channels of CenterNet's neck and heads.
    pub head_width: usize,
    /// Faster R-CNN's ResNet depth (18, 34 or 50).
    pub backbone_depth: usize,
    /// Faster R-CNN's ResNet base width (stages ×1, 2, 4, 8).
    pub backbone_width: usize,
    /// Faster R-CNN with a feature pyramid (else on the stride-16 map alone).
    pub fpn: bool,
    /// Faster R-CNN's FPN channels (None: the model's default, 64; torchvision's 256).
    pub fpn_channels: Option<usize>,
    /// Faster R-CNN's box-head width (None: the model's default, 256; torchvision's 1024).
    pub box_head_width: Option<usize>,
    /// Faster R-CNN with torchvision's anchor sides (32–512) and canonical RoI side (224), for
    /// its own weights; else both halved for this benchmark's ~128 px images.
    pub torchvision_anchors: bool,
    /// Seed.
    pub seed: u64,
    /// Data-loading threads.
    pub workers: usize,
    /// Device.
    pub device: String,
    /// Use only the first N training images.
    pub limit_train: Option<usize>,
    /// Use only the first N evaluation images.
    pub limit_val: Option<usize>,
    /// Lowest score kept when decoding CenterNet's peaks (Faster R-CNN's post-processing
    /// follows torchvision's: `RoiHeadsConfig`).
    pub min_score: f32,
    /// IoU of CenterNet's class-wise NMS.
    pub nms_iou: f32,
    /// Save a checkpoint (model, optimiser, scheduler) after each epoch (for `--resume`).
    pub checkpoints: bool,
    /// Stop when the training loss passes this many times its start (0 = never).
    pub max_loss_growth: f64,
    /// Pixel normalisation of the inputs (default: to [−1, 1]; imported torchvision
    /// detectors: ImageNet's).
    pub pixel_norm: PixelNorm,
    /// Start from weights: a detection run folder or `model.bpk` of the same detector, or
    /// torchvision-layout Faster R-CNN weights (`.pth`, `.pt`, `.safetensors`).
    pub init_from: Option<PathBuf>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/detect-fmnist"),
            train_split: "train".into(),
            val_split: "val".into(),
            detector: DetectorKind::Centernet,
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::default(),
            epochs: 8,
            batch_size: 32,
            lr: 2e-3,
            weight_decay: 1e-4,
            image_size: 128,
            head_width: 48,
            backbone_depth: 18,
            backbone_width: 16,
            fpn: true,
            fpn_channels: None,
            box_head_width: None,
            torchvision_anchors: false,
            seed: 0,
            workers: 1,
            device: "flex".into(),
            limit_train: None,
            limit_val: None,
            min_score: 0.01,
            nms_iou: 0.6,
            checkpoints: true,
            max_loss_growth: crate::tasks::guard::DEFAULT_MAX_LOSS_GROWTH,
            pixel_norm: PixelNorm::default(),
            init_from: None,
        }
    }
}

/// What a detection run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DetectSummary {
    /// Configuration.
    pub config: DetectConfig,
    /// Training images.
    pub train_images: usize,
    /// Evaluation images.
    pub val_images: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Per-epoch losses.
    pub epochs: Vec<EpochRow>,
    /// COCO metrics on the evaluation split.
    pub metrics: CocoMetrics,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Seconds of training (the budget the issue states).
    pub train_seconds: f64,
    /// Seconds of the whole run.
    pub total_seconds: f64,
}

impl RunSettings for DetectConfig {
    /// The slope schedule, where the activation has nothing for it to train.
    fn inert_settings(&self) -> Vec<&'static str> {
        inert_schedule(&self.activation, &self.schedule)
    }
}

impl DetectConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> crate::Result<()> {
        ensure!(
            self.epochs >= 1 && self.batch_size >= 1,
            "--epochs and --batch must be ≥ 1"
        );
        ensure!(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr must be positive"
        );
        ensure!(
            self.max_loss_growth >= 0.0,
            "--max-loss-growth must be ≥ 0 (0 turns the check off), got {}",
            self.max_loss_growth
        );
        ensure!(
            self.pixel_norm.is_valid(),
            "the pixel normalisation needs finite means and positive standard deviations"
        );
        let multiple = self.model_config(1).side_multiple();
        ensure!(
            self.image_size >= 2 * multiple && self.image_size.is_multiple_of(multiple),
            "--image-size must be a multiple of {multiple}, at least {} (for {}), got {}",
            2 * multiple,
            self.detector,
            self.image_size
        );
        Ok(())
    }
}

impl DetectConfig {
    /// The detector this run trains, for `num_classes` classes.
    pub fn model_config(&self, num_classes: usize) -> DetectorConfig {
        match self.detector {
            DetectorKind::Centernet => DetectorConfig::CenterNet(
                CenterNetConfig::new(num_classes)
                    .with_head_width(self.head_width)
                    .with_activation(self.activation.clone()),
            ),
            DetectorKind::FasterRcnn => {
                let mut backbone = BackboneConfig::new()
                    .with_depth(self.backbone_depth)
                    .with_base_width(self.backbone_width)
                    .with_fpn(self.fpn);
                if let Some(c) = self.fpn_channels {
                    backbone.fpn_channels = c;
                }
                let mut config =
                    FasterRcnnConfig::new(num_classes, self.activation.clone(), backbone);
                if let Some(width) = self.box_head_width {
                    config.representation = width;
                }
                if self.torchvision_anchors {
                    config = config.torchvision_scale();
                }
                DetectorConfig::FasterRcnn(Box::new(config))
            }
        }
    }
}

impl RunSummary for DetectSummary {
    fn epochs(&self) -> &[EpochRow] {
        &self.epochs
    }
    fn params(&self) -> usize {
        self.params
    }
    fn seconds(&self) -> f64 {
        self.train_seconds
    }
}
