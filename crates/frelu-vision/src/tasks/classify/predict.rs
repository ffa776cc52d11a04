//! `frelu predict`: a trained run's classes for image files, with the run's own model and
//! preprocessing (size, channels, normalisation, class names), so the user passes nothing else.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, activation};
use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::data::preprocess::{PREPROCESS_FILE, Preprocess, image_files};
use crate::error::{Context, ensure};
use crate::models::Net;

/// One class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Class index (the label).
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Softmax probability.
    pub probability: f64,
}

/// The top classes of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The image file.
    pub file: PathBuf,
    /// The `k` most probable classes, most probable first.
    pub top: Vec<ClassScore>,
}

/// A trained run, ready to predict.
pub struct Predictor {
    /// The network, on an inference device (batch norm uses its running statistics).
    pub net: Net,
    /// The run's preprocessing.
    pub preprocess: Preprocess,
    /// The run's settings (`config.json`).
    pub config: TrainConfig,
}

impl Predictor {
    /// Loads the model and preprocessing of the finished run in `run` onto `device`.
    pub fn load(run: &Path, device: &Device) -> crate::Result<Self> {
        let config: TrainConfig = crate::fsio::read_json(&run.join(crate::run_files::CONFIG))
            .with_context(|| format!("{} is not a run of `frelu train`", run.display()))?;
        let preprocess: Preprocess = crate::fsio::read_json(&run.join(PREPROCESS_FILE))
            .with_context(|| {
                format!(
                    "{} has no usable {PREPROCESS_FILE} (runs trained before `frelu predict` \
                     existed lack it: train the run again)",
                    run.display()
                )
            })?;
        preprocess
            .check()
            .map_err(|message| crate::Error::Content {
                path: run.join(PREPROCESS_FILE),
                message,
            })?;
        let model = config
            .model_config(
                preprocess.channels,
                preprocess.classes.len(),
                (preprocess.height, preprocess.width),
            )
            .init(device)?;
        let file = run.join(crate::run_files::MODEL);
        ensure!(
            file.is_file(),
            "{} has no model.bpk: the run has not finished",
            run.display()
        );
        let record = burn::store::ModuleRecord::load(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let net = model
            .try_load_record(record)
            .with_context(|| format!("{} does not fit the run's settings", file.display()))?;
        Ok(Self {
            net,
            preprocess,
            config,
        })
    }

    /// The `top_k` classes of each image, in batches of 64. An unreadable image is an error
    /// naming it (before any prediction is made).
    pub fn predict(&self, files: &[PathBuf], top_k: usize) -> crate::Result<Vec<Prediction>> {
        let images: Vec<Vec<u8>> = files
            .iter()
            .map(|f| self.preprocess.load(f))
            .collect::<Result<_, _>>()?;
        let device = self
            .net
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(Device::flex);
        let k = top_k.clamp(1, self.preprocess.classes.len());
        let mut out = Vec::with_capacity(files.len());
        for (chunk, names) in images.chunks(64).zip(files.chunks(64)) {
            let logits = self.net.forward(self.preprocess.batch(chunk, &device));
            let probs = activation::softmax(logits, 1);
            let classes = probs.dims()[1];
            let values: Vec<f32> = probs
                .try_into_vec_as()
                .map_err(|e| crate::Error::Invalid(format!("reading the logits: {e:?}")))?;
            for (row, file) in values.chunks(classes).zip(names) {
                let mut order: Vec<usize> = (0..classes).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                let top = order[..k]
                    .iter()
                    .map(|&c| ClassScore {
                        class: c,
                        name: self.preprocess.classes[c].clone(),
                        probability: row[c] as f64,
                    })
                    .collect();
                out.push(Prediction {
                    file: file.clone(),
                    top,
                });
            }
        }
        Ok(out)
    }
}

/// Predicts the classes of the images `paths` (files, or folders of PNG/JPEG files) with the
/// run in `run`.
pub fn predict(
    run: &Path,
    paths: &[PathBuf],
    top_k: usize,
    device: &Device,
) -> crate::Result<Vec<Prediction>> {
    let files = image_files(paths)?;
    Predictor::load(run, device)?.predict(&files, top_k)
}

/// The predictions as a Markdown table: one row per image, its top classes with probabilities.
pub fn markdown(predictions: &[Prediction]) -> String {
    let mut out = String::from("| image | top classes (probability) |\n|---|---|\n");
    for p in predictions {
        let top: Vec<String> = p
            .top
            .iter()
            .map(|c| format!("{} ({:.1} %)", c.name, 100.0 * c.probability))
            .collect();
        out.push_str(&format!("| {} | {} |\n", p.file.display(), top.join(", ")));
    }
    out
}
