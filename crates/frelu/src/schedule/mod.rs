//! Alternate optimisation: which parameter group learns at each optimiser step.
//!
//! The paper trains FReLU networks by *alternate optimisation*: the network weights learn while
//! the activation slopes are frozen, then the slopes learn while the weights are frozen, and so
//! on. Joint training (everything learns) and frozen slopes (the fixed-shape ablation) are the
//! comparisons. The paper's exact period is not public, so it is an option:
//!
//! | string | meaning |
//! |---|---|
//! | `joint` | weights and slopes learn at every step |
//! | `alternate:K:M:UNIT` | K units weights-only, then M units slopes-only, repeating; UNIT = `iter` or `epoch` (default `epoch`) |
//! | `frozen` | slopes never learn (they keep their initial values) |
//!
//! A weights-only warm-up ([`ScheduleConfig::warmup`]) can precede any of them.
//!
//! # How it runs inside burn-train's `Learner`
//!
//! The learner steps its learning-rate scheduler exactly once per optimiser step, on every
//! training strategy (single device, multi-device, DDP) and across checkpoint/resume. So the
//! schedule lives there: [`PhasedLr`] wraps the base learning-rate schedule of each group and
//! emits [`FROZEN_LR`] on the steps where that group is frozen. The optimiser of each group is
//! wrapped in [`Freezable`], which on a frozen step returns the parameter *and its optimiser
//! state* untouched — no weight decay, no momentum, bit-for-bit unchanged. Slopes get their own
//! optimiser (no weight decay by default) and a learning-rate multiplier. [`build`] wires all of
//! this from a model and returns the `(ModuleOptimizer, ModuleLrScheduler)` pair that
//! `Learner::new` takes.

use core::fmt;
use core::str::FromStr;

use burn::module::{Module, ParamGroup, ParamId};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::{DynLrScheduler, LrScheduler, LrSchedulerRecord};
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

mod curve;
pub use curve::{LrCurve, LrShape};

/// The learning rate that marks a frozen step: negative zero.
///
/// It is distinguishable from an ordinary `0.0` a user schedule may reach
/// ([`is_frozen_lr`]), and harmless if it reaches an optimiser that does not know it
/// (`x − (−0)·g = x`).
pub const FROZEN_LR: LearningRate = -0.0;

/// Whether `lr` is the [`FROZEN_LR`] marker.
pub fn is_frozen_lr(lr: LearningRate) -> bool {
    lr == 0.0 && lr.is_sign_negative()
}

/// The unit a schedule counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Optimiser steps.
    Iter,
    /// Epochs (a whole pass over the training set).
    Epoch,
}

impl Unit {
    fn steps(self, iters_per_epoch: u64) -> u64 {
        match self {
            Unit::Iter => 1,
            Unit::Epoch => iters_per_epoch.max(1),
        }
    }
}

impl FromStr for Unit {
    type Err = ParseScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "iter" | "iters" | "it" | "step" | "steps" => Ok(Unit::Iter),
            "epoch" | "epochs" | "ep" => Ok(Unit::Epoch),
            other => Err(ParseScheduleError(format!(
                "unknown unit '{other}' (use 'iter' or 'epoch')"
            ))),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Iter => "iter",
            Unit::Epoch => "epoch",
        })
    }
}

/// Which parameters learn and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// Weights and slopes learn together at every step.
    Joint,
    /// `weights` units weights-only, then `slopes` units slopes-only, repeating.
    Alternate {
        /// Units of weights-only training per cycle (≥ 1).
        weights: u64,
        /// Units of slopes-only training per cycle (≥ 1).
        slopes: u64,
        /// What a unit is.
        unit: Unit,
    },
    /// Slopes never learn: the fixed-shape ablation.
    Frozen,
    /// Weights never learn, slopes always: tuning the activation shape of a trained network.
    SlopesOnly,
    /// Budget-matched alternation: `weights` weight steps then `slopes` slope steps, where the
    /// slope steps are *added* to an epoch (on batches of their own) instead of taken from the
    /// weights: the weights get exactly as many steps per epoch as with ReLU. An epoch of `B`
    /// weight batches has [`matched_steps`] steps; its last cycle may hold fewer weight steps.
    Matched {
        /// Weight steps per cycle (≥ 1).
        weights: u64,
        /// Slope steps per cycle (≥ 1).
        slopes: u64,
    },
}

