//! Training one detector: COCO-layout data → CenterNet or Faster R-CNN → `tasks::launch` → evaluation → run
//! folder.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::tensor::Tensor;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use super::eval::{COCO_METRICS, DETECTIONS, TASK_FILES, detect_all, load, metrics_line};
use super::{DetectConfig, DetectSummary};
use crate::analysis::coco_eval::evaluate;
use crate::data::coco::CocoDataset;
use crate::data::detection::{DetBatch, DetBatcher, DetectionDataset};
use crate::data::epochs::{EpochClock, eval_loader, training_loader};
use crate::device::parse_device;
use crate::fsio::write_json;
use crate::models::detection::Detector;
use crate::models::trainable_params;
use crate::progress::Reporter;
use crate::runs::folder::{self, save_trained};
use crate::runs::report::mean_epoch_seconds;
use crate::tasks::guard::LossValue;
use crate::tasks::launch::{
    Fit, RunOptions, cosine_half_epoch_warmup, launch, loader_options, start_run,
};

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

impl TrainStep for Detector {
    type Input = DetBatch;
    type Output = DetOutput;

    fn step(&self, batch: DetBatch) -> TrainOutput<DetOutput> {
        let loss = self.loss(&batch);
        TrainOutput::new(self, loss.backward(), DetOutput { loss })
    }
}

impl InferenceStep for Detector {
    type Input = DetBatch;
    type Output = DetOutput;

    fn step(&self, batch: DetBatch) -> DetOutput {
        DetOutput {
            loss: self.loss(&batch),
        }
    }
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
        stride: Detector::HEATMAP_STRIDE,
        normalize: config.pixel_norm,
    };
    let clock = EpochClock::default();
    let options = loader_options(
        (config.batch_size, config.workers),
        config.seed,
        &config.schedule,
        first_epoch,
    );
    let train_set = Arc::new(train_set);
    let train = training_loader(
        batcher.clone(),
        DetectionDataset::new(train_set, config.image_size, true, config.seed)
            .with_clock(clock.clone()),
        clock,
        &options,
    );
    let val_set = DetectionDataset::new(val_set, config.image_size, false, config.seed);
    (train, eval_loader(batcher, val_set, &options))
}

/// `model` with the weights of `from`: a detection run folder or `model.bpk` of the same
/// detector, or torchvision-layout Faster R-CNN weights. Activation parameters the weights lack
/// start as ReLU.
fn init_from(model: Detector, from: &Path, reporter: &dyn Reporter) -> crate::Result<Detector> {
    if crate::models::import::is_pytorch_file(from) {
        let Detector::FasterRcnn(net) = model else {
            crate::error::bail!(
                "{}: PyTorch weights are read into `--detector faster-rcnn` only (torchvision's \
                 fasterrcnn_resnet50_fpn layout)",
                from.display()
            );
        };
        let (net, report) = crate::models::import::load_faster_rcnn(net, from)?;
        reporter.info(&format!(
            "weights from {} ({} tensors; activation parameters it lacks start as ReLU)",
            from.display(),
            report.loaded
        ));
        if let Some((file, here)) = report.head_reinitialised {
            reporter.warn(&format!(
                "{} predicts {} classes and this run {}: the box predictor (cls_score, \
                 bbox_pred) is re-initialised, everything else is loaded",
                from.display(),
                file.saturating_sub(1),
                here.saturating_sub(1)
            ));
        }
        return Ok(Detector::FasterRcnn(net));
    }
    crate::tasks::launch::load_run_weights(model, from, reporter)
}

/// The splits and the seeded network of a new run (its weights from `init_from` if given).
fn prepare(
    config: &DetectConfig,
    reporter: &dyn Reporter,
) -> crate::Result<(CocoDataset, CocoDataset, Detector)> {
    let (train_set, val_set) = load(config)?;
    let device = parse_device(&config.device)?;
    device.seed(config.seed);
    let model = config
        .model_config(train_set.num_classes())
        .init(&device.autodiff())?;
    let model = match &config.init_from {
        Some(from) => init_from(model, from, reporter)?,
        None => model,
    };
    Ok((train_set, val_set, model))
}

