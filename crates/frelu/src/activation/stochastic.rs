//! The randomised ReLUs: RReLU (Xu et al. 2015) and elastic ReLU / EPReLU (Jiang et al. 2018).
//! They draw a slope per element while training and use its mean at evaluation, so evaluation is
//! deterministic.

use burn::config::Config;
use burn::module::{Flag, Module, Param};
use burn::tensor::{Device, Distribution, Tensor, activation};

use serde::{Deserialize, Serialize};

use super::common::{check_input, filled, on_channels, training};
use crate::ops::peers::{self, RandomDraw, RandomSide};

/// How RReLU applies its random draw `a` to a negative input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RReluForm {
    /// `x / a`, `a ~ U(3, 8)`, `x / 5.5` at evaluation: Xu et al.'s paper (after the NDSB
    /// winner) and the first author's cxxnet `InsanityLayer` (`a > 0 ? a : a / b`).
    #[default]
    Divide,
    /// `a·x`, `a ~ U(1/8, 1/3)`, `x·11/48` at evaluation: PyTorch's and MXNet's `RReLU`
    /// (`rrelu:form=mul`, the project's layer before issue 30). The drawn slopes span the same
    /// range as the paper's, with another distribution and another evaluation slope.
    Multiply,
}

impl RReluForm {
    /// The default `(lower, upper)` of the draw `a`.
    pub fn default_range(self) -> (f64, f64) {
        match self {
            Self::Divide => (RRELU_DIV_LOWER, RRELU_DIV_UPPER),
            Self::Multiply => (RRELU_MUL_LOWER, RRELU_MUL_UPPER),
        }
    }

    /// The word of the activation strings (`form=div`, `form=mul`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Divide => "div",
            Self::Multiply => "mul",
        }
    }
}

/// The default lower end of the divisor's range in [`RReluForm::Divide`] (the paper's 3).
pub const RRELU_DIV_LOWER: f64 = 3.0;
/// The default upper end of the divisor's range in [`RReluForm::Divide`] (the paper's 8).
pub const RRELU_DIV_UPPER: f64 = 8.0;
/// The default lower end of the slope's range in [`RReluForm::Multiply`] (PyTorch's 1/8).
pub const RRELU_MUL_LOWER: f64 = 0.125;
/// The default upper end of the slope's range in [`RReluForm::Multiply`] (PyTorch's 1/3).
pub const RRELU_MUL_UPPER: f64 = 1.0 / 3.0;
/// The default `alpha` of [`EReluConfig`].
pub const ERELU_ALPHA: f64 = 0.2;

/// Configuration of an [`RRelu`] layer; the defaults are the paper's.
#[derive(Config, Debug)]
pub struct RReluConfig {
    /// How the draw applies.
    #[config(default = "RReluForm::Divide")]
    pub form: RReluForm,
    /// Lower end of the draw's range.
    #[config(default = "RRELU_DIV_LOWER")]
    pub lower: f64,
    /// Upper end of the draw's range.
    #[config(default = "RRELU_DIV_UPPER")]
    pub upper: f64,
}

/// Randomised leaky ReLU: `x` for `x ≥ 0`; for `x < 0`, `x / a` ([`RReluForm::Divide`]) or
/// `a·x` ([`RReluForm::Multiply`]), with `a ~ U(lower, upper)` drawn per element while training
/// and `a = (lower + upper)/2` at evaluation. Nothing is learned.
#[derive(Module, Debug)]
pub struct RRelu {
    /// How the draw applies.
    #[module(skip)]
    pub form: RReluForm,
    /// Lower end of the draw's range.
    pub lower: f64,
    /// Upper end of the draw's range.
    pub upper: f64,
    /// Whether the layer draws slopes (cleared by `valid()` and `freeze`).
    pub training: Param<Flag>,
}

impl RReluConfig {
    /// Build the layer.
    pub fn init(&self) -> RRelu {
        RRelu {
            form: self.form,
            lower: self.lower,
            upper: self.upper,
            training: Param::from_bool(true),
        }
    }
}

