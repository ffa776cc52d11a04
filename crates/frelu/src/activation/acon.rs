//! ACON-C (Ma et al., *Activate or Not*, CVPR 2021).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, activation};

use super::common::{check_input, drawn, filled, on_channels};
use crate::ops::peers::{self, Pointwise};

/// Configuration of an [`AconC`] layer.
#[derive(Config, Debug)]
pub struct AconCConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
}

/// ACON-C: `(p1 − p2)·x·σ(β·(p1 − p2)·x) + p2·x`, with `p1`, `p2`, `β` learned per channel.
/// Initialised as the authors' code does: `p1, p2 ~ N(0, 1)`, `β = 1`.
#[derive(Module, Debug)]
pub struct AconC {
    /// `[channels]`.
    pub p1: Param<Tensor<1>>,
    /// `[channels]`.
    pub p2: Param<Tensor<1>>,
    /// `[channels]`: the switching factor (large: max(p1·x, p2·x); 0: the mean of the two).
    pub beta: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
}

impl AconCConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> AconC {
        let normal = Distribution::Normal(0.0, 1.0);
        AconC {
            p1: drawn([self.channels], normal, device),
            p2: drawn([self.channels], normal, device),
            beta: filled(self.channels, 1.0, device),
            channels: self.channels,
        }
    }
}

impl AconC {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("AconC", self.channels, &input.dims());
        if peers::has_fused_kernel(&input) {
            let params = vec![self.p1.val(), self.p2.val(), self.beta.val()];
            return peers::pointwise(input, params, Pointwise::AconC);
        }
        self.forward_composed(input)
    }

    /// [`AconC::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("AconC", self.channels, &input.dims());
        let p1 = on_channels::<D>(self.p1.val());
        let p2 = on_channels::<D>(self.p2.val());
        let beta = on_channels::<D>(self.beta.val());
        let d = input.clone() * (p1 - p2.clone());
        d.clone() * activation::sigmoid(d * beta) + input * p2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_in_inference, assert_same_on_every_layout, impl_two_forms,
    };

    impl_two_forms!(AconC);

    #[test]
    fn follows_its_formula_and_its_limits() {
        let device = Device::flex();
        let mut layer = AconCConfig::new(2).init(&device);
        layer.p1 = Param::from_data([1.0, 1.0], &device);
        layer.p2 = Param::from_data([0.0, 0.25], &device);
        layer.beta = Param::from_data([1.0, 1000.0], &device);
        let x = Tensor::<2>::from_data([[2.0, 2.0], [-2.0, -2.0]], &device);
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        // Channel 0 is Swish; channel 1 (β → ∞) is PReLU with slope 0.25.
        let expected = [[2.0 * sig(2.0), 2.0], [-2.0 * sig(-2.0), -0.5]];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-5,
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let layer = AconCConfig::new(3).init(&device);
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        testing::gradcheck(crate::Activation::AconC(layer), x, 1e-2, 1e-2);
    }

    #[test]
    fn fused_kernel_is_the_composed_layer() {
        use burn::tensor::Distribution::Normal;
        let device = Device::flex().autodiff();
        let mut layer = AconCConfig::new(3).init(&device);
        layer.p1 = Param::from_data([1.0, 0.5, -0.2], &device);
        layer.p2 = Param::from_data([0.0, 0.25, 0.4], &device);
        layer.beta = Param::from_data([1.0, 3.0, -0.5], &device);
        assert_same_on_every_layout(&layer, 3);
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 5, 5], Normal(0.0, 2.0), &device);
        assert_same_in_inference(&AconCConfig::new(3).init(&device), x);
    }
}
