//! Object detection: CenterNet-style detector trained through burn-train's `Learner` (with the
//! slope schedule), evaluated with COCO's semantics, detections written as a COCO results file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::tensor::Tensor;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use frelu::ActivationConfig;
use frelu::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};

use super::classify::{save_trained, write_json};
use super::compare::{read_summaries, run_resumable};
use super::guard::LossValue;
use super::launch::{Fit, cosine_half_epoch_warmup, launch};
use super::report::EpochRow;
use crate::analysis::coco_eval::{CocoMetrics, evaluate};
use crate::analysis::stats::{PairedDiff, fixed, mean, paired_by_seed, paired_cell, std_dev};
use crate::data::coco::{CocoDataset, CocoDetection};
use crate::data::detection::{DetBatch, DetBatcher, DetectionDataset, load_split};
use crate::device::parse_device;
use crate::models::detector::{CenterNet, CenterNetConfig, decode};
use crate::models::trainable_params;

/// Everything that defines a detection run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/detect-fmnist"),
            train_split: "train".into(),
            val_split: "val".into(),
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::new("alternate:4:1:iter".parse().expect("valid")),
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

/// The training output: the loss.
pub struct DetOutput {
    loss: Tensor<1>,
}

impl ItemLazy for DetOutput {
    fn sync(self) -> Result<Self, burn::tensor::ExecutionError> {
        self.loss.device().flush()?;
        Ok(Self {
            loss: self.loss.without_autodiff(),
        })
    }
}

impl Adaptor<LossInput> for DetOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl Adaptor<LossValue> for DetOutput {
    fn adapt(&self) -> LossValue {
        LossValue(self.loss.clone())
    }
}

impl TrainStep for CenterNet {
    type Input = DetBatch;
    type Output = DetOutput;

    fn step(&self, batch: DetBatch) -> TrainOutput<DetOutput> {
        let loss = self.loss(&batch);
        TrainOutput::new(self, loss.backward(), DetOutput { loss })
    }
}

impl InferenceStep for CenterNet {
    type Input = DetBatch;
    type Output = DetOutput;

    fn step(&self, batch: DetBatch) -> DetOutput {
        DetOutput {
            loss: self.loss(&batch),
        }
    }
}

fn load(config: &DetectConfig) -> anyhow::Result<(CocoDataset, CocoDataset)> {
    let mut train = load_split(&config.data, &config.train_split)?;
    let mut val = load_split(&config.data, &config.val_split)?;
    ensure!(
        train.file.categories == val.file.categories,
        "the {} and {} splits have different categories",
        config.train_split,
        config.val_split
    );
    if let Some(n) = config.limit_train {
        train = train.take(n);
    }
    if let Some(n) = config.limit_val {
        val = val.take(n);
    }
    ensure!(
        !train.file.images.is_empty(),
        "the training split has no images"
    );
    ensure!(
        !val.file.images.is_empty(),
        "the evaluation split has no images"
    );
    Ok((train, val))
}

fn model_config(config: &DetectConfig, num_classes: usize) -> CenterNetConfig {
    CenterNetConfig::new(num_classes)
        .with_head_width(config.head_width)
        .with_activation(config.activation.clone())
}

