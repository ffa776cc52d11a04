//! ResNets (He et al., 2016): residual blocks, shortcuts and layer builders (weight
//! initialisation: [`super::common`]).
//!
//! CIFAR ResNet-20/32/44/56/110 ("Deep Residual Learning for Image Recognition", §4.2): a 3×3
//! stem of 16 channels, three stages of `n = (depth − 2) / 6` basic blocks with 16, 32, 64
//! channels (stride 2 at the start of stages 2 and 3), global average pooling and a linear head.
//! The shortcut is an option:
//! - **A** (the paper's CIFAR choice, the default): identity; where the shape changes, the input
//!   is subsampled by the stride and zero-padded with extra channels — no parameters
//!   (ResNet-20 has 0.27 M parameters).
//! - **B**: a 1×1 convolution + BN projection where the shape changes (identity elsewhere).
//!
//! ImageNet ResNet-18/34/50 (torchvision's definitions, "v1.5": the stride of a bottleneck is on
//! its 3×3 convolution): a 7×7/2 stem with BN, activation and a 3×3/2 max-pool, four stages of
//! basic (18, 34) or bottleneck (50) blocks with 64, 128, 256, 512 channels (×4 out of a
//! bottleneck), 1×1 projection shortcuts where the shape changes, global average pooling and a
//! linear head. With 1000 classes the parameter counts equal torchvision's.
//!
//! Every activation — the one inside each block and the one after each addition — is built
//! from the [`ActivationConfig`] given, so FReLU gets its own slopes at every place.

use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Identity, Linear, LinearConfig};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, s};
use frelu::{Activation, ActivationConfig};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::common::{ConvBnAct, batch_norm, conv, conv_bn};

/// How a residual block's shortcut matches shapes when the block changes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShortcutKind {
    /// Subsample and zero-pad channels: no parameters (He et al.'s option A).
    #[default]
    A,
    /// 1×1 convolution + BN projection (option B).
    B,
}

impl std::str::FromStr for ShortcutKind {
    type Err = ModelError;

    /// `a` or `b`, in either case.
    fn from_str(text: &str) -> Result<Self, ModelError> {
        match text.to_ascii_lowercase().as_str() {
            "a" => Ok(Self::A),
            "b" => Ok(Self::B),
            other => Err(ModelError::config(
                "resnet",
                format!("unknown shortcut '{other}' (use A or B)"),
            )),
        }
    }
}

impl std::fmt::Display for ShortcutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::A => "a",
            Self::B => "b",
        })
    }
}

/// The shortcut branch of a residual block.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Shortcut {
    /// Same shape in and out.
    Identity(Identity),
    /// Option A: subsample by `stride`, pad `pad` zero channels on each side.
    Pad(PadShortcut),
    /// Option B: 1×1 conv + BN.
    Projection(Projection),
}

/// Option-A shortcut: no parameters.
#[derive(Module, Debug)]
pub struct PadShortcut {
    /// Spatial subsampling factor.
    pub stride: usize,
    /// Zero channels added before and after the input's channels.
    pub pad: usize,
}

/// Option-B shortcut.
#[derive(Module, Debug)]
pub struct Projection {
    /// 1×1 strided convolution.
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
}

impl Shortcut {
    /// The shortcut for a block going from `in_channels` to `out_channels` at `stride`.
    pub fn new(
        kind: ShortcutKind,
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        device: &Device,
    ) -> Self {
        if stride == 1 && in_channels == out_channels {
            return Shortcut::Identity(Identity::new());
        }
        match kind {
            ShortcutKind::A => {
                assert!(
                    out_channels >= in_channels && (out_channels - in_channels).is_multiple_of(2),
                    "option-A shortcut needs an even channel increase"
                );
                Shortcut::Pad(PadShortcut {
                    stride,
                    pad: (out_channels - in_channels) / 2,
                })
            }
            ShortcutKind::B => Shortcut::Projection(Projection {
                conv: conv(in_channels, out_channels, 1, stride, 1, device),
                bn: batch_norm(out_channels, device),
            }),
        }
    }

    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, out_channels, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Shortcut::Identity(_) => x,
            Shortcut::Pad(pad) => {
                let x = if pad.stride > 1 {
                    x.slice(s![.., .., ..;pad.stride as isize, ..;pad.stride as isize])
                } else {
                    x
                };
                x.pad(
                    [(0, 0), (pad.pad, pad.pad), (0, 0), (0, 0)],
                    PadMode::Constant(0.0),
                )
            }
            Shortcut::Projection(p) => conv_bn(&p.conv, &p.bn, x),
        }
    }
}

