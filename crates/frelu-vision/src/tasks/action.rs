//! Action recognition in video: TSM / TSN trained through burn-train's `Learner` (with the
//! slope schedule) on a frame-folder dataset.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::train::metric::AccuracyMetric;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use frelu::ActivationConfig;
use frelu::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};

use super::classify::{save_trained, write_json};
use super::compare::{read_summaries, run_resumable};
use super::launch::{Fit, cosine_half_epoch_warmup, launch};
use super::report::EpochRow;
use crate::analysis::stats::{PairedDiff, fixed, mean, paired_by_seed, paired_cell, std_dev};
use crate::data::video::{ClipBatch, ClipBatcher, VideoDataset, VideoList};
use crate::device::parse_device;
use crate::models::trainable_params;
use crate::models::tsm::{VideoNet, VideoNetConfig};

/// TSM or TSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoModel {
    /// With temporal shift.
    Tsm,
    /// Without (frames seen independently).
    Tsn,
}

impl core::str::FromStr for VideoModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tsm" => Ok(Self::Tsm),
            "tsn" => Ok(Self::Tsn),
            other => Err(format!("unknown video model '{other}' (use tsm or tsn)")),
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

/// Everything that defines an action-recognition run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/motion-fmnist"),
            model: VideoModel::Tsm,
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::new("alternate:4:1:iter".parse().expect("valid")),
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

impl TrainStep for VideoNet {
    type Input = ClipBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClipBatch) -> TrainOutput<ClassificationOutput> {
        let output = clip_output(self, batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for VideoNet {
    type Input = ClipBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClipBatch) -> ClassificationOutput {
        clip_output(self, batch)
    }
}

fn clip_output(net: &VideoNet, batch: ClipBatch) -> ClassificationOutput {
    let logits = net.forward(batch.clips);
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.clone(), batch.targets.clone());
    ClassificationOutput::new(loss, logits, batch.targets)
}

/// Trains TSM or TSN and writes `config.json`, `metrics.csv`, `model.bpk`, `slopes.json`,
/// `summary.json` into `out`.
pub fn train(config: &ActionConfig, out: &Path, quiet: bool) -> anyhow::Result<ActionSummary> {
    let started = Instant::now();
    ensure!(
        config.epochs >= 1 && config.batch_size >= 1,
        "--epochs and --batch must be ≥ 1"
    );
    ensure!(
        config.segments >= 1 && config.frame_size >= 16,
        "need ≥ 1 segment of ≥ 16 pixels"
    );
    ensure!(
        config.lr.is_finite() && config.lr > 0.0,
        "--lr must be positive"
    );
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_json(&out.join("config.json"), config)?;
    let train_list = VideoList::load(&config.data, "train")?;
    let val_list = VideoList::load(&config.data, "val")?;
    let num_classes = train_list.classes.len();
    let mut train_set = VideoDataset::new(
        train_list,
        config.segments,
        config.frame_size,
        true,
        config.crop_pad,
        config.seed,
    );
    let mut val_set = VideoDataset::new(
        val_list,
        config.segments,
        config.frame_size,
        false,
        0,
        config.seed,
    );
    if let Some(n) = config.limit_train {
        train_set = train_set.limit(n);
    }
    if let Some(n) = config.limit_val {
        val_set = val_set.limit(n);
    }
    let (train_len, val_len) = (train_set.len(), val_set.len());
    let device = parse_device(&config.device).map_err(anyhow::Error::msg)?;
    device.seed(config.seed);
    let model = VideoNetConfig::new(num_classes)
        .with_segments(config.segments)
        .with_shift(config.model == VideoModel::Tsm)
        .with_activation(config.activation.clone())
        .init(&device.clone().autodiff());
    let params = trainable_params(&model);
    if !quiet {
        println!(
            "action: {train_len} train / {val_len} val clips of {} frames, {num_classes} classes; \
             {} with {} ({params} parameters); schedule {}",
            config.segments, config.model, config.activation, config.schedule.schedule
        );
    }
    let loader_train = DataLoaderBuilder::new(ClipBatcher)
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .num_workers(config.workers)
        .build(train_set);
    let loader_val = DataLoaderBuilder::new(ClipBatcher)
        .batch_size(config.batch_size)
        .num_workers(config.workers)
        .build(val_set);
    let iters = train_len.div_ceil(config.batch_size) as u64;
    let fit = Fit {
        out,
        schedule: &config.schedule,
        optimizer: |wd: f64| {
            SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new()))
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                .build()
        },
        weight_decay: config.weight_decay,
        curve: cosine_half_epoch_warmup(config.lr, iters, config.epochs),
        iters_per_epoch: iters,
        epochs: config.epochs,
        label: config.model.to_string(),
        quiet,
        error_context: String::new(),
    };
    let (model, epochs) = launch(model, loader_train, loader_val, fit, |training| {
        training
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AccuracyMetric::new())
    })?;
    save_trained(&model, out)?;
    let summary = ActionSummary {
        config: config.clone(),
        train_clips: train_len,
        val_clips: val_len,
        params,
        final_top1: epochs.last().map_or(f64::NAN, |r| r.test_acc),
        epochs,
        train_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// One row of an action comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionComparisonRow {
    /// `tsm` or `tsn`.
    pub model: String,
    /// Activation.
    pub activation: String,
    /// Seeds finished.
    pub seeds: Vec<u64>,
    /// Parameters.
    pub params: usize,
    /// Top-1, mean and std over seeds.
    pub top1: (f64, f64),
    /// Top-1 minus TSM-ReLU's, paired by seed.
    pub delta_vs_relu: Option<PairedDiff>,
    /// Training seconds, mean.
    pub train_seconds: f64,
}

