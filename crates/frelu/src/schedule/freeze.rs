//! Freezing a group on the steps it does not learn: the [`FROZEN_LR`] marker, the
//! [`PhasedLr`] scheduler that emits it and the [`Freezable`] optimiser that obeys it.

use burn::optim::lr_scheduler::{DynLrScheduler, LrScheduler, LrSchedulerRecord};
use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

use super::phase::{Group, ScheduleConfig};

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
