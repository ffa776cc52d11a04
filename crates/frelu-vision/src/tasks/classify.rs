//! Image classification: data → model → burn-train `Learner` (with the alternate-optimisation
//! schedule in its optimiser and scheduler) → per-epoch report, saved model and slopes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::store::ModuleRecord;
use burn::tensor::distributed::{DistributedConfig, ReduceOperation};
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError, FileCheckpointer};
use burn::train::metric::AccuracyMetric;
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, MultiDeviceOptim, TrainOutput,
    TrainStep, TrainingStrategy,
};
use frelu::schedule::{self, LrCurve, LrShape, ScheduleConfig};
use frelu::{ActivationConfig, slopes};
use serde::{Deserialize, Serialize};

use super::launch::{Fit, launch};
use super::report::EpochRow;
use crate::analysis::slopes::SlopeSnapshot;
use crate::data::cifar::{Cifar, read_cifar};
use crate::data::image_folder::{
    FolderTransform, IMAGENET_MEAN, IMAGENET_STD, ImageFolder, ImageFolderDataset, LoaderReport,
    LoaderStats,
};
use crate::data::{
    AnyImageDataset, Augment, DataError, ImageBatch, ImageBatcher, ImageDataset, ImageSet,
    Normalize, fashion_mnist,
};
use crate::device::parse_device;
use crate::models::resnet::ShortcutKind;
use crate::models::{Architecture, ModelConfig, Net, trainable_params};

/// A classification dataset the tool knows how to find and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatasetKind {
    /// Fashion-MNIST (28×28 grey, 10 classes).
    FashionMnist,
    /// CIFAR-10 binary version.
    Cifar10,
    /// CIFAR-100 binary version.
    Cifar100,
    /// An ImageNet-style folder: `DIR/train/<class>/*.jpg|png`, `DIR/val/<class>/...`.
    ImageFolder,
}

impl core::str::FromStr for DatasetKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fashion-mnist" | "fmnist" | "fashionmnist" => Ok(Self::FashionMnist),
            "cifar10" | "cifar-10" => Ok(Self::Cifar10),
            "cifar100" | "cifar-100" => Ok(Self::Cifar100),
            "imagefolder" | "image-folder" | "folder" | "imagenet" => Ok(Self::ImageFolder),
            other => Err(format!(
                "unknown dataset '{other}'; known: fashion-mnist, cifar10, cifar100, imagefolder"
            )),
        }
    }
}

impl core::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::ImageFolder => "imagefolder",
        })
    }
}

/// A dataset ready for training.
pub struct LoadedData {
    /// Training split.
    pub train: AnyImageDataset,
    /// Test split.
    pub test: AnyImageDataset,
    /// Channels of the images.
    pub channels: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Height × width of the items.
    pub image_size: (usize, usize),
    /// Loading counters of a folder dataset's training split.
    pub loader_stats: Option<std::sync::Arc<LoaderStats>>,
    /// Normalisation constants.
    pub normalize: Normalize,
    /// The usual training augmentation for this dataset.
    pub default_augment: Augment,
    /// Where it came from, for the record.
    pub source: String,
}

