//! Models. Each takes the activation as a parameter ([`frelu::ActivationConfig`]) and never
//! names a concrete one.

pub mod common;
pub mod detection;
mod error;
pub mod import;
pub mod mobilenet;
pub mod resnet;
pub mod simple_cnn;
pub mod tsm;
pub mod vgg;

use core::fmt;
use core::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use frelu::ActivationConfig;
use serde::{Deserialize, Serialize};

pub use error::ModelError;
use mobilenet::{MobileNetV1, MobileNetV1Config};
use resnet::{CifarResNet, CifarResNetConfig, ResNet, ResNetConfig, ShortcutKind};
use simple_cnn::{SimpleCnn, SimpleCnnConfig};
use vgg::{Vgg16, Vgg16Config, VggHead};

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
    /// `resnet18`, `resnet34`, `resnet50`: ImageNet ResNets (torchvision).
    ResNet {
        /// 18, 34 or 50.
        depth: usize,
    },
    /// `mobilenet_v1` (width multiplier: `ModelConfig::width`).
    MobileNetV1,
    /// `mobilenet_v1_cifar`: MobileNetV1 with the stride-1 stem of its CIFAR versions, for
    /// 28×28 and 32×32 images.
    MobileNetV1Cifar,
    /// `vgg16_bn` (ImageNet head) and `vgg16_bn_cifar` (CIFAR head).
    Vgg16Bn {
        /// The classifier.
        head: VggHead,
    },
}

impl Architecture {
    /// Every architecture by its name, in the order help texts and errors list them.
    pub const ALL: [Architecture; 13] = [
        Self::SimpleCnn,
        Self::CifarResNet { depth: 20 },
        Self::CifarResNet { depth: 32 },
        Self::CifarResNet { depth: 44 },
        Self::CifarResNet { depth: 56 },
        Self::CifarResNet { depth: 110 },
        Self::ResNet { depth: 18 },
        Self::ResNet { depth: 34 },
        Self::ResNet { depth: 50 },
        Self::MobileNetV1,
        Self::MobileNetV1Cifar,
        Self::Vgg16Bn {
            head: VggHead::ImageNet,
        },
        Self::Vgg16Bn {
            head: VggHead::Cifar,
        },
    ];

    /// The smallest image side the network takes: below it a pooling stage would leave no
    /// pixel (simple-cnn pools twice by 2, VGG five times).
    pub fn min_input_size(&self) -> usize {
        match self {
            Self::SimpleCnn => 4,
            Self::Vgg16Bn { .. } => 32,
            Self::CifarResNet { .. }
            | Self::ResNet { .. }
            | Self::MobileNetV1
            | Self::MobileNetV1Cifar => 1,
        }
    }

    /// The names of [`Architecture::ALL`], comma-separated.
    pub fn names() -> String {
        Self::ALL.map(|a| a.to_string()).join(", ")
    }
}

