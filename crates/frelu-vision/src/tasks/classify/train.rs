//! Training one classifier: data → model → burn-train `Learner` (through `tasks::launch`, with
//! the slope schedule in its optimiser and scheduler) → run folder.

use crate::data::preprocess::PREPROCESS_FILE;
use std::path::Path;
use std::time::Instant;

use crate::error::ensure;
use burn::data::dataloader::DataLoader;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use burn::tensor::distributed::{DistributedConfig, ReduceOperation};
use burn::train::metric::AccuracyMetric;
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, MultiDeviceOptim, TrainOutput,
    TrainStep, TrainingStrategy,
};
use frelu::schedule::LrCurve;
use std::sync::Arc;

use super::{RunOptions, TrainConfig, TrainSummary, train_eval};
use crate::data::datasets::LoadedData;
use crate::data::epochs::{EpochClock, eval_loader, training_loader};
use crate::data::{AnyImageDataset, Augment, ImageBatch, ImageBatcher};
use crate::device::parse_device;
use crate::fsio::write_json;
use crate::models::{Net, trainable_params};
use crate::progress::Reporter;
use crate::run_files::TRAIN_EVAL;
use crate::runs::folder::{self, save_trained};
use crate::runs::history::EpochProbe;
use crate::runs::report::mean_epoch_seconds;
use crate::tasks::launch::{Fit, launch, loader_options, start_run};

impl TrainStep for Net {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let output = classification_output(self, batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for Net {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        classification_output(self, batch)
    }
}

/// Forward pass and cross-entropy loss.
pub fn classification_output(net: &Net, batch: ImageBatch) -> ClassificationOutput {
    let logits = net.forward(batch.images);
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.clone(), batch.targets.clone());
    ClassificationOutput::new(loss, logits, batch.targets)
}

/// The data of a run: both splits (limited as asked) and what the model and batcher need.
struct Splits {
    train: AnyImageDataset,
    test: AnyImageDataset,
    channels: usize,
    num_classes: usize,
    normalize: crate::data::Normalize,
    default_augment: Augment,
    source: String,
    loader_stats: Option<Arc<crate::data::image_folder::LoaderStats>>,
    image_size: (usize, usize),
    preprocess: crate::data::preprocess::Preprocess,
}

fn load_splits(config: &TrainConfig, reporter: &dyn Reporter) -> crate::Result<Splits> {
    let data = config
        .dataset
        .load(config.data_dir.as_deref(), config.resolution, config.seed)?;
    let preprocess = data.preprocess();
    let LoadedData {
        train,
        test,
        channels,
        num_classes,
        image_size: (height, width),
        loader_stats,
        normalize,
        default_augment,
        source,
        ..
    } = data;
    let train = match config.limit_train {
        Some(n) => train.limit(n),
        None => train,
    };
    let test = match config.limit_test {
        Some(n) => test.limit(n),
        None => test,
    };
    check_augment(config, (height, width))?;
    ensure!(train.len() > 0, "the training set is empty");
    ensure!(test.len() > 0, "the test set is empty");
    reporter.info(&format!(
        "data: {source} — {} train / {} test images, {channels}×{height}×{width}, \
         {num_classes} classes",
        train.len(),
        test.len(),
    ));
    Ok(Splits {
        train,
        test,
        channels,
        num_classes,
        normalize,
        default_augment,
        source,
        loader_stats,
        image_size: (height, width),
        preprocess,
    })
}

/// Refuses an augmentation that does not fit the images (a crop padding larger than them).
fn check_augment(config: &TrainConfig, (height, width): (usize, usize)) -> crate::Result<()> {
    if let Some(augment) = config.augment {
        ensure!(
            augment.crop_pad <= height.min(width),
            "--augment crop:{} pads by more than the {height}×{width} images themselves; use a \
             padding of at most {}",
            augment.crop_pad,
            height.min(width)
        );
    }
    Ok(())
}

/// The main device and the data-parallel devices of a run.
fn devices(config: &TrainConfig) -> crate::Result<(Device, Vec<Device>)> {
    let device = parse_device(&config.device)?;
    let devices = config
        .devices
        .iter()
        .map(|d| parse_device(d))
        .collect::<crate::Result<Vec<_>>>()?;
    Ok((devices.first().cloned().unwrap_or(device), devices))
}

