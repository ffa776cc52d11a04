//! torchvision- and timm-layout PyTorch weights (ResNet-18, ResNet-50, VGG-16-BN, MobileNetV1) (`tests/fixtures/torchvision`, made by the script there)
//! load into the matching ResNets and give the logits PyTorch recorded; the ReLU→FReLU swap
//! gives the same logits at step 0; what does not fit is an error naming the keys.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use frelu::ActivationConfig;
use frelu_vision::models::import::load_pytorch;
use frelu_vision::models::{Architecture, ModelConfig};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    file: String,
    model: String,
    width: f64,
    classes: usize,
    input_shape: [usize; 4],
    input: Vec<f32>,
    logits: Vec<f32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision")
}

fn fixture(name: &str) -> Fixture {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn config(f: &Fixture, act: &str, classes: usize) -> ModelConfig {
    ModelConfig {
        width: f.width,
        ..ModelConfig::new(
            f.model.parse::<Architecture>().unwrap(),
            3,
            classes,
            act.parse::<ActivationConfig>().unwrap(),
        )
    }
}

fn logits(f: &Fixture, act: &str) -> Vec<f32> {
    let device = Device::flex();
    let net = config(f, act, f.classes).init(&device).unwrap();
    let (net, report) = load_pytorch(net, &fixtures().join(&f.file)).unwrap();
    assert!(report.loaded > 0 && report.head_reinitialised.is_none());
    let x = Tensor::<4>::from_data(TensorData::new(f.input.clone(), f.input_shape), &device);
    net.forward(x).try_into_vec_as::<f32>().unwrap()
}

#[test]
fn torchvision_weights_give_pytorchs_logits_and_frelu_starts_identical() {
    for name in [
        "resnet18_w4",
        "resnet50_w4",
        "vgg16_bn_w1-64",
        "mobilenet_v1_w1-4",
    ] {
        let f = fixture(name);
        let relu = logits(&f, "relu");
        assert_eq!(relu.len(), f.logits.len());
        for (i, (a, b)) in relu.iter().zip(&f.logits).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{name} logit {i}: Burn {a} vs PyTorch {b}"
            );
        }
        assert_eq!(
            logits(&f, "frelu"),
            relu,
            "{name}: the swap changed the function"
        );
    }
}

#[test]
fn weights_that_do_not_fit_are_errors_naming_the_keys() {
    let device = Device::flex();
    let f = fixture("resnet18_w4");
    let file = fixtures().join(&f.file);
    // Another depth: the file lacks the extra blocks' keys.
    let mut deeper = config(&f, "relu", f.classes);
    deeper.architecture = Architecture::ResNet { depth: 34 };
    let err = load_pytorch(deeper.init(&device).unwrap(), &file)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the file lacks blocks.10.") && err.contains("and 72 more"),
        "{err}"
    );
    // Another width: every shape differs, and the error says which.
    let mut wider = config(&f, "relu", f.classes);
    wider.width = 0.25;
    let err = load_pytorch(wider.init(&device).unwrap(), &file)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Shape mismatch for 'stem.conv.weight'"),
        "{err}"
    );
    // Another class count: only the head is left at its initialisation, and that is reported.
    let net = config(&f, "relu", 7).init(&device).unwrap();
    let (_, report) = load_pytorch(net, &file).unwrap();
    assert_eq!(report.head_reinitialised, Some((5, 7)));
    // Another architecture, a missing file.
    let cnn = ModelConfig::new(Architecture::SimpleCnn, 1, 10, ActivationConfig::Relu);
    let err = load_pytorch(cnn.init(&device).unwrap(), &file)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not mapped yet"), "{err}");
    let net = config(&f, "relu", f.classes).init(&device).unwrap();
    let err = load_pytorch(net, &fixtures().join("missing.pth"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such file"), "{err}");
}