/// Optimiser steps per epoch of a budget-matched schedule (`matched:K:M`) whose epoch has
/// `batches` weight batches: every `K` of them (and the remainder) followed by `M` slope steps.
pub fn matched_steps(weights: u64, slopes: u64, batches: u64) -> u64 {
    batches + slopes * batches.div_ceil(weights.max(1))
}

/// The number of weight batches of a budget-matched epoch of `steps` steps (the inverse of
/// [`matched_steps`]; the largest `B` whose epoch fits in `steps`).
pub fn matched_batches(weights: u64, slopes: u64, steps: u64) -> u64 {
    let mut batches = steps * weights / (weights + slopes).max(1);
    while matched_steps(weights, slopes, batches + 1) <= steps {
        batches += 1;
    }
    while batches > 0 && matched_steps(weights, slopes, batches) > steps {
        batches -= 1;
    }
    batches
}

/// Where step `local` (counted from the start of its epoch) of a budget-matched epoch with
/// `batches` weight batches falls: `Ok(i)` for the `i`-th weight step, `Err(j)` for the `j`-th
/// slope step of the epoch.
pub fn matched_slot(weights: u64, slopes: u64, batches: u64, local: u64) -> Result<u64, u64> {
    let cycle = weights + slopes;
    let full = batches / weights;
    let (c, r) = (local / cycle, local % cycle);
    let weights_here = if c < full {
        weights
    } else {
        batches - full * weights
    };
    if r < weights_here {
        Ok(c * weights + r)
    } else {
        Err(c * slopes + (r - weights_here))
    }
}

/// Which group learns at a given step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Both groups learn.
    Joint,
    /// Only the network weights learn; slopes are frozen.
    Weights,
    /// Only the slopes learn; weights are frozen.
    Slopes,
}

/// The two parameter groups of a network with learnable activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Group {
    /// Every parameter that is not an activation slope.
    Weights,
    /// The learnable activation parameters (FReLU/PReLU slopes and every learnable peer's; see
    /// [`crate::params`]).
    Slopes,
}

impl Phase {
    /// Whether `group` learns in this phase.
    pub fn learns(self, group: Group) -> bool {
        matches!(
            (self, group),
            (Phase::Joint, _) | (Phase::Weights, Group::Weights) | (Phase::Slopes, Group::Slopes)
        )
    }
}

/// A string that is not a schedule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseScheduleError(String);

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.trim().split(':').map(str::trim).collect();
        let count = |s: &str, what: &str| -> Result<u64, ParseScheduleError> {
            match s.parse::<u64>() {
                Ok(0) | Err(_) => Err(ParseScheduleError(format!(
                    "schedule '{text}': {what} must be a whole number ≥ 1, got '{s}'"
                ))),
                Ok(n) => Ok(n),
            }
        };
        match parts.as_slice() {
            ["joint"] => Ok(Schedule::Joint),
            ["frozen"] | ["fixed"] => Ok(Schedule::Frozen),
            ["slopes-only"] | ["slopes"] => Ok(Schedule::SlopesOnly),
            ["alternate"] => Ok(Schedule::Alternate {
                weights: 1,
                slopes: 1,
                unit: Unit::Epoch,
            }),
            ["alternate", k, m] => Ok(Schedule::Alternate {
                weights: count(k, "K (weight units)")?,
                slopes: count(m, "M (slope units)")?,
                unit: Unit::Epoch,
            }),
            ["alternate", k, m, unit] => Ok(Schedule::Alternate {
                weights: count(k, "K (weight units)")?,
                slopes: count(m, "M (slope units)")?,
                unit: unit.parse()?,
            }),
            ["matched", k, m] => Ok(Schedule::Matched {
                weights: count(k, "K (weight steps)")?,
                slopes: count(m, "M (slope steps)")?,
            }),
            _ => Err(ParseScheduleError(format!(
                "unknown schedule '{text}'; use {} (UNIT = iter or epoch)",
                Schedule::SYNTAX.join(", ")
            ))),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Joint => f.write_str("joint"),
            Schedule::Frozen => f.write_str("frozen"),
            Schedule::SlopesOnly => f.write_str("slopes-only"),
            Schedule::Alternate {
                weights,
                slopes,
                unit,
            } => write!(f, "alternate:{weights}:{slopes}:{unit}"),
            Schedule::Matched { weights, slopes } => write!(f, "matched:{weights}:{slopes}"),
        }
    }
}

