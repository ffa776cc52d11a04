//! VGG-16 with batch normalisation (Simonyan & Zisserman, 2015; torchvision's `vgg16_bn`): 13
//! 3×3 convolutions (with bias) → BN → activation in five stages separated by 2×2 max-pools.
//!
//! - ImageNet head (torchvision): adaptive average pooling to 7×7, then
//!   Linear(25088, 4096) → act → dropout → Linear(4096, 4096) → act → dropout → Linear(4096, K).
//!   With 1000 classes: 138,365,992 parameters, as torchvision.
//! - CIFAR head: the 1×1 map after five pools (32×32 inputs) flattened into Linear(512, K).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use frelu::{Activation, ActivationConfig};
use serde::{Deserialize, Serialize};

use super::common::{batch_norm, kaiming_fan_out};

/// VGG-16's convolution widths per stage.
pub(crate) const STAGES: [&[usize]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256, 256],
    &[512, 512, 512],
    &[512, 512, 512],
];

/// Which classifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VggHead {
    /// torchvision's: two 4096-wide hidden layers with activation and dropout.
    #[default]
    ImageNet,
    /// One linear layer on the 512 features (for 32×32 inputs).
    Cifar,
}

/// Configuration of [`Vgg16`].
#[derive(Config, Debug)]
pub struct Vgg16Config {
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// The classifier.
    #[config(default = "VggHead::ImageNet")]
    pub head: VggHead,
    /// Dropout of the ImageNet head.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// The activation used everywhere (also between the head's linear layers).
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
    /// Width multiplier of every layer (convolutions 64α … 512α, hidden layers 4096α); 1 is
    /// torchvision's VGG-16.
    #[config(default = 1.0)]
    pub width: f64,
}

/// One 3×3 convolution (with bias, as torchvision) → BN → activation.
#[derive(Module, Debug)]
pub struct VggConv {
    /// Convolution.
    pub conv: Conv2d,
    /// Batch norm.
    pub bn: BatchNorm,
    /// Activation.
    pub act: Activation,
}

/// The classifier of [`Vgg16`].
#[derive(Module, Debug)]
pub struct VggClassifier {
    pub(crate) pool: Option<AdaptiveAvgPool2d>,
    /// Linear layers.
    pub linears: Vec<Linear>,
    /// Activations between them.
    pub acts: Vec<Activation>,
    dropout: Dropout,
}

/// VGG-16-BN.
#[derive(Module, Debug)]
pub struct Vgg16 {
    /// The 13 convolutions, stage after stage.
    pub convs: Vec<VggConv>,
    pub(crate) pool: MaxPool2d,
    /// The classifier.
    pub classifier: VggClassifier,
}

impl Vgg16Config {
    /// Builds the network.
    pub fn init(&self, device: &Device) -> Vgg16 {
        let act = &self.activation;
        let scaled = |n: usize| ((n as f64 * self.width).round() as usize).max(1);
        let mut channels = self.in_channels;
        let mut convs = Vec::new();
        for stage in STAGES {
            for &width in stage {
                let width = scaled(width);
                convs.push(VggConv {
                    conv: Conv2dConfig::new([channels, width], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_initializer(kaiming_fan_out())
                        .init(device),
                    bn: batch_norm(width, device),
                    act: act.init(width, device),
                });
                channels = width;
            }
        }
        let hidden = scaled(4096);
        let classifier = match self.head {
            VggHead::ImageNet => VggClassifier {
                pool: Some(AdaptiveAvgPool2dConfig::new([7, 7]).init()),
                linears: vec![
                    LinearConfig::new(channels * 7 * 7, hidden).init(device),
                    LinearConfig::new(hidden, hidden).init(device),
                    LinearConfig::new(hidden, self.num_classes).init(device),
                ],
                acts: vec![act.init(hidden, device), act.init(hidden, device)],
                dropout: DropoutConfig::new(self.dropout).init(),
            },
            VggHead::Cifar => VggClassifier {
                pool: None,
                linears: vec![LinearConfig::new(channels, self.num_classes).init(device)],
                acts: Vec::new(),
                dropout: DropoutConfig::new(0.0).init(),
            },
        };
        Vgg16 {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            classifier,
        }
    }
}

impl Vgg16 {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]` (224×224 with the ImageNet head, 32×32 with the
    ///   CIFAR head)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        let mut index = 0;
        for stage in STAGES {
            for _ in stage.iter() {
                let layer = &self.convs[index];
                x = frelu::fastpath::conv_bn_act(&layer.conv, &layer.bn, &layer.act, x);
                index += 1;
            }
            x = frelu::fastpath::max_pool2d(&self.pool, x);
        }
        let c = &self.classifier;
        let x = match &c.pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        let mut x = x.flatten(1, 3);
        let last = c.linears.len() - 1;
        for (i, linear) in c.linears.iter().enumerate() {
            x = linear.forward(x);
            if i < last {
                x = c.dropout.forward(c.acts[i].forward(x));
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn torchvision_parameter_count() {
        let device = Device::flex();
        let net = Vgg16Config::new().init(&device);
        assert_eq!(super::super::trainable_params(&net), 138_365_992);
    }

    #[test]
    fn cifar_head_on_32x32() {
        let device = Device::flex();
        let net = Vgg16Config::new()
            .with_head(VggHead::Cifar)
            .with_num_classes(10)
            .with_activation(ActivationConfig::frelu())
            .init(&device);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
        assert_eq!(net.forward(x).dims(), [2, 10]);
    }
}