/// The basic residual block: conv3×3 → BN → act → conv3×3 → BN, plus shortcut, then act.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First conv-BN-act.
    pub first: ConvBnAct,
    /// Second convolution.
    pub conv2: Conv2d,
    /// Second batch norm.
    pub bn2: BatchNorm,
    /// The shortcut.
    pub shortcut: Shortcut,
    /// Activation after the addition.
    pub act: Activation,
}

impl BasicBlock {
    /// A block from `in_channels` to `out_channels`, downsampling by `stride`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        shortcut: ShortcutKind,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        Self {
            first: ConvBnAct::new(in_channels, out_channels, 3, stride, act, device),
            conv2: conv(out_channels, out_channels, 3, 1, 1, device),
            bn2: batch_norm(out_channels, device),
            shortcut: Shortcut::new(shortcut, in_channels, out_channels, stride, device),
            act: act.init(out_channels, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, out_channels, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = conv_bn(&self.conv2, &self.bn2, self.first.forward(x.clone()));
        self.act.forward(residual + self.shortcut.forward(x))
    }
}

/// Configuration of a CIFAR-style ResNet.
#[derive(Config, Debug)]
pub struct CifarResNetConfig {
    /// Depth `6n + 2`: 20, 32, 44, 56, 110, ...
    #[config(default = 20)]
    pub depth: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Channels of the first stage (doubled at each of the two later stages).
    #[config(default = 16)]
    pub base_width: usize,
    /// Shortcut option.
    #[config(default = "ShortcutKind::A")]
    pub shortcut: ShortcutKind,
    /// The activation used everywhere.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
}

/// A CIFAR-style ResNet.
#[derive(Module, Debug)]
pub struct CifarResNet {
    /// 3×3 stem.
    pub stem: ConvBnAct,
    /// All residual blocks, stage after stage.
    pub blocks: Vec<BasicBlock>,
    pub(crate) pool: AdaptiveAvgPool2d,
    /// Classifier.
    pub head: Linear,
}

impl CifarResNetConfig {
    /// Blocks per stage, or an error for a depth that is not `6n + 2`.
    pub fn blocks_per_stage(&self) -> Result<usize, ModelError> {
        if self.depth < 8 || !(self.depth - 2).is_multiple_of(6) {
            Err(ModelError::config(
                "CIFAR ResNet",
                format!(
                    "depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {}",
                    self.depth
                ),
            ))
        } else {
            Ok((self.depth - 2) / 6)
        }
    }

    /// Builds the network; a depth that is not `6n + 2` is an error.
    pub fn init(&self, device: &Device) -> Result<CifarResNet, ModelError> {
        let n = self.blocks_per_stage()?;
        let act = &self.activation;
        let w = self.base_width;
        let mut blocks = Vec::with_capacity(3 * n);
        let mut channels = w;
        for (stage, width) in [w, 2 * w, 4 * w].into_iter().enumerate() {
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(
                    channels,
                    width,
                    stride,
                    self.shortcut,
                    act,
                    device,
                ));
                channels = width;
            }
        }
        Ok(CifarResNet {
            stem: ConvBnAct::new(self.in_channels, w, 3, 1, act, device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(channels, self.num_classes).init(device),
        })
    }
}

