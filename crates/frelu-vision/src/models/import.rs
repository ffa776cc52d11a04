//! Weights trained elsewhere: PyTorch state dicts (`.pth`/`.pt`, or `.safetensors`) with the
//! key layout of torchvision's ResNets and `vgg16_bn` (`features.{i}` → `convs.{n}.conv`/`.bn`,
//! `classifier.{0,3,6}` → `classifier.linears.{0,1,2}`), and timm's `mobilenetv1_100` family
//! (`conv_stem`, `blocks.{stage}.{i}.conv_dw`/`bn1`/`conv_pw`/`bn2`, `classifier`; timm's network
//! uses ReLU6, so its weights in a ReLU network compute another function wherever an activation
//! exceeds 6 — fine-tune after importing), read with burn-store's PyTorch and safetensors readers
//! and mapped onto this crate's modules by key remapping.
//!
//! | torchvision | here |
//! |---|---|
//! | `conv1`, `bn1` | `stem.conv`, `stem.bn` |
//! | `layer{s}.{i}` | `blocks.{n}` (blocks numbered across stages) |
//! | basic block `conv1`, `bn1`, `conv2`, `bn2` | `first.conv`, `first.bn`, `conv2`, `bn2` |
//! | bottleneck `conv1`/`bn1`, `conv2`/`bn2`, `conv3`/`bn3` | `reduce`, `spatial`, `expand`/`bn` |
//! | `downsample.0`, `downsample.1` | `shortcut.conv`, `shortcut.bn` |
//! | `fc` | `head` |
//!
//! Batch-norm `weight`/`bias` become `gamma`/`beta` and linear weights are transposed by
//! burn-store's PyTorch adapter; `num_batches_tracked` is not used. Activation parameters are
//! not in a ReLU network's file: they keep their initial values, so FReLU (`pos = 1`, `neg = 0`)
//! computes at step 0 exactly what the ReLU network computed.

use std::path::Path;

use burn::store::{
    ApplyError, ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

use burn::module::Module;

use super::detection::faster_rcnn::FasterRcnn;
use super::{ModelError, Net};

/// What an import did, for the user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    /// Tensors loaded.
    pub loaded: usize,
    /// `Some((file, model))` class counts when the classifier head did not fit and was left
    /// at its initialisation.
    pub head_reinitialised: Option<(usize, usize)>,
}

/// Whether `path` names a PyTorch-format file this module reads.
pub fn is_pytorch_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "pth" | "pt" | "safetensors"))
}

/// torchvision's `vgg16_bn`: `features.{i}` holds conv, BN, ReLU for each convolution and one
/// max pool after each stage; `classifier.{0, 3, 6}` are the linear layers.
fn vgg_remappings() -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let (mut index, mut conv) = (0, 0);
    for stage in super::vgg::STAGES {
        for _ in stage.iter() {
            pairs.push((
                format!(r"^features\.{index}\."),
                format!("convs.{conv}.conv."),
            ));
            pairs.push((
                format!(r"^features\.{}\.", index + 1),
                format!("convs.{conv}.bn."),
            ));
            index += 3;
            conv += 1;
        }
        index += 1;
    }
    for (from, to) in [(0, 0), (3, 1), (6, 2)] {
        pairs.push((
            format!(r"^classifier\.{from}\."),
            format!("classifier.linears.{to}."),
        ));
    }
    pairs
}

/// timm's `mobilenetv1_100` family: `conv_stem`/`bn1`, `blocks.{stage}.{i}` with `conv_dw`,
/// `bn1`, `conv_pw`, `bn2` (stages of 1, 2, 2, 6, 2 blocks), `classifier`.
fn mobilenet_remappings() -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        (r"^conv_stem\.".into(), "stem.conv.".into()),
        (r"^bn1\.".into(), "stem.bn.".into()),
        (r"^classifier\.".into(), "head.".into()),
    ];
    let mut n = 0;
    for (stage, count) in [1, 2, 2, 6, 2].into_iter().enumerate() {
        for i in 0..count {
            pairs.push((format!(r"^blocks\.{stage}\.{i}\."), format!("blocks.{n}.")));
            n += 1;
        }
    }
    for (from, to) in [
        ("conv_dw", "depthwise.conv"),
        ("bn1", "depthwise.bn"),
        ("conv_pw", "pointwise.conv"),
        ("bn2", "pointwise.bn"),
    ] {
        pairs.push((
            format!(r"^(blocks\.\d+)\.{from}\."),
            format!("${{1}}.{to}."),
        ));
    }
    pairs
}

