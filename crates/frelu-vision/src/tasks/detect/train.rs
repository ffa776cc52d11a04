//! Training one detector: COCO-layout data → CenterNet → `tasks::launch` → evaluation → run
//! folder.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::error::ensure;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::tensor::Tensor;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use super::eval::{detect_all, metrics_line};
use super::{DetectConfig, DetectSummary};
use crate::analysis::coco_eval::evaluate;
use crate::data::coco::CocoDataset;
use crate::data::detection::{DetBatch, DetBatcher, DetectionDataset, load_split};
use crate::data::epochs::{EpochClock, training_loader};
use crate::device::parse_device;
use crate::fsio::write_json;
use crate::models::detector::{CenterNet, CenterNetConfig};
use crate::models::trainable_params;
use crate::runs::folder::{self, save_trained};
use crate::runs::report::mean_epoch_seconds;
use crate::tasks::guard::LossValue;
use crate::tasks::launch::{Fit, RunOptions, cosine_half_epoch_warmup, launch};

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

pub(super) fn load(config: &DetectConfig) -> crate::Result<(CocoDataset, CocoDataset)> {
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

pub(super) fn model_config(config: &DetectConfig, num_classes: usize) -> CenterNetConfig {
    CenterNetConfig::new(num_classes)
        .with_head_width(config.head_width)
        .with_activation(config.activation.clone())
}

#[allow(clippy::type_complexity)]
fn loaders(
    config: &DetectConfig,
    train_set: CocoDataset,
    val_set: Arc<CocoDataset>,
    first_epoch: usize,
) -> (Arc<dyn DataLoader<DetBatch>>, Arc<dyn DataLoader<DetBatch>>) {
    let batcher = DetBatcher {
        num_classes: train_set.num_classes(),
        stride: CenterNet::STRIDE,
    };
    let clock = EpochClock::default();
    let train = training_loader(
        batcher.clone(),
        DetectionDataset::new(Arc::new(train_set), config.image_size, true, config.seed)
            .with_clock(clock.clone()),
        config.batch_size,
        config.workers,
        config.seed,
        clock,
        first_epoch as u64,
        config.schedule.schedule.matched(),
    );
    let val = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.batch_size)
        .num_workers(config.workers)
        .build(DetectionDataset::new(
            val_set.clone(),
            config.image_size,
            false,
            config.seed,
        ));

    (train, val)
}

/// Trains a detector, evaluates it and writes into `out`: `config.json`, `metrics.csv`,
/// `model.bpk`, `slopes.json`, `detections.json` (COCO results), `coco_metrics.json`,
/// `summary.json`.
pub fn train(
    config: &DetectConfig,
    out: &Path,
    options: &RunOptions,
) -> crate::Result<DetectSummary> {
    let quiet = options.quiet;
    let started = Instant::now();
    config.validate()?;
    folder::check_start(out, config, options.start)?;
    let (train_set, val_set) = load(config)?;
    let resume = folder::open(out, config, options.start)?;
    let first_epoch = resume.as_ref().map_or(0, |r| r.epochs);
    let num_classes = train_set.num_classes();
    let device = parse_device(&config.device)?;
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
    let (loader_train, loader_val) = loaders(config, train_set, val_set.clone(), first_epoch);
    let iters = config
        .schedule
        .schedule
        .steps_per_epoch(train_len.div_ceil(config.batch_size) as u64);
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
        error_context: format!(" Metrics of the finished epochs are in {}.", out.display()),
        checkpoints: config.checkpoints,
        resume,
        max_loss_growth: config.max_loss_growth,
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
        seconds_per_epoch: mean_epoch_seconds(&epochs),
        epochs,
        metrics,
        train_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&out.join(folder::SUMMARY), &summary)?;
    if !quiet {
        println!("{}", metrics_line(&summary.metrics));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fashion_mnist::Source;
    use crate::data::synth::{BenchmarkConfig, make_benchmark};
    use crate::tasks::detect::{eval_run, predict_run};
    use frelu::ActivationConfig;

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
        let summary = train(&config, &run, &RunOptions::quiet()).unwrap();
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
