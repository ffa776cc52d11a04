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
use frelu::schedule::{self, LrCurve, LrShape, ScheduleConfig};

use super::guard::{FiniteLossGuard, LossValue, trained_model};
use crate::runs::report::{EpochReport, EpochRow};

/// How a model is trained, apart from its data and task metrics.
pub struct Fit<'a, F> {
    /// Output folder: burn-train's logs and checkpoints, `metrics.csv` of the report.
    pub out: &'a Path,
    /// Slope schedule (alternate / joint / frozen, phase lengths, slope LR multiplier).
    pub schedule: &'a ScheduleConfig,
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
    /// No progress output.
    pub quiet: bool,
    /// Appended to error messages (e.g. where the finished epochs' metrics are).
    pub error_context: String,
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
/// validation mode) with the per-epoch rows of the report. `configure` registers the
/// task's extra metrics, strategy or checkpointers. Errors: the guard's NaN/inf message, a
/// training error, or an interruption.
pub fn launch<M, O, F>(
    model: M,
    loader_train: Arc<dyn DataLoader<<M as TrainStep>::Input>>,
    loader_valid: Arc<dyn DataLoader<<M as InferenceStep>::Input>>,
    fit: Fit<'_, F>,
    configure: impl FnOnce(SupervisedTraining<M>) -> SupervisedTraining<M>,
) -> crate::Result<(M, Vec<EpochRow>)>
where
    M: LearnerModel,
    <M as TrainStep>::Output: Adaptor<LossInput> + Adaptor<LossValue>,
    <M as InferenceStep>::Output: Adaptor<LossInput>,
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
    );
    let report = EpochReport::new(Some(fit.out.to_path_buf()), fit.label).quiet(fit.quiet);
    let log = report.log();
    let training = SupervisedTraining::new(fit.out, loader_train, loader_valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .num_epochs(fit.epochs)
        .renderer(Box::new(report));
    let training = configure(training);
    let guard = FiniteLossGuard::new(training.interrupter());
    let training = training.metric_train(guard.clone());
    let result = training.launch(Learner::new(model, optim, scheduler));
    let model = trained_model(&guard, result, &fit.error_context)?;
    Ok((model, log.rows()))
}
