//! `frelu detect import`: a Faster R-CNN trained elsewhere (torchvision's
//! `fasterrcnn_resnet50_fpn` layout, read by [`crate::models::import::load_faster_rcnn`]) as a
//! detection run folder, so that `frelu detect eval`, `detect predict`, `export` and `analyze`
//! read it as they read a trained run. Nothing is trained.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{DetectConfig, DetectorKind};
use crate::data::detection::load_split;
use crate::error::ensure;
use crate::fsio::write_json;
use crate::models::detection::{Detector, DetectorConfig};
use crate::models::import::load_faster_rcnn;
use crate::runs::folder::{Start, save_trained};
use crate::tasks::launch::start_run;

/// The record of an import in its run folder.
pub const IMPORT_FILE: &str = "import.json";

/// What a detection import did (also written as `import.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectImport {
    /// The weights file read.
    pub weights: PathBuf,
    /// Tensors loaded from it.
    pub loaded: usize,
    /// `Some((file, run))` class counts, background included, when the file's predictor did
    /// not fit the dataset's classes and was left at its initialisation (fine-tune it).
    pub predictor_reinitialised: Option<(usize, usize)>,
}

/// Reads `weights` into the Faster R-CNN `config` describes (backbone depth, width, FPN,
/// activation), for the classes of `config.data`'s evaluation split, and writes the run folder
/// `out`: `config.json`, `model.bpk` with `slopes.json`, and `import.json`. A folder holding a
/// run is refused unless `start` is [`Start::Overwrite`]; weights that do not fit are an error
/// naming the keys, and nothing is written.
pub fn import(
    weights: &Path,
    config: &DetectConfig,
    out: &Path,
    start: Start,
) -> crate::Result<DetectImport> {
    config.validate()?;
    ensure!(
        config.detector == DetectorKind::FasterRcnn,
        "detection weights are imported into `--detector faster-rcnn` (torchvision's layout)"
    );
    ensure!(
        start != Start::Resume,
        "an import has nothing to resume; use --overwrite to replace the run in {}",
        out.display()
    );
    let prepare = || {
        let classes = load_split(&config.data, &config.val_split)?.num_classes();
        let DetectorConfig::FasterRcnn(model) = config.model_config(classes) else {
            return Err(crate::Error::Invalid("not a Faster R-CNN".into()));
        };
        Ok(load_faster_rcnn(model.init(&Device::flex())?, weights)?)
    };
    let folders = (out, Some(config.data.as_path()));
    let ((net, report), _, _claim) = start_run(folders, config, start, &[IMPORT_FILE], prepare)?;
    save_trained(&Detector::FasterRcnn(net), out)?;
    let imported = DetectImport {
        weights: weights.to_path_buf(),
        loaded: report.loaded,
        predictor_reinitialised: report.head_reinitialised,
    };
    write_json(&out.join(IMPORT_FILE), &imported)?;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fashion_mnist::Source;
    use crate::data::synth::{BenchmarkConfig, make_benchmark};
    use crate::tasks::detect::{eval_run, predict_run};

    #[test]
    fn an_imported_faster_rcnn_is_a_run_that_evaluates_and_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let bench = BenchmarkConfig {
            canvas: 64,
            min_size: 16,
            max_size: 32,
            train_images: 4,
            val_images: 4,
            ..BenchmarkConfig::default()
        };
        make_benchmark(&data, &bench, &Source::Bundled).unwrap();
        // The fixture's network: torchvision's FasterRCNN, ResNet-18 at width 4, an 8-channel
        // FPN, a box head of 32, three classes.
        let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/torchvision/faster_rcnn_r18_w4.pth");
        let config = DetectConfig {
            data,
            detector: DetectorKind::FasterRcnn,
            backbone_width: 4,
            fpn_channels: Some(8),
            box_head_width: Some(32),
            activation: "frelu".parse().unwrap(),
            image_size: 64,
            workers: 0,
            ..DetectConfig::default()
        };
        let run = dir.path().join("run");
        let imported = import(&weights, &config, &run, Start::Fresh).unwrap();
        assert!(imported.loaded > 100, "{imported:?}");
        // The benchmark has 10 classes: the predictor (3 + background) is re-initialised.
        assert_eq!(imported.predictor_reinitialised, Some((4, 11)));
        let metrics = eval_run(&run).unwrap();
        assert!(metrics.ap50 <= 1.0);
        assert!(run.join(super::super::DETECTIONS).is_file());
        assert_eq!(predict_run(&run, 2, 0.0).unwrap().len(), 2);
        // The folder now holds a run: a second import is refused, an overwrite is not.
        assert!(import(&weights, &config, &run, Start::Fresh).is_err());
        assert!(import(&weights, &config, &run, Start::Overwrite).is_ok());
        // CenterNet does not read torchvision's layout; weights of another depth do not fit.
        let centernet = DetectConfig {
            detector: DetectorKind::Centernet,
            ..config.clone()
        };
        let err = import(&weights, &centernet, &dir.path().join("c"), Start::Fresh).unwrap_err();
        assert!(err.to_string().contains("faster-rcnn"), "{err}");
        let deeper = DetectConfig {
            backbone_depth: 34,
            ..config
        };
        let err = import(&weights, &deeper, &dir.path().join("d"), Start::Fresh).unwrap_err();
        assert!(err.to_string().contains("the file lacks"), "{err}");
        assert!(!dir.path().join("d").join("model.bpk").exists());
    }
}
