//! The learnable exponential units: PELU (Trottier et al. 2017) and MPELU (Li et al. 2018).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::common::{check_input, filled, on_channels};
use super::{Constraint, ParamProjection, Projection, SlopeSharing};
use crate::ops::peers::{self, Pointwise};

/// PELU's lower bound on `a` and `b` (the authors' 0.1). With [`Constraint::Project`] (the
/// default) a stored value at or below it is reset to [`PELU_RESET_LOW`] after each optimiser
/// step, as the authors' `ConstrainedMul`/`ConstrainedDiv` do; with [`Constraint::Clamp`] (the
/// project's layer before issue 30) the forward pass reads `max(p, 0.1)` and a value below it
/// gets no gradient, so it never comes back.
pub const PELU_MIN: f64 = 0.1;
/// What the authors reset a value at or below [`PELU_MIN`] to.
pub const PELU_RESET_LOW: f64 = 0.11;
/// The authors' upper bound on `a` (none on `b`).
pub const PELU_A_MAX: f64 = 2.0;
/// What the authors reset an `a` at or above [`PELU_A_MAX`] to.
pub const PELU_RESET_HIGH: f64 = 1.99;

/// The projections of PELU's authors, applied after each optimiser step: `a` kept in
/// `(0.1, 2)`, `b` above 0.1.
pub fn pelu_projections() -> Vec<ParamProjection> {
    let low = |high| Projection::Reset {
        low: PELU_MIN,
        low_reset: PELU_RESET_LOW,
        high,
    };
    vec![
        ParamProjection {
            owner: "Pelu",
            field: "a",
            projection: low(Some((PELU_A_MAX, PELU_RESET_HIGH))),
        },
        ParamProjection {
            owner: "Pelu",
            field: "b",
            projection: low(None),
        },
    ]
}

/// Configuration of a [`Pelu`] layer. The defaults are the authors' form (Trottier et al.'s
/// Torch code): one `(a, b)` per layer, kept in range by projection after each step.
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
    /// One `(a, b)` per layer (the authors') or per channel (`pelu:per=channel`).
    #[config(default = "SlopeSharing::Layer")]
    pub sharing: SlopeSharing,
    /// How `a` and `b` stay positive (see [`PELU_MIN`]).
    #[config(default = "Constraint::Project")]
    pub constraint: Constraint,
}

/// Parametric ELU: `(a/b)·x` for `x ≥ 0`, `a·(exp(x/b) − 1)` for `x < 0`, with `a, b > 0`
/// learned per layer (the authors') or per channel.
#[derive(Module, Debug)]
pub struct Pelu {
    /// `[1]` (per layer) or `[channels]`.
    pub a: Param<Tensor<1>>,
    /// `[1]` (per layer) or `[channels]`.
    pub b: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
    /// How `a` and `b` stay positive.
    #[module(skip)]
    pub constraint: Constraint,
}

impl PeluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> Pelu {
        let len = match self.sharing {
            SlopeSharing::Channel => self.channels,
            SlopeSharing::Layer => 1,
        };
        Pelu {
            a: filled(len, self.a_init, device),
            b: filled(len, self.b_init, device),
            channels: self.channels,
            constraint: self.constraint,
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
        if peers::has_fused_kernel(&input) {
            let (a, b) = self.read();
            return peers::pointwise(input, vec![a, b], Pointwise::Pelu);
        }
        self.forward_composed(input)
    }

    /// `(a, b)` as the forward pass reads them (clamped at [`PELU_MIN`] with `bound=clamp`).
    fn read(&self) -> (Tensor<1>, Tensor<1>) {
        let read = |p: &Param<Tensor<1>>| match self.constraint {
            Constraint::Project => p.val(),
            Constraint::Clamp => p.val().clamp_min(PELU_MIN),
        };
        (read(&self.a), read(&self.b))
    }

