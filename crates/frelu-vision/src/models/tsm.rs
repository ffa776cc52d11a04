//! Video models on 2-D CNNs: TSM (Lin, Gan & Han, "TSM: Temporal Shift Module for Efficient
//! Video Understanding", 2019) and its baseline TSN (Wang et al., 2016).
//!
//! Both run a small 2-D ResNet on every sampled frame and average the per-frame logits over
//! time (TSN's "average consensus"). TSM adds, at the start of each residual branch, a shift of
//! 1/8 of the channels one step forward in time and 1/8 one step backward (zero-padded): the
//! "residual shift" of the paper, free in parameters and FLOPs, which lets the 2-D network see
//! motion. TSN, without it, sees each frame alone. The activation is injected everywhere.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, s};
use frelu::{Activation, ActivationConfig};

use super::common::{ConvBnAct, batch_norm, conv, conv_bn};
use super::resnet::{Shortcut, ShortcutKind};

/// Shifts `fold` channels one step forward in time and the next `fold` one step backward.
///
/// # Shapes
/// - input and output: `[N·T, C, H, W]`, frames of a clip consecutive.
pub fn temporal_shift(x: Tensor<4>, segments: usize, fold: usize) -> Tensor<4> {
    let [nt, c, h, w] = x.dims();
    assert!(
        nt % segments == 0,
        "batch of {nt} frames is not a whole number of {segments}-frame clips"
    );
    assert!(2 * fold <= c, "cannot shift 2 × {fold} of {c} channels");
    if fold == 0 || segments < 2 {
        return x;
    }
    let n = nt / segments;
    let x = x.reshape([n, segments, c, h, w]);
    // Frame t takes channels [0, fold) from frame t + 1 (shifted backward in time) ...
    let backward = x.clone().slice(s![.., 1.., 0..fold]).pad(
        [(0, 0), (0, 1), (0, 0), (0, 0), (0, 0)],
        PadMode::Constant(0.0),
    );
    // ... and channels [fold, 2·fold) from frame t − 1 (shifted forward).
    let forward = x.clone().slice(s![.., ..segments - 1, fold..2 * fold]).pad(
        [(0, 0), (1, 0), (0, 0), (0, 0), (0, 0)],
        PadMode::Constant(0.0),
    );
    let rest = x.slice(s![.., .., 2 * fold..]);
    Tensor::cat(vec![backward, forward, rest], 2).reshape([nt, c, h, w])
}

/// A basic residual block whose residual branch starts with a temporal shift (none for TSN).
#[derive(Module, Debug)]
pub struct ShiftBlock {
    /// First conv-BN-act.
    pub first: ConvBnAct,
    /// Second convolution.
    pub conv2: Conv2d,
    /// Second batch norm.
    pub bn2: BatchNorm,
    /// Shortcut.
    pub shortcut: Shortcut,
    /// Activation after the addition.
    pub act: Activation,
    /// Frames per clip.
    pub segments: usize,
    /// Channels shifted each way (0: TSN).
    pub fold: usize,
}

impl ShiftBlock {
    fn new(
        i: usize,
        o: usize,
        stride: usize,
        segments: usize,
        shift: bool,
        act: &ActivationConfig,
        device: &Device,
    ) -> Self {
        Self {
            first: ConvBnAct::new(i, o, 3, stride, act, device),
            conv2: conv(o, o, 3, 1, 1, device),
            bn2: batch_norm(o, device),
            shortcut: Shortcut::new(ShortcutKind::B, i, o, stride, device),
            act: act.init(o, device),
            segments,
            fold: if shift { i / 8 } else { 0 },
        }
    }

    /// # Shapes
    /// - input: `[N·T, C_in, H, W]`; output: `[N·T, C_out, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shifted = temporal_shift(x.clone(), self.segments, self.fold);
        let y = conv_bn(&self.conv2, &self.bn2, self.first.forward(shifted));
        self.act.forward(y + self.shortcut.forward(x))
    }
}

/// Configuration of [`VideoNet`].
#[derive(Config, Debug)]
pub struct VideoNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Frames per clip.
    #[config(default = 8)]
    pub segments: usize,
    /// Temporal shift (TSM) or not (TSN).
    #[config(default = true)]
    pub shift: bool,
    /// Input channels.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels of the stem and of the three stages.
    #[config(default = "[16, 16, 32, 64]")]
    pub widths: [usize; 4],
    /// The activation used everywhere.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
}

/// TSM or TSN on a small ResNet.
#[derive(Module, Debug)]
pub struct VideoNet {
    /// 3×3/2 stem.
    pub stem: ConvBnAct,
    /// Residual blocks (strides 1, 2, 2).
    pub blocks: Vec<ShiftBlock>,
    pool: AdaptiveAvgPool2d,
    /// Classifier.
    pub head: Linear,
    /// Frames per clip.
    pub segments: usize,
}