fn loaders(
    config: &TrainConfig,
    splits: Splits,
    first_epoch: usize,
) -> (
    Arc<dyn DataLoader<ImageBatch>>,
    Arc<dyn DataLoader<ImageBatch>>,
) {
    let augment = config.augment.unwrap_or(splits.default_augment);
    let normalize = splits.normalize;
    let clock = EpochClock::default();
    let options = loader_options(
        (config.batch_size, config.workers),
        config.seed,
        &config.schedule,
        first_epoch,
    );
    let train = training_loader(
        ImageBatcher::new(normalize.clone(), augment, config.seed).with_clock(clock.clone()),
        splits.train.with_clock(clock.clone()),
        clock,
        &options,
    );
    let batcher = ImageBatcher::new(normalize, Augment::none(), config.seed);
    (train, eval_loader(batcher, splits.test, &options))
}

fn strategy(config: &TrainConfig, devices: &[Device]) -> Option<ExecutionStrategy> {
    (devices.len() > 1).then(|| {
        if config.ddp {
            ExecutionStrategy::ddp(
                devices.to_vec(),
                DistributedConfig {
                    all_reduce_op: ReduceOperation::Mean,
                },
            )
        } else {
            ExecutionStrategy::multi(devices.to_vec(), MultiDeviceOptim::OptimMainDevice)
        }
    })
}

/// `model` with the weights of `from`: a run folder or `model.bpk` of this tool, or a PyTorch
/// file (`.pth`, `.pt`, `.safetensors`, torchvision layout). Activation parameters the weights
/// lack start as ReLU.
fn init_from(model: Net, from: &Path, reporter: &dyn Reporter) -> crate::Result<Net> {
    if crate::models::import::is_pytorch_file(from) {
        let (model, report) = crate::models::import::load_pytorch(model, from)?;
        reporter.info(&format!(
            "weights from {} ({} tensors; activation parameters it lacks start as ReLU)",
            from.display(),
            report.loaded
        ));
        if let Some((file, here)) = report.head_reinitialised {
            // A warning: the run does not start from the whole network.
            reporter.warn(&format!(
                "{} classifies {file} classes and this run {here}: the head is \
                 re-initialised, everything else is loaded",
                from.display()
            ));
        }
        return Ok(model);
    }
    crate::tasks::launch::load_run_weights(model, from, reporter)
}

/// The network of a run, on the autodiff version of `device`; says what it is to `reporter`.
fn build_model(
    config: &TrainConfig,
    splits: &Splits,
    device: &Device,
    reporter: &dyn Reporter,
) -> crate::Result<Net> {
    let model_config = config.model_config(splits.channels, splits.num_classes, splits.image_size);
    let mut model = model_config.init(&device.clone().autodiff())?;
    if let Some(from) = &config.init_from {
        model = init_from(model, from, reporter)?;
    }
    ensure!(
        config.schedule.schedule != frelu::Schedule::SlopesOnly
            || frelu::params::activation_param_count(&model) > 0,
        "--schedule slopes-only trains only activation parameters, and {} has none; use an \
         activation that learns (frelu, prelu)",
        config.activation
    );
    let params = trainable_params(&model);
    let slope_params = frelu::params::activation_param_count(&model);
    let schedule = if slope_params == 0 {
        "joint (no slopes to alternate with)".to_string()
    } else {
        config.schedule.schedule.to_string()
    };
    reporter.info(&format!(
        "model: {} with {} — {params} parameters ({slope_params} activation slopes); \
         schedule {schedule}; device {}",
        config.model, config.activation, config.device
    ));
    Ok(model)
}

/// Trains a classifier as `config` says, writing everything into `out`:
/// `config.json`, `preprocess.json`, `metrics.csv`, `metrics.json`, `model.bpk`, `slopes.json`,
/// `slopes_history.jsonl`, `summary.json`, and burn-train's `checkpoint/` and logs.
/// What a run needs before its folder is opened: the data, the devices, the model.
fn prepare(
    config: &TrainConfig,
    reporter: &dyn Reporter,
) -> crate::Result<(Splits, Vec<Device>, Net)> {
    let splits = load_splits(config, reporter)?;
    let (main_device, devices) = devices(config)?;
    main_device.seed(config.seed);
    let model = build_model(config, &splits, &main_device, reporter)?;
    Ok((splits, devices, model))
}