    /// [`Pelu::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Pelu", self.channels, &input.dims());
        let (a, b) = self.read();
        let (a, b) = (on_channels::<D>(a), on_channels::<D>(b));
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
    /// Read `β` as `max(β, 0)` in the forward pass (`mpelu:clamp`, the project's layer before
    /// issue 30). The authors' layer (the default) leaves `β` free.
    #[config(default = false)]
    pub clamp_beta: bool,
}

/// Multiple parametric ELU: `x` for `x > 0`, `α·(exp(β·x) − 1)` for `x ≤ 0`, `α` and `β` learned
/// per channel, both free as in the authors' code (a negative `β` makes the negative side grow
/// like `α·e^{|β||x|}`; the authors accept it). MPELU covers ReLU (`α = 0`), PReLU-like (`β → 0`
/// with `αβ` fixed) and ELU (`α = β = 1`).
#[derive(Module, Debug)]
pub struct Mpelu {
    /// `[channels]`.
    pub alpha: Param<Tensor<1>>,
    /// `[channels]`.
    pub beta: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
    /// Read `β` as `max(β, 0)` (see [`MpeluConfig::clamp_beta`]).
    pub clamp_beta: bool,
}

impl MpeluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> Mpelu {
        Mpelu {
            alpha: filled(self.channels, self.alpha_init, device),
            beta: filled(self.channels, self.beta_init, device),
            channels: self.channels,
            clamp_beta: self.clamp_beta,
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
        if peers::has_fused_kernel(&input) {
            let (alpha, beta) = self.read();
            return peers::pointwise(input, vec![alpha, beta], Pointwise::Mpelu);
        }
        self.forward_composed(input)
    }

    /// `(α, β)` as the forward pass reads them (`β` clamped at 0 with `mpelu:clamp`).
    fn read(&self) -> (Tensor<1>, Tensor<1>) {
        let beta = self.beta.val();
        let beta = if self.clamp_beta {
            beta.clamp_min(0.0)
        } else {
            beta
        };
        (self.alpha.val(), beta)
    }