/// A weights-only warm-up: `N:UNIT`, e.g. `1:epoch` or `200:iter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warmup {
    /// How many units.
    pub amount: u64,
    /// What a unit is.
    pub unit: Unit,
}

impl FromStr for Warmup {
    type Err = ParseScheduleError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (amount, unit) = text.split_once(':').unwrap_or((text, "epoch"));
        let amount = amount.trim().parse().map_err(|_| {
            ParseScheduleError(format!(
                "warm-up '{text}': expected N or N:UNIT (UNIT = iter or epoch)"
            ))
        })?;
        Ok(Warmup {
            amount,
            unit: unit.parse()?,
        })
    }
}

impl fmt::Display for Warmup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.amount, self.unit)
    }
}

/// Everything that decides how slopes are trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Which group learns when.
    pub schedule: Schedule,
    /// Weights-only steps before the schedule starts.
    pub warmup: Option<Warmup>,
    /// Learning rate of the slopes = this × the weights' learning rate.
    pub slope_lr_mult: f64,
    /// Apply the weight decay to the slopes too (off by default: decay pulls slopes to 0,
    /// i.e. towards a dead unit rather than towards ReLU).
    pub slope_weight_decay: bool,
}

impl Schedule {
    /// Every schedule as a user writes it, in the order help texts and errors list them.
    pub const SYNTAX: [&'static str; 5] = [
        "alternate:K:M:UNIT",
        "matched:K:M",
        "joint",
        "frozen",
        "slopes-only",
    ];

    /// `(K, M)` of a budget-matched schedule.
    pub fn matched(&self) -> Option<(u64, u64)> {
        match *self {
            Schedule::Matched { weights, slopes } => Some((weights, slopes)),
            _ => None,
        }
    }

    /// Optimiser steps per epoch when an epoch has `batches` batches: more than `batches` for
    /// a budget-matched schedule (its slope steps are added).
    pub fn steps_per_epoch(&self, batches: u64) -> u64 {
        match self.matched() {
            Some((k, m)) => matched_steps(k, m, batches),
            None => batches,
        }
    }

    /// The default: the paper's alternate optimisation, 4 weight steps then 1 slope step
    /// (`alternate:4:1:iter`). Every default of the toolkit (library, CLI, protocol files) is
    /// this one.
    pub const DEFAULT: Schedule = Schedule::Alternate {
        weights: 4,
        slopes: 1,
        unit: Unit::Iter,
    };
}

impl Default for Schedule {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Default for ScheduleConfig {
    /// [`Schedule::DEFAULT`], no warm-up, slope learning rate × 1, no weight decay on slopes.
    fn default() -> Self {
        Self {
            schedule: Schedule::DEFAULT,
            warmup: None,
            slope_lr_mult: 1.0,
            slope_weight_decay: false,
        }
    }
}

impl ScheduleConfig {
    /// The weight decay the slopes get when the weights get `weight_decay`: the same if
    /// `slope_weight_decay` is on, else none.
    pub fn slope_decay(&self, weight_decay: f64) -> f64 {
        if self.slope_weight_decay {
            weight_decay
        } else {
            0.0
        }
    }

