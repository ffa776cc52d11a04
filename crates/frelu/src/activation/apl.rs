//! APL, the adaptive piecewise linear unit (Agostinelli et al., ICLR workshop 2015).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::common::{check_input, drawn, on_channels};
use crate::ops::peers;

/// The default number of hinges of [`AplConfig`] (the authors' CIFAR-10 setting).
pub const APL_HINGES: usize = 5;
/// The half-width of the hinge slopes' draw in the project's layer before issue 30 (the
/// authors' paper-era files and README: `U(−0.2, 0.2)`).
pub const APL_LEGACY_A_RANGE: f64 = 0.2;

/// Configuration of an [`Apl`] layer.
///
/// The authors learn the hinges per neuron (every channel and position); this layer learns
/// them per channel, which lets one layer take any input size (a documented variant, not the
/// authors' form).
#[derive(Config, Debug)]
pub struct AplConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Number of hinges `S` (the authors' CIFAR-10 setting: 5).
    #[config(default = "APL_HINGES")]
    pub hinges: usize,
    /// Half-width of the uniform draw of the hinge slopes `a`; `None` = `0.5/S`, the default
    /// of the authors' released layer (their CIFAR-10 files use 0.5, their paper-era files 0.2).
    pub a_range: Option<f64>,
    /// Standard deviation of the normal draw of the hinge positions `b` (the authors' 0.5).
    #[config(default = 0.5)]
    pub b_std: f64,
}

/// APL: `max(0, x) + Σ_s a[s, c]·max(0, −x + b[s, c])`, S hinges learned per channel.
#[derive(Module, Debug)]
pub struct Apl {
    /// Hinge slopes `[S, channels]`.
    pub a: Param<Tensor<2>>,
    /// Hinge positions `[S, channels]`.
    pub b: Param<Tensor<2>>,
    /// Number of channels.
    pub channels: usize,
}

impl AplConfig {
    /// The half-width of the slopes' draw: `a_range`, or `0.5/S`.
    pub fn a_half_width(&self) -> f64 {
        self.a_range.unwrap_or(0.5 / self.hinges as f64)
    }

    /// Build the layer on `device`, drawing `a ~ U(−r, r)` ([`AplConfig::a_half_width`]) and
    /// `b ~ N(0, b_std)` as the authors' code does.
    pub fn init(&self, device: &Device) -> Apl {
        assert!(self.hinges > 0, "APL needs at least one hinge");
        let shape = [self.hinges, self.channels];
        let r = self.a_half_width();
        Apl {
            a: drawn(shape, Distribution::Uniform(-r, r), device),
            b: drawn(shape, Distribution::Normal(0.0, self.b_std), device),
            channels: self.channels,
        }
    }
}

impl Apl {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Apl", self.channels, &input.dims());
        if peers::has_fused_kernel(&input) {
            return peers::apl(input, self.a.val(), self.b.val());
        }
        self.forward_composed(input)
    }

    /// [`Apl::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Apl", self.channels, &input.dims());
        let (a, b) = (self.a.val(), self.b.val());
        let hinges = a.dims()[0];
        let mut output = input.clone().clamp_min(0.0);
        for s in 0..hinges {
            let row = |t: &Tensor<2>| {
                on_channels::<D>(t.clone().slice(s..s + 1).reshape([self.channels]))
            };
            output = output + (row(&b) - input.clone()).clamp_min(0.0) * row(&a);
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_function, assert_same_in_inference, impl_two_forms,
    };

    impl_two_forms!(Apl);

    #[test]
    fn follows_its_formula() {
        let device = Device::flex();
        let mut layer = AplConfig::new(2).with_hinges(2).init(&device);
        // Channel 0: hinges (a, b) = (0.5, 1), (−1, −2); channel 1: (2, 0), (0, 0).
        layer.a = Param::from_data([[0.5, 2.0], [-1.0, 0.0]], &device);
        layer.b = Param::from_data([[1.0, 0.0], [-2.0, 0.0]], &device);
        let x = Tensor::<2>::from_data([[-3.0, -3.0], [0.5, 0.5], [2.0, 2.0]], &device);
        let expected = [
            // x = −3: 0 + 0.5·4 − 1·1 = 1; 0 + 2·3 = 6.
            [1.0, 6.0],
            // x = 0.5: 0.5 + 0.5·0.5 = 0.75; 0.5 + 0 = 0.5.
            [0.75, 0.5],
            [2.0, 2.0],
        ];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-6,
        );
    }

    #[test]
    fn initial_parameters_follow_the_authors_draws() {
        let device = Device::flex();
        device.seed(3);
        let layer = AplConfig::new(64).init(&device);
        assert_eq!(layer.a.val().dims(), [5, 64]);
        let a = layer.a.val().into_data().try_to_vec::<f32>().unwrap();
        // The released layer's 0.5/S = 0.1 at S = 5, spread over the whole range.
        assert!(a.iter().all(|v| v.abs() <= 0.1));
        assert!(a.iter().any(|v| v.abs() > 0.09));
        let legacy = AplConfig::new(64)
            .with_a_range(Some(APL_LEGACY_A_RANGE))
            .init(&device);
        let a = legacy.a.val().into_data().try_to_vec::<f32>().unwrap();
        assert!(a.iter().all(|v| v.abs() <= 0.2) && a.iter().any(|v| v.abs() > 0.18));
        let b = layer.b.val().into_data().try_to_vec::<f32>().unwrap();
        let std = (b.iter().map(|v| v * v).sum::<f32>() / b.len() as f32).sqrt();
        assert!((0.4..0.6).contains(&std), "b's spread {std}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let mut layer = AplConfig::new(3).with_hinges(2).init(&device);
        // Hinges away from the inputs' ±[0.25, 2.5] and from 0, so no step crosses a kink.
        layer.b = Param::from_data([[0.1, 2.8, -0.15], [-2.9, 0.12, 3.0]], &device);
        let x = testing::away_from_zero([2, 3, 4, 4], &device);
        testing::gradcheck(crate::Activation::Apl(layer), x, 1e-3, 2e-2);
    }

    #[test]
    fn fused_kernel_is_the_composed_layer() {
        let device = Device::flex().autodiff();
        // Hinges wide enough that many inputs sit on each side of every one.
        let layer = AplConfig::new(4).with_a_range(Some(1.0)).init(&device);
        let x = Tensor::<4>::random([3, 4, 17, 19], Distribution::Normal(0.0, 1.0), &device);
        // 17·19 elements per plane leave a remainder after the blocks and the accumulator
        // lanes; a transposed (non-contiguous) input takes the same kernel.
        assert_same_function(&layer, x.clone(), 1e-4);
        assert_same_function(&layer, x.swap_dims(2, 3), 1e-4);
        // A rank-2 input (a fully connected layer): planes of one element.
        let layer = AplConfig::new(33).with_hinges(3).init(&device);
        let x = Tensor::<2>::random([16, 33], Distribution::Normal(0.0, 1.0), &device);
        assert_same_function(&layer, x, 1e-4);
    }

    #[test]
    fn fused_kernel_in_inference() {
        let device = Device::flex();
        let layer = AplConfig::new(3).with_a_range(Some(1.0)).init(&device);
        let x = Tensor::<4>::random([2, 3, 30, 30], Distribution::Normal(0.0, 1.0), &device);
        assert_same_in_inference(&layer, x);
    }
}
