//! [`build`]: the optimiser pair and learning-rate scheduler of alternate optimisation for a
//! model, as burn-train's `Learner` takes them.

use burn::module::{Module, ParamGroup, ParamId};
use burn::optim::lr_scheduler::DynLrScheduler;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::{ModuleOptimizer, Optimizer};

use super::freeze::{Freezable, PhasedLr};
use super::phase::{Group, ScheduleConfig};
use super::project::Projected;
use super::syntax::Schedule;
use crate::activation::ParamProjection;

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
/// - `iters_per_epoch`: optimiser steps per epoch, for schedules counted in epochs;
/// - `projections`: the activation's projections after each step
///   ([`crate::ActivationConfig::projections`]); the slopes' optimiser, then the projection.
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
    projections: &[ParamProjection],
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
    let mut optim = ModuleOptimizer::from(Freezable(weights_optim)).with_group(
        slopes.clone(),
        Freezable(slopes_optim.clone()),
        None,
    );
    for projection in projections {
        let (ids, paths) = projected_params(model, projection);
        if ids.is_empty() {
            continue;
        }
        let group = ParamGroup::from_ids(ids).fuse(&ParamGroup::from_paths(paths));
        let projected = Projected {
            inner: slopes_optim.clone(),
            projection: projection.projection,
        };
        // The last group a parameter matches decides its optimiser.
        optim = optim.with_group(group, Freezable(projected), None);
    }
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

/// Ids and paths of the parameters of `model` that `projection` names (owner type and field).
fn projected_params<M: Module>(
    model: &M,
    projection: &ParamProjection,
) -> (Vec<ParamId>, Vec<String>) {
    let (mut ids, mut paths) = (Vec::new(), Vec::new());
    crate::params::for_each_param(model, |info, _| {
        let field = info.path.last().map(String::as_str);
        if info.activation && info.owner == projection.owner && field == Some(projection.field) {
            ids.push(info.id);
            paths.push(info.path.join("."));
        }
    });
    (ids, paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivationConfig, FRelu, FReluConfig};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Device, Distribution, Tensor, TensorData};
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
        let (mut optim, mut scheduler) =
            build(&net, &config, sgd.build(), sgd.build(), 0.05, 3, &[]);
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
        let (mut optim, mut scheduler) =
            build(&net, &config, sgd.build(), sgd.build(), 0.1, 1, &[]);
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
                build(&net, &config, sgd.build(), sgd.build(), 0.05, 1, &[]);
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

    #[test]
    fn projected_parameters_are_reset_after_the_step_and_learn_again() {
        // PELU's authors' rule: `a` pushed below 0.1 becomes 0.11 and, unlike under the forward
        // clamp, it still has a gradient, so the next step can move it back up.
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::ones([4, 1], &device);
        let a_after = |text: &str, signs: [f64; 2]| -> Vec<f32> {
            let config: ActivationConfig = text.parse().unwrap();
            let mut act = config.init(1, &device);
            let schedule = ScheduleConfig::new(Schedule::Joint);
            let sgd = SgdConfig::new();
            let projections = config.projections();
            let (mut optim, mut scheduler) = build(
                &act,
                &schedule,
                sgd.build(),
                sgd.build(),
                1.0,
                1,
                &projections,
            );
            let mut seen = Vec::new();
            for sign in signs {
                // d loss / d a = sign · x/b = sign: one step moves `a` by −sign.
                let loss = act.forward(x.clone()).mean() * sign;
                let grads = GradientsParams::from_grads(loss.backward(), &act);
                act = optim.step(scheduler.step(), act, grads);
                let crate::Activation::Pelu(pelu) = &act else {
                    panic!("not PELU")
                };
                seen.push(pelu.a.val().into_data().try_to_vec::<f32>().unwrap()[0]);
            }
            seen
        };
        // 1 − 1.5 = −0.5 → 0.11. The same step moves b from 1 to 1 + 1.5 (d/db = −a·x/b²), so
        // the next one moves a by 1.5·x/b = 0.6: 0.71.
        let a = a_after("pelu", [1.5, -1.5]);
        assert_eq!(a[0], 0.11);
        assert!((a[1] - 0.71).abs() < 1e-6, "{a:?}");
        // 1 + 1.5 = 2.5 → 1.99.
        assert_eq!(a_after("pelu", [-1.5, 0.0])[0], 1.99);
        // The forward clamp: the value stays at −0.5, where it gets no gradient.
        assert_eq!(
            a_after("pelu:per=channel:bound=clamp", [1.5, -1.5]),
            [-0.5, -0.5]
        );
    }
}
