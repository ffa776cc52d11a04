//! The one place where every task (classification, detection, action recognition) hands a model
//! to burn-train: the slope schedule's optimiser pair and learning-rate curve, the loss metrics,
//! the per-epoch report, the finite-loss guard, `Learner` launch and the outcome checks.
//!
//! A task supplies its loaders, its optimiser (one builder, called with the weight decay of the
//! weights and then of the slopes) and whatever it registers on top — accuracy, a multi-device
//! strategy, checkpointers — through the `configure` closure.

use std::path::Path;
use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::optim::Optimizer;
use burn::train::metric::{Adaptor, LossInput, LossMetric};
use burn::train::{InferenceStep, Learner, LearnerModel, SupervisedTraining, TrainStep};
use frelu::activation::ParamProjection;
use frelu::schedule::{self, LrCurve, LrShape, ScheduleConfig};

use super::guard::{FiniteLossGuard, LossValue, trained_model};
use crate::data::epochs::LoaderOptions;
use crate::error::RunError;
use crate::progress::{Reporter, silent};
use crate::run_files::{CHECKPOINT_DIR, CHECKPOINT_RECORDS, EXPERIMENT_LOG};
use crate::runs::claim::{Acquired, Claim, DEFAULT_GRACE};
use crate::runs::folder::{self, Resumed, Start};
use crate::runs::history::{EpochProbe, MaybeFile, SlopeRecorder};
use crate::runs::log::RunLog;
use crate::runs::report::{EpochReport, EpochRow};
use crate::runs::settings::RunSettings;

/// Options that change how a run is shown or where it starts, not what it computes.
#[derive(Clone)]
pub struct RunOptions {
    /// Where the run's messages, per-epoch table and progress bars go.
    pub reporter: Arc<dyn Reporter>,
    /// A label for the progress bar.
    pub label: String,
    /// A new run, a resumed one, or one that replaces the run in the folder.
    pub start: Start,
}

