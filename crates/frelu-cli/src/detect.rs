//! `frelu detect ...`: object detection.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use frelu::ActivationConfig;
use frelu::schedule::{Schedule, ScheduleConfig};
use frelu_vision::data::detection::PixelNorm;
use frelu_vision::data::fashion_mnist;
use frelu_vision::data::synth::{BenchmarkConfig, make_benchmark};
use frelu_vision::runs::folder::Start;
use frelu_vision::tasks::detect::{self, DetectConfig, DetectorKind, metrics_line};
use frelu_vision::tasks::launch::RunOptions;

use crate::terminal::Terminal;

/// The library's defaults: the one source of the defaults below.
fn d() -> DetectConfig {
    DetectConfig::default()
}

/// `frelu detect` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum DetectCommand {
    /// Generate the Fashion-MNIST detection benchmark (COCO json + PNG canvases).
    MakeData(MakeDataArgs),
    /// Train a detector (CenterNet-style or Faster R-CNN) and evaluate it with COCO's metrics.
    Train(DetectTrainArgs),
    /// Re-evaluate a trained run (writes detections.json and coco_metrics.json).
    Eval(RunArgs),
    /// Draw the predictions of a trained run on validation images (PNG).
    Predict(PredictArgs),
    /// ReLU vs FReLU vs baselines × seeds, resumable; writes summary.md.
    Compare(DetectCompareArgs),
    /// Faster R-CNN weights trained elsewhere (torchvision's layout) as a run folder that
    /// `detect eval`, `detect predict`, `export` and `analyze` read; nothing is trained.
    Import(DetectImportArgs),
}