pub fn train(
    config: &TrainConfig,
    out: &Path,
    options: &RunOptions,
) -> crate::Result<TrainSummary> {
    let started = Instant::now();
    config.validate()?;
    let reporter = options.reporter.as_ref();
    let folders = (out, config.data_dir.as_deref());
    let prepare = || prepare(config, reporter);
    let ((splits, devices, model), resume, _claim) =
        start_run(folders, config, options.start, &[TRAIN_EVAL], prepare)?;
    let (train_len, test_len) = (splits.train.len(), splits.test.len());
    write_json(&out.join(PREPROCESS_FILE), &splits.preprocess)?;
    let first_epoch = resume.as_ref().map_or(0, |r| r.epochs);
    let params = trainable_params(&model);
    let slope_params = frelu::params::activation_param_count(&model);
    let data_source = splits.source.clone();
    let loader_stats = splits.loader_stats.clone();
    let probe = eval_train_probe(config, out, first_epoch, &model, &splits, options)?;
    let (loader_train, loader_test) = loaders(config, splits, first_epoch);
    // With several devices each optimiser step consumes one batch per device.
    let iters_per_epoch = config.schedule.schedule.steps_per_epoch(
        train_len
            .div_ceil(config.batch_size)
            .div_ceil(devices.len().max(1)) as u64,
    );
    let strategy = strategy(config, &devices);
    let fit = Fit {
        out,
        schedule: &config.schedule,
        projections: config.activation.projections(),
        optimizer: |wd: f64| config.sgd(wd).build(),
        weight_decay: config.weight_decay,
        curve: LrCurve::new(
            config.lr,
            config.lr_shape,
            iters_per_epoch * config.epochs as u64,
            (config.lr_warmup_epochs * iters_per_epoch as f64).round() as u64,
        ),
        iters_per_epoch,
        epochs: config.epochs,
        label: options.label.clone(),
        reporter: options.reporter.clone(),
        checkpoints: config.checkpoints,
        resume,
        max_loss_growth: config.max_loss_growth,
        probe,
    };
    let (model, epochs) = launch(model, loader_train, loader_test, fit, |training| {
        let training = training
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AccuracyMetric::new());
        match strategy {
            Some(strategy) => training.with_training_strategy(TrainingStrategy::Default(strategy)),
            None => training,
        }
    })?;
    save_trained(&model, out)?;
    let summary = TrainSummary {
        config: config.clone(),
        data_source,
        train_images: train_len,
        test_images: test_len,
        params,
        slope_params,
        final_test_acc: epochs.last().map_or(f64::NAN, |r| r.test_acc),
        best_test_acc: epochs.iter().map(|r| r.test_acc).fold(f64::NAN, f64::max),
        seconds_per_epoch: mean_epoch_seconds(&epochs),
        epochs,
        total_seconds: started.elapsed().as_secs_f64(),
        loader: loader_stats.map(|stats| stats.report()),
        train_eval: train_eval::summary_rows(out, config.eval_train)?,
    };
    if let Some(line) = loader_line(&summary) {
        reporter.info(&line);
    }
    write_json(&out.join(folder::SUMMARY), &summary)?;
    Ok(summary)
}

/// With `config.eval_train`, the probe that scores the training set after each epoch.
fn eval_train_probe(
    config: &TrainConfig,
    out: &Path,
    first_epoch: usize,
    model: &Net,
    splits: &Splits,
    options: &RunOptions,
) -> crate::Result<Option<EpochProbe>> {
    if !config.eval_train {
        return Ok(None);
    }
    let batcher = ImageBatcher::new(splits.normalize.clone(), Augment::none(), config.seed);
    train_eval::probe(
        out,
        first_epoch,
        model.valid(),
        (&splits.train, batcher),
        splits.num_classes,
        options.reporter.clone(),
    )
    .map(Some)
}