impl CifarResNet {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, num_classes]` (logits)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(self.pool.forward(x).flatten(1, 3))
    }
}

/// The bottleneck block: 1×1 → 3×3 (stride) → 1×1 (×4 channels), BN and activation after
/// each, the last activation after the addition.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduction.
    pub reduce: ConvBnAct,
    /// 3×3, carrying the stride.
    pub spatial: ConvBnAct,
    /// 1×1 expansion.
    pub expand: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
    /// The shortcut.
    pub shortcut: Shortcut,
    /// Activation after the addition.
    pub act: Activation,
}

impl Bottleneck {
    /// Output channels are `4 × width`.
    pub fn new(
        in_channels: usize,
        width: usize,
        stride: usize,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        let out = 4 * width;
        Self {
            reduce: ConvBnAct::new(in_channels, width, 1, 1, act, device),
            spatial: ConvBnAct::new(width, width, 3, stride, act, device),
            expand: conv(width, out, 1, 1, 1, device),
            bn: batch_norm(out, device),
            shortcut: Shortcut::new(ShortcutKind::B, in_channels, out, stride, device),
            act: act.init(out, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, 4·width, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.spatial.forward(self.reduce.forward(x.clone()));
        let y = conv_bn(&self.expand, &self.bn, y);
        self.act.forward(y + self.shortcut.forward(x))
    }
}

/// A residual block of either kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ResBlock {
    /// Two 3×3 convolutions.
    Basic(BasicBlock),
    /// 1×1, 3×3, 1×1.
    Bottleneck(Bottleneck),
}

impl ResBlock {
    /// # Shapes
    /// - input: `[batch, c_in, h, w]`, output: `[batch, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResBlock::Basic(b) => b.forward(x),
            ResBlock::Bottleneck(b) => b.forward(x),
        }
    }
}

/// Stage `stage` (0-based) of an ImageNet-style ResNet: `count` blocks of width `width` taking
/// `channels` channels, the first with stride 2 after stage 0 (torchvision's `_make_layer`).
/// Returns the blocks and the channels they output.
pub fn make_stage(
    channels: usize,
    (stage, width, count): (usize, usize, usize),
    bottleneck: bool,
    act: &ActivationConfig,
    device: &Device,
) -> (Vec<ResBlock>, usize) {
    let mut channels = channels;
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let stride = if stage > 0 && i == 0 { 2 } else { 1 };
        blocks.push(if bottleneck {
            ResBlock::Bottleneck(Bottleneck::new(channels, width, stride, act, device))
        } else {
            ResBlock::Basic(BasicBlock::new(
                channels,
                width,
                stride,
                ShortcutKind::B,
                act,
                device,
            ))
        });
        channels = if bottleneck { 4 * width } else { width };
    }
    (blocks, channels)
}

/// Configuration of an ImageNet-style ResNet.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// 18, 34 or 50.
    #[config(default = 18)]
    pub depth: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// The activation used everywhere.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
    /// Width of the first stage (the stages are `base · (1, 2, 4, 8)`); torchvision's 64.
    #[config(default = 64)]
    pub base_width: usize,
}

impl ResNetConfig {
    /// Blocks per stage and whether they are bottlenecks, or an error for another depth.
    pub fn layout(&self) -> Result<([usize; 4], bool), ModelError> {
        match self.depth {
            18 => Ok(([2, 2, 2, 2], false)),
            34 => Ok(([3, 4, 6, 3], false)),
            50 => Ok(([3, 4, 6, 3], true)),
            d => Err(ModelError::config(
                "ImageNet ResNet",
                format!("depth must be 18, 34 or 50, got {d}"),
            )),
        }
    }