    /// A config with this schedule and the other defaults.
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            ..Self::default()
        }
    }

    /// The phase of optimiser step `step` (0-based) when an epoch has `iters_per_epoch` steps.
    pub fn phase(&self, step: u64, iters_per_epoch: u64) -> Phase {
        let warmup = self
            .warmup
            .map(|w| w.amount * w.unit.steps(iters_per_epoch))
            .unwrap_or(0);
        if step < warmup {
            return Phase::Weights;
        }
        let step = step - warmup;
        match self.schedule {
            Schedule::Joint => Phase::Joint,
            Schedule::Frozen => Phase::Weights,
            Schedule::SlopesOnly => Phase::Slopes,
            Schedule::Alternate {
                weights,
                slopes,
                unit,
            } => {
                let unit = unit.steps(iters_per_epoch);
                let weights = weights * unit;
                let cycle = weights + slopes * unit;
                if step % cycle < weights {
                    Phase::Weights
                } else {
                    Phase::Slopes
                }
            }
            Schedule::Matched { weights, slopes } => {
                // The plan is per epoch: the warm-up is counted in whole steps before it.
                let local = (step + warmup) % iters_per_epoch.max(1);
                let batches = matched_batches(weights, slopes, iters_per_epoch);
                match matched_slot(weights, slopes, batches, local) {
                    Ok(_) => Phase::Weights,
                    Err(_) => Phase::Slopes,
                }
            }
        }
    }
}

/// A learning-rate scheduler for one parameter group that follows a [`ScheduleConfig`]:
/// the base schedule's rate (× a multiplier) on steps where the group learns, [`FROZEN_LR`]
/// on the others. The base schedule advances on every step either way.
#[derive(Clone)]
pub struct PhasedLr {
    base: DynLrScheduler,
    group: Group,
    multiplier: f64,
    config: ScheduleConfig,
    iters_per_epoch: u64,
    step: u64,
}

impl PhasedLr {
    /// A scheduler for `group` with `base` as the learning-rate schedule.
    pub fn new(
        base: impl Into<DynLrScheduler>,
        group: Group,
        multiplier: f64,
        config: ScheduleConfig,
        iters_per_epoch: u64,
    ) -> Self {
        Self {
            base: base.into(),
            group,
            multiplier,
            config,
            iters_per_epoch,
            step: 0,
        }
    }

    /// Optimiser steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }
}

impl LrScheduler for PhasedLr {
    fn step(&mut self) -> LearningRate {
        let phase = self.config.phase(self.step, self.iters_per_epoch);
        self.step += 1;
        let lr = self.base.step() * self.multiplier;
        if phase.learns(self.group) {
            lr
        } else {
            FROZEN_LR
        }
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new()
            .with_scalar("step", self.step)
            .with_record("base", self.base.to_record())
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step;
        }
        self.base = self.base.clone().load_record(record.record("base"));
    }
}

/// Wraps an optimiser so that a step at [`FROZEN_LR`] leaves the parameter and its optimiser
/// state exactly as they were.
#[derive(Clone, Debug)]
pub struct Freezable<O>(pub O);

impl<O: Optimizer> Optimizer for Freezable<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if is_frozen_lr(lr) {
            (tensor, state)
        } else {
            self.0.step(lr, tensor, grad, state)
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

/// Ids of the learnable activation parameters of `module` (the second parameter group).
pub fn slope_param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    crate::params::activation_param_ids(module)
}

