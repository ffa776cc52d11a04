//! Image classification: the run's settings ([`TrainConfig`], the one home of their defaults),
//! its training through `tasks::launch` ([`train`]), and its row of the comparison grid
//! ([`grid`], with the protocols of `frelu compare` in [`protocol`]).

pub mod evaluate;
pub mod export;
pub mod grid;
pub mod import;
pub mod predict;
pub mod protocol;
mod train;
pub mod train_eval;

use std::path::PathBuf;

use crate::error::ensure;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use frelu::ActivationConfig;
use frelu::schedule::{LrShape, ScheduleConfig};
use serde::{Deserialize, Serialize};

use crate::data::Augment;
pub use crate::data::datasets::DatasetKind;
use crate::data::image_folder::LoaderReport;
use crate::models::Architecture;
use crate::models::resnet::ShortcutKind;
use crate::runs::settings::inert_schedule;
use crate::runs::{EpochRow, RunSettings, RunSummary};
pub use crate::tasks::launch::RunOptions;
pub use train::{classification_output, train};

/// Everything that defines a classification run.
///
/// [`TrainConfig::default`] is the one home of every default: the CLI's flags, protocol files
/// and a `config.json` that lacks a field all take theirs from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// The dataset.
    pub dataset: DatasetKind,
    /// Where to look for it (`--data`).
    pub data_dir: Option<PathBuf>,
    /// The architecture.
    pub model: Architecture,
    /// Residual shortcut option (CIFAR ResNets).
    pub shortcut: ShortcutKind,
    /// Width multiplier α (MobileNetV1).
    pub width: f64,
    /// Side of the square images an image folder is cropped to.
    pub resolution: usize,
    /// The activation.
    pub activation: ActivationConfig,
    /// How slopes are trained.
    pub schedule: ScheduleConfig,
    /// Number of epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Base learning rate (of the weights).
    pub lr: f64,
    /// Shape of the learning-rate schedule.
    pub lr_shape: LrShape,
    /// Linear learning-rate warm-up, in epochs.
    pub lr_warmup_epochs: f64,
    /// SGD momentum (0 = none).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2) of the weights.
    pub weight_decay: f64,
    /// Seed of the initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Data-loading worker threads.
    pub workers: usize,
    /// Training augmentation (`None`: the dataset's usual one).
    pub augment: Option<Augment>,
    /// Use only the first N training images.
    pub limit_train: Option<usize>,
    /// Use only the first N test images.
    pub limit_test: Option<usize>,
    /// Device string (`flex`, `wgpu`, `cuda:N`).
    pub device: String,
    /// Data-parallel training on these devices (empty: `device` alone).
    pub devices: Vec<String>,
    /// With `devices`: burn-train's distributed data parallel strategy (collective all-reduce)
    /// instead of its multi-device strategy (gradients gathered on the first device).
    pub ddp: bool,
    /// Save a checkpoint (model, optimiser, scheduler) after each epoch.
    pub checkpoints: bool,
    /// Stop when the training loss passes this many times its start (0 = never).
    pub max_loss_growth: f64,
    /// Start from the weights of a trained network: a run folder (its `model.bpk`) or a
    /// `.bpk` file. Activation parameters it lacks keep their start (ReLU → FReLU is exact).
    pub init_from: Option<PathBuf>,
    /// After every epoch, score the training set in evaluation mode too (`train_eval.csv`;
    /// see [`train_eval`]): one more pass over it per epoch, without gradients.
    pub eval_train: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::FashionMnist,
            data_dir: None,
            model: Architecture::SimpleCnn,
            shortcut: ShortcutKind::default(),
            width: 1.0,
            resolution: 224,
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::default(),
            epochs: 10,
            batch_size: 128,
            lr: 0.01,
            lr_shape: LrShape::Cosine,
            lr_warmup_epochs: 0.0,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            seed: 0,
            workers: 1,
            augment: None,
            limit_train: None,
            limit_test: None,
            device: "flex".into(),
            devices: Vec::new(),
            ddp: false,
            checkpoints: true,
            max_loss_growth: crate::tasks::guard::DEFAULT_MAX_LOSS_GROWTH,
            init_from: None,
            eval_train: false,
        }
    }
}

impl RunSettings for TrainConfig {
    /// The slope schedule, where the activation has nothing for it to train.
    fn inert_settings(&self) -> Vec<&'static str> {
        inert_schedule(&self.activation, &self.schedule)
    }
}