    /// Builds the network.
    /// A depth other than 18, 34, 50 is an error.
    pub fn init(&self, device: &Device) -> Result<ResNet, ModelError> {
        let (counts, bottleneck) = self.layout()?;
        let act = &self.activation;
        let base = self.base_width;
        if base == 0 {
            return Err(ModelError::config(
                "ImageNet ResNet",
                "the base width must be at least 1",
            ));
        }
        let mut channels = base;
        let mut blocks = Vec::new();
        for (stage, &count) in counts.iter().enumerate() {
            let (stage_blocks, out) = make_stage(
                channels,
                (stage, base << stage, count),
                bottleneck,
                act,
                device,
            );
            blocks.extend(stage_blocks);
            channels = out;
        }
        Ok(ResNet {
            stem: ConvBnAct::new(self.in_channels, base, 7, 2, act, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            avg: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(channels, self.num_classes).init(device),
        })
    }
}

/// An ImageNet-style ResNet.
#[derive(Module, Debug)]
pub struct ResNet {
    /// 7×7/2 stem.
    pub stem: ConvBnAct,
    pub(crate) pool: MaxPool2d,
    /// All residual blocks.
    pub blocks: Vec<ResBlock>,
    pub(crate) avg: AdaptiveAvgPool2d,
    /// Classifier.
    pub head: Linear,
}

impl ResNet {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]` (224×224 for ImageNet; ≥ 32 works)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = frelu::fastpath::max_pool2d(&self.pool, self.stem.forward(x));
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(self.avg.forward(x).flatten(1, 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn resnet20_has_the_papers_parameter_count() {
        let device = Device::flex();
        let net = CifarResNetConfig::new().init(&device).unwrap();
        // 0.27 M in He et al. (2016), Table 6: convolutions, BN affine parameters and the head.
        assert_eq!(super::super::trainable_params(&net), 269_722);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
        assert_eq!(net.forward(x).dims(), [2, 10]);
    }

    #[test]
    fn depth_and_shortcut_variants() {
        let device = Device::flex();
        for depth in [32, 56] {
            let config = CifarResNetConfig::new().with_depth(depth);
            assert_eq!(
                config.init(&device).unwrap().blocks.len(),
                3 * (depth - 2) / 6
            );
        }
        assert!(
            CifarResNetConfig::new()
                .with_depth(21)
                .blocks_per_stage()
                .is_err()
        );
        let b = CifarResNetConfig::new()
            .with_shortcut(ShortcutKind::B)
            .with_in_channels(1)
            .init(&device)
            .unwrap();
        let x = Tensor::<4>::random([1, 1, 28, 28], Distribution::Default, &device);
        assert_eq!(b.forward(x).dims(), [1, 10]);
        // Two projections: 16→32 and 32→64 (1×1 conv + BN).
        let stem_diff = 3 * 16 * 9 - 16 * 9;
        assert_eq!(
            super::super::trainable_params(&b),
            269_722 - stem_diff + 16 * 32 + 64 + 32 * 64 + 128
        );
    }

    #[test]
    fn frelu_adds_two_slopes_per_channel_per_activation() {
        let device = Device::flex();
        let relu = CifarResNetConfig::new().init(&device).unwrap().num_params();
        let frelu = CifarResNetConfig::new()
            .with_activation(ActivationConfig::frelu())
            .init(&device)
            .unwrap()
            .num_params();
        // Stem 16 + per block two activations of its width: 3 blocks × (16, 32, 64) × 2.
        let channels = 16 + 2 * 3 * (16 + 32 + 64);
        assert_eq!(frelu - relu, 2 * channels);
    }

    #[test]
    fn imagenet_resnets_have_torchvisions_parameter_counts() {
        let device = Device::flex();
        for (depth, expected) in [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032)] {
            let net = ResNetConfig::new().with_depth(depth).init(&device).unwrap();
            assert_eq!(
                super::super::trainable_params(&net),
                expected,
                "resnet{depth}"
            );
        }
        assert!(ResNetConfig::new().with_depth(101).layout().is_err());
    }

    #[test]
    fn imagenet_resnet_forward_on_small_inputs() {
        let device = Device::flex();
        let net = ResNetConfig::new()
            .with_depth(50)
            .with_num_classes(7)
            .with_in_channels(1)
            .with_activation(ActivationConfig::frelu())
            .init(&device)
            .unwrap();
        let x = Tensor::<4>::random([2, 1, 64, 64], Distribution::Default, &device);
        assert_eq!(net.forward(x).dims(), [2, 7]);
    }

    #[test]
    fn pad_shortcut_subsamples_and_pads() {
        let device = Device::flex();
        let shortcut = Shortcut::new(ShortcutKind::A, 2, 4, 2, &device);
        let x = Tensor::<4>::ones([1, 2, 4, 4], &device);
        let y = shortcut.forward(x);
        assert_eq!(y.dims(), [1, 4, 2, 2]);
        let values = y.try_into_vec_as::<f32>().unwrap();
        assert_eq!(values[..4], [0.0; 4]);
        assert_eq!(values[4..12], [1.0; 8]);
        assert_eq!(values[12..], [0.0; 4]);
    }
}
