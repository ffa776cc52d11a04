//! MobileNetV1 (Howard et al., 2017) with width multiplier α, as in Keras'
//! `applications.MobileNet`: a 3×3/2 stem, 13 depthwise-separable blocks (3×3 depthwise → BN →
//! act → 1×1 pointwise → BN → act), global average pooling, dropout and a 1×1-convolution
//! classifier (a linear layer here, same parameters). With α = 1 and 1000 classes it has the
//! 4,231,976 trainable parameters of the Keras reference. The activation (ReLU6 in Keras) is
//! the one injected, at every place.

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;

use super::ModelError;
use super::common::ConvBnAct;

/// Pointwise output channels and stride of the 13 separable blocks (α = 1).
const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Configuration of [`MobileNetV1`].
#[derive(Config, Debug)]
pub struct MobileNetV1Config {
    /// Width multiplier α (0.25, 0.5, 0.75, 1.0 in the paper).
    #[config(default = 1.0)]
    pub width: f64,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Dropout before the classifier (Keras: 1e-3).
    #[config(default = 1e-3)]
    pub dropout: f64,
    /// The activation used everywhere.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
    /// The small-image stem of the CIFAR versions of MobileNet: a stride-1 stem, so that 28×28
    /// or 32×32 inputs reach the last blocks at 2×2 instead of 1×1.
    #[config(default = false)]
    pub small_input: bool,
}

/// One depthwise-separable block.
#[derive(Module, Debug)]
pub struct Separable {
    /// 3×3 depthwise convolution (groups = channels), BN, activation.
    pub depthwise: ConvBnAct,
    /// 1×1 pointwise convolution, BN, activation.
    pub pointwise: ConvBnAct,
}

/// MobileNetV1.
#[derive(Module, Debug)]
pub struct MobileNetV1 {
    /// 3×3/2 stem.
    pub stem: ConvBnAct,
    /// The 13 separable blocks.
    pub blocks: Vec<Separable>,
    pub(crate) pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    /// Classifier.
    pub head: Linear,
}

impl MobileNetV1Config {
    /// Channels scaled by α (at least 1).
    fn scaled(&self, channels: usize) -> usize {
        ((channels as f64 * self.width) as usize).max(1)
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<MobileNetV1, ModelError> {
        if !(self.width > 0.0 && self.width.is_finite()) {
            return Err(ModelError::config(
                "mobilenet_v1",
                format!("the width multiplier must be positive, got {}", self.width),
            ));
        }
        let act = &self.activation;
        let mut channels = self.scaled(32);
        let stem_stride = if self.small_input { 1 } else { 2 };
        let stem = ConvBnAct::new(self.in_channels, channels, 3, stem_stride, act, device);
        let blocks = BLOCKS
            .iter()
            .map(|&(out, stride)| {
                let out = self.scaled(out);
                let block = Separable {
                    depthwise: ConvBnAct::grouped(
                        channels, channels, 3, stride, channels, act, device,
                    ),
                    pointwise: ConvBnAct::new(channels, out, 1, 1, act, device),
                };
                channels = out;
                block
            })
            .collect();
        Ok(MobileNetV1 {
            stem,
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(channels, self.num_classes).init(device),
        })
    }
}

impl MobileNetV1 {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]` (224×224 for ImageNet; ≥ 32 works)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for block in &self.blocks {
            x = block.pointwise.forward(block.depthwise.forward(x));
        }
        let x = self.pool.forward(x).flatten(1, 3);
        self.head.forward(self.dropout.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn keras_parameter_count_and_width_multiplier() {
        let device = Device::flex();
        let net = MobileNetV1Config::new().init(&device).unwrap();
        assert_eq!(super::super::trainable_params(&net), 4_231_976);
        let quarter = MobileNetV1Config::new()
            .with_width(0.25)
            .with_num_classes(10)
            .with_activation(ActivationConfig::frelu())
            .init(&device)
            .unwrap();
        assert_eq!(quarter.head.weight.dims(), [256, 10]);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
        assert_eq!(quarter.forward(x).dims(), [2, 10]);
    }
}