/// The `(pattern, replacement)` key remappings from torchvision's layout to `net`'s, or an
/// error for a model whose layout is not supported yet.
fn remappings(net: &Net) -> Result<Vec<(String, String)>, ModelError> {
    let resnet = match net {
        Net::ResNet(resnet) => resnet,
        Net::Vgg16Bn(_) => return Ok(vgg_remappings()),
        Net::MobileNetV1(_) => return Ok(mobilenet_remappings()),
        _ => {
            return Err(ModelError::config(
                "--init-from",
                "PyTorch weights can be read into the ImageNet ResNets (resnet18/34/50), \
                 vgg16_bn (torchvision's layouts) and mobilenet_v1 (timm's); this model's layout \
                 is not mapped yet",
            ));
        }
    };
    let bottleneck = matches!(
        resnet.blocks.first(),
        Some(super::resnet::ResBlock::Bottleneck(_))
    );
    let counts = match (resnet.blocks.len(), bottleneck) {
        (8, false) => [2, 2, 2, 2],
        _ => [3, 4, 6, 3],
    };
    let mut pairs: Vec<(String, String)> = vec![
        (r"^conv1\.".into(), "stem.conv.".into()),
        (r"^bn1\.".into(), "stem.bn.".into()),
        (r"^fc\.".into(), "head.".into()),
    ];
    let mut n = 0;
    for (stage, &count) in counts.iter().enumerate() {
        for i in 0..count {
            pairs.push((
                format!(r"^layer{}\.{i}\.", stage + 1),
                format!("blocks.{n}."),
            ));
            n += 1;
        }
    }
    pairs.extend(block_fields(r"blocks\.\d+", bottleneck));
    Ok(pairs)
}

/// The renames inside torchvision's residual blocks, for blocks whose (already remapped) path
/// matches `block` (a regex).
fn block_fields(block: &str, bottleneck: bool) -> Vec<(String, String)> {
    let fields: &[(&str, &str)] = if bottleneck {
        &[
            ("conv1", "reduce.conv"),
            ("bn1", "reduce.bn"),
            ("conv2", "spatial.conv"),
            ("bn2", "spatial.bn"),
            ("conv3", "expand"),
            ("bn3", "bn"),
        ]
    } else {
        &[("conv1", "first.conv"), ("bn1", "first.bn")]
    };
    let shortcut = [
        ("downsample.0", "shortcut.conv"),
        ("downsample.1", "shortcut.bn"),
    ];
    fields
        .iter()
        .chain(&shortcut)
        .map(|(from, to)| {
            (
                format!(r"^({block})\.{}\.", regex_escape(from)),
                format!("${{1}}.{to}."),
            )
        })
        .collect()
}

/// torchvision's `fasterrcnn_resnet50_fpn` layout (any ResNet depth and width under the same
/// names) onto [`FasterRcnn`]:
///
/// | torchvision | here |
/// |---|---|
/// | `backbone.body.conv1`, `bn1` | `backbone.stem.conv`, `.bn` |
/// | `backbone.body.layer{s}.{i}` | `backbone.layers.{s−1}.{i}` (block fields as above) |
/// | `backbone.fpn.{inner,layer}_blocks.{i}[.0]` | `backbone.fpn.{inner,layer}_blocks.{i}` |
/// | `rpn.head.conv[.0.0]`, `rpn.head.{cls_logits,bbox_pred}` | `rpn.conv`, `rpn.{…}` |
/// | `roi_heads.box_head.fc6/fc7`, `roi_heads.box_predictor.*` | `box_head.fc6/fc7`, `box_head.*` |
///
/// Both the newer keys (with `.0` / `.0.0`, torchvision ≥ 0.13) and the older ones are read.
fn faster_rcnn_remappings(net: &FasterRcnn) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        (
            r"^backbone\.body\.conv1\.".into(),
            "backbone.stem.conv.".into(),
        ),
        (r"^backbone\.body\.bn1\.".into(), "backbone.stem.bn.".into()),
    ];
    for stage in 0..4 {
        pairs.push((
            format!(r"^backbone\.body\.layer{}\.", stage + 1),
            format!("backbone.layers.{stage}."),
        ));
    }
    pairs.extend(block_fields(
        r"backbone\.layers\.\d+\.\d+",
        net.config.backbone.depth == 50,
    ));
    pairs.extend([
        (
            r"^backbone\.fpn\.(inner_blocks|layer_blocks)\.(\d+)\.0\.".into(),
            "backbone.fpn.${1}.${2}.".into(),
        ),
        (r"^rpn\.head\.conv\.0\.0\.".into(), "rpn.conv.".into()),
        (r"^rpn\.head\.".into(), "rpn.".into()),
        (r"^roi_heads\.box_head\.".into(), "box_head.".into()),
        (r"^roi_heads\.box_predictor\.".into(), "box_head.".into()),
    ]);
    pairs
}

