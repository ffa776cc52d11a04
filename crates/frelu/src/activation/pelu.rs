//! The learnable exponential units: PELU (Trottier et al. 2017) and MPELU (Li et al. 2018).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::common::{check_input, filled, on_channels};

/// Smallest value PELU's `a` and `b` take in the forward pass. The paper keeps both positive by
/// clipping the stored parameters after each update; here the forward pass reads `max(p, 0.1)`
/// instead. That is not the same: the stored value may fall below 0.1 (momentum or weight decay
/// carry it on), and there the loss's gradient is zero, so nothing brings it back up, where the
/// authors' clipped parameter would sit at 0.1 and could rise again. A deviation from the
/// authors' form (README, *Learnable activations*).
pub const PELU_MIN: f64 = 0.1;

/// Configuration of a [`Pelu`] layer.
#[derive(Config, Debug)]
pub struct PeluConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Initial `a` (1: the layer starts as ELU).
    #[config(default = 1.0)]
    pub a_init: f64,
    /// Initial `b` (1: the layer starts as ELU).
    #[config(default = 1.0)]
    pub b_init: f64,
}

/// Parametric ELU: `(a/b)·x` for `x ≥ 0`, `a·(exp(x/b) − 1)` for `x < 0`, with `a, b > 0`
/// learned per channel.
#[derive(Module, Debug)]
pub struct Pelu {
    /// `[channels]`.
    pub a: Param<Tensor<1>>,
    /// `[channels]`.
    pub b: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
}

impl PeluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> Pelu {
        Pelu {
            a: filled(self.channels, self.a_init, device),
            b: filled(self.channels, self.b_init, device),
            channels: self.channels,
        }
    }
}

impl Pelu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Pelu", self.channels, &input.dims());
        let a = on_channels::<D>(self.a.val().clamp_min(PELU_MIN));
        let b = on_channels::<D>(self.b.val().clamp_min(PELU_MIN));
        let positive = input.clone().clamp_min(0.0) * (a.clone() / b.clone());
        // exp of the non-positive part only: no overflow on large positive inputs.
        let negative = ((input.clamp_max(0.0) / b).exp() - 1.0) * a;
        positive + negative
    }
}

/// The default initial `α` of [`MpeluConfig`] (the paper's).
pub const MPELU_ALPHA: f64 = 0.25;
/// The default initial `β` of [`MpeluConfig`] (the paper's).
pub const MPELU_BETA: f64 = 1.0;

/// Configuration of an [`Mpelu`] layer.
#[derive(Config, Debug)]
pub struct MpeluConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Initial `α` (the paper's 0.25; 1 with `β = 1` starts as ELU).
    #[config(default = "MPELU_ALPHA")]
    pub alpha_init: f64,
    /// Initial `β` (the paper's 1).
    #[config(default = "MPELU_BETA")]
    pub beta_init: f64,
}

/// Multiple parametric ELU: `x` for `x > 0`, `α·(exp(β·x) − 1)` for `x ≤ 0`, `α` and `β` learned
/// per channel. `β` is read as `max(β, 0)` (a negative `β` would make the negative side grow
/// without bound); `α` is free, so MPELU covers ReLU (`α = 0`), PReLU-like (`β → 0` with `αβ`
/// fixed) and ELU (`α = β = 1`).
#[derive(Module, Debug)]
pub struct Mpelu {
    /// `[channels]`.
    pub alpha: Param<Tensor<1>>,
    /// `[channels]`.
    pub beta: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
}

impl MpeluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> Mpelu {
        Mpelu {
            alpha: filled(self.channels, self.alpha_init, device),
            beta: filled(self.channels, self.beta_init, device),
            channels: self.channels,
        }
    }
}

impl Mpelu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Mpelu", self.channels, &input.dims());
        let alpha = on_channels::<D>(self.alpha.val());
        let beta = on_channels::<D>(self.beta.val().clamp_min(0.0));
        let negative = ((input.clone().clamp_max(0.0) * beta).exp() - 1.0) * alpha;
        input.clamp_min(0.0) + negative
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
    use crate::activation::common::testing;
    use burn::tensor::{Tolerance, activation};

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn pelu_starts_as_elu_and_follows_its_formula() {
        let device = device();
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        let layer = PeluConfig::new(3).init(&device);
        layer
            .forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &activation::elu(x, 1.0).into_data(),
                Tolerance::absolute(1e-6),
            );
        let mut layer = PeluConfig::new(1).init(&device);
        layer.a = Param::from_data([2.0], &device);
        layer.b = Param::from_data([0.5], &device);
        let x = Tensor::<2>::from_data([[3.0], [-1.0]], &device);
        // 3·(2/0.5) = 12; 2·(exp(−1/0.5) − 1).
        let expected = [[12.0], [2.0 * ((-2.0f32).exp() - 1.0)]];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-5,
        );
    }

    #[test]
    fn pelu_parameters_stay_positive() {
        let device = device();
        let mut layer = PeluConfig::new(1).init(&device);
        layer.a = Param::from_data([-3.0], &device);
        let y = layer.forward(Tensor::<2>::from_data([[1.0]], &device));
        assert!((y.into_scalar::<f32>() - PELU_MIN as f32).abs() < 1e-6);
    }

    #[test]
    fn mpelu_follows_its_formula() {
        let device = device();
        let layer = MpeluConfig::new(2).init(&device);
        let x = Tensor::<2>::from_data([[2.0, -1.0]], &device);
        let expected = [[2.0, 0.25 * ((-1.0f32).exp() - 1.0)]];
        layer
            .forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &Tensor::<2>::from_data(expected, &device).into_data(),
                Tolerance::absolute(1e-6),
            );
        // α = β = 1 is ELU.
        let elu = MpeluConfig::new(2).with_alpha_init(1.0).init(&device);
        elu.forward(x.clone()).into_data().assert_approx_eq::<f32>(
            &activation::elu(x, 1.0).into_data(),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = device();
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        let mut pelu = PeluConfig::new(3).init(&device);
        pelu.a = Param::from_data([0.8, 1.2, 1.5], &device);
        pelu.b = Param::from_data([0.7, 1.0, 2.0], &device);
        testing::gradcheck(Activation::Pelu(pelu), x.clone(), 1e-2, 1e-2);
        let mpelu = MpeluConfig::new(3).init(&device);
        testing::gradcheck(Activation::Mpelu(mpelu), x, 1e-2, 1e-2);
    }
}