/// Trains a detector, evaluates it and writes into `out`: `config.json`, `metrics.csv`,
/// `model.bpk`, `slopes.json`, `detections.json` (COCO results), `coco_metrics.json`,
/// `summary.json`.
pub fn train(
    config: &DetectConfig,
    out: &Path,
    options: &RunOptions,
) -> crate::Result<DetectSummary> {
    let reporter = options.reporter.as_ref();
    let started = Instant::now();
    config.validate()?;
    let ((train_set, val_set, model), resume, _claim) = start_run(
        (out, Some(&config.data)),
        config,
        options.start,
        &TASK_FILES,
        || prepare(config, reporter),
    )?;
    let first_epoch = resume.as_ref().map_or(0, |r| r.epochs);
    let num_classes = train_set.num_classes();
    let params = trainable_params(&model);
    reporter.info(&format!(
        "detection: {} train / {} val images, {num_classes} classes; {} with {} \
         ({params} parameters); schedule {}",
        train_set.file.images.len(),
        val_set.file.images.len(),
        config.detector,
        config.activation,
        config.schedule.schedule
    ));
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
        projections: config.activation.projections(),
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
        reporter: options.reporter.clone(),
        checkpoints: config.checkpoints,
        resume,
        max_loss_growth: config.max_loss_growth,
        probe: None,
    };
    let (model, epochs) = launch(model, loader_train, loader_val, fit, |training| training)?;
    let train_seconds = started.elapsed().as_secs_f64();
    save_trained(&model, out)?;

    let detections = detect_all(&model, &val_set, config)?;
    write_json(&out.join(DETECTIONS), &detections)?;
    let metrics = evaluate(&val_set.file, &detections);
    write_json(&out.join(COCO_METRICS), &metrics)?;
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
    reporter.info(&metrics_line(&summary.metrics));
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fashion_mnist::Source;
    use crate::data::synth::{BenchmarkConfig, make_benchmark};
    use crate::tasks::detect::{eval_run, predict_run};
    use frelu::ActivationConfig;

    /// A tiny generated benchmark: 48 training and 8 validation canvases of 64 px.
    fn tiny_benchmark(dir: &Path) -> std::path::PathBuf {
        let data = dir.join("data");
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
        data
    }

    #[test]
    fn faster_rcnn_trains_and_its_loss_falls() {
        let dir = tempfile::tempdir().unwrap();
        let config = DetectConfig {
            data: tiny_benchmark(dir.path()),
            detector: super::super::DetectorKind::FasterRcnn,
            backbone_width: 4,
            activation: ActivationConfig::frelu(),
            epochs: 3,
            batch_size: 8,
            lr: 1e-3,
            image_size: 64,
            workers: 0,
            ..DetectConfig::default()
        };
        let run = dir.path().join("run");
        let summary = train(&config, &run, &RunOptions::quiet()).unwrap();
        let losses: Vec<f64> = summary.epochs.iter().map(|e| e.train_loss).collect();
        assert!(losses[2] < losses[0], "{losses:?}");
        assert!((0.0..=1.0).contains(&summary.metrics.ap50));
        // The run reloads as a Faster R-CNN: eval reproduces its metrics.
        assert_eq!(eval_run(&run).unwrap().ap, summary.metrics.ap);
        // An image size the pyramid cannot take is refused before any work.
        let odd = DetectConfig {
            image_size: 80,
            ..config
        };
        let err = train(&odd, &dir.path().join("odd"), &RunOptions::quiet()).unwrap_err();
        assert!(err.to_string().contains("multiple of 32"), "{err}");
    }

    #[test]
    fn trains_evaluates_predicts_and_writes_coco_results() {
        let dir = tempfile::tempdir().unwrap();
        let config = DetectConfig {
            data: tiny_benchmark(dir.path()),
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
