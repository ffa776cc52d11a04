//! `frelu import`: a network trained elsewhere (PyTorch weights in torchvision's or timm's key
//! layout, read by [`crate::models::import`]) as a run folder — its settings, model,
//! preprocessing and class names — that `frelu predict`, `eval`, `export` and `analyze` read as
//! they read a trained run's. Nothing is trained: the folder has no metrics and no summary.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::data::preprocess::{PREPROCESS_FILE, Preprocess};
use crate::fsio::write_json;
use crate::models::import::load_pytorch;
use crate::runs::folder::{Start, save_trained};
use crate::tasks::launch::start_run;

/// The record of an import in its run folder.
pub const IMPORT_FILE: &str = "import.json";

/// ImageNet's per-channel mean, the normalisation torchvision's and timm's networks expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel standard deviation.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// What an import did (also written as `import.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// The weights file read.
    pub weights: PathBuf,
    /// Tensors loaded from it.
    pub loaded: usize,
    /// `Some((file, model))` class counts when the file's classifier did not fit the class
    /// count asked for and was left at its initialisation (the network must be fine-tuned).
    pub head_reinitialised: Option<(usize, usize)>,
}

/// Reads the weights in `weights` into the network `config` describes (its model, activation,
/// width), taking images as `preprocess` says (channels, size, normalisation, class names), and
/// writes the run folder `out`: `config.json`, `model.bpk` with `slopes.json` and
/// `activation.json`, `preprocess.json` and `import.json`. `start` as for a training: a folder
/// holding a run is refused unless [`Start::Overwrite`]. Weights that do not fit are an error
/// naming the keys, and nothing is written.
pub fn import(
    weights: &Path,
    config: &TrainConfig,
    preprocess: &Preprocess,
    out: &Path,
    start: Start,
) -> crate::Result<Imported> {
    config.validate()?;
    preprocess.check().map_err(|message| {
        crate::Error::Invalid(format!("the preprocessing of the import: {message}"))
    })?;
    crate::error::ensure!(
        start != Start::Resume,
        "an import has nothing to resume; use --overwrite to replace the run in {}",
        out.display()
    );
    let prepare = || {
        let size = (preprocess.height, preprocess.width);
        let classes = preprocess.classes.len();
        let model = config
            .model_config(preprocess.channels, classes, size)
            .init(&Device::flex())?;
        Ok(load_pytorch(model, weights)?)
    };
    let folders = (out, config.data_dir.as_deref());
    let ((net, report), _, _claim) = start_run(folders, config, start, &[IMPORT_FILE], prepare)?;
    save_trained(&net, out)?;
    write_json(&out.join(PREPROCESS_FILE), preprocess)?;
    let imported = Imported {
        weights: weights.to_path_buf(),
        loaded: report.loaded,
        head_reinitialised: report.head_reinitialised,
    };
    write_json(&out.join(IMPORT_FILE), &imported)?;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Normalize;
    use crate::data::preprocess::Fit;
    use crate::tasks::classify::predict::Predictor;
    use burn::tensor::{Tensor, TensorData};

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision")
    }

    #[test]
    fn an_imported_network_is_a_run_that_predicts_pytorchs_logits() {
        #[derive(Deserialize)]
        struct Fixture {
            file: String,
            width: f64,
            classes: usize,
            input_shape: [usize; 4],
            input: Vec<f32>,
            logits: Vec<f32>,
        }
        let text = std::fs::read_to_string(fixtures().join("resnet18_w4.json")).unwrap();
        let f: Fixture = serde_json::from_str(&text).unwrap();
        let [_, channels, height, width] = f.input_shape;
        let config = TrainConfig {
            model: "resnet18".parse().unwrap(),
            width: f.width,
            activation: "frelu".parse().unwrap(),
            ..TrainConfig::default()
        };
        let preprocess = Preprocess {
            channels,
            height,
            width,
            normalize: Normalize::new(IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
            fit: Fit::ResizeCenterCrop,
            classes: (0..f.classes).map(|c| format!("class {c}")).collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("imported");
        let weights = fixtures().join(&f.file);
        let imported = import(&weights, &config, &preprocess, &out, Start::Fresh).unwrap();
        assert!(imported.loaded > 0 && imported.head_reinitialised.is_none());
        // The folder is read as a run: the same network, FReLU starting as the ReLU network.
        let device = Device::flex();
        let predictor = Predictor::load(&out, &device).unwrap();
        let x = Tensor::<4>::from_data(TensorData::new(f.input.clone(), f.input_shape), &device);
        let logits = predictor.net.forward(x).try_into_vec_as::<f32>().unwrap();
        for (i, (a, b)) in logits.iter().zip(&f.logits).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "logit {i}: {a} vs {b}"
            );
        }
        assert_eq!(predictor.preprocess, preprocess);
        // Again into the same folder: refused; with --overwrite, done.
        let err = import(&weights, &config, &preprocess, &out, Start::Fresh).unwrap_err();
        assert!(err.to_string().contains("already holds a run"), "{err}");
        import(&weights, &config, &preprocess, &out, Start::Overwrite).unwrap();
        // Weights of another network: an error, and no folder.
        let mut deeper = config.clone();
        deeper.model = "resnet34".parse().unwrap();
        let elsewhere = dir.path().join("deeper");
        assert!(import(&weights, &deeper, &preprocess, &elsewhere, Start::Fresh).is_err());
        assert!(!elsewhere.exists());
    }
}
