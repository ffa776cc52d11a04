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

/// `faster_rcnn_r18_w4.*`: torchvision's own `FasterRCNN` (ResNet-18 at base width 4, an
/// 8-channel FPN, box head of 32) with its RPN outputs and the box head's outputs on fixed
/// proposals (`make_faster_rcnn_fixture.py`).
#[derive(Deserialize)]
struct DetectionFixture {
    file: String,
    base_width: usize,
    depth: usize,
    fpn_channels: usize,
    representation: usize,
    classes: usize,
    canonical_scale: f32,
    input_shape: [usize; 4],
    input: Vec<f32>,
    objectness: Vec<f32>,
    rpn_deltas: Vec<f32>,
    proposals: Vec<[f32; 4]>,
    levels: Vec<usize>,
    class_logits: Vec<f32>,
    box_regression: Vec<f32>,
}

fn faster_rcnn(
    f: &DetectionFixture,
    act: &str,
    (classes, depth): (usize, usize),
) -> frelu_vision::models::detection::faster_rcnn::FasterRcnn {
    use frelu_vision::models::detection::backbone::BackboneConfig;
    use frelu_vision::models::detection::faster_rcnn::FasterRcnnConfig;
    let backbone = BackboneConfig::new()
        .with_depth(depth)
        .with_base_width(f.base_width)
        .with_fpn_channels(f.fpn_channels);
    let config = FasterRcnnConfig {
        representation: f.representation,
        canonical_scale: f.canonical_scale,
        ..FasterRcnnConfig::new(classes, act.parse().unwrap(), backbone)
    };
    config.init(&Device::flex()).unwrap()
}

/// RPN objectness, RPN deltas, class logits and box deltas of the fixture's image and proposals.
fn detection_outputs(
    net: &frelu_vision::models::detection::faster_rcnn::FasterRcnn,
    f: &DetectionFixture,
) -> [Vec<f32>; 4] {
    let x = Tensor::<4>::from_data(
        TensorData::new(f.input.clone(), f.input_shape),
        &Device::flex(),
    );
    let maps = net.backbone.forward(x);
    let (objectness, deltas) = net.rpn.forward(&maps);
    let rois: Vec<(usize, [f32; 4])> = f.proposals.iter().map(|&b| (0, b)).collect();
    let (logits, regression) = net.box_head.forward(net.pool(&maps, &rois));
    [objectness, deltas.flatten(0, 2), logits, regression]
        .map(|t| t.try_into_vec_as::<f32>().unwrap())
}

fn assert_close(what: &str, burn: &[f32], torch: &[f32]) {
    assert_eq!(burn.len(), torch.len(), "{what}: length");
    for (i, (a, b)) in burn.iter().zip(torch).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{what} {i}: Burn {a} vs PyTorch {b}"
        );
    }
}

#[test]
fn torchvision_faster_rcnn_weights_give_pytorchs_rpn_and_box_head_outputs() {
    use frelu_vision::models::detection::roi_align::level_of;
    use frelu_vision::models::import::load_faster_rcnn;
    let text = std::fs::read_to_string(fixtures().join("faster_rcnn_r18_w4.json")).unwrap();
    let f: DetectionFixture = serde_json::from_str(&text).unwrap();
    let file = fixtures().join(&f.file);
    // The fixture's RoIs go to levels 2 and 3, as torchvision's LevelMapper sent them.
    for (b, &level) in f.proposals.iter().zip(&f.levels) {
        assert_eq!(
            level_of(b, (2, 5), (f.canonical_scale, 4)) + 2,
            level,
            "{b:?}"
        );
    }
    assert!(f.levels.contains(&2) && f.levels.contains(&3));
    let (relu, report) =
        load_faster_rcnn(faster_rcnn(&f, "relu", (f.classes, f.depth)), &file).unwrap();
    assert!(
        report.loaded > 100 && report.head_reinitialised.is_none(),
        "{report:?}"
    );
    let outputs = detection_outputs(&relu, &f);
    let names = ["RPN objectness", "RPN deltas", "class logits", "box deltas"];
    let torch = [
        &f.objectness,
        &f.rpn_deltas,
        &f.class_logits,
        &f.box_regression,
    ];
    for ((name, burn), torch) in names.iter().zip(&outputs).zip(torch) {
        assert_close(name, burn, torch);
    }
    // ReLU → FReLU: the same function at step 0.
    let (frelu, _) =
        load_faster_rcnn(faster_rcnn(&f, "frelu", (f.classes, f.depth)), &file).unwrap();
    assert_eq!(detection_outputs(&frelu, &f), outputs);
    // Another class count: the predictor alone is re-initialised, and that is reported
    // (counts with the background); the RPN is loaded as before.
    let (other, report) = load_faster_rcnn(faster_rcnn(&f, "relu", (5, f.depth)), &file).unwrap();
    assert_eq!(report.head_reinitialised, Some((4, 6)));
    let again = detection_outputs(&other, &f);
    assert_eq!(again[..2], outputs[..2]);
    // Another depth: the file lacks the extra blocks, and the error names them.
    let deeper = faster_rcnn(&f, "relu", (f.classes, 34));
    let err = load_faster_rcnn(deeper, &file).unwrap_err().to_string();
    assert!(err.contains("the file lacks backbone.layers.0.2."), "{err}");
}
