//! The schedules as users write them: [`Schedule`], its unit and the weights-only [`Warmup`],
//! parsed and displayed.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::ParseScheduleError;
use super::matched::matched_steps;

/// The unit a schedule counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Optimiser steps.
    Iter,
    /// Epochs (a whole pass over the training set).
    Epoch,
}

impl Unit {
    pub(super) fn steps(self, iters_per_epoch: u64) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