/// Trains a detector, evaluates it and writes into `out`: `config.json`, `metrics.csv`,
/// `model.bpk`, `slopes.json`, `detections.json` (COCO results), `coco_metrics.json`,
/// `summary.json`.
pub fn train(config: &DetectConfig, out: &Path, quiet: bool) -> anyhow::Result<DetectSummary> {
    let started = Instant::now();
    ensure!(
        config.epochs >= 1 && config.batch_size >= 1,
        "--epochs and --batch must be ≥ 1"
    );
    ensure!(
        config.lr.is_finite() && config.lr > 0.0,
        "--lr must be positive"
    );
    ensure!(
        config.image_size >= 16 && config.image_size.is_multiple_of(8),
        "--image-size must be a multiple of 8, at least 16"
    );
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_json(&out.join("config.json"), config)?;
    let (train_set, val_set) = load(config)?;
    let num_classes = train_set.num_classes();
    let device = parse_device(&config.device).map_err(anyhow::Error::msg)?;
    device.seed(config.seed);
    let model = model_config(config, num_classes).init(&device.clone().autodiff());
    let params = trainable_params(&model);
    if !quiet {
        println!(
            "detection: {} train / {} val images, {num_classes} classes; CenterNet with {} \
             ({params} parameters); schedule {}",
            train_set.file.images.len(),
            val_set.file.images.len(),
            config.activation,
            config.schedule.schedule
        );
    }
    let (train_len, val_len) = (train_set.file.images.len(), val_set.file.images.len());
    let val_set = Arc::new(val_set);
    let batcher = DetBatcher {
        num_classes,
        stride: CenterNet::STRIDE,
    };
    let loader_train = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .num_workers(config.workers)
        .build(DetectionDataset::new(
            Arc::new(train_set),
            config.image_size,
            true,
            config.seed,
        ));
    let loader_val = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.batch_size)
        .num_workers(config.workers)
        .build(DetectionDataset::new(
            val_set.clone(),
            config.image_size,
            false,
            config.seed,
        ));

    let iters = train_len.div_ceil(config.batch_size) as u64;
    let fit = Fit {
        out,
        schedule: &config.schedule,
        optimizer: |wd: f64| {
            AdamConfig::new()
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                .build()
        },
        weight_decay: config.weight_decay,
        curve: cosine_half_epoch_warmup(config.lr, iters, config.epochs),
        iters_per_epoch: iters,
        epochs: config.epochs,
        label: config.activation.name().to_string(),
        quiet,
        error_context: String::new(),
    };
    let (model, epochs) = launch(model, loader_train, loader_val, fit, |training| training)?;
    let train_seconds = started.elapsed().as_secs_f64();
    save_trained(&model, out)?;

    let detections = detect_all(&model, &val_set, config)?;
    write_json(&out.join("detections.json"), &detections)?;
    let metrics = evaluate(&val_set.file, &detections);
    write_json(&out.join("coco_metrics.json"), &metrics)?;
    let summary = DetectSummary {
        config: config.clone(),
        train_images: train_len,
        val_images: val_len,
        params,
        seconds_per_epoch: epochs
            .iter()
            .map(|r| r.train_seconds + r.test_seconds)
            .sum::<f64>()
            / epochs.len().max(1) as f64,
        epochs,
        metrics,
        train_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&out.join("summary.json"), &summary)?;
    if !quiet {
        println!("{}", metrics_line(&summary.metrics));
    }
    Ok(summary)
}

/// One line of the main COCO numbers.
pub fn metrics_line(m: &CocoMetrics) -> String {
    format!(
        "AP {}  AP50 {}  AP75 {}  APs {}  APm {}  APl {}  AR100 {}",
        ap_text(m.ap),
        ap_text(m.ap50),
        ap_text(m.ap75),
        ap_text(m.ap_small),
        ap_text(m.ap_medium),
        ap_text(m.ap_large),
        ap_text(m.ar100)
    )
}

/// Runs the detector over a dataset and returns COCO-format detections in original pixels.
pub fn detect_all(
    model: &CenterNet,
    data: &Arc<CocoDataset>,
    config: &DetectConfig,
) -> anyhow::Result<Vec<CocoDetection>> {
    let batcher = DetBatcher {
        num_classes: data.num_classes(),
        stride: CenterNet::STRIDE,
    };
    let device = model
        .devices()
        .first()
        .cloned()
        .context("model has no device")?;
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(config.batch_size)
        .num_workers(config.workers)
        .set_device(device)
        .build(DetectionDataset::new(
            data.clone(),
            config.image_size,
            false,
            0,
        ));
    let mut out = Vec::new();
    for batch in loader.iter() {
        let batch = batch.map_err(|e| anyhow::anyhow!("{e}"))?;
        let decoded = decode(
            &model.forward(batch.images.clone()),
            100,
            config.min_score,
            config.nms_iou,
        );
        for ((index, scale), dets) in batch.meta.iter().zip(decoded) {
            let image = &data.file.images[*index];
            let (w, h) = (image.width as f64, image.height as f64);
            for d in dets {
                let s = *scale as f64;
                let x1 = (d.bbox[0] as f64 / s).clamp(0.0, w);
                let y1 = (d.bbox[1] as f64 / s).clamp(0.0, h);
                let x2 = (d.bbox[2] as f64 / s).clamp(0.0, w);
                let y2 = (d.bbox[3] as f64 / s).clamp(0.0, h);
                if x2 - x1 <= 0.0 || y2 - y1 <= 0.0 {
                    continue;
                }
                out.push(CocoDetection {
                    image_id: image.id,
                    category_id: data.category_id(d.label),
                    bbox: [x1, y1, x2 - x1, y2 - y1],
                    score: d.score as f64,
                });
            }
        }
    }
    Ok(out)
}

/// Loads a trained run (its `config.json` and `model.bpk`) on the flex device.
pub fn load_run(run: &Path) -> anyhow::Result<(DetectConfig, CenterNet, Arc<CocoDataset>)> {
    let config: DetectConfig = serde_json::from_str(
        &std::fs::read_to_string(run.join("config.json"))
            .with_context(|| format!("{} is not a detection run", run.display()))?,
    )?;
    let (_, val) = load(&config)?;
    let model = model_config(&config, val.num_classes())
        .init(&parse_device(&config.device).map_err(anyhow::Error::msg)?)
        .try_load_file(run.join("model.bpk"))
        .with_context(|| format!("cannot load {}", run.join("model.bpk").display()))?;
    Ok((config, model, Arc::new(val)))
}

