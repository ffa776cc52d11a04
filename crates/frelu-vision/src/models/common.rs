//! Building blocks shared by the models, and their weight initialisation (in one place).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use frelu::{Activation, ActivationConfig};

/// He (Kaiming) normal initialisation, fan-out mode, for ReLU-family networks — what
/// torchvision's ResNet uses: std = √(2 / fan_out).
pub fn kaiming_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: core::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

/// A `k×k` convolution without bias, padded to keep the size at stride 1.
pub fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .with_initializer(kaiming_fan_out())
        .init(device)
}

/// Sets every channel of `layer`'s bias to `value`, as a new trainable parameter.
///
/// (`Param::map` over a fresh tensor would not do: the parameter takes the tracking state of the
/// tensor it is given, and a fresh tensor is not tracked, so the bias would never learn.)
pub fn set_bias(layer: &mut Conv2d, value: f64) {
    if let Some(bias) = layer.bias.take() {
        let fresh = bias.val().zeros_like().add_scalar(value);
        layer.bias = Some(burn::module::Param::from_tensor(fresh));
    }
}

/// Batch normalisation with γ = 1, β = 0 (Burn's defaults, as torchvision's).
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// Convolution → batch norm (no activation), on the CPU fast path where it is active
/// ([`frelu::fastpath`]).
///
/// # Shapes
/// - x: `[batch, in_channels, h, w]`; output: `[batch, out_channels, h_out, w_out]`
pub fn conv_bn(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    frelu::fastpath::batch_norm_act(bn, frelu::fastpath::conv2d(conv, x), None)
}

/// Convolution → batch norm → activation (one fused path on CPU: [`frelu::fastpath`]).
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution.
    pub conv: Conv2d,
    /// Its batch normalisation.
    pub bn: BatchNorm,
    /// The activation, with its own slopes when it has any.
    pub act: Activation,
}

impl ConvBnAct {
    /// A `k×k` conv-BN-act block.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        Self::grouped(in_channels, out_channels, kernel, stride, 1, act, device)
    }

    /// A grouped (e.g. depthwise) conv-BN-act block.
    pub fn grouped(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        Self {
            conv: conv(in_channels, out_channels, kernel, stride, groups, device),
            bn: batch_norm(out_channels, device),
            act: act.init(out_channels, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, out_channels, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        frelu::fastpath::conv_bn_act(&self.conv, &self.bn, &self.act, x)
    }
}