impl TrainConfig {
    /// The network these settings describe, for images of `channels × input_size` and
    /// `classes` classes (the one place training and `frelu predict` build it from).
    pub fn model_config(
        &self,
        channels: usize,
        classes: usize,
        input_size: (usize, usize),
    ) -> crate::models::ModelConfig {
        crate::models::ModelConfig {
            shortcut: self.shortcut,
            width: self.width,
            input_size: Some(input_size),
            ..crate::models::ModelConfig::new(
                self.model,
                channels,
                classes,
                self.activation.clone(),
            )
        }
    }

    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> crate::Result<()> {
        ensure!(self.epochs >= 1, "--epochs must be at least 1");
        ensure!(
            self.max_loss_growth >= 0.0,
            "--max-loss-growth must be ≥ 0 (0 turns the check off), got {}",
            self.max_loss_growth
        );
        ensure!(self.batch_size >= 1, "--batch must be at least 1");
        ensure!(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr must be a positive number, got {}",
            self.lr
        );
        ensure!(
            (0.0..1.0).contains(&self.momentum),
            "--momentum must be in [0, 1), got {}",
            self.momentum
        );
        ensure!(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "--wd must be ≥ 0, got {}",
            self.weight_decay
        );
        ensure!(
            self.schedule.slope_lr_mult.is_finite() && self.schedule.slope_lr_mult >= 0.0,
            "--slope-lr-mult must be ≥ 0, got {}",
            self.schedule.slope_lr_mult
        );
        if let Some(mult) = self.schedule.slope_wd_mult {
            ensure!(
                mult.is_finite() && mult >= 0.0,
                "--slope-wd-mult must be ≥ 0, got {mult}"
            );
        }
        ensure!(
            self.lr_warmup_epochs.is_finite() && self.lr_warmup_epochs >= 0.0,
            "--lr-warmup must be ≥ 0"
        );
        self.validate_model()?;
        ensure!(
            !self.nesterov || self.momentum > 0.0,
            "--nesterov needs --momentum > 0"
        );
        ensure!(
            !self.ddp || self.devices.len() >= 2,
            "--ddp needs at least two --devices (e.g. --devices cuda:0,cuda:1)"
        );
        ensure!(
            self.schedule.schedule.matched().is_none() || self.devices.is_empty(),
            "--schedule matched:K:M runs on one device (its epochs are laid out per batch)"
        );
        ensure!(
            self.devices.len() != 1,
            "--devices needs at least two devices; for one, use --device"
        );
        Ok(())
    }

    /// The network's own settings: each must be one the chosen model reads.
    fn validate_model(&self) -> crate::Result<()> {
        ensure!(
            self.resolution >= 8,
            "--resolution must be at least 8, got {}",
            self.resolution
        );
        ensure!(
            self.width.is_finite() && self.width > 0.0,
            "--width must be positive, got {}",
            self.width
        );
        // A setting the model does not read would be recorded as if it had been applied.
        let uses_width = !matches!(
            self.model,
            Architecture::SimpleCnn | Architecture::CifarResNet { .. }
        );
        ensure!(
            self.width == 1.0 || uses_width,
            "--width {} is not used by {}: only the MobileNets, VGG and the ImageNet ResNets \
             have a width multiplier",
            self.width,
            self.model
        );
        ensure!(
            self.shortcut == ShortcutKind::default()
                || matches!(self.model, Architecture::CifarResNet { .. }),
            "--shortcut {} is not used by {}: only the CIFAR ResNets have a shortcut option",
            self.shortcut,
            self.model
        );
        Ok(())
    }

    pub(crate) fn sgd(&self, weight_decay: f64) -> SgdConfig {
        let momentum = (self.momentum > 0.0).then_some(MomentumConfig {
            momentum: self.momentum,
            dampening: 0.0,
            nesterov: self.nesterov,
        });
        let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        SgdConfig::new()
            .with_momentum(momentum)
            .with_weight_decay(decay)
    }
}

/// What a run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// The run's configuration.
    pub config: TrainConfig,
    /// Where the data came from.
    pub data_source: String,
    /// Training and test images used.
    pub train_images: usize,
    /// Test images used.
    pub test_images: usize,
    /// Trainable parameters of the model.
    pub params: usize,
    /// Of which activation slopes.
    pub slope_params: usize,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochRow>,
    /// Test accuracy after the last epoch, in percent.
    pub final_test_acc: f64,
    /// Best test accuracy over the epochs, in percent.
    pub best_test_acc: f64,
    /// Mean seconds per epoch (training + evaluation).
    pub seconds_per_epoch: f64,
    /// Wall-clock seconds of the whole run, loading included.
    pub total_seconds: f64,
    /// Image-folder loading: decode throughput and skipped files.
    #[serde(default)]
    pub loader: Option<LoaderReport>,
    /// With `eval_train`: the training set in evaluation mode after each epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_eval: Vec<train_eval::TrainEvalRow>,
}

impl RunSummary for TrainSummary {
    fn epochs(&self) -> &[EpochRow] {
        &self.epochs
    }
    fn params(&self) -> usize {
        self.params
    }
    fn seconds(&self) -> f64 {
        self.seconds_per_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_bad_numbers() {
        let ok = TrainConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            TrainConfig {
                lr: 0.0,
                ..ok.clone()
            },
            TrainConfig {
                lr: f64::NAN,
                ..ok.clone()
            },
            TrainConfig {
                epochs: 0,
                ..ok.clone()
            },
            TrainConfig {
                batch_size: 0,
                ..ok.clone()
            },
            TrainConfig {
                momentum: 1.0,
                ..ok.clone()
            },
            TrainConfig {
                weight_decay: -1.0,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_config_without_fields_takes_the_documented_defaults() {
        let config: TrainConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, TrainConfig::default());
        assert_eq!(config.lr, 0.01);
        assert_eq!(config.schedule.schedule.to_string(), "alternate:4:1:iter");
    }
}