impl RRelu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]` (any rank)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if training(&self.training, &input) && peers::has_fused_kernel(&input) {
            let side = match self.form {
                RReluForm::Divide => RandomSide::NegativeDivide,
                RReluForm::Multiply => RandomSide::NegativeTimes,
            };
            let device = input.device();
            let draw = RandomDraw::seeded(side, self.lower, self.upper, &device);
            // The negative sides read no learned slope: a constant stands in for it.
            return peers::random_slope(input, Tensor::zeros([1], &device), draw);
        }
        self.forward_composed(input)
    }

    /// [`RRelu::forward`] from tensor operations alone (the reference of the fused kernel, and
    /// the form every device without one takes).
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]` (any rank)
    /// - output: same as the input
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let mean = (self.lower + self.upper) / 2.0;
        if !training(&self.training, &input) {
            let slope = match self.form {
                RReluForm::Divide => 1.0 / mean,
                RReluForm::Multiply => mean,
            };
            return activation::leaky_relu(input, slope);
        }
        let draw = input.random_like(Distribution::Uniform(self.lower, self.upper));
        let negative = input.clone().clamp_max(0.0);
        let negative = match self.form {
            RReluForm::Divide => negative / draw,
            RReluForm::Multiply => negative * draw,
        };
        input.clamp_min(0.0) + negative
    }
}

/// Configuration of an [`ERelu`] layer.
#[derive(Config, Debug)]
pub struct EReluConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Half-width of the positive slope's range: `k ~ U(1 − alpha, 1 + alpha)`.
    #[config(default = "ERELU_ALPHA")]
    pub alpha: f64,
    /// EPReLU: also learn a PReLU negative slope per channel.
    #[config(default = false)]
    pub learn_neg: bool,
    /// Initial negative slope of EPReLU (PReLU's usual 0.25).
    #[config(default = 0.25)]
    pub neg_init: f64,
}

/// Elastic ReLU: `k·x` for `x > 0` with `k ~ U(1 − α, 1 + α)` per element while training and
/// `k = 1` at evaluation; `0` (ERelu) or a learned `neg[c]·x` (EPReLU) for `x ≤ 0`.
#[derive(Module, Debug)]
pub struct ERelu {
    /// Half-width of the positive slope's range.
    pub alpha: f64,
    /// EPReLU's learned negative slopes `[channels]`; `None` for plain EReLU.
    pub neg: Option<Param<Tensor<1>>>,
    /// Number of channels.
    pub channels: usize,
    /// Whether the layer draws slopes (cleared by `valid()` and `freeze`).
    pub training: Param<Flag>,
}

impl EReluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> ERelu {
        ERelu {
            alpha: self.alpha,
            neg: self
                .learn_neg
                .then(|| filled(self.channels, self.neg_init, device)),
            channels: self.channels,
            training: Param::from_bool(true),
        }
    }
}