impl FromStr for Architecture {
    type Err = crate::data::ParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase().replace('_', "-");
        let known = format!("known: {}", Self::names());
        match name.as_str() {
            "simple-cnn" | "simplecnn" | "cnn" => Ok(Self::SimpleCnn),
            "mobilenet-v1" | "mobilenetv1" | "mobilenet" => Ok(Self::MobileNetV1),
            "mobilenet-v1-cifar" | "mobilenetv1-cifar" | "mobilenet-cifar" => {
                Ok(Self::MobileNetV1Cifar)
            }
            "vgg16-bn" | "vgg16bn" => Ok(Self::Vgg16Bn {
                head: VggHead::ImageNet,
            }),
            "vgg16-bn-cifar" | "vgg16bn-cifar" => Ok(Self::Vgg16Bn {
                head: VggHead::Cifar,
            }),
            _ => match name.strip_prefix("resnet").and_then(|d| d.parse().ok()) {
                Some(depth @ (18 | 34 | 50)) => Ok(Self::ResNet { depth }),
                Some(depth) => {
                    let config = CifarResNetConfig::new().with_depth(depth);
                    config
                        .blocks_per_stage()
                        .map(|_| Self::CifarResNet { depth })
                        .map_err(|e| crate::data::ParseError(format!("{e}; {known}")))
                }
                None => Err(crate::data::ParseError(format!(
                    "unknown model '{text}'; {known}"
                ))),
            },
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SimpleCnn => f.write_str("simple-cnn"),
            Self::CifarResNet { depth } | Self::ResNet { depth } => write!(f, "resnet{depth}"),
            Self::MobileNetV1 => f.write_str("mobilenet_v1"),
            Self::MobileNetV1Cifar => f.write_str("mobilenet_v1_cifar"),
            Self::Vgg16Bn {
                head: VggHead::ImageNet,
            } => f.write_str("vgg16_bn"),
            Self::Vgg16Bn {
                head: VggHead::Cifar,
            } => f.write_str("vgg16_bn_cifar"),
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
    /// Residual shortcut option (CIFAR ResNets).
    pub shortcut: ShortcutKind,
    /// Width multiplier α (MobileNetV1; ImageNet ResNets: stage widths `64α · (1, 2, 4, 8)`;
    /// VGG-16: every layer).
    pub width: f64,
    /// Height × width of the input images, when known: checked against the smallest size the
    /// architecture takes.
    #[serde(default)]
    pub input_size: Option<(usize, usize)>,
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
            shortcut: ShortcutKind::default(),
            width: 1.0,
            input_size: None,
        }
    }

    /// Builds the network on `device`; a configuration it cannot take is an error.
    pub fn init(&self, device: &Device) -> Result<Net, ModelError> {
        let min = self.architecture.min_input_size();
        if let Some((h, w)) = self.input_size
            && (h < min || w < min)
        {
            return Err(ModelError::config(
                &self.architecture.to_string(),
                format!(
                    "images of {h}×{w} pixels are too small: it needs at least {min}×{min} \
                     (choose another --model, or a larger --resolution)"
                ),
            ));
        }
        Ok(match self.architecture {
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
                    .init(device)?,
            ),
            Architecture::ResNet { depth } => Net::ResNet(
                ResNetConfig::new()
                    .with_depth(depth)
                    .with_base_width(((64.0 * self.width).round() as usize).max(1))
                    .with_in_channels(self.in_channels)
                    .with_num_classes(self.num_classes)
                    .with_activation(self.activation.clone())
                    .init(device)?,
            ),
            arch @ (Architecture::MobileNetV1 | Architecture::MobileNetV1Cifar) => {
                Net::MobileNetV1(
                    MobileNetV1Config::new()
                        .with_width(self.width)
                        .with_in_channels(self.in_channels)
                        .with_num_classes(self.num_classes)
                        .with_activation(self.activation.clone())
                        .with_small_input(arch == Architecture::MobileNetV1Cifar)
                        .init(device)?,
                )
            }
            Architecture::Vgg16Bn { head } => Net::Vgg16Bn(
                Vgg16Config::new()
                    .with_head(head)
                    .with_width(self.width)
                    .with_in_channels(self.in_channels)
                    .with_num_classes(self.num_classes)
                    .with_activation(self.activation.clone())
                    .init(device),
            ),
        })
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
    /// An ImageNet ResNet.
    ResNet(ResNet),
    /// MobileNetV1.
    MobileNetV1(MobileNetV1),
    /// VGG-16-BN.
    Vgg16Bn(Vgg16),
}

impl Net {
    /// # Shapes
    /// - input: `[batch, channels, h, w]`
    /// - output: `[batch, num_classes]` (logits)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::SimpleCnn(net) => net.forward(x),
            Net::CifarResNet(net) => net.forward(x),
            Net::ResNet(net) => net.forward(x),
            Net::MobileNetV1(net) => net.forward(x),
            Net::Vgg16Bn(net) => net.forward(x),
        }
    }
}

/// Loads the weights of a trained network (a `model.bpk` written by this tool) into `net`,
/// matching parameters by their path. Parameters the file lacks keep their initial values — an
/// FReLU network loaded from a ReLU one keeps `pos = 1, neg = 0` and so computes exactly what
/// the ReLU network computed. A parameter of the file that `net` does not have, or one of
/// another shape (another class count, another width), is an error naming it.
pub fn load_weights<M: Module>(net: M, path: &std::path::Path) -> Result<M, ModelError> {
    let fail = |e: &dyn core::fmt::Display| {
        ModelError::config("--init-from", format!("{}: {e}", path.display()))
    };
    let record = burn::store::ModuleRecord::load(path)
        .map_err(|e| fail(&e))?
        .allow_partial(true);
    net.try_load_record(record).map_err(|e| fail(&e))
}