/// Whether `path` is a Faster R-CNN predictor parameter (left at its initialisation when the
/// class count differs).
fn is_detection_head(path: &str) -> bool {
    path.starts_with("box_head.cls_score.") || path.starts_with("box_head.bbox_pred.")
}

/// Reads torchvision-layout Faster R-CNN weights (`fasterrcnn_resnet50_fpn`'s state dict, or the
/// same network at another depth or width) into `net`. The predictor of a file with another
/// class count is left at its initialisation and reported (counts include the background);
/// everything else must fit. Activation parameters start as ReLU.
pub fn load_faster_rcnn(
    net: FasterRcnn,
    path: &Path,
) -> Result<(FasterRcnn, ImportReport), ModelError> {
    let pairs = faster_rcnn_remappings(&net);
    load_mapped(net, path, &pairs, (is_detection_head, "cls_score.bias"))
}

/// Whether `path` is a classifier head's parameter (ResNets' `head`, VGG's last linear layer).
fn is_head(path: &str) -> bool {
    path.starts_with("head.") || path.contains(".head.") || path.contains("linears.2.")
}

/// Up to eight keys, then how many more.
fn listed(keys: &[&str]) -> String {
    let mut text = keys.iter().take(8).copied().collect::<Vec<_>>().join(", ");
    if keys.len() > 8 {
        text.push_str(&format!(" and {} more", keys.len() - 8));
    }
    text
}

fn regex_escape(text: &str) -> String {
    text.replace('.', r"\.")
}

/// Reads the PyTorch weights in `path` into `net` (see the module docs for the layout). Keys
/// the model lacks, parameters the file lacks (other than activation parameters) and shapes
/// that differ are errors naming the keys, except a classifier head with another class count,
/// which is left at its initialisation and reported.
pub fn load_pytorch(net: Net, path: &Path) -> Result<(Net, ImportReport), ModelError> {
    let pairs = remappings(&net)?;
    load_mapped(net, path, &pairs, (is_head, "bias"))
}

/// Reads `path` into `net` through the key `pairs`; `head` says which parameters may differ in
/// shape (a head with another class count) and which of them (by suffix) gives the counts.
fn load_mapped<M: Module>(
    mut net: M,
    path: &Path,
    pairs: &[(String, String)],
    head: (fn(&str) -> bool, &str),
) -> Result<(M, ImportReport), ModelError> {
    let fail = |message: String| {
        ModelError::config("--init-from", format!("{}: {message}", path.display()))
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let safetensors = path.extension().is_some_and(|e| e == "safetensors");
    // The same options and remappings on either reader.
    macro_rules! load_with {
        ($store:expr) => {{
            let mut store = $store
                .validate(false)
                .allow_partial(true)
                .skip_enum_variants(true)
                .map_indices_contiguous(false);
            for (from, to) in pairs {
                store = store.with_key_remapping(from, to.as_str());
            }
            net.load_from(&mut store).map_err(|e| fail(e.to_string()))?
        }};
    }
    let result = if safetensors {
        load_with!(SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter))
    } else {
        load_with!(PytorchStore::from_file(path))
    };
    let report = check(&result, head).map_err(fail)?;
    Ok((net, report))
}

/// Turns burn-store's result into a report, or the message naming what does not fit.
fn check(
    result: &ApplyResult,
    head_rule: (fn(&str) -> bool, &str),
) -> Result<ImportReport, String> {
    let (is_head, count_suffix) = head_rule;
    let markers = frelu::activation::learnable_markers();
    let missing: Vec<&str> = result
        .missing
        .iter()
        .filter(|(_, stack)| !markers.iter().any(|m| stack.contains(m.as_str())))
        .map(|(path, _)| path.as_str())
        .collect();
    let unused: Vec<&str> = result
        .unused
        .iter()
        .map(String::as_str)
        .filter(|p| !p.ends_with("num_batches_tracked"))
        .collect();
    let mut head = None;
    let mut errors = Vec::new();
    for error in &result.errors {
        match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } if is_head(path) => {
                if path.ends_with(count_suffix) {
                    head = Some((found.num_elements(), expected.num_elements()));
                }
            }
            other => errors.push(other.to_string()),
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("the file lacks {}", listed(&missing)));
    }
    if !unused.is_empty() {
        problems.push(format!("the model has no place for {}", listed(&unused)));
    }
    let count = errors.len();
    problems.extend(errors.into_iter().take(8));
    if count > 8 {
        problems.push(format!("and {} more shape errors", count - 8));
    }
    if !problems.is_empty() {
        return Err(format!(
            "these weights do not fit the model (is it the same architecture and width?): {}",
            problems.join("; ")
        ));
    }
    Ok(ImportReport {
        loaded: result.applied.len(),
        head_reinitialised: head,
    })
}