impl DatasetKind {
    /// Finds and reads both splits. `dir` is `--data`; CIFAR needs it (or
    /// `$FRELU_DATA/cifar-10-batches-bin`, `$FRELU_DATA/cifar-100-binary`), and so does an
    /// image folder. `resolution` and `seed` apply to image folders.
    pub fn load(
        self,
        dir: Option<&Path>,
        resolution: usize,
        seed: u64,
    ) -> Result<LoadedData, DataError> {
        let in_memory =
            |train: ImageSet, test: ImageSet, normalize, default_augment, source: String| {
                LoadedData {
                    channels: train.channels,
                    num_classes: train.num_classes,
                    image_size: (train.height, train.width),
                    train: AnyImageDataset::Memory(ImageDataset::new(train)),
                    test: AnyImageDataset::Memory(ImageDataset::new(test)),
                    loader_stats: None,
                    normalize,
                    default_augment,
                    source,
                }
            };
        match self {
            Self::FashionMnist => {
                let source = fashion_mnist::locate(dir)?;
                Ok(in_memory(
                    fashion_mnist::load(&source, true)?,
                    fashion_mnist::load(&source, false)?,
                    Normalize::new(vec![fashion_mnist::MEAN], vec![fashion_mnist::STD]),
                    Augment::none(),
                    source.to_string(),
                ))
            }
            Self::ImageFolder => {
                let Some(dir) = dir else {
                    return Err(DataError::NotFound(
                        "--dataset imagefolder needs --data DIR (DIR/train/<class>/..., \
                         DIR/val/<class>/...)"
                            .into(),
                    ));
                };
                let train = ImageFolder::scan(&dir.join("train"), None)?;
                let val = ImageFolder::scan(&dir.join("val"), Some(&train.classes))?;
                let num_classes = train.classes.len();
                let train =
                    ImageFolderDataset::new(train, FolderTransform::Train, resolution, seed);
                let stats = train.stats();
                Ok(LoadedData {
                    train: AnyImageDataset::Folder(train),
                    test: AnyImageDataset::Folder(ImageFolderDataset::new(
                        val,
                        FolderTransform::Eval,
                        resolution,
                        seed,
                    )),
                    channels: 3,
                    num_classes,
                    image_size: (resolution, resolution),
                    loader_stats: Some(stats),
                    normalize: Normalize::new(IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
                    default_augment: Augment::none(),
                    source: dir.display().to_string(),
                })
            }
            Self::Cifar10 | Self::Cifar100 => {
                let (kind, folder, mean, std) = if self == Self::Cifar10 {
                    (
                        Cifar::Ten,
                        "cifar-10-batches-bin",
                        vec![0.4914, 0.4822, 0.4465],
                        vec![0.2470, 0.2435, 0.2616],
                    )
                } else {
                    (
                        Cifar::Hundred,
                        "cifar-100-binary",
                        vec![0.5071, 0.4865, 0.4409],
                        vec![0.2673, 0.2564, 0.2762],
                    )
                };
                let dir = match dir {
                    Some(dir) if dir.join(folder).is_dir() => dir.join(folder),
                    Some(dir) => dir.to_path_buf(),
                    None => match std::env::var_os("FRELU_DATA") {
                        Some(env) => PathBuf::from(env).join(folder),
                        None => {
                            return Err(DataError::NotFound(format!(
                                "{self} needs its files: pass --data DIR (the folder holding \
                                 the binary version, or its parent with {folder}/) or set \
                                 FRELU_DATA. Nothing is downloaded."
                            )));
                        }
                    },
                };
                Ok(in_memory(
                    read_cifar(&dir, kind, true)?,
                    read_cifar(&dir, kind, false)?,
                    Normalize::new(mean, std),
                    Augment {
                        crop_pad: 4,
                        flip: true,
                    },
                    dir.display().to_string(),
                ))
            }
        }
    }
}

/// Everything that defines a classification run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(default = "one")]
    pub width: f64,
    /// Side of the square images an image folder is cropped to.
    #[serde(default = "default_resolution")]
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
    #[serde(default)]
    pub devices: Vec<String>,
    /// With `devices`: burn-train's distributed data parallel strategy (collective all-reduce)
    /// instead of its multi-device strategy (gradients gathered on the first device).
    #[serde(default)]
    pub ddp: bool,
    /// Save a checkpoint (model, optimiser, scheduler) after each epoch.
    pub checkpoints: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::FashionMnist,
            data_dir: None,
            model: Architecture::SimpleCnn,
            shortcut: ShortcutKind::A,
            width: 1.0,
            resolution: 224,
            activation: ActivationConfig::Relu,
            schedule: ScheduleConfig::default(),
            epochs: 10,
            batch_size: 128,
            lr: 0.05,
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
        }
    }
}

fn one() -> f64 {
    1.0
}

