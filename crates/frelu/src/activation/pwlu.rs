//! PWLU, the piecewise linear unit (Zhou et al., *Learning specialized activation functions with
//! the piecewise linear unit*, ICCV 2021).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::common::{check_input, filled};
pub use crate::ops::peers::PWLU_MIN_WIDTH;
use crate::ops::peers::{self, Pointwise};

/// The default number of intervals of [`PwluConfig`] (the paper's).
pub const PWLU_INTERVALS: usize = 16;

/// Configuration of a [`Pwlu`] layer.
#[derive(Config, Debug)]
pub struct PwluConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Number of intervals `N` between the bounds (the paper's 16).
    #[config(default = "PWLU_INTERVALS")]
    pub intervals: usize,
    /// Initial bounds `[−bound, bound]`. The paper sets them from the input's running statistics
    /// during a first phase of training; that phase does not fit the `Learner` cleanly, so the
    /// bounds start here and are learned from the first step (3: ±3σ of a batch-normalised input).
    #[config(default = 3.0)]
    pub bound: f64,
}

/// PWLU: per channel, `N` equal intervals on a learned range `[left, right]`, learned heights at
/// the `N + 1` breakpoints (linear in between), learned slopes outside the range. Starts as ReLU.
#[derive(Module, Debug)]
pub struct Pwlu {
    /// Left bound `[channels]`.
    pub left: Param<Tensor<1>>,
    /// Right bound `[channels]`.
    pub right: Param<Tensor<1>>,
    /// Heights at the breakpoints `[channels, N + 1]`.
    pub heights: Param<Tensor<2>>,
    /// Slope left of the range `[channels]`.
    pub left_slope: Param<Tensor<1>>,
    /// Slope right of the range `[channels]`.
    pub right_slope: Param<Tensor<1>>,
    /// Number of channels.
    pub channels: usize,
    /// Number of intervals.
    pub intervals: usize,
}

impl PwluConfig {
    /// Build the layer on `device`, as ReLU: heights `max(0, breakpoint)`, slopes 0 and 1.
    pub fn init(&self, device: &Device) -> Pwlu {
        assert!(self.intervals > 0, "PWLU needs at least one interval");
        assert!(self.bound > 0.0, "PWLU's bound must be positive");
        let (c, n) = (self.channels, self.intervals);
        let step = 2.0 * self.bound / n as f64;
        let heights: Vec<f64> = (0..c)
            .flat_map(|_| (0..=n).map(move |i| (-self.bound + i as f64 * step).max(0.0)))
            .collect();
        Pwlu {
            left: filled(c, -self.bound, device),
            right: filled(c, self.bound, device),
            heights: Param::from_tensor(Tensor::from_data(
                TensorData::new(heights, [c, n + 1]),
                device,
            )),
            left_slope: filled(c, 0.0, device),
            right_slope: filled(c, 1.0, device),
            channels: c,
            intervals: n,
        }
    }
}

