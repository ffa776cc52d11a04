//! What `frelu bench` measures and reports: its options, the variants and paths it compares,
//! and the result rows.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, activation};
use frelu::ActivationConfig;
use frelu::ops::{frelu, frelu_composed};
use serde::{Deserialize, Serialize};

use crate::models::Architecture;

/// The activation variants compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// ReLU (Burn's own op).
    Relu,
    /// PReLU through the fused FReLU op (pos fixed to 1).
    PRelu,
    /// FReLU composed of ordinary tensor ops.
    FReluComposed,
    /// FReLU through the fused op.
    FReluFused,
}

impl Variant {
    /// All variants, ReLU first.
    pub const ALL: [Variant; 4] = [
        Variant::Relu,
        Variant::PRelu,
        Variant::FReluComposed,
        Variant::FReluFused,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Relu => "relu",
            Variant::PRelu => "prelu (fused)",
            Variant::FReluComposed => "frelu (composed)",
            Variant::FReluFused => "frelu (fused)",
        }
    }

    pub(super) fn activation(self) -> ActivationConfig {
        match self {
            Variant::Relu => ActivationConfig::Relu,
            Variant::PRelu => "prelu".parse().expect("valid"),
            Variant::FReluComposed => "frelu:composed".parse().expect("valid"),
            Variant::FReluFused => ActivationConfig::frelu(),
        }
    }

    pub(super) fn apply(self, x: Tensor<4>, pos: &Tensor<1>, neg: &Tensor<1>) -> Tensor<4> {
        match self {
            Variant::Relu => activation::relu(x),
            Variant::PRelu => {
                let ones = Tensor::<1>::ones(pos.dims(), &pos.device());
                frelu(x, ones, neg.clone())
            }
            Variant::FReluComposed => frelu_composed(x, pos.clone(), neg.clone()),
            Variant::FReluFused => frelu(x, pos.clone(), neg.clone()),
        }
    }
}

/// Which implementation of the convolution → batch norm → activation block ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// Flex's own operations (Burn's default decompositions): the fast path switched off.
    #[default]
    Flex,
    /// [`frelu::fastpath`], its convolutions on oneDNN where the library loads
    /// ([`frelu::fastpath::onednn_status`]).
    Fast,
    /// [`frelu::fastpath`] on its own Rust kernels only (oneDNN switched off).
    FastRust,
}

impl Path {
    /// The paths timed by default: Flex and the fast path as a program gets it.
    pub const DEFAULT: [Path; 2] = [Path::Flex, Path::Fast];

    /// Every path, Flex first.
    pub const ALL: [Path; 3] = [Path::Flex, Path::Fast, Path::FastRust];

    fn flex_only() -> Vec<Path> {
        vec![Path::Flex]
    }

    /// Its name, as the CLI writes it.
    pub fn name(self) -> &'static str {
        match self {
            Path::Flex => "flex",
            Path::Fast => "fast",
            Path::FastRust => "fast-rust",
        }
    }

    /// Switches the process to this path.
    pub fn select(self) {
        frelu::fastpath::set_enabled(self != Path::Flex);
        frelu::fastpath::set_onednn(self == Path::Fast);
    }

    /// The path the process is on now (to restore it after a benchmark).
    pub fn current() -> Path {
        if !frelu::fastpath::enabled() {
            Path::Flex
        } else if frelu::fastpath::onednn_status().is_ok() {
            Path::Fast
        } else {
            Path::FastRust
        }
    }
}

