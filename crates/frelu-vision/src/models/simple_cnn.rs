//! `simple-cnn`: 4 × (conv3×3 → BN → act) with a 2×2 max-pool after the 1st and the 3rd, and a
//! linear head. For 28×28 inputs the convolutions run at 28, 14, 14 and 7 pixels: about
//! 1.9 GFLOP per forward pass of a batch of 128.

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;

use super::common::ConvBnAct;

/// Configuration of [`SimpleCnn`].
#[derive(Config, Debug)]
pub struct SimpleCnnConfig {
    /// Input channels (1 for Fashion-MNIST, 3 for CIFAR).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Channels of the four convolutions.
    #[config(default = "[32, 32, 64, 64]")]
    pub widths: [usize; 4],
    /// Activation used after every convolution.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
}

/// A small CNN for 28×28 to 32×32 images.
#[derive(Module, Debug)]
pub struct SimpleCnn {
    /// The four conv-BN-act blocks.
    pub blocks: Vec<ConvBnAct>,
    pub(crate) pool: MaxPool2d,
    /// Brings any input size to 7×7 (an identity for 28×28 inputs).
    pub(crate) resize: AdaptiveAvgPool2d,
    /// The classifier.
    pub head: Linear,
}

impl SimpleCnnConfig {
    /// Builds the network.
    pub fn init(&self, device: &Device) -> SimpleCnn {
        let [a, b, c, d] = self.widths;
        let act = &self.activation;
        SimpleCnn {
            blocks: vec![
                ConvBnAct::new(self.in_channels, a, 3, 1, act, device),
                ConvBnAct::new(a, b, 3, 1, act, device),
                ConvBnAct::new(b, c, 3, 1, act, device),
                ConvBnAct::new(c, d, 3, 1, act, device),
            ],
            pool: MaxPool2dConfig::new([2, 2]).init(),
            resize: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            head: LinearConfig::new(d * 7 * 7, self.num_classes).init(device),
        }
    }
}

impl SimpleCnn {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]` (h, w ≥ 28 recommended)
    /// - output: `[batch, num_classes]` (logits)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i % 2 == 0 {
                x = frelu::fastpath::max_pool2d(&self.pool, x);
            }
        }
        // 28×28 inputs arrive at 7×7 already, where the adaptive pool is the identity.
        let x = if x.dims()[2..] == [7, 7] {
            x
        } else {
            self.resize.forward(x)
        };
        self.head.forward(x.flatten(1, 3))
    }
}