/// Re-evaluates a trained run: writes `detections.json` and `coco_metrics.json` again.
pub fn eval_run(run: &Path) -> anyhow::Result<CocoMetrics> {
    let (config, model, val) = load_run(run)?;
    let detections = detect_all(&model, &val, &config)?;
    write_json(&run.join("detections.json"), &detections)?;
    let metrics = evaluate(&val.file, &detections);
    write_json(&run.join("coco_metrics.json"), &metrics)?;
    Ok(metrics)
}

/// Draws the predictions (red, with class and score) and the ground truth (green) of the first
/// `count` evaluation images into `RUN/predictions/*.png`.
pub fn predict_run(run: &Path, count: usize, min_score: f32) -> anyhow::Result<Vec<PathBuf>> {
    let (config, model, val) = load_run(run)?;
    let limited = Arc::new(val.take(count));
    let detections = detect_all(&model, &limited, &config)?;
    let dir = run.join("predictions");
    std::fs::create_dir_all(&dir)?;
    let names: Vec<String> = limited
        .file
        .categories
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut files = Vec::new();
    let dataset = DetectionDataset::new(limited.clone(), config.image_size, false, 0);
    for (i, image) in limited.file.images.iter().enumerate() {
        let picture = dataset.read_image(i)?;
        let (gt_boxes, gt_labels) = limited.targets(i);
        let predictions: Vec<([f32; 4], usize, f32)> = detections
            .iter()
            .filter(|d| d.image_id == image.id && d.score as f32 >= min_score)
            .map(|d| {
                let b = d.bbox;
                (
                    [
                        b[0] as f32,
                        b[1] as f32,
                        (b[0] + b[2]) as f32,
                        (b[1] + b[3]) as f32,
                    ],
                    limited.labels[&d.category_id],
                    d.score as f32,
                )
            })
            .collect();
        let path = dir.join(format!("{:06}.png", image.id));
        crate::analysis::plots::draw_detections(
            &path,
            &picture,
            &gt_boxes.iter().copied().zip(gt_labels).collect::<Vec<_>>(),
            &predictions,
            &names,
        )?;
        files.push(path);
    }
    Ok(files)
}

/// One configuration of a detection comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DetectComparisonRow {
    /// Activation string.
    pub activation: String,
    /// Seeds that finished.
    pub seeds: Vec<u64>,
    /// Parameters.
    pub params: usize,
    /// AP (0.50:0.95), mean and std over seeds.
    pub ap: (f64, f64),
    /// AP50, mean and std.
    pub ap50: (f64, f64),
    /// AP75, mean and std.
    pub ap75: (f64, f64),
    /// APs, APm, APl means.
    pub ap_sml: [f64; 3],
    /// AP50 minus ReLU's, paired by seed.
    pub delta_ap50: Option<PairedDiff>,
    /// AP minus ReLU's, paired by seed.
    pub delta_ap: Option<PairedDiff>,
    /// Seconds of training, mean.
    pub train_seconds: f64,
}