/// Trainable parameters of a module: [`Module::num_params`] minus batch-norm running statistics
/// (which Burn stores as module state and counts, and PyTorch does not).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    let mut count = 0;
    frelu::params::for_each_param(module, |info, _| {
        if !info.path.last().is_some_and(|n| n.starts_with("running_")) {
            count += info.numel;
        }
    });
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_names_round_trip() {
        for arch in Architecture::ALL {
            assert_eq!(arch.to_string().parse::<Architecture>().unwrap(), arch);
        }
        let err = "alexnet".parse::<Architecture>().unwrap_err().to_string();
        assert!(err.contains(&Architecture::names()), "{err}");
        assert!(
            "resnet21"
                .parse::<Architecture>()
                .unwrap_err()
                .to_string()
                .contains("6n + 2")
        );
        assert!(
            "alexnet"
                .parse::<Architecture>()
                .unwrap_err()
                .to_string()
                .contains("unknown model")
        );
    }

    #[test]
    fn every_model_trains_with_every_learnable_peer() {
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        for arch in Architecture::ALL {
            let min = arch.min_input_size();
            for name in frelu::activation::peers().into_iter().chain(["frelu"]) {
                let act: ActivationConfig = name.parse().unwrap();
                let config = ModelConfig {
                    width: 0.25,
                    input_size: Some((min, min)),
                    ..ModelConfig::new(arch, 3, 4, act.clone())
                };
                let net = config.init(&device).unwrap();
                let x = Tensor::<4>::random([2, 3, min, min], Distribution::Default, &device);
                let loss = net.forward(x).powf_scalar(2.0).mean();
                let grads = loss.backward();
                let seen = assert_activation_grads(&net, &grads, &format!("{arch} {name}"));
                assert_eq!(seen > 0, act.is_learnable(), "{arch} {name}");
            }
        }
    }

    /// Asserts that every learnable activation parameter of `net` has a gradient in `grads`;
    /// returns how many there are.
    fn assert_activation_grads(
        net: &impl burn::module::Module,
        grads: &burn::tensor::Gradients,
        label: &str,
    ) -> usize {
        let mut missing = Vec::new();
        let mut seen = 0;
        frelu::params::for_each_param(net, |info, _| {
            if info.activation {
                seen += 1;
                if !info_has_grad(net, info.id, grads) {
                    missing.push(info.path.join("."));
                }
            }
        });
        assert!(missing.is_empty(), "{label}: no gradient for {missing:?}");
        seen
    }

    #[test]
    fn the_detector_and_the_video_networks_train_with_every_learnable_peer() {
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        for name in frelu::activation::peers() {
            let act: ActivationConfig = name.parse().unwrap();
            let detector = detection::centernet::CenterNetConfig::new(3)
                .with_widths([8, 8, 8, 8])
                .with_head_width(8)
                .with_activation(act.clone())
                .init(&device);
            let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
            let out = detector.forward(x.clone());
            let loss = out.heat.powf_scalar(2.0).mean() + out.size.powf_scalar(2.0).mean();
            let seen = assert_activation_grads(&detector, &loss.backward(), name);
            assert_eq!(seen > 0, act.is_learnable(), "detector {name}");
            let backbone = detection::backbone::BackboneConfig::new()
                .with_base_width(4)
                .with_fpn_channels(8);
            let two_stage = detection::faster_rcnn::FasterRcnnConfig::new(2, act.clone(), backbone)
                .init(&device)
                .unwrap();
            let targets = detection::faster_rcnn::Targets {
                boxes: &[vec![[2.0, 3.0, 20.0, 24.0]], vec![]],
                labels: &[vec![1], vec![]],
                seeds: &[0, 1],
            };
            let loss = two_stage.loss(x.clone(), &targets).total();
            let seen = assert_activation_grads(&two_stage, &loss.backward(), name);
            assert_eq!(seen > 0, act.is_learnable(), "Faster R-CNN {name}");
            for shift in [true, false] {
                let video = tsm::VideoNetConfig::new(4)
                    .with_segments(2)
                    .with_shift(shift)
                    .with_widths([8, 8, 8, 8])
                    .with_activation(act.clone())
                    .init(&device);
                let clips = Tensor::<5>::random([2, 2, 1, 16, 16], Distribution::Default, &device);
                let loss = video.forward(clips).powf_scalar(2.0).mean();
                let seen = assert_activation_grads(&video, &loss.backward(), name);
                assert_eq!(seen > 0, act.is_learnable(), "video {name}");
            }
        }
    }

    /// Whether the parameter `id` of `net` has a gradient in `grads`.
    fn info_has_grad(
        net: &impl burn::module::Module,
        id: burn::module::ParamId,
        grads: &burn::tensor::Gradients,
    ) -> bool {
        struct Find<'a>(burn::module::ParamId, &'a burn::tensor::Gradients, bool);
        impl burn::module::ModuleVisitor for Find<'_> {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                if param.id == self.0 {
                    self.2 = param.val().grad(self.1).is_some();
                }
            }
        }
        let mut find = Find(id, grads, false);
        net.visit(&mut find);
        find.2
    }

    #[test]
    fn each_model_takes_its_smallest_input_and_rejects_a_smaller_one() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        for arch in Architecture::ALL {
            let min = arch.min_input_size();
            let config = |side: usize| ModelConfig {
                width: 0.25,
                input_size: Some((side, side)),
                ..ModelConfig::new(arch, 3, 4, ActivationConfig::Relu)
            };
            let net = config(min).init(&device).unwrap();
            let x = Tensor::<4>::random([2, 3, min, min], Distribution::Default, &device);
            let logits: Vec<f32> = net.forward(x).try_into_vec_as().unwrap();
            assert!(
                logits.iter().all(|v| v.is_finite()),
                "{arch} at {min}: {logits:?}"
            );
            if min > 1 {
                let err = config(min - 1).init(&device).unwrap_err().to_string();
                assert!(err.contains(&format!("at least {min}×{min}")), "{err}");
            }
        }
    }

    #[test]
    fn a_frelu_network_loaded_from_a_relu_one_computes_the_same_logits() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let config = |act: ActivationConfig| {
            ModelConfig::new(Architecture::CifarResNet { depth: 8 }, 3, 4, act)
        };
        device.seed(1);
        let relu = config(ActivationConfig::Relu).init(&device).unwrap();
        let path = dir.path().join("model.bpk");
        relu.clone().save_file(&path).unwrap();
        device.seed(2);
        let frelu = config(ActivationConfig::frelu()).init(&device).unwrap();
        let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Default, &device);
        let before: Vec<f32> = frelu.forward(x.clone()).try_into_vec_as().unwrap();
        let frelu = load_weights(frelu, &path).unwrap();
        let want: Vec<f32> = relu.valid().forward(x.clone()).try_into_vec_as().unwrap();
        let got: Vec<f32> = frelu.valid().forward(x).try_into_vec_as().unwrap();
        assert_eq!(got, want, "the swap must not change the function");
        assert_ne!(before, want, "the test needs different initial weights");
        // Another class count is an error naming the parameter.
        let other = ModelConfig::new(
            Architecture::CifarResNet { depth: 8 },
            3,
            7,
            ActivationConfig::Relu,
        )
        .init(&device)
        .unwrap();
        let err = load_weights(other, &path).unwrap_err().to_string();
        assert!(err.contains("--init-from") && err.contains("head"), "{err}");
    }

    #[test]
    fn constructors_return_errors_instead_of_panicking() {
        let device = Device::flex();
        let bad_depth = ModelConfig::new(
            Architecture::CifarResNet { depth: 21 },
            3,
            10,
            ActivationConfig::Relu,
        );
        let err = bad_depth.init(&device).unwrap_err().to_string();
        assert!(err.contains("6n + 2"), "{err}");
        let bad_width = ModelConfig {
            width: 0.0,
            ..ModelConfig::new(Architecture::MobileNetV1, 3, 10, ActivationConfig::Relu)
        };
        let err = bad_width.init(&device).unwrap_err().to_string();
        assert!(err.contains("width multiplier"), "{err}");
        let err = ModelConfig::new(
            Architecture::ResNet { depth: 19 },
            3,
            10,
            ActivationConfig::Relu,
        )
        .init(&device)
        .unwrap_err()
        .to_string();
        assert!(err.contains("18, 34 or 50"), "{err}");
    }

    #[test]
    fn every_model_takes_one_training_step_on_tiny_inputs() {
        use burn::optim::{GradientsParams, SgdConfig};
        use burn::tensor::{Distribution, Int, TensorData};
        let device = Device::flex().autodiff();
        for (name, size) in [
            ("simple-cnn", 28),
            ("resnet20", 16),
            ("resnet18", 32),
            ("mobilenet_v1", 32),
            ("vgg16_bn_cifar", 32),
        ] {
            let config = ModelConfig {
                width: 0.25,
                ..ModelConfig::new(name.parse().unwrap(), 3, 5, ActivationConfig::frelu())
            };
            let net = config.init(&device).unwrap();
            let x = Tensor::<4>::random([2, 3, size, size], Distribution::Default, &device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 3], [2]), &device);
            let logits = net.forward(x);
            assert_eq!(logits.dims(), [2, 5], "{name}");
            let loss = burn::nn::loss::CrossEntropyLossConfig::new()
                .init(&device)
                .forward(logits, y);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let before = frelu::slopes::snapshot(&net);
            let mut optim = SgdConfig::new().init();
            let net = optim.step(0.5, net, grads);
            assert_ne!(
                before,
                frelu::slopes::snapshot(&net),
                "{name}: slopes did not move"
            );
        }
    }
}