impl Pwlu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        check_input("Pwlu", self.channels, &input.dims());
        if !peers::has_fused_kernel(&input) {
            return self.forward_composed(input);
        }
        let c = self.channels;
        let column = |t: &Param<Tensor<1>>| t.val().reshape([1, c]);
        let params = Tensor::cat(
            vec![
                column(&self.left),
                column(&self.right),
                column(&self.left_slope),
                column(&self.right_slope),
                self.heights.val().transpose(),
            ],
            0,
        );
        peers::pointwise_stacked(input, params, Pointwise::Pwlu)
    }

    /// [`Pwlu::forward`] from tensor operations alone (the reference of the fused kernel, and
    /// the form every device without one takes).
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward_composed<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        check_input("Pwlu", self.channels, &dims);
        let (c, n) = (self.channels, self.intervals);
        // Channel-major `[C, M]`: one row per channel, gathered with per-element indices.
        let x = input.swap_dims(0, 1);
        let swapped = x.dims();
        let x: Tensor<2> = x.reshape([c as i64, -1]);
        let m = x.dims()[1];
        let column = |t: &Param<Tensor<1>>| t.val().reshape([c, 1]).expand([c, m]);
        let (left, right) = (column(&self.left), column(&self.right));
        // The guard (a project addition; the paper, as far as read, states none): bounds that
        // cross or meet would give a zero or negative interval width.
        let width = ((right.clone() - left.clone()) / n as f64).clamp_min(PWLU_MIN_WIDTH);
        let t = (x.clone() - left.clone()) / width;
        let cell = t.clone().detach().floor().clamp(0.0, (n - 1) as f64);
        let index: Tensor<2, Int> = cell.clone().int();
        let heights = self.heights.val();
        let low = heights.clone().gather(1, index.clone());
        let high = heights.clone().gather(1, index + 1);
        let inside = low.clone() + (t - cell) * (high - low);
        let first = heights.clone().slice([0..c, 0..1]).expand([c, m]);
        let last = heights.slice([0..c, n..n + 1]).expand([c, m]);
        let below = first + (x.clone() - left.clone()) * column(&self.left_slope);
        let above = last + (x.clone() - right.clone()) * column(&self.right_slope);
        let y = inside
            .mask_where(x.clone().lower(left), below)
            .mask_where(x.greater(right), above);
        y.reshape(swapped).swap_dims(0, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::common::testing;
    use crate::activation::common::two_forms::{
        assert_same_function, assert_same_in_inference, assert_same_on_every_layout, impl_two_forms,
    };

    impl_two_forms!(Pwlu);

    /// A layer of 4 channels and 6 intervals as training leaves one: heights off ReLU's,
    /// asymmetric bounds, slopes on both sides.
    fn trained(device: &Device) -> Pwlu {
        let mut layer = PwluConfig::new(4).with_intervals(6).init(device);
        layer.heights = Param::from_tensor(Tensor::random(
            [4, 7],
            Distribution::Normal(0.0, 1.0),
            device,
        ));
        layer.left = Param::from_data([-3.0, -2.2, -1.3, -0.4], device);
        layer.right = Param::from_data([3.0, 1.1, 2.7, 0.6], device);
        layer.left_slope = Param::from_data([0.3, -0.2, 0.0, 1.5], device);
        layer.right_slope = Param::from_data([1.0, 0.4, -0.7, 2.0], device);
        layer
    }
    use burn::tensor::{Distribution, Tolerance, activation};

    #[test]
    fn starts_as_relu_inside_and_outside_its_range() {
        let device = Device::flex();
        let layer = PwluConfig::new(3).init(&device);
        let x = Tensor::<4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 3.0), &device);
        layer
            .forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&activation::relu(x).into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn interpolates_between_learned_heights() {
        let device = Device::flex();
        let mut layer = PwluConfig::new(1)
            .with_intervals(2)
            .with_bound(1.0)
            .init(&device);
        // Breakpoints −1, 0, 1 with heights 2, −1, 3; slopes −1 left, 0.5 right.
        layer.heights = Param::from_data([[2.0, -1.0, 3.0]], &device);
        layer.left_slope = Param::from_data([-1.0], &device);
        layer.right_slope = Param::from_data([0.5], &device);
        let x = Tensor::<2>::from_data([[-3.0], [-0.5], [0.25], [1.0], [5.0]], &device);
        let expected = [[4.0], [0.5], [0.0], [3.0], [5.0]];
        testing::assert_close(
            layer.forward(x),
            Tensor::<2>::from_data(expected, &device),
            1e-5,
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        device.seed(7);
        let mut layer = PwluConfig::new(2)
            .with_intervals(4)
            .with_bound(2.0)
            .init(&device);
        layer.heights = Param::from_tensor(Tensor::random(
            [2, 5],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        layer.left_slope = Param::from_data([0.3, -0.2], &device);
        // Inputs on both sides of the range and inside, away from the breakpoints −2, −1, …, 2
        // (a step never crosses one).
        let x = Tensor::<4>::random([2, 2, 3, 3], Distribution::Uniform(0.1, 0.9), &device)
            + Tensor::<4>::random([2, 2, 3, 3], Distribution::Uniform(-4.0, 4.0), &device).floor();
        testing::gradcheck(crate::Activation::Pwlu(layer), x, 1e-3, 2e-2);
    }

    #[test]
    fn fused_and_composed_are_one_function() {
        let device = Device::flex().autodiff();
        let mut layer = trained(&device);
        assert_same_on_every_layout(&layer, 4);
        // Bounds that meet (the width held at its minimum) and bounds that cross.
        let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 2.0), &device);
        layer.left = Param::from_data([0.5, 0.5, 1.0, -1.0], &device);
        layer.right = Param::from_data([0.5, 0.50001, -1.0, -1.0], &device);
        assert_same_function(&layer, x, 1e-4);
        let layer = trained(&Device::flex());
        let x = Tensor::<4>::random(
            [3, 4, 5, 5],
            Distribution::Normal(0.0, 2.0),
            &Device::flex(),
        );
        assert_same_in_inference(&layer, x);
    }

    #[test]
    fn meeting_bounds_give_a_finite_output() {
        let device = Device::flex();
        let mut layer = PwluConfig::new(1).with_intervals(2).init(&device);
        // Without the guard the width is 0 and x = 0.5 gives 0/0.
        layer.left = Param::from_data([0.5], &device);
        layer.right = Param::from_data([0.5], &device);
        let x = Tensor::<2>::from_data([[-2.0], [0.5], [2.0]], &device);
        let y = layer.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    }
}