/// Trains `activations` × `seeds` detectors with `base` into `out/runs/ACT-sSEED` (resumable),
/// then writes `out/summary.{md,json}`.
pub fn compare(
    base: &DetectConfig,
    activations: &[ActivationConfig],
    seeds: &[u64],
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<DetectComparisonRow>> {
    let cells: Vec<(ActivationConfig, u64)> = seeds
        .iter()
        .flat_map(|&s| activations.iter().map(move |a| (a.clone(), s)))
        .collect();
    let name =
        |a: &ActivationConfig, s: u64| format!("{}-s{s}", a.to_string().replace([':', '='], "_"));
    let names: Vec<String> = cells.iter().map(|(a, s)| name(a, *s)).collect();
    run_resumable(
        &out.join("runs"),
        &names,
        |i, dir| {
            let (activation, seed) = &cells[i];
            let config = DetectConfig {
                activation: activation.clone(),
                seed: *seed,
                ..base.clone()
            };
            let s = train(&config, dir, true)?;
            Ok(format!(
                "{activation}: {} ({:.0} s)",
                metrics_line(&s.metrics),
                s.train_seconds
            ))
        },
        log,
    )?;
    let read = |a: &ActivationConfig| -> Vec<(u64, DetectSummary)> {
        read_summaries(seeds, |s| out.join("runs").join(name(a, s)))
    };
    let reference: Vec<(u64, DetectSummary)> = activations
        .iter()
        .find(|a| **a == ActivationConfig::Relu)
        .map(read)
        .unwrap_or_default();
    let rows: Vec<DetectComparisonRow> = activations
        .iter()
        .map(|a| {
            let runs = read(a);
            let pick = |f: fn(&CocoMetrics) -> f64| -> Vec<f64> {
                runs.iter().map(|(_, s)| f(&s.metrics)).collect()
            };
            let stat = |v: Vec<f64>| (mean(&v), std_dev(&v));
            let delta = |f: fn(&CocoMetrics) -> f64| {
                if *a == ActivationConfig::Relu {
                    return None;
                }
                paired_by_seed(&reference, &runs, |s| f(&s.metrics))
            };
            DetectComparisonRow {
                activation: a.to_string(),
                seeds: runs.iter().map(|(s, _)| *s).collect(),
                params: runs.first().map_or(0, |(_, s)| s.params),
                ap: stat(pick(|m| m.ap)),
                ap50: stat(pick(|m| m.ap50)),
                ap75: stat(pick(|m| m.ap75)),
                ap_sml: [
                    mean(&pick(|m| m.ap_small)),
                    mean(&pick(|m| m.ap_medium)),
                    mean(&pick(|m| m.ap_large)),
                ],
                delta_ap50: delta(|m| m.ap50),
                delta_ap: delta(|m| m.ap),
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

/// An AP or AR value with three decimals, or "—" where COCO reports −1 (no ground truth in
/// that area range) or the value is undefined.
pub fn ap_text(v: f64) -> String {
    if v.is_finite() && v >= 0.0 {
        format!("{v:.3}")
    } else {
        "—".into()
    }
}

/// The comparison table.
pub fn comparison_markdown(rows: &[DetectComparisonRow]) -> String {
    let f = |v: f64| fixed(v, 3);
    let d = |x: &Option<PairedDiff>| paired_cell(x.as_ref(), 3);
    let mut out = String::from(
        "| activation | params | AP | AP50 | AP75 | APs / APm / APl | Δ AP50 vs ReLU [95 % CI] | Δ AP vs ReLU [95 % CI] | train s | seeds |\n\
         |---|---:|---:|---:|---:|---|---|---|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| `{}` | {} | {} ± {} | {} ± {} | {} ± {} | {} / {} / {} | {} | {} | {:.0} | {} |\n",
            r.activation,
            r.params,
            f(r.ap.0),
            f(r.ap.1),
            f(r.ap50.0),
            f(r.ap50.1),
            f(r.ap75.0),
            f(r.ap75.1),
            ap_text(r.ap_sml[0]),
            ap_text(r.ap_sml[1]),
            ap_text(r.ap_sml[2]),
            d(&r.delta_ap50),
            d(&r.delta_ap),
            r.train_seconds,
            r.seeds.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::detection::{BenchmarkConfig, make_benchmark};
    use crate::data::fashion_mnist::Source;

    #[test]
    fn trains_evaluates_predicts_and_writes_coco_results() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let bench = BenchmarkConfig {
            canvas: 64,
            min_size: 16,
            max_size: 32,
            max_items: 3,
            train_images: 48,
            val_images: 8,
            ..BenchmarkConfig::default()
        };
        make_benchmark(&data, &bench, &Source::Bundled).unwrap();
        let config = DetectConfig {
            data,
            activation: ActivationConfig::frelu(),
            epochs: 2,
            batch_size: 16,
            image_size: 64,
            head_width: 16,
            workers: 0,
            ..DetectConfig::default()
        };
        let run = dir.path().join("run");
        let summary = train(&config, &run, true).unwrap();
        assert_eq!(summary.epochs.len(), 2);
        assert!(
            summary.epochs[1].train_loss < summary.epochs[0].train_loss,
            "{:?}",
            summary.epochs
        );
        let m = &summary.metrics;
        assert!((0.0..=1.0).contains(&m.ap50) && m.per_class.len() == 10);
        // The results file follows COCO's results schema.
        let text = std::fs::read_to_string(run.join("detections.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = &value.as_array().unwrap()[0];
        for key in ["image_id", "category_id", "bbox", "score"] {
            assert!(first.get(key).is_some(), "{key} missing: {first}");
        }
        assert_eq!(first["bbox"].as_array().unwrap().len(), 4);
        // eval reproduces the metrics of the trained run; predict draws PNGs.
        let again = eval_run(&run).unwrap();
        assert_eq!(again.ap50, m.ap50);
        let files = predict_run(&run, 2, 0.2).unwrap();
        assert_eq!(files.len(), 2);
        assert!(
            std::fs::read(&files[0])
                .unwrap()
                .starts_with(&[0x89, b'P', b'N', b'G'])
        );
    }
}