impl VideoNetConfig {
    /// Builds the network.
    pub fn init(&self, device: &Device) -> VideoNet {
        let act = &self.activation;
        let [w0, w1, w2, w3] = self.widths;
        let t = self.segments;
        VideoNet {
            stem: ConvBnAct::new(self.in_channels, w0, 3, 2, act, device),
            blocks: vec![
                ShiftBlock::new(w0, w1, 1, t, self.shift, act, device),
                ShiftBlock::new(w1, w2, 2, t, self.shift, act, device),
                ShiftBlock::new(w2, w3, 2, t, self.shift, act, device),
            ],
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(w3, self.num_classes).init(device),
            segments: t,
        }
    }
}

impl VideoNet {
    /// # Shapes
    /// - input: `[N, T, C, H, W]` with T = `segments`
    /// - output: `[N, num_classes]`: per-frame logits averaged over time
    pub fn forward(&self, clips: Tensor<5>) -> Tensor<2> {
        let [n, t, c, h, w] = clips.dims();
        assert_eq!(
            t, self.segments,
            "the network was built for {} frames, got {t}",
            self.segments
        );
        let mut x = self.stem.forward(clips.reshape([n * t, c, h, w]));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let logits: Tensor<2> = self.head.forward(self.pool.forward(x).flatten(1, 3));
        let k = logits.dims()[1];
        logits.reshape([n, t, k]).mean_dim(1).reshape([n, k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The shift written out element by element.
    fn reference(x: &[f32], n: usize, t: usize, c: usize, hw: usize, fold: usize) -> Vec<f32> {
        let at = |b: usize, f: usize, ch: usize, p: usize| x[((b * t + f) * c + ch) * hw + p];
        let mut out = vec![0.0; x.len()];
        for b in 0..n {
            for f in 0..t {
                for ch in 0..c {
                    for p in 0..hw {
                        let v = if ch < fold {
                            if f + 1 < t { at(b, f + 1, ch, p) } else { 0.0 }
                        } else if ch < 2 * fold {
                            if f > 0 { at(b, f - 1, ch, p) } else { 0.0 }
                        } else {
                            at(b, f, ch, p)
                        };
                        out[((b * t + f) * c + ch) * hw + p] = v;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn shift_matches_the_reference_forward_and_backward() {
        let device = Device::flex().autodiff();
        let (n, t, c, h, w) = (2, 4, 8, 3, 2);
        let x = Tensor::<4>::random([n * t, c, h, w], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let values = x.clone().try_into_vec_as::<f32>().unwrap();
        let y = temporal_shift(x.clone(), t, 2);
        assert_eq!(
            y.clone().try_into_vec_as::<f32>().unwrap(),
            reference(&values, n, t, c, h * w, 2)
        );
        // The shift is linear: the gradient of Σ y·g is the reverse shift of g, i.e. the
        // adjoint, checked through ⟨shift(x), g⟩ = ⟨x, grad⟩.
        let g = Tensor::<4>::random([n * t, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let grads = (y * g.clone()).sum().backward();
        let dx = x.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        let gv = g.try_into_vec_as::<f32>().unwrap();
        // Reverse shift: channels [0, fold) come from frame t − 1, [fold, 2 fold) from t + 1.
        let mut expected = vec![0.0f32; gv.len()];
        let idx = |b: usize, f: usize, ch: usize, p: usize| ((b * t + f) * c + ch) * h * w + p;
        for b in 0..n {
            for f in 0..t {
                for ch in 0..c {
                    for p in 0..h * w {
                        expected[idx(b, f, ch, p)] = if ch < 2 {
                            if f > 0 { gv[idx(b, f - 1, ch, p)] } else { 0.0 }
                        } else if ch < 4 {
                            if f + 1 < t {
                                gv[idx(b, f + 1, ch, p)]
                            } else {
                                0.0
                            }
                        } else {
                            gv[idx(b, f, ch, p)]
                        };
                    }
                }
            }
        }
        for (a, e) in dx.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-6);
        }
    }

    #[test]
    fn networks_output_clip_logits() {
        let device = Device::flex();
        for shift in [true, false] {
            let net = VideoNetConfig::new(8)
                .with_segments(4)
                .with_shift(shift)
                .with_activation(ActivationConfig::frelu())
                .init(&device);
            let clips = Tensor::<5>::random([3, 4, 1, 32, 32], Distribution::Default, &device);
            assert_eq!(net.forward(clips).dims(), [3, 8]);
            assert_eq!(net.blocks[1].fold, if shift { 2 } else { 0 });
        }
    }

    #[test]
    fn tsn_cannot_see_the_order_of_frames_and_tsm_can() {
        let device = Device::flex();
        let clips = Tensor::<5>::random([2, 4, 1, 16, 16], Distribution::Default, &device);
        let reversed = clips.clone().flip([1]);
        let tsn = VideoNetConfig::new(3)
            .with_segments(4)
            .with_shift(false)
            .init(&device);
        let tsm = VideoNetConfig::new(3).with_segments(4).init(&device);
        let diff = |net: &VideoNet| {
            (net.forward(clips.clone()) - net.forward(reversed.clone()))
                .abs()
                .max()
                .into_scalar::<f32>()
        };
        assert!(diff(&tsn) < 1e-5, "TSN depends on frame order");
        assert!(diff(&tsm) > 1e-4, "TSM ignores frame order");
    }
}
