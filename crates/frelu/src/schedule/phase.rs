//! Which parameter group learns at each step: [`Phase`], [`Group`] and the
//! [`ScheduleConfig`] that decides it.

use serde::{Deserialize, Serialize};

use super::matched::{matched_batches, matched_slot};
use super::syntax::{Schedule, Warmup};

/// Which group learns at a given step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Both groups learn.
    Joint,
    /// Only the network weights learn; slopes are frozen.
    Weights,
    /// Only the slopes learn; weights are frozen.
    Slopes,
    /// Nothing learns (a slopes-only step after [`ScheduleConfig::slopes_until`]).
    Frozen,
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
    /// Weight decay of the activation parameters = this × the weights' decay; overrides
    /// `slope_weight_decay` when given. A paper's recipe (MPELU's ×10, APL's 0.001 absolute
    /// = ×2 over a weight decay of 5e−4) is stated with it.
    #[serde(default)]
    pub slope_wd_mult: Option<f64>,
    /// The slopes learn only until this point (counted from the first step, warm-up included)
    /// and stay frozen after it; the weights go on as the schedule says (e.g. `2:epoch`: the
    /// ×100 run of issue 30's mechanism study with its slopes frozen after epoch 2).
    #[serde(default)]
    pub slopes_until: Option<Warmup>,
}

impl Default for ScheduleConfig {
    /// [`Schedule::DEFAULT`], no warm-up, slope learning rate × 1, no weight decay on slopes.
    fn default() -> Self {
        Self {
            schedule: Schedule::DEFAULT,
            warmup: None,
            slope_lr_mult: 1.0,
            slope_weight_decay: false,
            slope_wd_mult: None,
            slopes_until: None,
        }
    }
}

impl ScheduleConfig {
    /// The weight decay the slopes get when the weights get `weight_decay`: `slope_wd_mult` ×
    /// it where given, else the same if `slope_weight_decay` is on, else none.
    pub fn slope_decay(&self, weight_decay: f64) -> f64 {
        if let Some(mult) = self.slope_wd_mult {
            weight_decay * mult
        } else if self.slope_weight_decay {
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
        let phase = self.scheduled_phase(step, iters_per_epoch);
        let stopped = self
            .slopes_until
            .is_some_and(|until| step >= until.amount * until.unit.steps(iters_per_epoch));
        match (stopped, phase) {
            (false, phase) => phase,
            // Frozen slopes: the weights' steps stay, the slopes' own steps freeze both (a
            // slopes-only phase does not become a weights step, so step counts do not change).
            (true, Phase::Joint | Phase::Weights) => Phase::Weights,
            (true, Phase::Slopes | Phase::Frozen) => Phase::Frozen,
        }
    }

    /// The phase of the schedule alone, without `slopes_until`.
    fn scheduled_phase(&self, step: u64, iters_per_epoch: u64) -> Phase {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::matched::{matched_batches, matched_steps};
    use crate::schedule::syntax::Unit;
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
    fn the_slopes_decay_follows_the_multiplier_then_the_switch() {
        let mut config = ScheduleConfig::default();
        assert_eq!(config.slope_decay(5e-4), 0.0);
        config.slope_weight_decay = true;
        assert_eq!(config.slope_decay(5e-4), 5e-4);
        config.slope_wd_mult = Some(2.0);
        assert_eq!(config.slope_decay(5e-4), 1e-3);
        config.slope_wd_mult = Some(0.0);
        assert_eq!(config.slope_decay(5e-4), 0.0);
    }

    #[test]
    fn slopes_stop_learning_at_slopes_until() {
        let config = ScheduleConfig {
            slopes_until: Some(Warmup {
                amount: 2,
                unit: Unit::Epoch,
            }),
            ..ScheduleConfig::new(Schedule::Joint)
        };
        let phases: Vec<Phase> = (0..8).map(|s| config.phase(s, 2)).collect();
        use Phase::*;
        assert_eq!(
            phases,
            [
                Joint, Joint, Joint, Joint, Weights, Weights, Weights, Weights
            ]
        );
        // A slopes-only step after the stop freezes both groups: no step is turned into a
        // weights step.
        let alternate = ScheduleConfig {
            slopes_until: Some("3:iter".parse().unwrap()),
            ..ScheduleConfig::new("alternate:1:1:iter".parse().unwrap())
        };
        let phases: Vec<Phase> = (0..6).map(|s| alternate.phase(s, 10)).collect();
        assert_eq!(phases, [Weights, Slopes, Weights, Frozen, Weights, Frozen]);
        assert!(!Frozen.learns(Group::Weights) && !Frozen.learns(Group::Slopes));
    }

    #[test]
    fn slopes_only_never_lets_the_weights_learn() {
        let schedule: Schedule = "slopes-only".parse().unwrap();
        assert_eq!(schedule.to_string(), "slopes-only");
        let config = ScheduleConfig::new(schedule);
        assert!((0..50).all(|t| config.phase(t, 7) == Phase::Slopes));
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
}
