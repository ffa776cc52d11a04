//! PAU, the Padé activation unit (Molina, Schramowski & Kersting, ICLR 2020), in its "safe"
//! form.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use serde::{Deserialize, Serialize};

use super::common::scalar;
use crate::ops::peers;

/// Numerator coefficients `a_0 … a_5` of the authors' fit of leaky ReLU (slope 0.01) on
/// `[−3, 3]` (`pade_optimized_leakyrelu` in their code), the initialisation the paper uses.
pub const PAU_LEAKY_NUMERATOR: [f64; 6] = [
    3.355_836_03e-2,
    5.050_003_75e-1,
    1.653_439_34,
    2.010_010_52,
    9.319_019_99e-1,
    1.524_241_24e-1,
];

/// Denominator coefficients `b_1 … b_4` of the same fit.
pub const PAU_LEAKY_DENOMINATOR: [f64; 4] = [
    3.308_474_88e-6,
    3.980_215_68,
    5.124_712_06e-7,
    3.018_301_09e-1,
];

/// The denominator of a safe PAU. Both are at least 1, so never a pole; they agree at the
/// authors' initialisation (to 1e−4 on `[−3, 3]`) and part once `b` moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PauVersion {
    /// `Q(x) = 1 + |b_1|·|x| + |b_2|·|x|² + |b_3|·|x|³ + |b_4|·|x|⁴`: the official default (the
    /// `5_4` kernel of `ml-research/pau`, "version A" of `rational_activations`).
    #[default]
    A,
    /// `Q(x) = 1 + |b_1·x + b_2·x² + b_3·x³ + b_4·x⁴|` (`pau:version=b`, the project's layer
    /// before issue 30).
    B,
}

impl PauVersion {
    /// The word of the activation strings (`version=a`, `version=b`).
    pub fn word(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }
}

/// Configuration of a [`Pau`] layer: degrees (5, 4), one set of coefficients per layer.
#[derive(Config, Debug)]
pub struct PauConfig {
    /// The denominator's form (the authors' default: A).
    #[config(default = "PauVersion::A")]
    pub version: PauVersion,
}

/// Safe PAU: `P(x) / Q(x)` with `P(x) = a_0 + a_1·x + … + a_5·x⁵` and `Q` of [`PauVersion`],
/// the ten coefficients learned and shared by every channel of the layer.
#[derive(Module, Debug)]
pub struct Pau {
    /// `[6]`: `a_0 … a_5`.
    pub numerator: Param<Tensor<1>>,
    /// `[4]`: `b_1 … b_4`.
    pub denominator: Param<Tensor<1>>,
    /// The denominator's form.
    #[module(skip)]
    pub version: PauVersion,
}

impl PauConfig {
    /// Build the layer on `device`, starting from the authors' leaky-ReLU fit.
    pub fn init(&self, device: &Device) -> Pau {
        let vector = |values: &[f64]| {
            Param::from_tensor(Tensor::from_data(
                TensorData::new(values.to_vec(), [values.len()]),
                device,
            ))
        };
        Pau {
            numerator: vector(&PAU_LEAKY_NUMERATOR),
            denominator: vector(&PAU_LEAKY_DENOMINATOR),
            version: self.version,
        }
    }
}