    /// [`Mpelu::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Mpelu", self.channels, &input.dims());
        let (alpha, beta) = self.read();
        let (alpha, beta) = (on_channels::<D>(alpha), on_channels::<D>(beta));
        let negative = ((input.clone().clamp_max(0.0) * beta).exp() - 1.0) * alpha;
        input.clamp_min(0.0) + negative
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_function, assert_same_in_inference, impl_two_forms,
    };

    impl_two_forms!(Pelu, Mpelu);
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
    fn pelu_is_per_layer_by_default_and_per_channel_on_request() {
        let device = device();
        let layer = PeluConfig::new(8).init(&device);
        assert_eq!(layer.num_params(), 2);
        let channel = PeluConfig::new(8)
            .with_sharing(SlopeSharing::Channel)
            .init(&device);
        assert_eq!(channel.num_params(), 16);
        // One (a, b) applies to every channel.
        let mut layer = PeluConfig::new(2).init(&device);
        layer.a = Param::from_data([2.0], &device);
        let x = Tensor::<2>::from_data([[1.0, 3.0]], &device);
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data([[2.0, 6.0]], &device),
            1e-6,
        );
    }

    #[test]
    fn pelu_bounds_are_a_projection_by_default_and_a_clamp_on_request() {
        let device = device();
        let one = Tensor::<2>::from_data([[1.0]], &device);
        let mut projected = PeluConfig::new(1).init(&device);
        projected.a = Param::from_data([0.05], &device);
        // The authors' layer reads the stored value: the projection after the step keeps it
        // in range (`schedule::Projected`).
        let y = projected.forward(one.clone()).into_scalar::<f32>();
        assert!((y - 0.05).abs() < 1e-6, "{y}");
        let mut clamped = PeluConfig::new(1)
            .with_constraint(Constraint::Clamp)
            .init(&device);
        clamped.a = Param::from_data([-3.0], &device);
        let y = clamped.forward(one).into_scalar::<f32>();
        assert!((y - PELU_MIN as f32).abs() < 1e-6, "{y}");
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
        let mut pelu = PeluConfig::new(3)
            .with_sharing(SlopeSharing::Channel)
            .init(&device);
        pelu.a = Param::from_data([0.8, 1.2, 1.5], &device);
        pelu.b = Param::from_data([0.7, 1.0, 2.0], &device);
        testing::gradcheck(Activation::Pelu(pelu), x.clone(), 1e-2, 1e-2);
        let mpelu = MpeluConfig::new(3).init(&device);
        testing::gradcheck(Activation::Mpelu(mpelu), x.clone(), 1e-2, 1e-2);
        let shared = PeluConfig::new(3)
            .with_a_init(1.3)
            .with_b_init(0.8)
            .init(&device);
        testing::gradcheck(Activation::Pelu(shared), x, 1e-2, 1e-2);
    }

    #[test]
    fn mpelu_beta_is_free_as_the_authors_have_it_and_clamped_on_request() {
        let device = device();
        let x = Tensor::<2>::from_data([[-1.0]], &device);
        let mut free = MpeluConfig::new(1).init(&device);
        free.beta = Param::from_data([-0.5], &device);
        // 0.25·(e^{0.5} − 1).
        let y = free.forward(x.clone()).into_scalar::<f32>();
        assert!((y - 0.162_180_3).abs() < 1e-6, "{y}");
        let mut clamped = MpeluConfig::new(1).with_clamp_beta(true).init(&device);
        clamped.beta = Param::from_data([-0.5], &device);
        assert_eq!(clamped.forward(x).into_scalar::<f32>(), 0.0);
    }

    /// Inputs of both signs around every kink, in a `[3, C, 9, 7]` tensor and a `[16, C]` one.
    fn inputs(channels: usize, device: &Device) -> (Tensor<4>, Tensor<2>) {
        use burn::tensor::Distribution::Normal;
        (
            Tensor::random([3, channels, 9, 7], Normal(0.0, 2.0), device),
            Tensor::random([16, channels], Normal(0.0, 2.0), device),
        )
    }

    #[test]
    fn fused_kernels_are_the_composed_layers() {
        let device = Device::flex().autodiff();
        for (sharing, constraint) in [
            (SlopeSharing::Layer, Constraint::Project),
            (SlopeSharing::Channel, Constraint::Clamp),
        ] {
            let mut layer = PeluConfig::new(4)
                .with_sharing(sharing)
                .with_constraint(constraint)
                .init(&device);
            if sharing == SlopeSharing::Channel {
                // One b below the clamp's bound, where the clamp's zero gradient shows.
                layer.a = Param::from_data([0.5, 1.0, 1.5, 2.0], &device);
                layer.b = Param::from_data([0.05, 0.7, 1.3, 2.5], &device);
            }
            let (x4, x2) = inputs(4, &device);
            assert_same_function(&layer, x4.clone(), 1e-4);
            assert_same_function(&layer, x4.swap_dims(2, 3), 1e-4);
            let layer = PeluConfig::new(4).with_sharing(sharing).init(&device);
            assert_same_function(&layer, x2, 1e-4);
        }
        for clamp_beta in [false, true] {
            let mut layer = MpeluConfig::new(4)
                .with_clamp_beta(clamp_beta)
                .init(&device);
            layer.alpha = Param::from_data([0.25, -0.5, 1.0, 2.0], &device);
            layer.beta = Param::from_data([1.0, 0.5, -0.3, 2.0], &device);
            let (x4, x2) = inputs(4, &device);
            assert_same_function(&layer, x4, 1e-4);
            assert_same_function(&layer, x2, 1e-4);
        }
    }

    #[test]
    fn fused_kernels_in_inference() {
        let device = Device::flex();
        let (x, _) = inputs(3, &device);
        assert_same_in_inference(&PeluConfig::new(3).init(&device), x.clone());
        assert_same_in_inference(&MpeluConfig::new(3).init(&device), x);
    }
}
