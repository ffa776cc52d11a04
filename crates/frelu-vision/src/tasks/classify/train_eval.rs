//! `--eval-train`: after every epoch, the training set scored as the test set is (evaluation
//! mode: batch norm on its running statistics, no augmentation, no dropout), written to
//! `train_eval.csv` beside the per-epoch test metrics. The training loss of `metrics.csv` is a
//! mean over the epoch's steps in training mode, while the weights move; this one is the
//! network at the epoch's end, so the two splits' numbers compare like for like (issue 30's
//! test of whether a gap to ReLU comes from fitting the training set further).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::evaluate::{accuracy, score};
use crate::data::{AnyImageDataset, ImageBatcher};
use crate::error::Context;
use crate::models::Net;
use crate::progress::Reporter;
use crate::runs::history::EpochProbe;

/// The training set in evaluation mode after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainEvalRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean cross-entropy over the training images.
    pub loss: f64,
    /// Accuracy over the training images, in percent.
    pub accuracy: f64,
}

/// The file of a run folder.
pub fn train_eval_path(run: &Path) -> PathBuf {
    run.join(crate::run_files::TRAIN_EVAL)
}

/// The header of the file.
const HEADER: &str = "epoch,loss,accuracy";

/// The rows of `run`'s `train_eval.csv` (none when the run has no such file).
pub fn read_rows(run: &Path) -> crate::Result<Vec<TrainEvalRow>> {
    let path = train_eval_path(run);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let damaged =
        |line: &str| crate::Error::Invalid(format!("{}: a damaged row `{line}`", path.display()));
    text.lines()
        .filter(|line| !line.is_empty() && *line != HEADER)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            match fields.as_slice() {
                [epoch, loss, accuracy] => Ok(TrainEvalRow {
                    epoch: epoch.parse().map_err(|_| damaged(line))?,
                    loss: loss.parse().map_err(|_| damaged(line))?,
                    accuracy: accuracy.parse().map_err(|_| damaged(line))?,
                }),
                _ => Err(damaged(line)),
            }
        })
        .collect()
}

/// The rows for `run`'s summary: its file's with `--eval-train` (`eval_train`), none without
/// (whatever a file in the folder holds).
pub fn summary_rows(run: &Path, eval_train: bool) -> crate::Result<Vec<TrainEvalRow>> {
    match eval_train {
        true => read_rows(run),
        false => Ok(Vec::new()),
    }
}

/// Starts `run`'s file for a run that has finished `first_epoch` epochs: a fresh run's is
/// removed, a resumed run keeps the rows of its finished epochs only.
fn start_file(run: &Path, first_epoch: usize) -> crate::Result<()> {
    let rows: Vec<TrainEvalRow> = read_rows(run)?
        .into_iter()
        .filter(|row| row.epoch <= first_epoch)
        .collect();
    let path = train_eval_path(run);
    crate::fsio::remove_if_exists(&path)?;
    rows.iter().try_for_each(|row| append(&path, row))
}

fn append(path: &Path, row: &TrainEvalRow) -> crate::Result<()> {
    use std::io::Write;
    let header = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut text = if header {
        format!("{HEADER}\n")
    } else {
        String::new()
    };
    text.push_str(&format!("{},{},{}\n", row.epoch, row.loss, row.accuracy));
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The probe that scores `train` (seen as evaluation sees it) with each epoch's model, loaded
/// into `template` (the network on its inference device), and appends a row to `run`'s
/// `train_eval.csv`, after keeping the rows of the `first_epoch` epochs already done.
pub fn probe(
    run: &Path,
    first_epoch: usize,
    template: Net,
    (train, batcher): (&AnyImageDataset, ImageBatcher),
    classes: usize,
    reporter: Arc<dyn Reporter>,
) -> crate::Result<EpochProbe> {
    start_file(run, first_epoch)?;
    let path = train_eval_path(run);
    let train = train.eval_view();
    Ok(Box::new(move |epoch: usize, record: &ModuleRecord| {
        let net = template
            .clone()
            .try_load_record(record.clone())
            .map_err(|e| {
                crate::Error::Invalid(format!("epoch {epoch}'s model record does not load: {e}"))
            })?;
        let (loss, confusion) = score(&net, &train, &batcher, classes, "the training set")?;
        let row = TrainEvalRow {
            epoch,
            loss,
            accuracy: accuracy(&confusion),
        };
        reporter.info(&format!(
            "epoch {epoch}: training set in evaluation mode: loss {loss:.4}, accuracy {:.2} %",
            row.accuracy
        ));
        append(&path, &row)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Augment;
    use crate::tasks::classify::predict::Predictor;
    use crate::tasks::classify::{RunOptions, TrainConfig, train};
    use burn::tensor::Device;

    #[test]
    fn each_epoch_scores_the_training_set_as_the_saved_model_does() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let config = TrainConfig {
            activation: "frelu".parse().unwrap(),
            epochs: 2,
            batch_size: 32,
            limit_train: Some(128),
            limit_test: Some(64),
            workers: 0,
            checkpoints: false,
            eval_train: true,
            ..TrainConfig::default()
        };
        let summary = train(&config, &run, &RunOptions::quiet()).unwrap();
        let rows = read_rows(&run).unwrap();
        assert_eq!(rows.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(summary.train_eval, rows);
        // The last row is the trained network (model.bpk) on the same 128 training images,
        // without augmentation, batch norm on its running statistics.
        let predictor = Predictor::load(&run, &Device::flex()).unwrap();
        let loaded = config.dataset.load(None, config.resolution, 0).unwrap();
        let images = loaded.train.limit(128);
        let batcher = ImageBatcher::new(predictor.preprocess.normalize.clone(), Augment::none(), 0);
        let (loss, confusion) = score(&predictor.net, &images, &batcher, 10, "train").unwrap();
        let correct: u64 = (0..10).map(|c| confusion[c][c]).sum();
        assert!((rows[1].loss - loss).abs() < 1e-6, "{rows:?} vs {loss}");
        assert!((rows[1].accuracy - 100.0 * correct as f64 / 128.0).abs() < 1e-9);
        // Not the training-mode numbers of metrics.csv: those are means over moving weights.
        assert_ne!(rows[1].loss, summary.epochs[1].train_loss);
        // The run trained again over the same folder without --eval-train: no row of the old
        // run is left in its folder or its summary.
        let without = TrainConfig {
            eval_train: false,
            epochs: 1,
            ..config
        };
        let options = RunOptions {
            start: crate::runs::folder::Start::Overwrite,
            ..RunOptions::quiet()
        };
        let summary = train(&without, &run, &options).unwrap();
        assert!(summary.train_eval.is_empty());
        assert!(!train_eval_path(&run).exists());
    }

    #[test]
    fn a_resumed_run_keeps_the_rows_of_its_finished_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let path = train_eval_path(dir.path());
        for epoch in 1..=3 {
            let row = TrainEvalRow {
                epoch,
                loss: 1.0 / epoch as f64,
                accuracy: 50.0 + epoch as f64,
            };
            append(&path, &row).unwrap();
        }
        start_file(dir.path(), 2).unwrap();
        let rows = read_rows(dir.path()).unwrap();
        assert_eq!(rows.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(rows[1].loss, 0.5);
        start_file(dir.path(), 0).unwrap();
        assert!(!path.exists());
        // A damaged file: an error naming it, not a panic.
        std::fs::write(&path, "epoch,loss,accuracy\n1,0.5\n").unwrap();
        let err = read_rows(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("train_eval.csv") && err.contains("damaged"),
            "{err}"
        );
    }
}
