//! Object detection: a CenterNet-style detector trained through `tasks::launch` (with the slope
//! schedule), evaluated with COCO's semantics ([`eval`]), and its row of the comparison grid
//! ([`grid`]).

mod eval;
pub mod grid;
mod train;

use std::path::PathBuf;

use crate::error::ensure;
use frelu::ActivationConfig;
use frelu::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};

use crate::analysis::coco_eval::CocoMetrics;
use crate::runs::{EpochRow, RunSummary};
pub use eval::{
    COCO_METRICS, DETECTIONS, PREDICTIONS_DIR, TASK_FILES, ap_text, detect_all, eval_run, load_run,
    metrics_line, predict_run,
};
pub use train::train;

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
    /// Channels of the neck and heads.
    pub head_width: usize,
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
    /// Lowest score kept when decoding.
    pub min_score: f32,
    /// IoU of the class-wise NMS.
    pub nms_iou: f32,
    /// Save a checkpoint (model, optimiser, scheduler) after each epoch (for `--resume`).
    pub checkpoints: bool,
    /// Stop when the training loss passes this many times its start (0 = never).
    pub max_loss_growth: f64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/detect-fmnist"),
            train_split: "train".into(),
            val_split: "val".into(),
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::default(),
            epochs: 8,
            batch_size: 32,
            lr: 2e-3,
            weight_decay: 1e-4,
            image_size: 128,
            head_width: 48,
            seed: 0,
            workers: 1,
            device: "flex".into(),
            limit_train: None,
            limit_val: None,
            min_score: 0.01,
            nms_iou: 0.6,
            checkpoints: true,
            max_loss_growth: crate::tasks::guard::DEFAULT_MAX_LOSS_GROWTH,
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
            self.image_size >= 16 && self.image_size.is_multiple_of(8),
            "--image-size must be a multiple of 8, at least 16"
        );
        Ok(())
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