impl std::str::FromStr for Path {
    type Err = crate::data::ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Path::ALL
            .into_iter()
            .find(|path| path.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Path::ALL.iter().map(|p| p.name()).collect();
                crate::data::ParseError(format!(
                    "unknown path {text:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Options of a benchmark run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Device string.
    pub device: String,
    /// Timed repeats per measurement (after warm-up).
    pub repeats: usize,
    /// Warm-up repeats, not timed.
    pub warmup: usize,
    /// Batch size of the training-step benchmark.
    pub batch: usize,
    /// Skip the training-step part.
    pub ops_only: bool,
    /// Shapes of the op benchmark.
    pub op_shapes: Vec<[usize; 4]>,
    /// Models of the step benchmark.
    pub models: Vec<Architecture>,
    /// Also time a `simple-cnn` training step with each of FReLU's learnable peers.
    #[serde(default)]
    pub peers: bool,
    /// The paths timed: Flex's own ops and the fast path ([`frelu::fastpath`]).
    #[serde(default = "Path::flex_only")]
    pub paths: Vec<Path>,
    /// Width multiplier α of the MobileNets benched.
    #[serde(default = "default_mobilenet_width")]
    pub mobilenet_width: f64,
    /// A report of `scripts/pytorch_step.py` (PyTorch on the same networks): its step times
    /// are printed beside these, with the ratio.
    #[serde(default)]
    pub pytorch: Option<PathBuf>,
}

/// MobileNet's width in the benchmark: the α = 0.5 network of the MobileNet study.
pub const DEFAULT_MOBILENET_WIDTH: f64 = 0.5;

fn default_mobilenet_width() -> f64 {
    DEFAULT_MOBILENET_WIDTH
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            device: "flex".into(),
            repeats: 15,
            warmup: 3,
            batch: 128,
            ops_only: false,
            op_shapes: vec![[128, 64, 28, 28], [256, 256, 14, 14]],
            models: vec![
                Architecture::SimpleCnn,
                Architecture::CifarResNet { depth: 20 },
                Architecture::MobileNetV1Cifar,
            ],
            peers: true,
            paths: Path::DEFAULT.to_vec(),
            mobilenet_width: DEFAULT_MOBILENET_WIDTH,
            pytorch: None,
        }
    }
}

/// One op measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpResult {
    /// Input shape.
    pub shape: [usize; 4],
    /// Variant.
    pub variant: Variant,
    /// Median forward time, ms.
    pub forward_ms: f64,
    /// Median forward + backward time, ms.
    pub forward_backward_ms: f64,
    /// Forward bandwidth: (read x + write y) / time, GB/s.
    pub forward_gbps: f64,
    /// Forward+backward time relative to ReLU's.
    pub forward_backward_vs_relu: f64,
}

/// One training-step measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepResult {
    /// Model.
    pub model: String,
    /// The path that ran it.
    #[serde(default)]
    pub path: Path,
    /// Variant.
    pub variant: Variant,
    /// Median time of one step (forward, backward, optimiser), ms.
    pub step_ms: f64,
    /// Images per second.
    pub images_per_sec: f64,
    /// Step time relative to ReLU's on the same path: the median over repeats of the ratio
    /// within one repeat (paired).
    pub vs_relu: f64,
    /// Flex's step time for the same model and variant divided by this one (fast-path rows),
    /// paired as `vs_relu`.
    #[serde(default)]
    pub speedup_vs_flex: Option<f64>,
    /// PyTorch's median step time for the same network and activation, ms, when a report of
    /// `scripts/pytorch_step.py` was given.
    #[serde(default)]
    pub pytorch_ms: Option<f64>,
}

impl StepResult {
    /// PyTorch's step time divided by this one (above 1: faster than PyTorch).
    pub fn vs_pytorch(&self) -> Option<f64> {
        self.pytorch_ms.map(|t| t / self.step_ms)
    }
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The options.
    pub config: BenchConfig,
    /// Measured memory copy bandwidth of this machine (one large buffer, host memory), GB/s.
    pub copy_gbps: f64,
    /// Logical CPUs.
    pub cpus: usize,
    /// What the fast path's convolutions ran on: `oneDNN <version>`, or the Rust kernels and
    /// why oneDNN was not used.
    #[serde(default)]
    pub engine: String,
    /// Op results.
    pub ops: Vec<OpResult>,
    /// Training-step results.
    pub steps: Vec<StepResult>,
    /// The PyTorch reference the steps are compared with, as its report describes itself.
    #[serde(default)]
    pub pytorch: Option<String>,
    /// Training-step results of the learnable peers (`simple-cnn`).
    #[serde(default)]
    pub peers: Vec<PeerResult>,
    /// Inference results, as trained and folded.
    #[serde(default)]
    pub inference: Vec<InferenceResult>,
}

/// One training-step measurement of an activation of the registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerResult {
    /// The activation, as the registry writes it.
    pub activation: String,
    /// Median time of one step, ms.
    pub step_ms: f64,
    /// Step time relative to ReLU's: the median over repeats of the ratio within one repeat.
    pub vs_relu: f64,
}

/// One inference measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferenceResult {
    /// Model.
    pub model: String,
    /// The path that ran it.
    #[serde(default)]
    pub path: Path,
    /// What ran: `relu`, `frelu` (Burn's model as trained), `relu folded`, `frelu folded`
    /// (batch norm folded, FReLU at PReLU cost: [`crate::export::folded::FoldedNet`]).
    pub variant: String,
    /// Median time of one forward pass, ms.
    pub ms: f64,
    /// Time relative to ReLU's (unfolded): the median over repeats of the ratio within one
    /// repeat.
    pub vs_relu: f64,
}

/// The median (NaN for none).
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Waits for the device's queued work.
pub(super) fn sync(device: &Device) {
    let _ = device.sync();
}
