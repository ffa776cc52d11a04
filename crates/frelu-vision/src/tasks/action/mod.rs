//! Action recognition in video: TSM / TSN trained through `tasks::launch` (with the slope
//! schedule) on a frame-folder dataset, and its row of the comparison grid ([`grid`]).

pub mod grid;
mod train;

use std::path::PathBuf;

use crate::error::ensure;
use frelu::ActivationConfig;
use frelu::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};

use crate::runs::settings::inert_schedule;
use crate::runs::{EpochRow, RunSettings, RunSummary};
pub use train::train;

/// TSM or TSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoModel {
    /// With temporal shift.
    Tsm,
    /// Without (frames seen independently).
    Tsn,
}

impl VideoModel {
    /// Both models.
    pub const ALL: [VideoModel; 2] = [Self::Tsm, Self::Tsn];
}

impl core::str::FromStr for VideoModel {
    type Err = crate::data::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tsm" => Ok(Self::Tsm),
            "tsn" => Ok(Self::Tsn),
            other => Err(crate::data::ParseError(format!(
                "unknown video model '{other}' (use {})",
                Self::ALL.map(|m| m.to_string()).join(" or ")
            ))),
        }
    }
}

impl core::fmt::Display for VideoModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Tsm => "tsm",
            Self::Tsn => "tsn",
        })
    }
}

/// Everything that defines an action-recognition run. [`ActionConfig::default`] is the one
/// home of its defaults (the CLI's flags take theirs from it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionConfig {
    /// Dataset root (frames/, train.txt, val.txt, classes.txt).
    pub data: PathBuf,
    /// TSM or TSN.
    pub model: VideoModel,
    /// Activation.
    pub activation: ActivationConfig,
    /// Slope schedule.
    pub schedule: ScheduleConfig,
    /// Segments (frames) per clip.
    pub segments: usize,
    /// Frame side the frames are resized to.
    pub frame_size: usize,
    /// Random-crop padding of training clips (same shift for all frames).
    pub crop_pad: usize,
    /// Epochs.
    pub epochs: usize,
    /// Batch size (clips).
    pub batch_size: usize,
    /// SGD learning rate (cosine-annealed, momentum 0.9).
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Seed.
    pub seed: u64,
    /// Data-loading threads.
    pub workers: usize,
    /// Device.
    pub device: String,
    /// Use only the first N training clips.
    pub limit_train: Option<usize>,
    /// Use only the first N validation clips.
    pub limit_val: Option<usize>,
    /// Save a checkpoint (model, optimiser, scheduler) after each epoch (for `--resume`).
    pub checkpoints: bool,
    /// Stop when the training loss passes this many times its start (0 = never).
    pub max_loss_growth: f64,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/motion-fmnist"),
            model: VideoModel::Tsm,
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::default(),
            segments: 8,
            frame_size: 64,
            crop_pad: 4,
            epochs: 8,
            batch_size: 16,
            lr: 0.05,
            weight_decay: 1e-4,
            seed: 0,
            workers: 1,
            device: "flex".into(),
            limit_train: None,
            limit_val: None,
            checkpoints: true,
            max_loss_growth: crate::tasks::guard::DEFAULT_MAX_LOSS_GROWTH,
        }
    }
}

/// What an action run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionSummary {
    /// Configuration.
    pub config: ActionConfig,
    /// Training clips.
    pub train_clips: usize,
    /// Validation clips.
    pub val_clips: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochRow>,
    /// Top-1 accuracy on the validation clips after the last epoch, %.
    pub final_top1: f64,
    /// Seconds of training (the budget the issue states).
    pub train_seconds: f64,
}

impl RunSettings for ActionConfig {
    /// The slope schedule, where the activation has nothing for it to train.
    fn inert_settings(&self) -> Vec<&'static str> {
        inert_schedule(&self.activation, &self.schedule)
    }
}

impl ActionConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> crate::Result<()> {
        ensure!(
            self.epochs >= 1 && self.batch_size >= 1,
            "--epochs and --batch must be ≥ 1"
        );
        ensure!(
            self.segments >= 1 && self.frame_size >= 16,
            "need ≥ 1 segment of ≥ 16 pixels"
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
        Ok(())
    }
}

impl RunSummary for ActionSummary {
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