/// Options of `frelu detect import`.
#[derive(Args, Debug, Clone)]
pub struct DetectImportArgs {
    /// PyTorch weights (`.pth`, `.pt`, `.safetensors`) in torchvision's
    /// `fasterrcnn_resnet50_fpn` layout.
    weights: PathBuf,
    /// COCO-layout root whose evaluation split the run evaluates on (its categories are the
    /// run's classes; another count than the file's re-initialises the box predictor).
    #[arg(long, default_value_os_t = d().data)]
    data: PathBuf,
    /// Evaluation split name.
    #[arg(long, default_value_t = d().val_split)]
    val_split: String,
    /// The activation of every place a ReLU was (FReLU starts as ReLU: pos 1, neg 0).
    #[arg(long, default_value = "relu")]
    act: ActivationConfig,
    /// ResNet depth of the weights (18, 34, 50; torchvision's: 50).
    #[arg(long, default_value_t = 50)]
    backbone_depth: usize,
    /// ResNet base width of the weights (torchvision's: 64).
    #[arg(long, default_value_t = 64)]
    backbone_width: usize,
    /// FPN channels of the weights (torchvision's: 256).
    #[arg(long, default_value_t = 256)]
    fpn_channels: usize,
    /// Box-head width of the weights (torchvision's: 1024).
    #[arg(long, default_value_t = 1024)]
    box_head_width: usize,
    /// Use this tool's benchmark anchors (16–256, RoI side 112) instead of torchvision's
    /// (32–512, 224).
    #[arg(long)]
    benchmark_anchors: bool,
    /// Letterbox side of the inputs (a multiple of 32).
    #[arg(long, default_value_t = d().image_size)]
    image_size: usize,
    /// Per-channel mean of the normalisation, of pixels in [0, 1] (default: ImageNet's, as
    /// torchvision's detectors expect).
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation of the normalisation (default: ImageNet's).
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// The run folder to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace the run in --out.
    #[arg(long)]
    overwrite: bool,
}

impl DetectImportArgs {
    fn config(&self) -> anyhow::Result<DetectConfig> {
        let three = |v: &Option<Vec<f32>>, default: [f32; 3], what: &str| match v {
            None => Ok(default),
            Some(v) => <[f32; 3]>::try_from(v.as_slice()).map_err(|_| {
                anyhow::anyhow!("--{what} takes three values (R,G,B), got {}", v.len())
            }),
        };
        let imagenet = PixelNorm::IMAGENET;
        Ok(DetectConfig {
            data: self.data.clone(),
            val_split: self.val_split.clone(),
            detector: DetectorKind::FasterRcnn,
            activation: self.act.clone(),
            backbone_depth: self.backbone_depth,
            backbone_width: self.backbone_width,
            fpn_channels: Some(self.fpn_channels),
            box_head_width: Some(self.box_head_width),
            torchvision_anchors: !self.benchmark_anchors,
            image_size: self.image_size,
            pixel_norm: PixelNorm {
                mean: three(&self.mean, imagenet.mean, "mean")?,
                std: three(&self.std, imagenet.std, "std")?,
            },
            ..DetectConfig::default()
        })
    }
}

/// Options of `frelu detect make-data`.
#[derive(Args, Debug, Clone)]
pub struct MakeDataArgs {
    /// Output folder.
    #[arg(long, default_value = "data/detect-fmnist")]
    out: PathBuf,
    /// Training canvases.
    #[arg(long, default_value_t = 4000)]
    train: usize,
    /// Validation canvases.
    #[arg(long, default_value_t = 500)]
    val: usize,
    /// Canvas side.
    #[arg(long, default_value_t = 128)]
    canvas: u32,
    /// Faint background clutter under the items.
    #[arg(long)]
    clutter: bool,
    /// Seed (same seed, same files).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fashion-MNIST folder (else $FRELU_DATA, the Debian package, the bundled subset).
    #[arg(long)]
    fmnist: Option<PathBuf>,
}

/// Options shared by training and comparing.
#[derive(Args, Debug, Clone)]
pub struct DetectOptions {
    /// Detector: `centernet` (single stage, the default) or `faster-rcnn` (the paper's two
    /// stages: ResNet + FPN, RPN, RoIAlign, two-MLP box head).
    #[arg(long, default_value_t = d().detector)]
    detector: DetectorKind,
    /// Faster R-CNN: ResNet depth of the backbone (18, 34, 50).
    #[arg(long, default_value_t = d().backbone_depth)]
    backbone_depth: usize,
    /// Faster R-CNN: base width of the backbone (stages ×1, 2, 4, 8; torchvision's 64).
    #[arg(long, default_value_t = d().backbone_width)]
    backbone_width: usize,
    /// Faster R-CNN: no feature pyramid (RPN and RoIAlign on the stride-16 map alone).
    #[arg(long)]
    no_fpn: bool,
    /// Faster R-CNN: FPN channels (default: the model's, 64; torchvision's 256).
    #[arg(long)]
    fpn_channels: Option<usize>,
    /// Faster R-CNN: width of the box head's two layers (default: the model's, 256;
    /// torchvision's 1024).
    #[arg(long)]
    box_head_width: Option<usize>,
    /// Faster R-CNN: torchvision's anchor sides (32–512) and canonical RoI side (224) instead
    /// of this benchmark's halved ones (for fine-tuning torchvision's weights).
    #[arg(long)]
    torchvision_anchors: bool,
    /// COCO-layout root (annotations/instances_{train,val}.json, train/, val/).
    #[arg(long, default_value_os_t = d().data)]
    data: PathBuf,
    /// Training split name (val2017-style names work too).
    #[arg(long, default_value_t = d().train_split)]
    train_split: String,
    /// Evaluation split name.
    #[arg(long, default_value_t = d().val_split)]
    val_split: String,
    /// Slope schedule.
    #[arg(long, default_value_t = d().schedule.schedule)]
    schedule: Schedule,
    /// Epochs.
    #[arg(long, default_value_t = d().epochs)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = d().batch_size)]
    batch: usize,
    /// Adam learning rate (cosine-annealed).
    #[arg(long, default_value_t = d().lr)]
    lr: f64,
    /// Letterbox size of the inputs (a multiple of 8).
    #[arg(long, default_value_t = d().image_size)]
    image_size: usize,
    /// Use only the first N training images.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Use only the first N evaluation images.
    #[arg(long)]
    limit_val: Option<usize>,
    /// Data-loading threads.
    #[arg(long, default_value_t = d().workers)]
    workers: usize,
    /// Device.
    #[arg(long, default_value_t = d().device)]
    device: String,
    /// Stop when the training loss passes this many times its start (0 = never).
    #[arg(long, default_value_t = d().max_loss_growth)]
    max_loss_growth: f64,
    /// Start from weights: a detection run folder or `model.bpk` of the same detector, or
    /// PyTorch weights (`.pth`, `.pt`, `.safetensors`) in torchvision's
    /// `fasterrcnn_resnet50_fpn` layout (any depth/width; another class count re-initialises
    /// the box predictor only). Activation parameters they lack start as ReLU.
    #[arg(long)]
    init_from: Option<PathBuf>,
}

impl DetectOptions {
    fn config(&self, activation: ActivationConfig, seed: u64) -> DetectConfig {
        DetectConfig {
            data: self.data.clone(),
            train_split: self.train_split.clone(),
            val_split: self.val_split.clone(),
            detector: self.detector,
            backbone_depth: self.backbone_depth,
            backbone_width: self.backbone_width,
            fpn: !self.no_fpn,
            fpn_channels: self.fpn_channels,
            box_head_width: self.box_head_width,
            torchvision_anchors: self.torchvision_anchors,
            activation,
            schedule: ScheduleConfig::new(self.schedule),
            epochs: self.epochs,
            batch_size: self.batch,
            lr: self.lr,
            image_size: self.image_size,
            seed,
            workers: self.workers,
            device: self.device.clone(),
            max_loss_growth: self.max_loss_growth,
            limit_train: self.limit_train,
            limit_val: self.limit_val,
            init_from: self.init_from.clone(),
            ..DetectConfig::default()
        }
    }
}

/// Options of `frelu detect train`.
#[derive(Args, Debug, Clone)]
pub struct DetectTrainArgs {
    #[command(flatten)]
    options: DetectOptions,
    /// Activation.
    #[arg(long, default_value_t = d().activation)]
    act: ActivationConfig,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    start: crate::StartArgs,
}

/// A trained run.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The run folder of `frelu detect train`.
    run: PathBuf,
}

