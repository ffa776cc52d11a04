//! The FReLU layer: a ReLU whose two slopes are learned per channel.

use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops;

/// How many slope pairs a layer has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlopeSharing {
    /// One `(pos, neg)` pair per channel (the paper's FReLU; the default).
    #[default]
    Channel,
    /// One `(pos, neg)` pair for the whole layer.
    Layer,
}

/// The default initial positive slope of [`FReluConfig`].
pub const FRELU_POS_INIT: f64 = 1.0;
/// The default initial negative slope of [`FReluConfig`] (with the positive 1: ReLU).
pub const FRELU_NEG_INIT: f64 = 0.0;

/// Configuration of an [`FRelu`] layer.
///
/// With the defaults the layer starts as an exact ReLU (`pos = 1`, `neg = 0`) and learns both
/// slopes of every channel. Turning `learn_pos` off gives PReLU (`pos` fixed); turning both off
/// gives a leaky ReLU with slope `neg_init` — all three run through the same operation so that
/// their costs compare like with like.
#[derive(Config, Debug)]
pub struct FReluConfig {
    /// Number of channels: the size of dimension 1 of the input.
    pub channels: usize,
    /// Initial value of the positive-side slope.
    #[config(default = "FRELU_POS_INIT")]
    pub pos_init: f64,
    /// Initial value of the negative-side slope (0 starts as ReLU; 0.25 is PReLU's usual start).
    #[config(default = "FRELU_NEG_INIT")]
    pub neg_init: f64,
    /// One slope pair per channel, or one per layer.
    #[config(default = "SlopeSharing::Channel")]
    pub sharing: SlopeSharing,
    /// Whether `pos` is learned. When false it stays at `pos_init` and is not a parameter.
    #[config(default = true)]
    pub learn_pos: bool,
    /// Whether `neg` is learned. When false it stays at `neg_init` and is not a parameter.
    #[config(default = true)]
    pub learn_neg: bool,
    /// Use the fused operation ([`ops::frelu`]); false selects the version composed of ordinary
    /// tensor operations ([`ops::frelu_composed`]), kept for checks and benchmarks.
    #[config(default = true)]
    pub fused: bool,
}

/// Fully parametric ReLU: `y = pos[c]·max(x, 0) + neg[c]·min(x, 0)` on channel `c = dim 1`.
///
/// Create it with [`FReluConfig::init`].
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct FRelu {
    /// Learned positive-side slopes, `[channels]` or `[1]` when shared; `None` when fixed.
    pub pos: Option<Param<Tensor<1>>>,
    /// Learned negative-side slopes, `[channels]` or `[1]` when shared; `None` when fixed.
    pub neg: Option<Param<Tensor<1>>>,
    /// Value of `pos` when it is not learned.
    pub pos_fixed: f64,
    /// Value of `neg` when it is not learned.
    pub neg_fixed: f64,
    /// Number of channels the layer applies to.
    pub channels: usize,
    /// Whether the fused operation is used.
    pub fused: bool,
}

impl FReluConfig {
    /// Build the layer on `device`.
    pub fn init(&self, device: &Device) -> FRelu {
        assert!(self.channels > 0, "FRelu needs at least one channel");
        let len = match self.sharing {
            SlopeSharing::Channel => self.channels,
            SlopeSharing::Layer => 1,
        };
        let slope = |learn: bool, value: f64| {
            learn.then(|| Param::from_tensor(Tensor::full([len], value, device)))
        };
        FRelu {
            pos: slope(self.learn_pos, self.pos_init),
            neg: slope(self.learn_neg, self.neg_init),
            pos_fixed: self.pos_init,
            neg_fixed: self.neg_init,
            channels: self.channels,
            fused: self.fused,
        }
    }
}

