//! Models. Each takes the activation as a parameter ([`frelu::ActivationConfig`]) and never
//! names a concrete one.

pub mod common;
pub mod resnet;
pub mod simple_cnn;

use core::fmt;
use core::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;
use serde::{Deserialize, Serialize};

use resnet::{CifarResNet, CifarResNetConfig, ShortcutKind};
use simple_cnn::{SimpleCnn, SimpleCnnConfig};

/// A model architecture, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    /// `simple-cnn`.
    SimpleCnn,
    /// `resnet20`, `resnet32`, `resnet44`, `resnet56`, `resnet110`: CIFAR-style ResNets.
    CifarResNet {
        /// 6n + 2.
        depth: usize,
    },
}

impl FromStr for Architecture {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase().replace('_', "-");
        match name.as_str() {
            "simple-cnn" | "simplecnn" | "cnn" => Ok(Self::SimpleCnn),
            _ => {
                if let Some(depth) = name.strip_prefix("resnet").and_then(|d| d.parse().ok()) {
                    let arch = Self::CifarResNet { depth };
                    let config = CifarResNetConfig::new().with_depth(depth);
                    config.blocks_per_stage().map(|_| arch)
                } else {
                    Err(format!(
                        "unknown model '{text}'; known: simple-cnn, resnet20, resnet32, \
                         resnet44, resnet56, resnet110"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SimpleCnn => f.write_str("simple-cnn"),
            Self::CifarResNet { depth } => write!(f, "resnet{depth}"),
        }
    }
}

/// Everything needed to build a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The architecture.
    pub architecture: Architecture,
    /// Input channels.
    pub in_channels: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// The activation used everywhere.
    pub activation: ActivationConfig,
    /// Residual shortcut option (ResNets).
    pub shortcut: ShortcutKind,
}

impl ModelConfig {
    /// A model with the default options.
    pub fn new(
        architecture: Architecture,
        in_channels: usize,
        num_classes: usize,
        activation: ActivationConfig,
    ) -> Self {
        Self {
            architecture,
            in_channels,
            num_classes,
            activation,
            shortcut: ShortcutKind::A,
        }
    }

    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> Net {
        match self.architecture {
            Architecture::SimpleCnn => Net::SimpleCnn(
                SimpleCnnConfig::new()
                    .with_in_channels(self.in_channels)
                    .with_num_classes(self.num_classes)
                    .with_activation(self.activation.clone())
                    .init(device),
            ),
            Architecture::CifarResNet { depth } => Net::CifarResNet(
                CifarResNetConfig::new()
                    .with_depth(depth)
                    .with_in_channels(self.in_channels)
                    .with_num_classes(self.num_classes)
                    .with_shortcut(self.shortcut)
                    .with_activation(self.activation.clone())
                    .init(device),
            ),
        }
    }
}

/// Any of the models.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Net {
    /// `simple-cnn`.
    SimpleCnn(SimpleCnn),
    /// A CIFAR-style ResNet.
    CifarResNet(CifarResNet),
}

impl Net {
    /// # Shapes
    /// - input: `[batch, channels, h, w]`
    /// - output: `[batch, num_classes]` (logits)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::SimpleCnn(net) => net.forward(x),
            Net::CifarResNet(net) => net.forward(x),
        }
    }
}

/// Trainable parameters of a module: [`Module::num_params`] minus batch-norm running statistics
/// (which Burn stores as module state and counts, and PyTorch does not).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    use burn::module::{ModuleVisitor, Param};
    #[derive(Default)]
    struct Counter {
        names: Vec<String>,
        count: usize,
    }
    impl ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.names.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.names.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !self.names.last().is_some_and(|n| n.starts_with("running_")) {
                self.count += param.shape().num_elements();
            }
        }
    }
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.count
}