/// Options of `frelu detect predict`.
#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// The run folder of `frelu detect train`.
    run: PathBuf,
    /// Number of validation images to draw.
    #[arg(long, default_value_t = 8)]
    images: usize,
    /// Lowest score drawn.
    #[arg(long, default_value_t = 0.3)]
    min_score: f32,
}

/// Options of `frelu detect compare`.
#[derive(Args, Debug, Clone)]
pub struct DetectCompareArgs {
    #[command(flatten)]
    options: DetectOptions,
    /// Activations (the first `relu` is the reference).
    #[arg(long, value_delimiter = ',', default_value = "relu,frelu,prelu,gelu")]
    acts: Vec<ActivationConfig>,
    /// Seeds.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Output folder (rerunning resumes it).
    #[arg(long, default_value = "results/detect")]
    out: PathBuf,
    #[command(flatten)]
    worker: crate::workers::WorkerArgs,
}

fn make_data(a: &MakeDataArgs) -> anyhow::Result<()> {
    let source = fashion_mnist::locate(a.fmnist.as_deref())?;
    let config = BenchmarkConfig {
        canvas: a.canvas,
        clutter: a.clutter,
        train_images: a.train,
        val_images: a.val,
        seed: a.seed,
        max_size: 64.min(a.canvas),
        ..BenchmarkConfig::default()
    };
    make_benchmark(&a.out, &config, &source)
        .with_context(|| format!("writing {}", a.out.display()))?;
    say!(
        "wrote {} train / {} val canvases of {}×{} ({}) into {}",
        a.train,
        a.val,
        a.canvas,
        a.canvas,
        source,
        a.out.display()
    );
    Ok(())
}

fn import(a: &DetectImportArgs) -> anyhow::Result<()> {
    let config = a.config()?;
    let start = if a.overwrite {
        Start::Overwrite
    } else {
        Start::Fresh
    };
    let imported = detect::import::import(&a.weights, &config, &a.out, start)?;
    say!(
        "imported {} ({} tensors) into {}",
        a.weights.display(),
        imported.loaded,
        a.out.display()
    );
    if let Some((file, here)) = imported.predictor_reinitialised {
        tell!(
            "warning: the weights predict {} classes and {} has {}: the box predictor is \
             re-initialised (fine-tune with `frelu detect train --init-from {}`)",
            file.saturating_sub(1),
            a.data.display(),
            here.saturating_sub(1),
            a.out.display()
        );
    }
    Ok(())
}

pub fn run(command: &DetectCommand) -> anyhow::Result<()> {
    match command {
        DetectCommand::MakeData(a) => make_data(a),
        DetectCommand::Train(a) => {
            let out = a.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(frelu_vision::runs::run_name(
                    &match a.options.detector {
                        DetectorKind::Centernet => format!("detect-{}", a.act),
                        other => format!("detect-{other}-{}", a.act),
                    },
                    a.seed,
                ))
            });
            let options = RunOptions {
                reporter: Terminal::new(false),
                start: a.start.start(),
                ..RunOptions::default()
            };
            let summary = detect::train(&a.options.config(a.act.clone(), a.seed), &out, &options)?;
            say!(
                "trained in {:.0} s; results in {} (detections.json is in COCO's results format)",
                summary.train_seconds,
                out.display()
            );
            Ok(())
        }
        DetectCommand::Eval(a) => {
            say!("{}", metrics_line(&detect::eval_run(&a.run)?));
            Ok(())
        }
        DetectCommand::Predict(a) => {
            let files = detect::predict_run(&a.run, a.images, a.min_score)?;
            say!(
                "{} images drawn into {}",
                files.len(),
                a.run.join(detect::PREDICTIONS_DIR).display()
            );
            Ok(())
        }
        DetectCommand::Import(a) => import(a),
        DetectCommand::Compare(a) => {
            let base = a.options.config(ActivationConfig::Relu, 0);
            let task = detect::grid::DetectGrid {
                base: &base,
                activations: &a.acts,
            };
            if a.worker.listed(&task.spec(&a.seeds)) {
                return Ok(());
            }
            let worker = a.worker.worker()?;
            let log = Terminal::log();
            let margin = a.worker.margin;
            let outcome =
                detect::grid::compare(&base, &a.acts, &a.seeds, &a.out, &worker, margin, &*log)?;
            crate::workers::print_outcome(outcome, &a.out);
            Ok(())
        }
    }
}
