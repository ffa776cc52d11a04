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
//! `Learner::new` takes. Parameters an activation keeps in range by projection (PELU's `a`
//! and `b`, PReNU's `α`) get their own group, whose optimiser ([`Projected`]) projects each
//! step's result.

mod build;
mod curve;
mod error;
mod freeze;
mod matched;
mod phase;
mod project;
mod syntax;

pub use build::{build, slope_param_ids};
pub use curve::{LrCurve, LrShape};
pub use error::ParseScheduleError;
pub use freeze::{FROZEN_LR, Freezable, PhasedLr, is_frozen_lr};
pub use matched::{matched_batches, matched_slot, matched_steps};
pub use phase::{Group, Phase, ScheduleConfig};
pub use project::Projected;
pub use syntax::{Schedule, Unit, Warmup};