impl FRelu {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]` (rank ≥ 2: after a linear layer or a convolution)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        super::common::check_input("FRelu", self.channels, &input.dims());
        let device = input.device();
        let pos = self.slope(&self.pos, self.pos_fixed, &device);
        let neg = self.slope(&self.neg, self.neg_fixed, &device);
        if self.fused {
            ops::frelu(input, pos, neg)
        } else {
            ops::frelu_composed(input, pos, neg)
        }
    }

    /// `(pos, neg)`, each `[channels]`, as the forward pass uses them: learned slopes as
    /// tracked parameters (expanded when shared by the layer), fixed ones as constants.
    pub fn slopes(&self, device: &Device) -> (Tensor<1>, Tensor<1>) {
        (
            self.slope(&self.pos, self.pos_fixed, device),
            self.slope(&self.neg, self.neg_fixed, device),
        )
    }

    /// The per-channel slopes `[channels]` used by the forward pass.
    fn slope(&self, param: &Option<Param<Tensor<1>>>, fixed: f64, device: &Device) -> Tensor<1> {
        match param {
            Some(param) => {
                let value = param.val();
                if value.dims()[0] == self.channels {
                    value
                } else {
                    value.expand([self.channels])
                }
            }
            None => Tensor::full([self.channels], fixed, device),
        }
    }

    /// The positive-side slope of every channel, as plain numbers.
    pub fn pos_values(&self) -> Vec<f32> {
        self.slope_values(&self.pos, self.pos_fixed)
    }

    /// The negative-side slope of every channel, as plain numbers.
    pub fn neg_values(&self) -> Vec<f32> {
        self.slope_values(&self.neg, self.neg_fixed)
    }

    fn slope_values(&self, param: &Option<Param<Tensor<1>>>, fixed: f64) -> Vec<f32> {
        match param {
            Some(param) => {
                let values = param
                    .val()
                    .try_into_vec_as::<f32>()
                    .expect("slopes are float tensors");
                if values.len() == self.channels {
                    values
                } else {
                    vec![values[0]; self.channels]
                }
            }
            None => vec![fixed as f32; self.channels],
        }
    }

    /// Number of learned scalars in this layer.
    pub fn num_learned(&self) -> usize {
        [&self.pos, &self.neg]
            .iter()
            .filter_map(|p| p.as_ref())
            .map(|p| p.val().dims()[0])
            .sum()
    }
}

impl ModuleDisplay for FRelu {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("channels", &self.channels)
            .add("learned", &self.num_learned())
            .add("fused", &self.fused)
            .optional()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance, activation};

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn default_init_is_relu() {
        let device = device();
        let x = Tensor::<4>::random([2, 3, 4, 5], Distribution::Normal(0.0, 1.0), &device);
        for fused in [true, false] {
            let layer = FReluConfig::new(3).with_fused(fused).init(&device);
            layer
                .forward(x.clone())
                .into_data()
                .assert_eq(&activation::relu(x.clone()).into_data(), true);
        }
    }

    #[test]
    fn fixed_pos_and_neg_is_leaky_relu() {
        let device = device();
        let x = Tensor::<2>::random([7, 6], Distribution::Normal(0.0, 1.0), &device);
        for fused in [true, false] {
            let layer = FReluConfig::new(6)
                .with_neg_init(0.1)
                .with_learn_pos(false)
                .with_learn_neg(false)
                .with_fused(fused)
                .init(&device);
            assert_eq!(layer.num_learned(), 0);
            layer
                .forward(x.clone())
                .into_data()
                .assert_approx_eq::<f32>(
                    &activation::leaky_relu(x.clone(), 0.1).into_data(),
                    Tolerance::absolute(1e-6),
                );
        }
    }

    #[test]
    fn per_channel_slopes_apply_on_dimension_one() {
        let device = device();
        let mut layer = FReluConfig::new(2).init(&device);
        layer.pos = Some(Param::from_data([2.0, 3.0], &device));
        layer.neg = Some(Param::from_data([0.5, -1.0], &device));
        let x = Tensor::<3>::from_data([[[1.0, -2.0], [-4.0, 5.0]]], &device);
        let expected = Tensor::<3>::from_data([[[2.0, -1.0], [4.0, 15.0]]], &device);
        for fused in [true, false] {
            layer.fused = fused;
            layer
                .forward(x.clone())
                .into_data()
                .assert_approx_eq::<f32>(&expected.clone().into_data(), Tolerance::absolute(1e-6));
        }
    }

    #[test]
    fn shared_slopes_have_one_pair_per_layer() {
        let device = device();
        let layer = FReluConfig::new(8)
            .with_sharing(SlopeSharing::Layer)
            .with_neg_init(0.25)
            .init(&device);
        assert_eq!(layer.num_learned(), 2);
        assert_eq!(layer.neg_values(), vec![0.25; 8]);
        assert_eq!(layer.pos_values(), vec![1.0; 8]);
    }

    #[test]
    fn learned_counts() {
        let device = device();
        assert_eq!(FReluConfig::new(16).init(&device).num_learned(), 32);
        assert_eq!(
            FReluConfig::new(16)
                .with_learn_pos(false)
                .init(&device)
                .num_learned(),
            16
        );
    }

    #[test]
    #[should_panic(expected = "built for 3 channels")]
    fn wrong_channel_count_is_reported() {
        let device = device();
        let layer = FReluConfig::new(3).init(&device);
        layer.forward(Tensor::<2>::zeros([2, 4], &device));
    }
}
