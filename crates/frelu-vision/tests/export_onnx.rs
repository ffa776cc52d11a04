//! ONNX from the exporter, run by tract (a pure-Rust ONNX runtime), gives Burn's logits for
//! every classification model; folded FReLU costs no more nodes than PReLU.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Distribution, Tensor};
use frelu::ActivationConfig;
use frelu_vision::export::folded::FoldedNet;
use frelu_vision::export::onnx::export;
use frelu_vision::models::resnet::ShortcutKind;
use frelu_vision::models::{Architecture, ModelConfig, Net};
use tract_onnx::prelude::*;

/// Adds `U(−0.2, 0.2)` to every vector parameter (biases, BN γ/β, FReLU slopes), so that
/// nothing sits at its tidy initial value.
struct Jitter;
impl ModuleMapper for Jitter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 1 {
            return param;
        }
        param.map(|t| t.clone() + t.random_like(Distribution::Uniform(-0.2, 0.2)))
    }
}

/// A network with non-trivial batch-norm statistics (one training-mode forward pass) and
/// jittered vector parameters, on an inference device.
fn network(config: &ModelConfig, side: usize) -> (Net, Tensor<4>) {
    let device = Device::flex();
    device.seed(1);
    let ad = device.clone().autodiff();
    let net = config.init(&ad).unwrap().map(&mut Jitter);
    let shape = [4, config.in_channels, side, side];
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
    let _ = net.forward(x.clone());
    (net.valid(), x.inner())
}

fn tract_logits(bytes: &[u8], x: &Tensor<4>) -> Vec<f32> {
    let dims = x.dims();
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact(dims).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let data = x.clone().into_data().try_to_vec::<f32>().unwrap();
    let input: tract_onnx::prelude::Tensor = tract_ndarray::Array4::from_shape_vec(dims, data)
        .unwrap()
        .into();
    let out = model.run(tvec!(input.into())).unwrap();
    out[0]
        .to_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn check(label: &str, config: &ModelConfig, side: usize) -> usize {
    let (net, x) = network(config, side);
    let burn: Vec<f32> = net.forward(x.clone()).try_into_vec_as().unwrap();
    let bytes =
        export(&net, [config.in_channels, side, side]).unwrap_or_else(|e| panic!("{label}: {e}"));
    let onnx = tract_logits(&bytes, &x);
    assert_eq!(burn.len(), onnx.len(), "{label}");
    let scale = burn.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in burn.iter().zip(&onnx).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{label} logit {i}: Burn {a} vs ONNX {b}"
        );
    }
    // The same folded graph run by Burn.
    let folded = FoldedNet::new(&net, [config.in_channels, side, side], &Device::flex()).unwrap();
    let folded: Vec<f32> = folded.forward(x).try_into_vec_as().unwrap();
    for (i, (a, b)) in burn.iter().zip(&folded).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{label} logit {i}: Burn {a} vs folded {b}"
        );
    }
    nodes(&bytes)
}

fn nodes(bytes: &[u8]) -> usize {
    frelu_vision::export::onnx::node_count(bytes).unwrap()
}

fn config(arch: &str, act: &str, channels: usize, width: f64) -> ModelConfig {
    ModelConfig {
        width,
        ..ModelConfig::new(
            arch.parse::<Architecture>().unwrap(),
            channels,
            6,
            act.parse::<ActivationConfig>().unwrap(),
        )
    }
}

#[test]
fn every_model_exports_with_burns_logits_and_frelu_at_prelu_cost() {
    let models = [
        ("simple-cnn", 1, 1.0, 28),
        ("resnet20", 3, 1.0, 32),
        ("resnet18", 3, 0.125, 32),
        ("resnet50", 3, 0.0625, 32),
        ("mobilenet_v1", 3, 0.25, 32),
        ("mobilenet_v1_cifar", 3, 0.25, 28),
        ("vgg16_bn_cifar", 3, 0.25, 32),
        ("vgg16_bn", 3, 0.0625, 32),
    ];
    for (arch, channels, width, side) in models {
        let mut counts = Vec::new();
        for act in ["relu", "prelu", "frelu", "lrelu:0.1"] {
            counts.push(check(
                &format!("{arch} {act}"),
                &config(arch, act, channels, width),
                side,
            ));
        }
        let (relu, prelu, frelu) = (counts[0], counts[1], counts[2]);
        // Folded FReLU: exactly one node per activation, as PReLU; ReLU the same count.
        assert_eq!(frelu, prelu, "{arch}: FReLU {frelu} nodes, PReLU {prelu}");
        assert_eq!(relu, prelu, "{arch}: ReLU {relu} nodes, PReLU {prelu}");
    }
    // Option B shortcuts (1×1 projection) of the CIFAR ResNet.
    let mut b = config("resnet20", "frelu", 3, 1.0);
    b.shortcut = ShortcutKind::B;
    check("resnet20 B frelu", &b, 32);
}

#[test]
fn frelu_with_non_positive_slopes_is_exported_exactly() {
    // pos ≤ 0 on some channels: no folding into the convolution, the exact composed form.
    struct Flip(Vec<String>);
    impl ModuleMapper for Flip {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.0.push(name.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.0.last().is_some_and(|n| n == "pos") {
                param.map(|t| t - 1.1)
            } else {
                param
            }
        }
    }
    let config = config("simple-cnn", "frelu", 1, 1.0);
    let (net, x) = network(&config, 28);
    let net = net.map(&mut Flip(Vec::new()));
    let burn: Vec<f32> = net.forward(x.clone()).try_into_vec_as().unwrap();
    let onnx = tract_logits(&export(&net, [1, 28, 28]).unwrap(), &x);
    let scale = burn.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (a, b) in burn.iter().zip(&onnx) {
        assert!((a - b).abs() <= 1e-4 * scale, "Burn {a} vs ONNX {b}");
    }
    // Activations without an export are a clear error.
    let (net, _) = network(&config_for("gelu"), 28);
    let err = export(&net, [1, 28, 28]).unwrap_err();
    assert!(err.contains("no ONNX export yet"), "{err}");
}

fn config_for(act: &str) -> ModelConfig {
    config("simple-cnn", act, 1, 1.0)
}