impl Pau {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: any shape
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if peers::has_fused_kernel(&input) {
            let (a, b) = (self.numerator.val(), self.denominator.val());
            return peers::pau(input, a, b, self.version == PauVersion::A);
        }
        self.forward_composed(input)
    }

    /// [`Pau::forward`] composed of tensor operations (what runs where there is no fused
    /// kernel; the reference the fused one is tested against).
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let (a, b) = (self.numerator.val(), self.denominator.val());
        // Horner: P = a_0 + x·(a_1 + x·(… + x·a_5)).
        let mut p = scalar::<D>(&a, 5) * input.clone();
        for i in (1..5).rev() {
            p = (p + scalar::<D>(&a, i)) * input.clone();
        }
        let p = p + scalar::<D>(&a, 0);
        let q = match self.version {
            PauVersion::A => {
                // Horner on |x| with |b_k|: Σ |b_k|·|x|^k.
                let (x, b) = (input.abs(), b.abs());
                let mut q = scalar::<D>(&b, 3) * x.clone();
                for i in (0..3).rev() {
                    q = (q + scalar::<D>(&b, i)) * x.clone();
                }
                q
            }
            PauVersion::B => {
                let mut q = scalar::<D>(&b, 3) * input.clone();
                for i in (0..3).rev() {
                    q = (q + scalar::<D>(&b, i)) * input.clone();
                }
                q.abs()
            }
        };
        p / (q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_function, assert_same_in_inference, impl_two_forms,
    };

    impl_two_forms!(Pau);
    use burn::tensor::Distribution;

    #[test]
    fn starts_as_the_papers_leaky_relu_fit() {
        let device = Device::flex();
        let layer = PauConfig::new().init(&device);
        let xs: Vec<f32> = (0..=600).map(|i| -3.0 + i as f32 * 0.01).collect();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device);
        let y = layer.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let worst = xs
            .iter()
            .zip(&y)
            .map(|(x, y)| (y - if *x > 0.0 { *x } else { 0.01 * x }).abs())
            .fold(0.0f32, f32::max);
        // The fit's largest error on [−3, 3] is its offset at 0 (a_0 ≈ 0.034).
        assert!(worst < 0.035, "largest error {worst}");
    }

    #[test]
    fn follows_its_formula_in_both_versions() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data([[2.0, -1.0]], &device);
        // x = 2: P = 1 + 4 + 32 = 37; x = −1: P = −2.
        // Version A: Q(2) = 1 + |−1|·2 + |0.5|·16 = 11, Q(−1) = 1 + 1 + 0.5.
        // Version B: Q(2) = 1 + |−2 + 8| = 7, Q(−1) = 1 + |1 + 0.5|.
        for (version, expected) in [
            (PauVersion::A, [[37.0 / 11.0, -2.0 / 2.5]]),
            (PauVersion::B, [[37.0 / 7.0, -2.0 / 2.5]]),
        ] {
            let mut layer = PauConfig::new().with_version(version).init(&device);
            layer.numerator = Param::from_data([1.0, 2.0, 0.0, 0.0, 0.0, 1.0], &device);
            layer.denominator = Param::from_data([-1.0, 0.0, 0.0, 0.5], &device);
            testing::assert_close(
                layer.forward(x.clone()),
                Tensor::<2>::from_data(expected, &device),
                1e-5,
            );
        }
    }

    #[test]
    fn versions_agree_at_the_authors_initialisation() {
        let device = Device::flex();
        let xs: Vec<f32> = (0..=600).map(|i| -3.0 + i as f32 * 0.01).collect();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device);
        let run = |version| {
            let layer = PauConfig::new().with_version(version).init(&device);
            layer.forward(x.clone())
        };
        testing::assert_close(run(PauVersion::A), run(PauVersion::B), 1e-4);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let x = testing::away_from_zero([2, 2, 3, 3], &device);
        let mut b = PauConfig::new().with_version(PauVersion::B).init(&device);
        // b_1·x + b_3·x³ = x·(0.4 + 0.1·x²) is zero only at 0, where no input is: no kink of abs.
        b.denominator = Param::from_data([0.4, 0.0, 0.1, 0.0], &device);
        testing::gradcheck(crate::Activation::Pau(b), x.clone(), 1e-3, 2e-2);
        // Version A has kinks where a b_k or x is 0: keep every one away from it.
        let mut a = PauConfig::new().init(&device);
        a.denominator = Param::from_data([0.4, -0.2, 0.1, 0.05], &device);
        testing::gradcheck(crate::Activation::Pau(a), x, 1e-3, 2e-2);
    }

    #[test]
    fn fused_kernel_is_the_composed_layer() {
        let device = Device::flex().autodiff();
        for version in [PauVersion::A, PauVersion::B] {
            let mut layer = PauConfig::new().with_version(version).init(&device);
            // Coefficients of both signs, so that every sign(b_k) and sign(R) branch is taken.
            layer.numerator = Param::from_data([0.1, 0.9, 0.3, -0.2, 0.05, -0.01], &device);
            layer.denominator = Param::from_data([0.4, -0.3, 0.2, -0.05], &device);
            let x = Tensor::<4>::random([3, 4, 9, 7], Distribution::Normal(0.0, 2.0), &device);
            // A transposed (non-contiguous) input takes the same kernel.
            assert_same_function(&layer, x.clone(), 1e-4);
            assert_same_function(&layer, x.swap_dims(2, 3), 1e-4);
            // The authors' initialisation, and a rank-2 input (a fully connected layer).
            let layer = PauConfig::new().with_version(version).init(&device);
            let x = Tensor::<2>::random([16, 33], Distribution::Normal(0.0, 2.0), &device);
            assert_same_function(&layer, x, 1e-4);
        }
    }

    #[test]
    fn fused_kernel_in_inference() {
        let device = Device::flex();
        let layer = PauConfig::new().init(&device);
        let x = Tensor::<4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 2.0), &device);
        assert_same_in_inference(&layer, x);
    }
}
