//! PAU, the Padé activation unit (Molina, Schramowski & Kersting, ICLR 2020), in its "safe"
//! form.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::common::scalar;

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

/// Configuration of a [`Pau`] layer: degrees (5, 4), one set of coefficients per layer.
#[derive(Config, Debug)]
pub struct PauConfig {}

/// Safe PAU: `P(x) / Q(x)` with `P(x) = a_0 + a_1·x + … + a_5·x⁵` and
/// `Q(x) = 1 + |b_1·x + b_2·x² + b_3·x³ + b_4·x⁴|` (never below 1, so never a pole), the ten
/// coefficients learned and shared by every channel of the layer.
#[derive(Module, Debug)]
pub struct Pau {
    /// `[6]`: `a_0 … a_5`.
    pub numerator: Param<Tensor<1>>,
    /// `[4]`: `b_1 … b_4`.
    pub denominator: Param<Tensor<1>>,
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
        let (a, b) = (self.numerator.val(), self.denominator.val());
        // Horner: P = a_0 + x·(a_1 + x·(… + x·a_5)).
        let mut p = scalar::<D>(&a, 5) * input.clone();
        for i in (1..5).rev() {
            p = (p + scalar::<D>(&a, i)) * input.clone();
        }
        let p = p + scalar::<D>(&a, 0);
        let mut q = scalar::<D>(&b, 3) * input.clone();
        for i in (0..3).rev() {
            q = (q + scalar::<D>(&b, i)) * input.clone();
        }
        p / (q.abs() + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;

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
    fn follows_its_formula() {
        let device = Device::flex();
        let mut layer = PauConfig::new().init(&device);
        layer.numerator = Param::from_data([1.0, 2.0, 0.0, 0.0, 0.0, 1.0], &device);
        layer.denominator = Param::from_data([-1.0, 0.0, 0.0, 0.5], &device);
        let x = Tensor::<2>::from_data([[2.0, -1.0]], &device);
        // x = 2: P = 1 + 4 + 32 = 37, Q = 1 + |−2 + 8| = 7; x = −1: P = −2, Q = 1 + |1 + 0.5|.
        let expected = [[37.0 / 7.0, -2.0 / 2.5]];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-5,
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let mut layer = PauConfig::new().init(&device);
        // b_1·x + b_3·x³ = x·(0.4 + 0.1·x²) is zero only at 0, where no input is: no kink of abs.
        layer.denominator = Param::from_data([0.4, 0.0, 0.1, 0.0], &device);
        let x = testing::away_from_zero([2, 2, 3, 3], &device);
        testing::gradcheck(crate::Activation::Pau(layer), x, 1e-3, 2e-2);
    }
}
