//! `frelu detect ...`: object detection.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use frelu::ActivationConfig;
use frelu::schedule::{Schedule, ScheduleConfig};
use frelu_vision::data::fashion_mnist;
use frelu_vision::data::synth::{BenchmarkConfig, make_benchmark};
use frelu_vision::tasks::detect::{self, DetectConfig, metrics_line};
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
    /// Train a CenterNet-style detector and evaluate it with COCO's metrics.
    Train(DetectTrainArgs),
    /// Re-evaluate a trained run (writes detections.json and coco_metrics.json).
    Eval(RunArgs),
    /// Draw the predictions of a trained run on validation images (PNG).
    Predict(PredictArgs),
    /// ReLU vs FReLU vs baselines × seeds, resumable; writes summary.md.
    Compare(DetectCompareArgs),
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
}

impl DetectOptions {
    fn config(&self, activation: ActivationConfig, seed: u64) -> DetectConfig {
        DetectConfig {
            data: self.data.clone(),
            train_split: self.train_split.clone(),
            val_split: self.val_split.clone(),
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

pub fn run(command: &DetectCommand) -> anyhow::Result<()> {
    match command {
        DetectCommand::MakeData(a) => {
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
        DetectCommand::Train(a) => {
            let out = a.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(frelu_vision::runs::run_name(
                    &format!("detect-{}", a.act),
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