impl Default for RunOptions {
    /// A fresh run that reports nothing.
    fn default() -> Self {
        Self {
            reporter: silent(),
            label: String::new(),
            start: Start::default(),
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("label", &self.label)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// A fresh run that reports nothing.
    pub fn quiet() -> Self {
        Self::default()
    }
}

/// The options of both loaders of a run (`batch_size` × `workers`, seeded by `seed`, laid out
/// for `schedule`) that has finished `first_epoch` epochs.
pub fn loader_options(
    (batch_size, workers): (usize, usize),
    seed: u64,
    schedule: &ScheduleConfig,
    first_epoch: usize,
) -> LoaderOptions {
    LoaderOptions {
        batch_size,
        workers,
        seed,
        first_epoch: first_epoch as u64,
        matched: schedule.schedule.matched(),
    }
}

/// What every task does before its first step, in the one order that leaves nothing behind
/// when a run cannot start: the folder is claimed for this process (refused while another live
/// process trains there; see [`crate::runs::claim`]; keep the returned claim until the run
/// ends) and checked (refused if it is, or lies inside, the run's `data` folder), then
/// `prepare` parses the device, loads the
/// data and builds the model (anything that can fail), and only then is the folder opened
/// (`config.json` written, an old run cleared or rewound: see [`folder::open`], which also
/// removes the task's own `task_files` on overwrite).
pub fn start_run<C, T>(
    (out, data): (&Path, Option<&Path>),
    config: &C,
    start: Start,
    task_files: &[&str],
    prepare: impl FnOnce() -> crate::Result<T>,
) -> crate::Result<(T, Option<Resumed>, Claim)>
where
    C: RunSettings,
{
    if let Some(data) = data {
        folder::check_outside_data(out, data)?;
    }
    let claim = match Claim::acquire(out, DEFAULT_GRACE)? {
        Acquired::Mine { claim, .. } => claim,
        Acquired::Busy(other) => {
            return Err(RunError::Busy {
                dir: out.to_path_buf(),
                age: other.age(),
                host: other.host,
                pid: other.pid,
            }
            .into());
        }
        Acquired::Damaged(why) => {
            crate::error::bail!("{why}; remove it if no process trains the run in that folder")
        }
    };
    folder::check_start(out, config, start)?;
    let prepared = prepare()?;
    let resume = folder::open(out, config, start, task_files)?;
    Ok((prepared, resume, claim))
}

/// How a model is trained, apart from its data and task metrics.
pub struct Fit<'a, F> {
    /// Output folder: burn-train's logs and checkpoints, `metrics.csv` of the report.
    pub out: &'a Path,
    /// Slope schedule (alternate / joint / frozen, phase lengths, slope LR multiplier).
    pub schedule: &'a ScheduleConfig,
    /// The activation's projections after each step ([`frelu::ActivationConfig::projections`]).
    pub projections: Vec<ParamProjection>,
    /// Builds the optimiser for a weight decay: called once for the weights and once for the
    /// slopes (with [`ScheduleConfig::slope_decay`]).
    pub optimizer: F,
    /// Weight decay of the network weights.
    pub weight_decay: f64,
    /// Base learning-rate curve over all optimiser steps.
    pub curve: LrCurve,
    /// Optimiser steps per epoch (phases of the schedule count in these).
    pub iters_per_epoch: u64,
    /// Epochs to train.
    pub epochs: usize,
    /// Name shown in the progress lines.
    pub label: String,
    /// Where the per-epoch table and the progress bars go.
    pub reporter: Arc<dyn Reporter>,
    /// Save a checkpoint (model, optimisers, scheduler) after each epoch.
    pub checkpoints: bool,
    /// Continue a run from its last complete checkpoint (see `runs::folder::open`).
    pub resume: Option<Resumed>,
    /// Stop when the training loss passes this many times its start (see `tasks::guard`).
    pub max_loss_growth: f64,
    /// Run on each epoch's model record after it is saved (see [`EpochProbe`]).
    pub probe: Option<EpochProbe>,
}

/// `model` with the weights of a run folder (its `model.bpk`) or a Burn `.bpk` file of the same
/// network; activation parameters the file lacks keep their initial values (ReLU's).
pub fn load_run_weights<M: burn::module::Module>(
    model: M,
    from: &Path,
    reporter: &dyn Reporter,
) -> crate::Result<M> {
    let file = if from.is_dir() {
        from.join(crate::run_files::MODEL)
    } else {
        from.to_path_buf()
    };
    let model = crate::models::load_weights(model, &file)?;
    reporter.info(&format!(
        "weights from {} (activation parameters it lacks start as ReLU)",
        file.display()
    ));
    Ok(model)
}

/// Cosine decay to zero over `epochs` epochs after a half-epoch linear warm-up: the curve the
/// detection and action tasks use.
pub fn cosine_half_epoch_warmup(lr: f64, iters_per_epoch: u64, epochs: usize) -> LrCurve {
    LrCurve::new(
        lr,
        LrShape::Cosine,
        iters_per_epoch * epochs as u64,
        iters_per_epoch / 2,
    )
}

/// Trains `model` on the two loaders as `fit` says and returns the trained model (in
/// validation mode) with the per-epoch rows of the report (a resumed run's earlier rows
/// included). It registers the checkpointers (model with the slope history, both optimisers,
/// the scheduler with the schedule's position) and resumes from `fit.resume`; `configure` adds
/// the task's own metrics or strategy. Errors: the guard's message, a training error, or an
/// interruption.
pub fn launch<M, O, F>(
    model: M,
    loader_train: Arc<dyn DataLoader<<M as TrainStep>::Input>>,
    loader_valid: Arc<dyn DataLoader<<M as InferenceStep>::Input>>,
    fit: Fit<'_, F>,
    configure: impl FnOnce(SupervisedTraining<M>) -> SupervisedTraining<M>,
) -> crate::Result<(M, Vec<EpochRow>)>
where
    M: LearnerModel + Send + Sync,
    <M as TrainStep>::Output: Adaptor<LossInput> + Adaptor<LossValue>,
    <M as InferenceStep>::Output: Adaptor<LossInput> + Adaptor<LossValue>,
    O: Optimizer,
    F: Fn(f64) -> O,
{
    let slope_decay = fit.schedule.slope_decay(fit.weight_decay);
    let (optim, scheduler) = schedule::build(
        &model,
        fit.schedule,
        (fit.optimizer)(fit.weight_decay),
        (fit.optimizer)(slope_decay),
        fit.curve,
        fit.iters_per_epoch,
        &fit.projections,
    );
    let mut report =
        EpochReport::new(Some(fit.out.to_path_buf()), fit.label).reporter(fit.reporter.clone());
    let resumed = fit.resume.as_ref().map(|r| r.epochs);
    let loss_reference = fit
        .resume
        .as_ref()
        .and_then(|r| r.rows.first())
        .map(|r| r.train_loss);
    if let Some(resume) = fit.resume {
        for damaged in &resume.damaged {
            fit.reporter.warn(&format!(
                "{damaged}; resuming from the checkpoint of epoch {} instead",
                resume.epochs
            ));
        }
        report = report.resume_from(resume.rows);
    }
    let log = report.log();
    let checkpoint_dir = fit.out.join(CHECKPOINT_DIR);
    let files = |name: &str| MaybeFile::new(fit.checkpoints, &checkpoint_dir, name);
    let [model_file, optim_file, scheduler_file] = CHECKPOINT_RECORDS.map(files);
    let recorder = SlopeRecorder::start(fit.out, model_file, &model, model.valid(), resumed)?
        .with_probe(fit.probe);
    let mut training = SupervisedTraining::new(fit.out, loader_train, loader_valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .num_epochs(fit.epochs)
        .renderer(Box::new(report))
        .with_application_logger(Some(Box::new(RunLog::new(fit.out.join(EXPERIMENT_LOG)))))
        .with_custom_checkpointers(recorder, optim_file, scheduler_file);
    if let Some(epochs) = resumed {
        training = training.checkpoint(epochs);
    }
    let training = configure(training);
    let guard = FiniteLossGuard::new(training.interrupter())
        .with_growth_bound(fit.max_loss_growth, loss_reference)
        .after_epochs(resumed.unwrap_or(0));
    let training = training
        .metric_train(guard.clone())
        .metric_valid(guard.for_test());
    let result = training.launch(Learner::new(model, optim, scheduler));
    let where_metrics = format!(
        " Metrics of the finished epochs are in {}.",
        fit.out.display()
    );
    let model = trained_model(&guard, result, &where_metrics)?;
    Ok((model, log.rows()))
}