fn default_resolution() -> usize {
    224
}

impl TrainConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.epochs >= 1, "--epochs must be at least 1");
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
        ensure!(
            self.lr_warmup_epochs.is_finite() && self.lr_warmup_epochs >= 0.0,
            "--lr-warmup must be ≥ 0"
        );
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
        ensure!(
            !self.nesterov || self.momentum > 0.0,
            "--nesterov needs --momentum > 0"
        );
        Ok(())
    }

    fn sgd(&self, weight_decay: f64) -> SgdConfig {
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
}

/// Options that change how a run is shown, not what it computes.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// No progress bar or table on the terminal.
    pub quiet: bool,
    /// A label for the progress bar.
    pub label: String,
}

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

/// Trains a classifier as `config` says, writing everything into `out`:
/// `config.json`, `metrics.csv`, `metrics.json`, `model.bpk`, `slopes.json`, `summary.json`,
/// and burn-train's `checkpoint/` and logs.
pub fn train(
    config: &TrainConfig,
    out: &Path,
    options: &RunOptions,
) -> anyhow::Result<TrainSummary> {
    let started = Instant::now();
    config.validate()?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    write_json(&out.join("config.json"), config)?;

    let data = config
        .dataset
        .load(config.data_dir.as_deref(), config.resolution, config.seed)?;
    let train_set = match config.limit_train {
        Some(n) => data.train.limit(n),
        None => data.train,
    };
    let test_set = match config.limit_test {
        Some(n) => data.test.limit(n),
        None => data.test,
    };
    let (train_len, test_len) = (train_set.len(), test_set.len());
    ensure!(train_len > 0, "the training set is empty");
    ensure!(test_len > 0, "the test set is empty");
    let (height, width) = data.image_size;
    if !options.quiet {
        println!(
            "data: {} — {train_len} train / {test_len} test images, {}×{height}×{width}, {} classes",
            data.source, data.channels, data.num_classes
        );
    }

    let device = parse_device(&config.device).map_err(anyhow::Error::msg)?;
    let devices = config
        .devices
        .iter()
        .map(|d| parse_device(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let main_device = devices.first().cloned().unwrap_or(device);
    main_device.seed(config.seed);
    let model_config = ModelConfig {
        shortcut: config.shortcut,
        width: config.width,
        ..ModelConfig::new(
            config.model,
            data.channels,
            data.num_classes,
            config.activation.clone(),
        )
    };
    let model = model_config.init(&main_device.clone().autodiff());
    let params = trainable_params(&model);
    let slope_params: usize = schedule::slope_param_ids(&model).len();
    let slope_params = if slope_params == 0 {
        0
    } else {
        slopes::snapshot(&model)
            .iter()
            .map(|l| l.pos.as_ref().map_or(0, Vec::len) + l.neg.as_ref().map_or(0, Vec::len))
            .sum()
    };
    if !options.quiet {
        let schedule = if slope_params == 0 {
            "joint (no slopes to alternate with)".to_string()
        } else {
            config.schedule.schedule.to_string()
        };
        println!(
            "model: {} with {} — {params} parameters ({slope_params} activation slopes); \
             schedule {schedule}; device {}",
            config.model, config.activation, config.device
        );
    }

    let augment = config.augment.unwrap_or(data.default_augment);
    let loader_train = DataLoaderBuilder::new(ImageBatcher::new(
        data.normalize.clone(),
        augment,
        config.seed,
    ))
    .batch_size(config.batch_size)
    .shuffle(config.seed)
    .num_workers(config.workers)
    .build(train_set);
    let loader_test = DataLoaderBuilder::new(ImageBatcher::new(
        data.normalize.clone(),
        Augment::none(),
        config.seed,
    ))
    .batch_size(config.batch_size)
    .num_workers(config.workers)
    .build(test_set);

    // With several devices each optimiser step consumes one batch per device.
    let iters_per_epoch = train_len
        .div_ceil(config.batch_size)
        .div_ceil(devices.len().max(1)) as u64;
    let total_steps = iters_per_epoch * config.epochs as u64;
    let warmup_steps = (config.lr_warmup_epochs * iters_per_epoch as f64).round() as u64;
    let history = out.join("slopes_history.jsonl");
    let _ = std::fs::remove_file(&history);
    if slope_params > 0 {
        append_history(&history, 0, &model)?;
    }
    let checkpoint_dir = out.join("checkpoint");
    let files = |name: &str| {
        if config.checkpoints {
            MaybeFile::File(FileCheckpointer::new(&checkpoint_dir, name))
        } else {
            MaybeFile::Null
        }
    };
    let model_checkpointer = SlopeRecorder {
        inner: files("model"),
        template: (slope_params > 0).then(|| model.valid()),
        history,
    };

    let strategy = (devices.len() > 1).then(|| {
        if config.ddp {
            ExecutionStrategy::ddp(
                devices.clone(),
                DistributedConfig {
                    all_reduce_op: ReduceOperation::Mean,
                },
            )
        } else {
            ExecutionStrategy::multi(devices.clone(), MultiDeviceOptim::OptimMainDevice)
        }
    });
    let fit = Fit {
        out,
        schedule: &config.schedule,
        optimizer: |wd: f64| config.sgd(wd).build(),
        weight_decay: config.weight_decay,
        curve: LrCurve::new(config.lr, config.lr_shape, total_steps, warmup_steps),
        iters_per_epoch,
        epochs: config.epochs,
        label: options.label.clone(),
        quiet: options.quiet,
        error_context: format!(" Metrics of the finished epochs are in {}.", out.display()),
    };
    let (model, epochs) = launch(model, loader_train, loader_test, fit, |training| {
        let training = training
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AccuracyMetric::new())
            .with_custom_checkpointers(model_checkpointer, files("optim"), files("scheduler"));
        match strategy {
            Some(strategy) => training.with_training_strategy(TrainingStrategy::Default(strategy)),
            None => training,
        }
    })?;
    save_trained(&model, out)?;

    let final_test_acc = epochs.last().map_or(f64::NAN, |r| r.test_acc);
    let best_test_acc = epochs.iter().map(|r| r.test_acc).fold(f64::NAN, f64::max);
    let seconds_per_epoch = epochs
        .iter()
        .map(|r| r.train_seconds + r.test_seconds)
        .sum::<f64>()
        / epochs.len().max(1) as f64;
    let summary = TrainSummary {
        config: config.clone(),
        data_source: data.source,
        train_images: train_len,
        test_images: test_len,
        params,
        slope_params,
        epochs,
        final_test_acc,
        best_test_acc,
        seconds_per_epoch,
        total_seconds: started.elapsed().as_secs_f64(),
        loader: data.loader_stats.map(|stats| stats.report()),
    };
    if let (Some(loader), false) = (&summary.loader, options.quiet) {
        let train_rate = summary.epochs.iter().map(|r| r.images_per_sec).sum::<f64>()
            / summary.epochs.len().max(1) as f64;
        println!(
            "loader: {:.0} images/s ({:.0} per worker × {} workers) vs training {:.0} images/s; \
             {} unreadable file(s) skipped{}",
            loader.images_per_sec_per_worker * config.workers.max(1) as f64,
            loader.images_per_sec_per_worker,
            config.workers.max(1),
            train_rate,
            loader.skipped,
            loader
                .skipped_files
                .first()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default()
        );
    }
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Appends the slopes of `model` at `epoch` to a `slopes_history.jsonl` file.
fn append_history<M: Module>(path: &Path, epoch: usize, model: &M) -> anyhow::Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(&SlopeSnapshot {
        epoch,
        layers: slopes::snapshot(model),
    })?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{line}")?;
    Ok(())
}

/// A checkpointer writing files, or none (`--no-checkpoints`).
enum MaybeFile {
    File(FileCheckpointer),
    Null,
}

impl<R: Checkpoint> Checkpointer<R> for MaybeFile {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        match self {
            MaybeFile::File(f) => f.save(epoch, record),
            MaybeFile::Null => Ok(()),
        }
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match self {
            MaybeFile::File(f) => Checkpointer::<R>::delete(f, epoch),
            MaybeFile::Null => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        match self {
            MaybeFile::File(f) => f.restore(epoch),
            MaybeFile::Null => Err(CheckpointerError::Unknown(
                "this run was trained without checkpoints".into(),
            )),
        }
    }
}

/// The model checkpointer: records the slopes of every epoch's model in
/// `slopes_history.jsonl`, then hands the record to the file checkpointer. It sees the model
/// the `Learner` saves at the end of each epoch, on every training strategy.
struct SlopeRecorder {
    inner: MaybeFile,
    template: Option<Net>,
    history: PathBuf,
}

impl Checkpointer<ModuleRecord> for SlopeRecorder {
    fn save(&self, epoch: usize, record: ModuleRecord) -> Result<(), CheckpointerError> {
        if let Some(template) = &self.template {
            let model = template
                .clone()
                .try_load_record(record.clone())
                .map_err(CheckpointerError::Record)?;
            append_history(&self.history, epoch, &model)
                .map_err(|e| CheckpointerError::Unknown(format!("{e:#}")))?;
        }
        self.inner.save(epoch, record)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        Checkpointer::<ModuleRecord>::delete(&self.inner, epoch)
    }

    fn restore(&self, epoch: usize) -> Result<ModuleRecord, CheckpointerError> {
        self.inner.restore(epoch)
    }
}

/// Writes `value` as pretty JSON, through a temporary file so that a crash never leaves half a
/// file.
/// Saves a trained model as `out/model.bpk` and its learned slopes as `out/slopes.json`.
pub fn save_trained<M: Module + Clone>(model: &M, out: &Path) -> anyhow::Result<()> {
    model
        .clone()
        .save_file(out.join("model.bpk"))
        .with_context(|| format!("cannot save the model into {}", out.display()))?;
    write_json(&out.join("slopes.json"), &slopes::snapshot(model))
}

pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names() {
        assert_eq!(
            "fashion-mnist".parse::<DatasetKind>().unwrap(),
            DatasetKind::FashionMnist
        );
        assert_eq!(
            "CIFAR-10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert!("imagenet21k".parse::<DatasetKind>().is_err());
    }

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
        let options = RunOptions {
            quiet: true,
            label: String::new(),
        };
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
        let analysis = crate::analysis::slopes::analyze(dir.path()).unwrap();
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
        let folder = dir.path().join("cifar-10-batches-bin");
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
            data_dir: Some(dir.path().to_path_buf()),
            model: "resnet20".parse().unwrap(),
            activation: "prelu".parse().unwrap(),
            epochs: 1,
            batch_size: 16,
            workers: 0,
            checkpoints: false,
            ..TrainConfig::default()
        };
        let options = RunOptions {
            quiet: true,
            label: String::new(),
        };
        let summary = train(&config, &dir.path().join("run"), &options).unwrap();
        assert_eq!((summary.train_images, summary.test_images), (40, 4));
        assert_eq!(summary.params, 269_722 + (16 + 6 * 16 + 6 * 32 + 6 * 64));
        assert!(summary.epochs[0].train_loss.is_finite());
    }

    #[test]
    fn trains_on_an_image_folder_and_reports_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        crate::data::image_folder::write_synthetic(&data, 3, 8, 40, true).unwrap();
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
        let options = RunOptions {
            quiet: true,
            label: String::new(),
        };
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
    fn a_diverging_run_stops_with_a_message_naming_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            lr: 1e30,
            lr_shape: LrShape::Constant,
            weight_decay: 0.0,
            ..quick("relu", "joint", 2)
        };
        let options = RunOptions {
            quiet: true,
            label: String::new(),
        };
        let err = train(&config, dir.path(), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the training loss became"), "{err}");
        assert!(err.contains("at step"), "{err}");
    }
}