/// What the image-folder loader achieved, beside the training speed.
fn loader_line(summary: &TrainSummary) -> Option<String> {
    let loader = summary.loader.as_ref()?;
    let workers = summary.config.workers.max(1);
    let train_rate = summary.epochs.iter().map(|r| r.images_per_sec).sum::<f64>()
        / summary.epochs.len().max(1) as f64;
    Some(format!(
        "loader: {:.0} images/s ({:.0} per worker × {workers} workers) vs training {:.0} \
         images/s; {} unreadable file(s) skipped{}",
        loader.images_per_sec_per_worker * workers as f64,
        loader.images_per_sec_per_worker,
        train_rate,
        loader.skipped,
        loader
            .skipped_files
            .first()
            .map(|f| format!(" (first: {f})"))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar::Cifar;
    use crate::runs::EpochRow;
    use crate::tasks::classify::DatasetKind;
    use frelu::ActivationConfig;
    use frelu::schedule::{LrShape, ScheduleConfig};
    use frelu::slopes;

    fn quick(activation: &str, schedule: &str, epochs: usize) -> TrainConfig {
        TrainConfig {
            activation: activation.parse().unwrap(),
            schedule: ScheduleConfig::new(schedule.parse().unwrap()),
            epochs,
            batch_size: 64,
            lr: 0.02,
            limit_train: Some(1024),
            limit_test: Some(256),
            workers: 0,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn end_to_end_training_reduces_the_loss_and_writes_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let options = RunOptions::quiet();
        let summary = train(
            &quick("frelu", "alternate:3:1:iter", 3),
            dir.path(),
            &options,
        )
        .unwrap();
        assert_eq!(summary.epochs.len(), 3);
        let first = &summary.epochs[0];
        let last = summary.epochs.last().unwrap();
        assert!(
            last.train_loss < first.train_loss,
            "train loss did not decrease: {:?}",
            summary.epochs
        );
        // Far above the 10 % of chance after a few hundred steps on real data.
        assert!(last.test_acc > 60.0, "{:?}", summary.epochs);
        for file in [
            "config.json",
            "metrics.csv",
            "metrics.json",
            "model.bpk",
            "slopes.json",
            "summary.json",
        ] {
            assert!(dir.path().join(file).is_file(), "{file} missing");
        }
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.starts_with(EpochRow::CSV_HEADER));
        // The slopes moved away from their ReLU start during the slope phases.
        let layers: Vec<slopes::LayerSlopes> =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("slopes.json")).unwrap())
                .unwrap();
        assert_eq!(layers.len(), 4);
        assert!(
            layers
                .iter()
                .any(|l| l.neg.as_ref().unwrap().iter().any(|&v| v != 0.0))
        );
        assert_eq!(summary.slope_params, 2 * (32 + 32 + 64 + 64));
        // One slope snapshot at initialisation and one per epoch; the last is the final model's.
        let history = crate::analysis::slopes::read_history(dir.path()).unwrap();
        assert_eq!(
            history.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(
            history[0]
                .1
                .iter()
                .all(|l| l.neg.as_ref().unwrap().iter().all(|&v| v == 0.0))
        );
        assert_eq!(history[3].1, layers);
        // `frelu analyze` reports the saved slopes: its numbers are those of slopes.json.
        let analysis = crate::analysis::analyze::analyze(dir.path()).unwrap();
        assert_eq!(analysis.layers.len(), 4);
        let neg0: Vec<f64> = layers[0]
            .neg
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let reported = analysis.layers[0].neg.as_ref().unwrap();
        assert!((reported.mean - crate::analysis::stats::mean(&neg0)).abs() < 1e-9);
        assert_eq!(
            reported.min,
            neg0.iter().copied().fold(f64::INFINITY, f64::min)
        );
        assert!(analysis.plots.len() >= 8);
        assert!(dir.path().join("analysis/analysis.md").is_file());
    }

    #[test]
    fn cifar_pipeline_end_to_end_on_generated_binaries() {
        use crate::data::cifar::write_cifar_file;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let folder = data.join("cifar-10-batches-bin");
        std::fs::create_dir_all(&folder).unwrap();
        let images = |n: usize, shift: usize| -> Vec<u8> {
            (0..n * 3072)
                .map(|i| ((i * 31 + shift) % 256) as u8)
                .collect()
        };
        for i in 1..=5 {
            write_cifar_file(
                &folder.join(format!("data_batch_{i}.bin")),
                Cifar::Ten,
                &images(8, i),
                &[0, 1, 2, 3, 4, 5, 6, 7],
            )
            .unwrap();
        }
        write_cifar_file(
            &folder.join("test_batch.bin"),
            Cifar::Ten,
            &images(4, 0),
            &[8, 9, 0, 1],
        )
        .unwrap();
        let config = TrainConfig {
            dataset: DatasetKind::Cifar10,
            // The parent folder: the reader finds cifar-10-batches-bin/ in it.
            data_dir: Some(data),
            model: "resnet20".parse().unwrap(),
            activation: "prelu".parse().unwrap(),
            epochs: 1,
            batch_size: 16,
            workers: 0,
            checkpoints: false,
            ..TrainConfig::default()
        };
        let options = RunOptions::quiet();
        let summary = train(&config, &dir.path().join("run"), &options).unwrap();
        assert_eq!((summary.train_images, summary.test_images), (40, 4));
        assert_eq!(summary.params, 269_722 + (16 + 6 * 16 + 6 * 32 + 6 * 64));
        assert!(summary.epochs[0].train_loss.is_finite());
    }

    #[test]
    fn trains_on_an_image_folder_and_reports_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        crate::data::synth::write_synthetic(&data, 3, 8, 40, true).unwrap();
        let config = TrainConfig {
            dataset: DatasetKind::ImageFolder,
            data_dir: Some(data),
            model: "mobilenet_v1".parse().unwrap(),
            width: 0.25,
            resolution: 32,
            activation: ActivationConfig::frelu(),
            epochs: 1,
            batch_size: 8,
            workers: 2,
            checkpoints: false,
            ..TrainConfig::default()
        };
        let options = RunOptions::quiet();
        let summary = train(&config, &dir.path().join("run"), &options).unwrap();
        assert_eq!((summary.train_images, summary.test_images), (25, 24));
        let loader = summary.loader.unwrap();
        assert_eq!(loader.skipped, 1);
        assert!(
            loader.images >= 25 && loader.images_per_sec_per_worker > 0.0,
            "{loader:?}"
        );
        assert!(summary.epochs[0].train_loss.is_finite());
    }

    #[test]
    fn slopes_only_from_a_relu_run_changes_the_slopes_and_nothing_else() {
        use crate::models::{Architecture, ModelConfig, load_weights};
        use burn::tensor::Device;
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        train(&quick("relu", "joint", 1), &base, &RunOptions::quiet()).unwrap();
        let tuned = dir.path().join("tuned");
        let config = TrainConfig {
            init_from: Some(base.clone()),
            ..quick("frelu", "slopes-only", 1)
        };
        train(&config, &tuned, &RunOptions::quiet()).unwrap();
        let fresh = || {
            ModelConfig::new(Architecture::SimpleCnn, 1, 10, "frelu".parse().unwrap())
                .init(&Device::flex())
                .unwrap()
        };
        let before = load_weights(fresh(), &base.join("model.bpk")).unwrap();
        let after = load_weights(fresh(), &tuned.join("model.bpk")).unwrap();
        let values = |net: &crate::models::Net| {
            let mut out = Vec::new();
            frelu::params::for_each_param(net, |info, read| {
                let stat = info.path.last().is_some_and(|n| n.starts_with("running_"));
                out.push((info.activation, stat, read()));
            });
            out
        };
        let (b, a) = (values(&before), values(&after));
        assert_eq!(b.len(), a.len());
        let mut moved = 0;
        for ((act, stat, x), (_, _, y)) in b.iter().zip(&a) {
            if *act {
                moved += usize::from(x != y);
            } else if !stat {
                assert_eq!(x, y, "a weight moved under slopes-only");
            }
        }
        assert!(moved > 0, "no slope moved");
    }

    #[test]
    fn a_diverging_run_stops_with_a_message_naming_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            lr: 1e30,
            lr_shape: LrShape::Constant,
            weight_decay: 0.0,
            ..quick("relu", "joint", 2)
        };
        let options = RunOptions::quiet();
        let err = train(&config, dir.path(), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the training loss became"), "{err}");
        assert!(err.contains("at step"), "{err}");
    }

    #[test]
    fn a_loss_that_grows_without_bound_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        // A learning rate that makes the loss explode while it stays finite for a while.
        let config = TrainConfig {
            lr: 1000.0,
            lr_shape: LrShape::Constant,
            ..quick("relu", "joint", 2)
        };
        let err = train(&config, dir.path(), &RunOptions::quiet())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grew from") || err.contains("the training loss became"),
            "{err}"
        );
        assert!(err.contains("--lr"), "{err}");
        // The bound is the run's own: growth is caught before the loss overflows.
        let config = TrainConfig {
            lr: 20.0,
            lr_shape: LrShape::Constant,
            max_loss_growth: 2.0,
            ..quick("relu", "joint", 1)
        };
        let err = train(&config, &dir.path().join("b"), &RunOptions::quiet())
            .unwrap_err()
            .to_string();
        assert!(err.contains("grew from"), "{err}");
        assert!(err.contains("--max-loss-growth"), "{err}");
    }
}