/// The optimiser and learning-rate scheduler of alternate optimisation for `model`.
///
/// - `weights_optim`: the optimiser of the weights (e.g. SGD with momentum and weight decay);
/// - `slopes_optim`: the optimiser of the slopes (usually the same without weight decay);
/// - `base_lr`: the learning-rate schedule of the weights; the slopes follow it × the
///   multiplier of `config`;
/// - `iters_per_epoch`: optimiser steps per epoch, for schedules counted in epochs.
///
/// Pass the pair to `burn::train::Learner::new(model, optim, scheduler)`.
///
/// A model without slopes (ReLU, GELU, ...) has nothing to alternate with: its weights learn at
/// every step whatever the schedule says.
pub fn build<M, O1, O2>(
    model: &M,
    config: &ScheduleConfig,
    weights_optim: O1,
    slopes_optim: O2,
    base_lr: impl Into<DynLrScheduler>,
    iters_per_epoch: u64,
) -> (ModuleOptimizer, ModuleLrScheduler)
where
    M: Module,
    O1: Optimizer,
    O2: Optimizer,
{
    let base_lr = base_lr.into();
    let slope_ids = slope_param_ids(model);
    let joint;
    let config = if slope_ids.is_empty() {
        joint = ScheduleConfig::new(Schedule::Joint);
        &joint
    } else {
        config
    };
    // By id and by path: a model whose record is loaded later (a resumed run) keeps its paths
    // but takes the ids of the record.
    let slopes = ParamGroup::from_ids(slope_ids).fuse(&ParamGroup::from_paths(
        crate::params::activation_param_paths(model),
    ));
    let optim = ModuleOptimizer::from(Freezable(weights_optim)).with_group(
        slopes.clone(),
        Freezable(slopes_optim),
        None,
    );
    let weights_lr = PhasedLr::new(
        base_lr.clone(),
        Group::Weights,
        1.0,
        config.clone(),
        iters_per_epoch,
    );
    let slopes_lr = PhasedLr::new(
        base_lr,
        Group::Slopes,
        config.slope_lr_mult,
        config.clone(),
        iters_per_epoch,
    );
    let scheduler = ModuleLrScheduler::new(weights_lr).with_group(slopes, slopes_lr);
    (optim, scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivationConfig, FRelu, FReluConfig};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn budget_matched_epochs_give_the_weights_every_batch() {
        let schedule: Schedule = "matched:4:1".parse().unwrap();
        assert_eq!(schedule.to_string(), "matched:4:1");
        assert_eq!(schedule.matched(), Some((4, 1)));
        // 469 batches (Fashion-MNIST at 128): 117 full cycles and one weight step left, so
        // 118 slope steps are added.
        assert_eq!(schedule.steps_per_epoch(469), 469 + 118);
        for batches in [1, 4, 5, 469, 470] {
            let steps = matched_steps(4, 1, batches);
            assert_eq!(matched_batches(4, 1, steps), batches);
            let config = ScheduleConfig::new(schedule);
            let slots: Vec<Result<u64, u64>> =
                (0..steps).map(|t| matched_slot(4, 1, batches, t)).collect();
            let weight: Vec<u64> = slots.iter().filter_map(|s| s.ok()).collect();
            let slope: Vec<u64> = slots.iter().filter_map(|s| s.err()).collect();
            // Every weight batch once, in order; slope steps numbered in order.
            assert_eq!(weight, (0..batches).collect::<Vec<_>>());
            assert_eq!(slope, (0..batches.div_ceil(4)).collect::<Vec<_>>());
            // The phase follows the same plan, epoch after epoch.
            for epoch in 0..2 {
                for (t, slot) in slots.iter().enumerate() {
                    let phase = config.phase(epoch * steps + t as u64, steps);
                    assert_eq!(phase == Phase::Weights, slot.is_ok(), "{batches} {t}");
                }
            }
        }
        assert!("matched:0:1".parse::<Schedule>().is_err());
    }

    #[test]
    fn slopes_only_never_lets_the_weights_learn() {
        let schedule: Schedule = "slopes-only".parse().unwrap();
        assert_eq!(schedule.to_string(), "slopes-only");
        let config = ScheduleConfig::new(schedule);
        assert!((0..50).all(|t| config.phase(t, 7) == Phase::Slopes));
    }

    #[test]
    fn parses_and_displays_schedules() {
        for (text, expected) in [
            ("joint", Schedule::Joint),
            ("frozen", Schedule::Frozen),
            (
                "alternate:1:1:epoch",
                Schedule::Alternate {
                    weights: 1,
                    slopes: 1,
                    unit: Unit::Epoch,
                },
            ),
            (
                "alternate:5:2:iter",
                Schedule::Alternate {
                    weights: 5,
                    slopes: 2,
                    unit: Unit::Iter,
                },
            ),
        ] {
            let parsed: Schedule = text.parse().unwrap();
            assert_eq!(parsed, expected);
            assert_eq!(parsed.to_string().parse::<Schedule>().unwrap(), expected);
        }
        assert_eq!(
            "alternate:2:3".parse::<Schedule>().unwrap(),
            Schedule::Alternate {
                weights: 2,
                slopes: 3,
                unit: Unit::Epoch
            }
        );
        for bad in [
            "alternate:0:1",
            "alternate:1:x",
            "alternate:1:1:year",
            "sometimes",
        ] {
            let err = bad.parse::<Schedule>().unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        assert_eq!(
            "2:iter".parse::<Warmup>().unwrap(),
            Warmup {
                amount: 2,
                unit: Unit::Iter
            }
        );
        assert!("x:epoch".parse::<Warmup>().is_err());
    }

    #[test]
    fn lr_curves() {
        let constant = LrCurve::new(0.1, LrShape::Constant, 10, 0);
        assert!((0..10).all(|t| constant.at(t) == 0.1));
        let cosine = LrCurve::new(0.1, LrShape::Cosine, 10, 2);
        assert_eq!(cosine.at(0), 0.05);
        assert_eq!(cosine.at(1), 0.1);
        assert!((cosine.at(2) - 0.1).abs() < 1e-12);
        assert!((cosine.at(6) - 0.05).abs() < 1e-12);
        assert!(cosine.at(9) > 0.0 && cosine.at(9) < 0.01);
        let mut stepped = cosine.clone();
        let lrs: Vec<f64> = (0..4).map(|_| stepped.step()).collect();
        assert_eq!(lrs, (0..4).map(|t| cosine.at(t)).collect::<Vec<_>>());
        let mut restored = LrCurve::new(0.1, LrShape::Cosine, 10, 2);
        restored.load_record(stepped.to_record());
        assert_eq!(restored.step(), cosine.at(4));
        assert_eq!("cosine".parse::<LrShape>().unwrap(), LrShape::Cosine);
        assert!("linear".parse::<LrShape>().is_err());
    }

    #[test]
    fn phases_follow_the_schedule() {
        let alternate = ScheduleConfig::new("alternate:2:1:iter".parse().unwrap());
        let phases: Vec<Phase> = (0..7).map(|s| alternate.phase(s, 100)).collect();
        use Phase::*;
        assert_eq!(
            phases,
            [Weights, Weights, Slopes, Weights, Weights, Slopes, Weights]
        );

        let by_epoch = ScheduleConfig {
            warmup: Some(Warmup {
                amount: 1,
                unit: Unit::Epoch,
            }),
            ..ScheduleConfig::new("alternate:1:1:epoch".parse().unwrap())
        };
        let phases: Vec<Phase> = (0..10).map(|s| by_epoch.phase(s, 2)).collect();
        // 2 steps of warm-up, then 1 epoch (2 steps) weights, 1 epoch slopes, ...
        assert_eq!(
            phases,
            [
                Weights, Weights, Weights, Weights, Slopes, Slopes, Weights, Weights, Slopes,
                Slopes
            ]
        );
        assert!((0..50).all(|s| ScheduleConfig::new(Schedule::Joint).phase(s, 7) == Joint));
        assert!((0..50).all(|s| ScheduleConfig::new(Schedule::Frozen).phase(s, 7) == Weights));
    }

    #[test]
    fn phased_lr_marks_frozen_steps_and_survives_a_record_round_trip() {
        let config = ScheduleConfig {
            slope_lr_mult: 0.5,
            ..ScheduleConfig::new("alternate:1:2:iter".parse().unwrap())
        };
        let mut weights = PhasedLr::new(0.1, Group::Weights, 1.0, config.clone(), 10);
        let mut slopes = PhasedLr::new(0.1, Group::Slopes, 0.5, config, 10);
        let w: Vec<f64> = (0..4).map(|_| weights.step()).collect();
        let s: Vec<f64> = (0..4).map(|_| slopes.step()).collect();
        assert_eq!(w[0], 0.1);
        assert!(is_frozen_lr(w[1]) && is_frozen_lr(w[2]));
        assert_eq!(w[3], 0.1);
        assert!(is_frozen_lr(s[0]) && is_frozen_lr(s[3]));
        assert_eq!((s[1], s[2]), (0.05, 0.05));
        assert!(!is_frozen_lr(0.0));

        let mut restored = PhasedLr::new(0.1, Group::Weights, 1.0, weights.config.clone(), 10);
        restored.load_record(weights.to_record());
        assert_eq!(restored.steps_taken(), 4);
        assert_eq!(restored.step(), weights.step());
    }

    #[derive(Module, Debug)]
    struct Net {
        linear: Linear,
        act: FRelu,
        head: Linear,
    }

    impl Net {
        fn new(device: &Device) -> Self {
            Self {
                linear: LinearConfig::new(4, 6).init(device),
                act: FReluConfig::new(6).with_neg_init(0.1).init(device),
                head: LinearConfig::new(6, 1).init(device),
            }
        }

        fn loss(&self, x: Tensor<2>) -> Tensor<1> {
            let y = self.head.forward(self.act.forward(self.linear.forward(x)));
            (y - 1.0).powi_scalar(2).mean()
        }
    }

    fn snapshot(net: &Net) -> (Vec<TensorData>, Vec<TensorData>) {
        let weights = vec![
            net.linear.weight.val().into_data(),
            net.head.weight.val().into_data(),
        ];
        let slopes = vec![
            net.act.pos.as_ref().unwrap().val().into_data(),
            net.act.neg.as_ref().unwrap().val().into_data(),
        ];
        (weights, slopes)
    }

    /// Runs `steps` steps of SGD with momentum and weight decay (on the slopes too, to make the
    /// freeze earn its name) and returns the snapshots before and after each step.
    fn run(schedule: &str, steps: usize) -> Vec<(Vec<TensorData>, Vec<TensorData>)> {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let config = ScheduleConfig {
            slope_weight_decay: true,
            ..ScheduleConfig::new(schedule.parse().unwrap())
        };
        let sgd = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new()))
            .with_weight_decay(Some(WeightDecayConfig::new(0.01)));
        let (mut optim, mut scheduler) = build(&net, &config, sgd.build(), sgd.build(), 0.05, 3);
        let mut snapshots = vec![snapshot(&net)];
        for _ in 0..steps {
            let x = Tensor::<2>::random([16, 4], Distribution::Normal(0.0, 1.0), &device);
            let grads = GradientsParams::from_grads(net.loss(x).backward(), &net);
            net = optim.step(scheduler.step(), net, grads);
            snapshots.push(snapshot(&net));
        }
        snapshots
    }

    #[test]
    fn frozen_groups_stay_bit_identical_under_momentum_and_weight_decay() {
        // alternate:2:2:iter — steps 0,1 weights; 2,3 slopes; 4,5 weights.
        let snaps = run("alternate:2:2:iter", 6);
        for step in 0..6 {
            let (before, after) = (&snaps[step], &snaps[step + 1]);
            let slopes_phase = step == 2 || step == 3;
            if slopes_phase {
                assert_eq!(before.0, after.0, "weights moved on slopes step {step}");
                assert_ne!(before.1, after.1, "slopes did not move on step {step}");
            } else {
                assert_eq!(before.1, after.1, "slopes moved on weights step {step}");
                assert_ne!(before.0, after.0, "weights did not move on step {step}");
            }
        }

        let snaps = run("frozen", 5);
        assert_eq!(snaps[0].1, snaps[5].1, "frozen slopes moved");
        assert_ne!(snaps[0].0, snaps[5].0);

        let snaps = run("joint", 3);
        assert_ne!(snaps[0].1, snaps[1].1);
        assert_ne!(snaps[0].0, snaps[1].0);
    }

    #[test]
    fn weights_of_a_model_without_slopes_learn_at_every_step() {
        #[derive(Module, Debug)]
        struct Plain {
            linear: Linear,
        }
        let device = Device::flex().autodiff();
        let mut net = Plain {
            linear: LinearConfig::new(3, 1).init(&device),
        };
        let config = ScheduleConfig::new("alternate:1:1:iter".parse().unwrap());
        let sgd = SgdConfig::new();
        let (mut optim, mut scheduler) = build(&net, &config, sgd.build(), sgd.build(), 0.1, 1);
        for _ in 0..4 {
            let before = net.linear.weight.val().into_data();
            let x = Tensor::<2>::random([8, 3], Distribution::Normal(0.0, 1.0), &device);
            let loss = net.linear.forward(x).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(scheduler.step(), net, grads);
            assert_ne!(before, net.linear.weight.val().into_data());
        }
    }

    #[test]
    fn frozen_steps_do_not_advance_optimizer_state() {
        // "2 weight steps, 2 frozen steps, 2 weight steps" must equal 4 consecutive weight steps
        // on the same batches: momentum and weight decay must not run during the frozen steps.
        // The slopes' learning rate is 0 so that their (unfrozen) steps do not change them and
        // the weights see the same function in both runs.
        let device = Device::flex().autodiff();
        let data: Vec<Tensor<2>> = (0..5)
            .map(|_| Tensor::random([16, 4], Distribution::Normal(0.0, 1.0), &device))
            .collect();
        let sgd = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new()))
            .with_weight_decay(Some(WeightDecayConfig::new(0.01)));
        let initial = Net::new(&device);

        let train = |schedule: &str, feed: &[usize]| {
            let mut net = initial.clone();
            let config = ScheduleConfig {
                slope_lr_mult: 0.0,
                ..ScheduleConfig::new(schedule.parse().unwrap())
            };
            let (mut optim, mut scheduler) =
                build(&net, &config, sgd.build(), sgd.build(), 0.05, 1);
            for &i in feed {
                let grads = GradientsParams::from_grads(net.loss(data[i].clone()).backward(), &net);
                net = optim.step(scheduler.step(), net, grads);
            }
            net.linear.weight.val().into_data()
        };
        let with_freeze = train("alternate:2:2:iter", &[0, 1, 4, 4, 2, 3]);
        let without = train("frozen", &[0, 1, 2, 3]);
        assert_eq!(with_freeze, without);
        // And the comparison can fail: a run that really steps on batch 4 differs.
        let stepped = train("frozen", &[0, 1, 4, 2, 3]);
        assert_ne!(with_freeze, stepped);
    }

    #[test]
    fn slope_ids_are_exactly_the_frelu_parameters() {
        let device = Device::flex();
        let net = Net::new(&device);
        let ids = slope_param_ids(&net);
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&net.act.pos.as_ref().unwrap().id));
        assert!(ids.contains(&net.act.neg.as_ref().unwrap().id));
        // Through the registry's enum wrapper too.
        let act = "prelu"
            .parse::<ActivationConfig>()
            .unwrap()
            .init(5, &device);
        assert_eq!(slope_param_ids(&act).len(), 1);
        assert!(
            slope_param_ids(&"relu".parse::<ActivationConfig>().unwrap().init(5, &device))
                .is_empty()
        );
    }
}