/// Trains every `(model, activation)` × seed into `out/runs/` (resumable) and writes
/// `out/summary.{md,json}`; the reference of the paired differences is TSM with ReLU.
pub fn compare(
    base: &ActionConfig,
    configs: &[(VideoModel, ActivationConfig)],
    seeds: &[u64],
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<ActionComparisonRow>> {
    let cells: Vec<(VideoModel, ActivationConfig, u64)> = seeds
        .iter()
        .flat_map(|&s| configs.iter().map(move |(m, a)| (*m, a.clone(), s)))
        .collect();
    let name = |m: VideoModel, a: &ActivationConfig, s: u64| {
        format!("{m}-{}-s{s}", a.to_string().replace([':', '='], "_"))
    };
    let names: Vec<String> = cells.iter().map(|(m, a, s)| name(*m, a, *s)).collect();
    run_resumable(
        &out.join("runs"),
        &names,
        |i, dir| {
            let (model, activation, seed) = &cells[i];
            let config = ActionConfig {
                model: *model,
                activation: activation.clone(),
                seed: *seed,
                ..base.clone()
            };
            let s = train(&config, dir, true)?;
            Ok(format!(
                "{model} {activation}: top-1 {:.2}% ({:.0} s)",
                s.final_top1, s.train_seconds
            ))
        },
        log,
    )?;
    let read = |m: VideoModel, a: &ActivationConfig| -> Vec<(u64, ActionSummary)> {
        read_summaries(seeds, |s| out.join("runs").join(name(m, a, s)))
    };
    let reference = read(VideoModel::Tsm, &ActivationConfig::Relu);
    let rows: Vec<ActionComparisonRow> = configs
        .iter()
        .map(|(m, a)| {
            let runs = read(*m, a);
            let top1: Vec<f64> = runs.iter().map(|(_, s)| s.final_top1).collect();
            let is_reference = *m == VideoModel::Tsm && *a == ActivationConfig::Relu;
            let delta = if is_reference {
                None
            } else {
                paired_by_seed(&reference, &runs, |s| s.final_top1)
            };
            ActionComparisonRow {
                model: m.to_string(),
                activation: a.to_string(),
                seeds: runs.iter().map(|(s, _)| *s).collect(),
                params: runs.first().map_or(0, |(_, s)| s.params),
                top1: (mean(&top1), std_dev(&top1)),
                delta_vs_relu: delta,
                train_seconds: mean(
                    &runs
                        .iter()
                        .map(|(_, s)| s.train_seconds)
                        .collect::<Vec<_>>(),
                ),
            }
        })
        .collect();
    write_json(&out.join("summary.json"), &rows)?;
    std::fs::write(out.join("summary.md"), comparison_markdown(&rows))?;
    Ok(rows)
}

/// The comparison table.
pub fn comparison_markdown(rows: &[ActionComparisonRow]) -> String {
    let f = |v: f64| fixed(v, 2);
    let mut out = String::from(
        "| model | activation | params | top-1 (%) | Δ vs TSM-ReLU (pp) [95 % CI], p | train s | seeds |\n\
         |---|---|---:|---:|---|---:|---:|\n",
    );
    for r in rows {
        let delta = paired_cell(r.delta_vs_relu.as_ref(), 2);
        out.push_str(&format!(
            "| {} | `{}` | {} | {} ± {} | {} | {:.0} | {} |\n",
            r.model,
            r.activation,
            r.params,
            f(r.top1.0),
            f(r.top1.1),
            delta,
            r.train_seconds,
            r.seeds.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fashion_mnist::Source;
    use crate::data::video::{MotionConfig, make_motion_benchmark};

    #[test]
    fn trains_tsm_on_a_generated_benchmark_and_compares() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let bench = MotionConfig {
            frames: 4,
            size: 32,
            train_clips: 32,
            val_clips: 16,
            seed: 0,
            ..MotionConfig::default()
        };
        make_motion_benchmark(&data, &bench, &Source::Bundled).unwrap();
        let base = ActionConfig {
            data,
            segments: 4,
            frame_size: 32,
            epochs: 1,
            batch_size: 8,
            workers: 0,
            ..ActionConfig::default()
        };
        let configs = [
            (VideoModel::Tsm, ActivationConfig::Relu),
            (VideoModel::Tsm, ActivationConfig::frelu()),
            (VideoModel::Tsn, ActivationConfig::Relu),
        ];
        let rows = compare(&base, &configs, &[0], &dir.path().join("out"), &mut |_| {}).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|r| r.seeds == vec![0] && r.top1.0.is_finite())
        );
        assert!(rows[1].params > rows[0].params);
        assert!(rows[1].delta_vs_relu.is_some() && rows[0].delta_vs_relu.is_none());
        assert!(dir.path().join("out/summary.md").is_file());
    }
}
