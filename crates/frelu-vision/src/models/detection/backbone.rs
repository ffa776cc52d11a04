//! The detectors' backbone: an ImageNet-style ResNet (torchvision's, any depth of 18/34/50 and
//! any width) that returns its stage maps, and torchvision's feature pyramid network over them.
//!
//! torchvision's FPN has no activation (1×1 lateral and 3×3 output convolutions only), so none
//! is injected there; every activation of the ResNet comes from the configured one.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;

use crate::models::ModelError;
use crate::models::common::{ConvBnAct, set_bias};
use crate::models::resnet::{ResBlock, ResNetConfig, make_stage};

/// Configuration of [`Backbone`].
#[derive(Config, Debug, PartialEq)]
pub struct BackboneConfig {
    /// ResNet depth: 18, 34 or 50.
    #[config(default = 18)]
    pub depth: usize,
    /// Width of the first stage (stages `w·(1, 2, 4, 8)`; torchvision's 64).
    #[config(default = 16)]
    pub base_width: usize,
    /// Build the FPN (levels P2–P5 and a max-pooled P6); without it the detector works on the
    /// stride-16 map of the third stage alone and the fourth stage is not built.
    #[config(default = true)]
    pub fpn: bool,
    /// Channels of the FPN's levels (torchvision's 256).
    #[config(default = 64)]
    pub fpn_channels: usize,
}

/// torchvision's `FeaturePyramidNetwork` with `LastLevelMaxPool`.
#[derive(Module, Debug)]
pub struct Fpn {
    /// 1×1 lateral convs, finest stage first.
    pub inner_blocks: Vec<Conv2d>,
    /// 3×3 output convs, finest first.
    pub layer_blocks: Vec<Conv2d>,
}

/// ResNet stages, optionally with an FPN.
#[derive(Module, Debug)]
pub struct Backbone {
    /// 7×7/2 conv-BN-act.
    pub stem: ConvBnAct,
    pool: MaxPool2d,
    /// Stages 1–4 (strides 4, 8, 16, 32); stage 4 is empty without the FPN.
    pub layers: Vec<Vec<ResBlock>>,
    /// The pyramid.
    pub fpn: Option<Fpn>,
}

impl BackboneConfig {
    /// Strides of the maps [`Backbone::forward`] returns.
    pub fn strides(&self) -> Vec<usize> {
        if self.fpn {
            vec![4, 8, 16, 32, 64]
        } else {
            vec![16]
        }
    }

    /// How many of those maps RoIs are pooled from (torchvision: P2–P5, not the pooled P6).
    pub fn roi_levels(&self) -> usize {
        if self.fpn { 4 } else { 1 }
    }

    /// Channels of the returned maps.
    pub fn out_channels(&self) -> usize {
        let bottleneck = self.depth == 50;
        if self.fpn {
            self.fpn_channels
        } else {
            4 * self.base_width * if bottleneck { 4 } else { 1 }
        }
    }

    /// Builds the backbone; a depth other than 18/34/50 or a zero width is an error.
    pub fn init(&self, act: &ActivationConfig, device: &Device) -> Result<Backbone, ModelError> {
        let resnet = ResNetConfig::new()
            .with_depth(self.depth)
            .with_base_width(self.base_width);
        let (counts, bottleneck) = resnet.layout()?;
        if self.base_width == 0 || (self.fpn && self.fpn_channels == 0) {
            return Err(ModelError::config(
                "detection backbone",
                "widths must be at least 1",
            ));
        }
        let base = self.base_width;
        let stages = if self.fpn { 4 } else { 3 };
        let mut channels = base;
        let mut layers = Vec::new();
        let mut stage_channels = Vec::new();
        for (stage, &count) in counts.iter().enumerate().take(stages) {
            let (blocks, out) = make_stage(
                channels,
                (stage, base << stage, count),
                bottleneck,
                act,
                device,
            );
            layers.push(blocks);
            stage_channels.push(out);
            channels = out;
        }
        if !self.fpn {
            layers.push(Vec::new());
        }
        let fpn = self.fpn.then(|| {
            // torchvision: kaiming_uniform_(a=1) weights, zero biases.
            let conv = |i, o, k: usize| {
                let p = k / 2;
                let mut layer = Conv2dConfig::new([i, o], [k, k])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .with_initializer(Initializer::KaimingUniform {
                        gain: 1.0,
                        fan_out_only: false,
                    })
                    .init(device);
                set_bias(&mut layer, 0.0);
                layer
            };
            let c = self.fpn_channels;
            Fpn {
                inner_blocks: stage_channels.iter().map(|&i| conv(i, c, 1)).collect(),
                layer_blocks: stage_channels.iter().map(|_| conv(c, c, 3)).collect(),
            }
        });
        Ok(Backbone {
            stem: ConvBnAct::new(3, base, 7, 2, act, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layers,
            fpn,
        })
    }
}

impl Backbone {
    /// The feature maps the heads use, finest first: P2–P6 with the FPN, else the stage-3 map.
    ///
    /// # Shapes
    /// - input: `[N, 3, S, S]`, S a multiple of 32 with the FPN (16 without)
    /// - outputs: `[N, C, S/stride, S/stride]` for each of [`BackboneConfig::strides`]
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = frelu::fastpath::max_pool2d(&self.pool, self.stem.forward(x));
        let mut stages = Vec::new();
        for layer in self.layers.iter().filter(|l| !l.is_empty()) {
            for block in layer {
                x = block.forward(x);
            }
            stages.push(x.clone());
        }
        let Some(fpn) = &self.fpn else {
            return vec![x];
        };
        use frelu::fastpath::conv2d;
        let last = stages.len() - 1;
        let mut inner = conv2d(&fpn.inner_blocks[last], stages[last].clone());
        let mut out = vec![conv2d(&fpn.layer_blocks[last], inner.clone())];
        for i in (0..last).rev() {
            let lateral = conv2d(&fpn.inner_blocks[i], stages[i].clone());
            let [_, _, h, w] = lateral.dims();
            let top_down = interpolate(
                inner,
                InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
            );
            inner = lateral + top_down;
            out.insert(0, conv2d(&fpn.layer_blocks[i], inner.clone()));
        }
        // LastLevelMaxPool: max_pool2d(kernel 1, stride 2) = every other pixel of P5.
        let p5 = out[last].clone();
        let [n, c, h, w] = p5.dims();
        let p6 = if h > 1 || w > 1 {
            frelu::fastpath::max_pool2d_with(
                p5,
                burn::tensor::ops::MaxPoolOptions::new([1, 1]).with_stride([2, 2]),
            )
        } else {
            p5.reshape([n, c, 1, 1])
        };
        out.push(p6);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn levels_have_the_strides_and_channels_the_config_says() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &device);
        for (depth, fpn) in [(18, true), (50, true), (18, false)] {
            let config = BackboneConfig::new()
                .with_depth(depth)
                .with_base_width(8)
                .with_fpn(fpn);
            let net = config.init(&ActivationConfig::frelu(), &device).unwrap();
            let maps = net.forward(x.clone());
            assert_eq!(maps.len(), config.strides().len());
            for (map, stride) in maps.iter().zip(config.strides()) {
                let side = 64usize.div_ceil(stride);
                assert_eq!(
                    map.dims(),
                    [2, config.out_channels(), side, side],
                    "depth {depth}, fpn {fpn}"
                );
            }
        }
        assert!(
            BackboneConfig::new()
                .with_depth(19)
                .init(&ActivationConfig::Relu, &device)
                .is_err()
        );
    }
}
