//! `frelu eval`: a classification run's test accuracy, loss and confusion matrix, on the dataset
//! it was trained on or on another one it accepts (same channels, image size and class count),
//! with the run's own model and preprocessing.

use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::predict::Predictor;
use crate::data::{Augment, ImageBatcher, ImageItem};
use crate::error::ensure;
use crate::models::Net;
use burn::module::Module;

/// Images per forward pass of the evaluation.
pub const EVAL_BATCH: usize = 256;

/// The largest class count whose confusion matrix [`Evaluation::markdown`] draws (the JSON
/// always holds it).
pub const MARKDOWN_CLASSES: usize = 20;

/// What `frelu eval` measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The run.
    pub run: PathBuf,
    /// Where the images came from.
    pub data: String,
    /// Test images evaluated.
    pub images: usize,
    /// Test accuracy, in percent.
    pub accuracy: f64,
    /// Mean cross-entropy over the test images.
    pub loss: f64,
    /// The run's class names.
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`: how many test images of the true class were given the
    /// predicted one.
    pub confusion: Vec<Vec<u64>>,
}

/// Evaluates the run in `run` on the test split of its own dataset, or of `data` (a folder of
/// the run's dataset kind), the first `limit` images if given.
pub fn evaluate(
    run: &Path,
    data: Option<&Path>,
    limit: Option<usize>,
) -> crate::Result<Evaluation> {
    let device = Device::flex();
    let predictor = Predictor::load(run, &device)?;
    let (config, p) = (&predictor.config, &predictor.preprocess);
    let data_dir = data
        .map(Path::to_path_buf)
        .or_else(|| config.data_dir.clone());
    let loaded = config
        .dataset
        .load(data_dir.as_deref(), config.resolution, config.seed)?;
    let (height, width) = loaded.image_size;
    ensure!(
        (loaded.channels, height, width, loaded.num_classes)
            == (p.channels, p.height, p.width, p.classes.len()),
        "{} has {}×{}×{} images in {} classes; the run in {} takes {}×{}×{} images in {} classes",
        loaded.source,
        loaded.channels,
        height,
        width,
        loaded.num_classes,
        run.display(),
        p.channels,
        p.height,
        p.width,
        p.classes.len()
    );
    let test = match limit {
        Some(n) => loaded.test.limit(n),
        None => loaded.test,
    };
    ensure!(test.len() > 0, "the test set of {} is empty", loaded.source);
    let batcher = ImageBatcher::new(p.normalize.clone(), Augment::none(), config.seed);
    let k = p.classes.len();
    let (loss, confusion) = score(&predictor.net, &test, &batcher, k, &loaded.source)?;
    Ok(Evaluation {
        run: run.to_path_buf(),
        data: loaded.source,
        images: test.len(),
        accuracy: accuracy(&confusion),
        loss,
        classes: p.classes.clone(),
        confusion,
    })
}

/// Scores `net` (in evaluation mode: on an inference device) on every item of `data`, batched
/// by `batcher` in [`EVAL_BATCH`]es: the mean cross-entropy and the `k × k` confusion matrix
/// (`[true][predicted]`). `source` names the data in errors.
pub fn score(
    net: &Net,
    data: &dyn Dataset<ImageItem>,
    batcher: &ImageBatcher,
    k: usize,
    source: &str,
) -> crate::Result<(f64, Vec<Vec<u64>>)> {
    let device = net
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut confusion = vec![vec![0u64; k]; k];
    let mut loss_sum = 0.0f64;
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let items = chunk
            .iter()
            .map(|&i| data.get(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crate::Error::Invalid(format!("reading {source}: {e}")))?;
        let batch = batcher.batch(items, &device);
        let logits = net.forward(batch.images);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        let mean: f64 = loss.into_data().iter::<f64>().next().unwrap_or(f64::NAN);
        loss_sum += mean * chunk.len() as f64;
        let n = chunk.len();
        let predicted = logits.argmax(1).reshape([n]).into_data();
        let targets = batch.targets.into_data();
        for (t, q) in targets.iter::<i64>().zip(predicted.iter::<i64>()) {
            let (t, q) = (t as usize, q as usize);
            crate::error::ensure!(
                t < k && q < k,
                "{source}: class {t} or prediction {q} outside the run's {k} classes"
            );
            confusion[t][q] += 1;
        }
    }
    Ok((loss_sum / data.len().max(1) as f64, confusion))
}

/// The accuracy, in percent, of a confusion matrix from [`score`]: its diagonal over all the
/// items it counts (0 for none).
pub fn accuracy(confusion: &[Vec<u64>]) -> f64 {
    let correct: u64 = confusion.iter().enumerate().map(|(c, row)| row[c]).sum();
    let total: u64 = confusion.iter().flatten().sum();
    100.0 * correct as f64 / total.max(1) as f64
}

impl Evaluation {
    /// The numbers, and the confusion matrix for up to [`MARKDOWN_CLASSES`] classes.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Run {} on {}: {} test images, accuracy {:.2} %, loss {:.4}\n",
            self.run.display(),
            self.data,
            self.images,
            self.accuracy,
            self.loss
        );
        let k = self.classes.len();
        if k > MARKDOWN_CLASSES {
            out.push_str(&format!(
                "\n({k} classes: the confusion matrix is in the --json output)\n"
            ));
            return out;
        }
        out.push_str(
            "\nConfusion matrix (rows: true class, columns: predicted):\n\n| true \\ predicted |",
        );
        for name in &self.classes {
            out.push_str(&format!(" {} |", name.replace('|', "/")));
        }
        out.push_str(&format!("\n|---|{}\n", "---:|".repeat(k)));
        for (name, row) in self.classes.iter().zip(&self.confusion) {
            out.push_str(&format!("| {} |", name.replace('|', "/")));
            for count in row {
                out.push_str(&format!(" {count} |"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::classify::{RunOptions, TrainConfig, train};

    #[test]
    fn a_runs_evaluation_is_its_own_final_test_pass() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let config = TrainConfig {
            epochs: 1,
            batch_size: 32,
            limit_train: Some(128),
            limit_test: Some(96),
            workers: 0,
            checkpoints: false,
            ..TrainConfig::default()
        };
        let summary = train(&config, &run, &RunOptions::quiet()).unwrap();
        let evaluation = evaluate(&run, None, Some(96)).unwrap();
        assert_eq!(evaluation.images, 96);
        // The same images, model and preprocessing as the training's test pass.
        assert!(
            (evaluation.accuracy - summary.final_test_acc).abs() < 1e-9,
            "{} vs {}",
            evaluation.accuracy,
            summary.final_test_acc
        );
        let test_loss = summary.epochs[0].test_loss;
        assert!(
            (evaluation.loss - test_loss).abs() < 1e-3,
            "{} vs {test_loss}",
            evaluation.loss
        );
        let total: u64 = evaluation.confusion.iter().flatten().sum();
        assert_eq!(total, 96);
        let md = evaluation.markdown();
        assert!(
            md.contains("| true \\ predicted |") && md.contains("96 test images"),
            "{md}"
        );
        // A run folder that is not one: an error naming it.
        let err = evaluate(dir.path(), None, None).unwrap_err().to_string();
        assert!(err.contains("is not a run of `frelu train`"), "{err}");
    }
}
