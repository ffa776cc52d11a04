//! PRenu, the parametric rectified nonlinear unit (El Jaafari, Ellahyani & Charfi, SIViP 2021).
//!
//! What is confirmed (the paper's abstract): `f(x) = x − α·log(x + 1)` for `x > 0`, `0` for
//! `x ≤ 0`, with `α` between 0 and 1. What is **not** confirmed, since the full text is not
//! available here: whether `α` is learned, per channel or per layer, and its initial value. This
//! layer learns `α` per channel (the "parametric" of the name), keeps it in `[0, 1]` by
//! projecting the stored value after each optimiser step (`prenu:bound=clamp`: by reading
//! `clamp(α, 0, 1)` in the forward pass instead, the layer before issue 30, under which an `α`
//! outside the range gets no gradient), and starts at `α = 0.5` by default (`prenu:ALPHA`).
//! All three are the project's choices.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::common::{check_input, filled, on_channels};
use super::{Constraint, ParamProjection, Projection};
use crate::ops::peers::{self, Pointwise};

/// PReNU's projection after each optimiser step: `α` kept in `[0, 1]`.
pub fn prenu_projections() -> Vec<ParamProjection> {
    vec![ParamProjection {
        owner: "Prenu",
        field: "alpha",
        projection: Projection::Clamp {
            low: 0.0,
            high: 1.0,
        },
    }]
}

/// The default initial `α` of [`PrenuConfig`].
pub const PRENU_ALPHA: f64 = 0.5;

/// Configuration of a [`Prenu`] layer.
#[derive(Config, Debug)]
pub struct PrenuConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Initial `α`, in `[0, 1]`.
    #[config(default = "PRENU_ALPHA")]
    pub alpha_init: f64,
    /// How `α` stays in `[0, 1]`.
    #[config(default = "Constraint::Project")]
    pub constraint: Constraint,
}

/// PRenu: `x − α[c]·log(1 + x)` for `x > 0`, `0` otherwise.
#[derive(Module, Debug)]
pub struct Prenu {
    /// `[channels]`.
    pub alpha: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
    /// How `α` stays in `[0, 1]`.
    #[module(skip)]
    pub constraint: Constraint,
}

impl PrenuConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> Prenu {
        Prenu {
            alpha: filled(self.channels, self.alpha_init, device),
            channels: self.channels,
            constraint: self.constraint,
        }
    }
}

impl Prenu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Prenu", self.channels, &input.dims());
        if peers::has_fused_kernel(&input) {
            return peers::pointwise(input, vec![self.read()], Pointwise::Prenu);
        }
        self.forward_composed(input)
    }

    /// `α` as the forward pass reads it (clamped into [0, 1] with `bound=clamp`).
    fn read(&self) -> Tensor<1> {
        match self.constraint {
            Constraint::Project => self.alpha.val(),
            Constraint::Clamp => self.alpha.val().clamp(0.0, 1.0),
        }
    }

    /// [`Prenu::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Prenu", self.channels, &input.dims());
        let alpha = on_channels::<D>(self.read());
        let positive = input.clamp_min(0.0);
        positive.clone() - positive.log1p() * alpha
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_in_inference, assert_same_on_every_layout, impl_two_forms,
    };

    impl_two_forms!(Prenu);

    #[test]
    fn follows_its_formula_and_keeps_alpha_in_range() {
        let device = Device::flex();
        let mut layer = PrenuConfig::new(3)
            .with_constraint(Constraint::Clamp)
            .init(&device);
        layer.alpha = Param::from_data([0.5, 2.0, -1.0], &device);
        let x = Tensor::<2>::from_data([[3.0, 3.0, 3.0], [-2.0, -2.0, -2.0]], &device);
        let l = 4.0f32.ln();
        let expected = [[3.0 - 0.5 * l, 3.0 - l, 3.0], [0.0, 0.0, 0.0]];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-6,
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let layer = PrenuConfig::new(3).init(&device);
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        testing::gradcheck(crate::Activation::Prenu(layer), x, 1e-2, 1e-2);
    }

    #[test]
    fn fused_kernel_is_the_composed_layer() {
        use burn::tensor::Distribution::Normal;
        let device = Device::flex().autodiff();
        for constraint in [Constraint::Project, Constraint::Clamp] {
            let mut layer = PrenuConfig::new(3)
                .with_constraint(constraint)
                .init(&device);
            layer.alpha = Param::from_data([0.5, 2.0, -1.0], &device);
            assert_same_on_every_layout(&layer, 3);
        }
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 5, 5], Normal(0.0, 2.0), &device);
        assert_same_in_inference(&PrenuConfig::new(3).init(&device), x);
    }
}
