//! The base learning-rate curve that both parameter groups follow: an optional linear warm-up,
//! then constant or cosine annealing to 0.

use core::fmt;
use core::str::FromStr;

use burn::optim::LearningRate;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use serde::{Deserialize, Serialize};

use super::error::ParseScheduleError;

/// The shape of the base learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LrShape {
    /// The same rate at every step.
    Constant,
    /// Cosine annealing from the base rate to 0 over the whole run.
    Cosine,
}

impl FromStr for LrShape {
    type Err = ParseScheduleError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "constant" | "const" => Ok(LrShape::Constant),
            "cosine" | "cos" => Ok(LrShape::Cosine),
            other => Err(ParseScheduleError(format!(
                "unknown learning-rate schedule '{other}' (use constant or cosine)"
            ))),
        }
    }
}

impl fmt::Display for LrShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LrShape::Constant => "constant",
            LrShape::Cosine => "cosine",
        })
    }
}

/// A base learning-rate schedule: optional linear warm-up, then constant or cosine to 0.
#[derive(Clone, Debug)]
pub struct LrCurve {
    base: f64,
    shape: LrShape,
    total_steps: u64,
    warmup_steps: u64,
    step: u64,
}

impl LrCurve {
    /// `base` rate, `shape` over `total_steps` optimiser steps, the first `warmup_steps` of
    /// which ramp linearly from `base / warmup_steps` up to `base`.
    pub fn new(base: f64, shape: LrShape, total_steps: u64, warmup_steps: u64) -> Self {
        Self {
            base,
            shape,
            total_steps: total_steps.max(1),
            warmup_steps,
            step: 0,
        }
    }

    /// The rate at step `t` (0-based).
    pub fn at(&self, t: u64) -> f64 {
        if t < self.warmup_steps {
            return self.base * (t + 1) as f64 / self.warmup_steps as f64;
        }
        match self.shape {
            LrShape::Constant => self.base,
            LrShape::Cosine => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let progress = ((t - self.warmup_steps) as f64 / span).min(1.0);
                0.5 * self.base * (1.0 + (core::f64::consts::PI * progress).cos())
            }
        }
    }
}

impl LrScheduler for LrCurve {
    fn step(&mut self) -> LearningRate {
        let lr = self.at(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("step", self.step)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
