//! `frelu action ...`: action recognition in video.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use frelu::ActivationConfig;
use frelu::schedule::{Schedule, ScheduleConfig};
use frelu_vision::data::fashion_mnist;
use frelu_vision::data::synth::{MotionConfig, make_motion_benchmark};
use frelu_vision::tasks::action::{self, ActionConfig, VideoModel};
use frelu_vision::tasks::launch::RunOptions;

use crate::terminal::Terminal;

/// The library's defaults: the one source of the defaults below.
fn d() -> ActionConfig {
    ActionConfig::default()
}

/// `frelu action` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum ActionCommand {
    /// Generate the Fashion-MNIST motion benchmark (frame folders + list files).
    MakeData(MakeDataArgs),
    /// Train TSM or TSN.
    Train(ActionTrainArgs),
    /// (model, activation) × seeds, resumable; writes summary.md.
    Compare(ActionCompareArgs),
}

/// Options of `frelu action make-data`.
#[derive(Args, Debug, Clone)]
pub struct MakeDataArgs {
    /// Output folder.
    #[arg(long, default_value = "data/motion-fmnist")]
    out: PathBuf,
    /// Training clips.
    #[arg(long, default_value_t = 2400)]
    train: usize,
    /// Validation clips.
    #[arg(long, default_value_t = 480)]
    val: usize,
    /// Frames per clip.
    #[arg(long, default_value_t = 8)]
    frames: usize,
    /// Frame side.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Seed (same seed, same files).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Distractors per clip: smaller items drifting in random directions (harder variant).
    #[arg(long, default_value_t = 0)]
    distractors: usize,
    /// Amplitude of uniform pixel noise, 0–255 (harder variant).
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Scale of the motion, in (0, 1]; below 1 the motion is subtler (harder variant).
    #[arg(long, default_value_t = 1.0)]
    motion_scale: f64,
    /// Fashion-MNIST folder (else $FRELU_DATA, the Debian package, the bundled subset).
    #[arg(long)]
    fmnist: Option<PathBuf>,
}

/// Options shared by training and comparing.
#[derive(Args, Debug, Clone)]
pub struct ActionOptions {
    /// Dataset root (frames/, train.txt, val.txt, classes.txt).
    #[arg(long, default_value_os_t = d().data)]
    data: PathBuf,
    /// Slope schedule.
    #[arg(long, default_value_t = d().schedule.schedule)]
    schedule: Schedule,
    /// Segments (frames) per clip.
    #[arg(long, default_value_t = d().segments)]
    segments: usize,
    /// Frame side.
    #[arg(long, default_value_t = d().frame_size)]
    frame_size: usize,
    /// Epochs.
    #[arg(long, default_value_t = d().epochs)]
    epochs: usize,
    /// Batch size (clips).
    #[arg(long, default_value_t = d().batch_size)]
    batch: usize,
    /// SGD learning rate (cosine-annealed, momentum 0.9).
    #[arg(long, default_value_t = d().lr)]
    lr: f64,
    /// Use only the first N training clips.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Use only the first N validation clips.
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

impl ActionOptions {
    fn config(&self) -> ActionConfig {
        ActionConfig {
            data: self.data.clone(),
            schedule: ScheduleConfig::new(self.schedule),
            segments: self.segments,
            frame_size: self.frame_size,
            epochs: self.epochs,
            batch_size: self.batch,
            lr: self.lr,
            workers: self.workers,
            device: self.device.clone(),
            max_loss_growth: self.max_loss_growth,
            limit_train: self.limit_train,
            limit_val: self.limit_val,
            ..ActionConfig::default()
        }
    }
}

/// Options of `frelu action train`.
#[derive(Args, Debug, Clone)]
pub struct ActionTrainArgs {
    #[command(flatten)]
    options: ActionOptions,
    /// tsm or tsn.
    #[arg(long, default_value_t = d().model)]
    model: VideoModel,
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

/// Options of `frelu action compare`.
#[derive(Args, Debug, Clone)]
pub struct ActionCompareArgs {
    #[command(flatten)]
    options: ActionOptions,
    /// MODEL/ACTIVATION pairs; TSM with ReLU is the reference.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tsm/relu,tsm/frelu,tsm/prelu,tsn/relu"
    )]
    configs: Vec<String>,
    /// Seeds.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Output folder (rerunning resumes it).
    #[arg(long, default_value = "results/action")]
    out: PathBuf,
    #[command(flatten)]
    worker: crate::workers::WorkerArgs,
}

pub fn run(command: &ActionCommand) -> anyhow::Result<()> {
    match command {
        ActionCommand::MakeData(a) => {
            let source = fashion_mnist::locate(a.fmnist.as_deref())?;
            let config = MotionConfig {
                frames: a.frames,
                size: a.size,
                train_clips: a.train,
                val_clips: a.val,
                seed: a.seed,
                distractors: a.distractors,
                noise: a.noise,
                motion_scale: a.motion_scale,
            };
            make_motion_benchmark(&a.out, &config, &source)
                .with_context(|| format!("writing {}", a.out.display()))?;
            say!(
                "wrote {} train / {} val clips into {}",
                a.train,
                a.val,
                a.out.display()
            );
            Ok(())
        }
        ActionCommand::Train(a) => {
            let config = ActionConfig {
                model: a.model,
                activation: a.act.clone(),
                seed: a.seed,
                ..a.options.config()
            };
            let out = a.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(frelu_vision::runs::run_name(
                    &format!("action-{}-{}", a.model, a.act),
                    a.seed,
                ))
            });
            let options = RunOptions {
                reporter: Terminal::new(false),
                start: a.start.start(),
                ..RunOptions::default()
            };
            let s = action::train(&config, &out, &options)?;
            say!(
                "top-1 {:.2}% after {:.0} s; results in {}",
                s.final_top1,
                s.train_seconds,
                out.display()
            );
            Ok(())
        }
        ActionCommand::Compare(a) => {
            let configs = a
                .configs
                .iter()
                .map(|c| -> anyhow::Result<(VideoModel, ActivationConfig)> {
                    let (m, act) = c.split_once('/').with_context(|| {
                        format!("'{c}': expected MODEL/ACTIVATION, e.g. tsm/frelu")
                    })?;
                    Ok((m.parse()?, act.parse()?))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let base = a.options.config();
            let log = Terminal::log();
            let task = action::grid::ActionGrid {
                base: &base,
                configs: &configs,
            };
            if a.worker.listed(&task.spec(&a.seeds)) {
                return Ok(());
            }
            let worker = a.worker.worker()?;
            let margin = a.worker.margin;
            let outcome =
                action::grid::compare(&base, &configs, &a.seeds, &a.out, &worker, margin, &*log)?;
            crate::workers::print_outcome(outcome, &a.out);
            Ok(())
        }
    }
}