impl ERelu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("ERelu", self.channels, &input.dims());
        if !peers::has_fused_kernel(&input) {
            return self.forward_composed(input);
        }
        let device = input.device();
        let side = RandomSide::Positive;
        let draw = if training(&self.training, &input) {
            RandomDraw::seeded(side, 1.0 - self.alpha, 1.0 + self.alpha, &device)
        } else {
            // k = 1 exactly: the deterministic function of evaluation.
            RandomDraw {
                side,
                low: 1.0,
                high: 1.0,
                seed: 0,
            }
        };
        let neg = match &self.neg {
            Some(neg) => neg.val(),
            None => Tensor::zeros([1], &device),
        };
        peers::random_slope(input, neg, draw)
    }

    /// [`ERelu::forward`] from tensor operations alone (the reference of the fused kernel, and
    /// the form every device without one takes).
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("ERelu", self.channels, &input.dims());
        let mut positive = input.clone().clamp_min(0.0);
        if training(&self.training, &input) {
            let k = input.random_like(Distribution::Uniform(1.0 - self.alpha, 1.0 + self.alpha));
            positive = positive * k;
        }
        match &self.neg {
            Some(neg) => positive + input.clamp_max(0.0) * on_channels::<D>(neg.val()),
            None => positive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{assert_same_on_every_layout, impl_two_forms};

    impl_two_forms!(ERelu);

    /// EPReLU on 3 channels with negative slopes 0.5, −1 and 0.1.
    fn eprelu(alpha: f64, device: &Device) -> ERelu {
        let mut layer = EReluConfig::new(3)
            .with_alpha(alpha)
            .with_learn_neg(true)
            .init(device);
        layer.neg = Some(Param::from_data([0.5, -1.0, 0.1], device));
        layer
    }

    fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// The slope each element of `x` (`[4, 3, 8, 8]`, away from 0) took in one training pass of
    /// `forward`, read from the input gradient of `sum(y)`, checked to be the slope of the output
    /// too (`y = slope·x`: the backward pass drew what the forward pass drew); with `x`.
    fn slopes_of_one_pass(forward: impl Fn(Tensor<4>) -> Tensor<4>) -> (Vec<f32>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let x = testing::away_from_zero([4, 3, 8, 8], &device).require_grad();
        let y = forward(x.clone());
        let grads = y.clone().sum().backward();
        let (xs, ys, slopes) = (flat(x.clone()), flat(y), flat(x.grad(&grads).unwrap()));
        for ((x, y), k) in xs.iter().zip(&ys).zip(&slopes) {
            assert!(
                (y - k * x).abs() <= 1e-5 * (1.0 + y.abs()),
                "{y} vs {k}·{x}"
            );
        }
        (xs, slopes)
    }

    #[test]
    fn the_fused_training_pass_draws_each_slope_once_for_both_passes() {
        let device = Device::flex().autodiff();
        let layer = eprelu(0.3, &device);
        let (xs, slopes) = slopes_of_one_pass(|x| layer.forward(x));
        let mut drawn = std::collections::HashSet::new();
        for (i, (x, k)) in xs.iter().zip(&slopes).enumerate() {
            if *x > 0.0 {
                assert!((0.7 - 1e-6..=1.3 + 1e-6).contains(k), "{k}");
                drawn.insert(k.to_bits());
            } else {
                assert_eq!(*k, [0.5, -1.0, 0.1][(i / 64) % 3]);
            }
        }
        assert!(
            drawn.len() > 300,
            "{} distinct positive slopes",
            drawn.len()
        );
        for form in [RReluForm::Divide, RReluForm::Multiply] {
            let (lower, upper) = form.default_range();
            let rrelu = RReluConfig::new()
                .with_form(form)
                .with_lower(lower)
                .with_upper(upper)
                .init();
            let (xs, slopes) = slopes_of_one_pass(|x| rrelu.forward(x));
            for (x, k) in xs.iter().zip(&slopes) {
                if *x > 0.0 {
                    assert_eq!(*k, 1.0);
                } else {
                    assert!(
                        (0.125 - 1e-6..=1.0 / 3.0 + 1e-6).contains(k),
                        "{form:?}: {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn eprelu_learns_the_same_slopes_fused_as_composed_while_training() {
        // The negative slopes' gradient does not depend on the positive side's draw.
        let device = Device::flex().autodiff();
        let layer = eprelu(ERELU_ALPHA, &device);
        let x = Tensor::<4>::random([4, 3, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([4, 3, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let grad = |y: Tensor<4>| {
            let grads = (y * w.clone()).sum().backward();
            flat(layer.neg.as_ref().unwrap().val().grad(&grads).unwrap())
        };
        let (fused, composed) = (
            grad(layer.forward(x.clone())),
            grad(layer.forward_composed(x)),
        );
        for (f, c) in fused.iter().zip(&composed) {
            assert!(
                (f - c).abs() <= 1e-4 * (1.0 + c.abs()),
                "{fused:?} vs {composed:?}"
            );
        }
    }

    #[test]
    fn fused_and_composed_elastic_relus_are_one_function_at_evaluation() {
        let device = Device::flex().autodiff();
        let mut layer = eprelu(ERELU_ALPHA, &device);
        layer.training = Param::from_bool(false);
        assert_same_on_every_layout(&layer, 3);
        let mut plain = EReluConfig::new(3).init(&device);
        plain.training = Param::from_bool(false);
        assert_same_on_every_layout(&plain, 3);
    }

    #[test]
    fn one_seed_gives_one_draw() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let draw = |seed| RandomDraw {
            side: RandomSide::NegativeTimes,
            low: 0.1,
            high: 0.9,
            seed,
        };
        let run = |seed| {
            flat(peers::random_slope(
                x.clone(),
                Tensor::zeros([1], &device),
                draw(seed),
            ))
        };
        assert_eq!(run(5), run(5));
        let (a, b) = (run(5), run(6));
        let negatives = flat(x.clone().lower_elem(0.0).float()).iter().sum::<f32>() as usize;
        let differ = a.iter().zip(&b).filter(|(a, b)| a != b).count();
        assert!(
            differ + 5 >= negatives,
            "{differ} of {negatives} negative outputs differ"
        );
    }

    /// The layer's training output at x = −1 on 64 × 64 elements, checked to lie in
    /// [−1/3, −1/8] (both forms' slopes span it), with the input.
    fn at_minus_one_while_training(layer: &RRelu) -> (Tensor<2>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::full([64, 64], -1.0, &device);
        let y = layer
            .forward(x.clone())
            .inner()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (lo, hi) = (-1.0 / 3.0 - 1e-6, -0.125 + 1e-6);
        assert!(
            y.iter().all(|v| (lo..=hi).contains(v)),
            "slopes out of range"
        );
        (x, y)
    }

    #[test]
    fn rrelu_draws_slopes_in_range_while_training_and_uses_the_mean_at_evaluation() {
        let layer = RReluConfig::new()
            .with_form(RReluForm::Multiply)
            .with_lower(RRELU_MUL_LOWER)
            .with_upper(RRELU_MUL_UPPER)
            .init();
        let (x, y) = at_minus_one_while_training(&layer);
        let distinct = y
            .iter()
            .map(|v| v.to_bits())
            .collect::<std::collections::HashSet<_>>();
        assert!(distinct.len() > 1000, "slopes are drawn per element");
        // Evaluation: `valid()` and a plain device both give the mean slope, every time.
        let mean = -(0.125 + 1.0 / 3.0) / 2.0;
        let eval = layer.valid().forward(x.clone().inner());
        testing::assert_close(
            eval,
            Tensor::full([64, 64], mean, &x.device().inner()),
            1e-6,
        );
        let plain = Tensor::<2>::from_data([[2.0, -3.0]], &Device::flex());
        testing::assert_close(
            layer.forward(plain.clone()),
            Tensor::from_data([[2.0, 3.0 * mean]], &Device::flex()),
            1e-6,
        );
    }

    #[test]
    fn rrelu_by_default_divides_by_a_draw_from_3_to_8_as_the_paper_does() {
        let layer = RReluConfig::new().init();
        let (_, y) = at_minus_one_while_training(&layer);
        // E[1/a] for a ~ U(3, 8) is ln(8/3)/5 ≈ 0.19617; the multiply form's mean is 0.22917.
        // The standard error over 4096 draws is ≈ 0.0009.
        let mean = -y.iter().map(|v| f64::from(*v)).sum::<f64>() / y.len() as f64;
        assert!((mean - (8.0f64 / 3.0).ln() / 5.0).abs() < 0.005, "{mean}");
        // Evaluation: x / 5.5, slope 2/11.
        let eval = layer.forward(Tensor::<1>::from_data([-11.0, 4.0], &Device::flex()));
        testing::assert_close(eval, Tensor::from_data([-2.0, 4.0], &Device::flex()), 1e-5);
    }

    #[test]
    fn erelu_is_elastic_on_the_positive_side_and_relu_at_evaluation() {
        let device = Device::flex().autodiff();
        let layer = EReluConfig::new(3).with_alpha(0.3).init(&device);
        assert_eq!(layer.num_params(), 0);
        let x = Tensor::<4>::full([4, 3, 8, 8], 2.0, &device);
        let y = layer
            .forward(x.clone())
            .inner()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(y.iter().all(|v| (1.4 - 1e-5..=2.6 + 1e-5).contains(v)));
        assert!(y.iter().any(|v| (v - 2.0).abs() > 0.05), "k is drawn");
        let neg = Tensor::<4>::full([4, 3, 8, 8], -2.0, &device);
        testing::assert_close(
            layer.forward(neg.clone()).inner(),
            neg.clone().inner() * 0.0,
            1e-6,
        );
        testing::assert_close(layer.valid().forward(x.clone().inner()), x.inner(), 1e-6);
    }

    #[test]
    fn eprelu_learns_a_negative_slope_per_channel() {
        let device = Device::flex();
        let mut layer = EReluConfig::new(2).with_learn_neg(true).init(&device);
        assert_eq!(layer.num_params(), 2);
        layer.neg = Some(Param::from_data([0.5, -1.0], &device));
        let x = Tensor::<3>::from_data([[[1.0, -2.0], [-4.0, 5.0]]], &device);
        testing::assert_close(
            layer.forward(x),
            Tensor::from_data([[[1.0, -1.0], [4.0, 5.0]]], &device),
            1e-6,
        );
        // Gradients, with the random positive side switched off (evaluation behaviour).
        let mut layer = EReluConfig::new(3).with_learn_neg(true).init(&device);
        layer.training = Param::from_bool(false);
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        testing::gradcheck(crate::Activation::ERelu(layer), x, 1e-2, 1e-2);
    }
}
