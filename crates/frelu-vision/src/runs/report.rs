//! The per-epoch report of a training run: a progress bar while it runs and one row per epoch,
//! both through the run's [`Reporter`], and `metrics.csv` + `metrics.json` rewritten after every
//! epoch (so an interrupted run keeps every finished epoch).
//!
//! It is a burn-train [`MetricsRenderer`], so it sees exactly what the `Learner` computes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use serde::{Deserialize, Serialize};

use crate::progress::{Bar, Reporter, silent};

/// Reads a number that JSON wrote as `null`: serde_json writes NaN (a metric a task does not
/// have, e.g. accuracy for a detector) as `null`, and reading it back must give NaN again.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One finished epoch. Metrics a task does not have are NaN (`null` in JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_loss: f64,
    /// Training accuracy over the epoch, in percent.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_acc: f64,
    /// Test loss.
    #[serde(deserialize_with = "null_as_nan")]
    pub test_loss: f64,
    /// Test accuracy, in percent.
    #[serde(deserialize_with = "null_as_nan")]
    pub test_acc: f64,
    /// Wall-clock seconds of the training split.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_seconds: f64,
    /// Wall-clock seconds of the evaluation split.
    #[serde(deserialize_with = "null_as_nan")]
    pub test_seconds: f64,
    /// Training images per second.
    #[serde(deserialize_with = "null_as_nan")]
    pub images_per_sec: f64,
}

impl EpochRow {
    /// The CSV header matching [`EpochRow::csv`].
    pub const CSV_HEADER: &'static str =
        "epoch,train_loss,train_acc,test_loss,test_acc,train_seconds,test_seconds,images_per_sec";

    /// One CSV line.
    pub fn csv(&self) -> String {
        format!(
            "{},{:.6},{:.4},{:.6},{:.4},{:.3},{:.3},{:.1}",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.test_loss,
            self.test_acc,
            self.train_seconds,
            self.test_seconds,
            self.images_per_sec
        )
    }
}

/// Writes `metrics.csv` and `metrics.json` of `rows` into `dir`, each through a temporary file
/// and a rename, so a crash never leaves a half-written file.
pub fn write_rows(dir: &std::path::Path, rows: &[EpochRow]) -> crate::Result<()> {
    let mut csv = String::from(EpochRow::CSV_HEADER);
    csv.push('\n');
    for row in rows {
        csv.push_str(&row.csv());
        csv.push('\n');
    }
    crate::fsio::write_text(&dir.join(crate::run_files::METRICS_CSV), &csv)?;
    crate::fsio::write_json(&dir.join(crate::run_files::METRICS_JSON), rows)
}

/// Mean seconds per epoch, training and evaluation.
pub fn mean_epoch_seconds(rows: &[EpochRow]) -> f64 {
    rows.iter()
        .map(|r| r.train_seconds + r.test_seconds)
        .sum::<f64>()
        / rows.len().max(1) as f64
}

/// The report's shared state: the finished rows, readable from the training thread.
#[derive(Clone, Default)]
pub struct EpochLog(Arc<Mutex<Vec<EpochRow>>>);

impl EpochLog {
    /// The rows so far.
    pub fn rows(&self) -> Vec<EpochRow> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Renders progress and writes the per-epoch metrics.
pub struct EpochReport {
    dir: Option<PathBuf>,
    label: String,
    reporter: Arc<dyn Reporter>,
    names: HashMap<MetricId, String>,
    finals: HashMap<(bool, String), f64>,
    running: HashMap<String, String>,
    bar: Option<Box<dyn Bar>>,
    split_is_train: bool,
    split_items: usize,
    split_start: Option<Instant>,
    train_seconds: f64,
    train_items: usize,
    test_seconds: f64,
    total_epochs: usize,
    epoch: usize,
    log: EpochLog,
}

impl EpochReport {
    /// A report writing into `dir` (no files when `None`); `label` prefixes the progress bar.
    pub fn new(dir: Option<PathBuf>, label: impl Into<String>) -> Self {
        Self {
            dir,
            label: label.into(),
            reporter: silent(),
            names: HashMap::new(),
            finals: HashMap::new(),
            running: HashMap::new(),
            bar: None,
            split_is_train: true,
            split_items: 0,
            split_start: None,
            train_seconds: 0.0,
            train_items: 0,
            test_seconds: 0.0,
            total_epochs: 0,
            epoch: 0,
            log: EpochLog::default(),
        }
    }

    /// Where the table and the progress bars go (nowhere by default; files are written
    /// either way).
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Continues after the rows of a resumed run's finished epochs (numbering and files).
    pub fn resume_from(mut self, rows: Vec<EpochRow>) -> Self {
        self.epoch = rows.len();
        *self.log.0.lock().unwrap_or_else(|e| e.into_inner()) = rows;
        self
    }

    /// A handle on the rows, readable after training.
    pub fn log(&self) -> EpochLog {
        self.log.clone()
    }

    fn record(&mut self, train: bool, state: MetricState) {
        let MetricState::Numeric(entry, numeric) = state else {
            return;
        };
        let name = self
            .names
            .get(&entry.metric_id)
            .cloned()
            .unwrap_or_else(|| format!("{:?}", entry.metric_id));
        match numeric {
            Some(NumericEntry::Final(value)) => {
                self.finals.insert((train, name), value);
            }
            _ => {
                self.running
                    .insert(name, entry.serialized_entry.formatted.clone());
                if let Some(bar) = &self.bar {
                    let mut parts: Vec<String> = self.running.values().cloned().collect();
                    parts.sort();
                    bar.set_message(&parts.join("  "));
                }
            }
        }
    }

    fn final_value(&self, train: bool, name: &str) -> f64 {
        self.finals
            .get(&(train, name.to_string()))
            .copied()
            .unwrap_or(f64::NAN)
    }

    fn write_files(&self, rows: &[EpochRow]) {
        if let Some(dir) = &self.dir {
            // A failed write of the per-epoch files does not stop training (the run's summary
            // is written at the end), but it is said.
            if let Err(e) = write_rows(dir, rows) {
                self.reporter
                    .warn(&format!("{}; training goes on", crate::error::report(&e)));
            }
        }
    }
}

impl MetricsRendererTraining for EpochReport {
    fn update_train(&mut self, state: MetricState) {
        self.record(true, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(false, state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for EpochReport {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn on_test_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for EpochReport {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        if starting_epoch > 1 && self.epoch == 0 {
            self.epoch = starting_epoch - 1;
        }
        self.reporter.info(&format!(
            "{:>5} {:>10} {:>9} {:>9} {:>8} {:>8} {:>9}",
            "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images/s"
        ));
    }

    fn update_epoch(&mut self, _epoch: usize) {
        self.epoch += 1;
        let row = EpochRow {
            epoch: self.epoch,
            train_loss: self.final_value(true, "Loss"),
            train_acc: self.final_value(true, "Accuracy"),
            test_loss: self.final_value(false, "Loss"),
            test_acc: self.final_value(false, "Accuracy"),
            train_seconds: self.train_seconds,
            test_seconds: self.test_seconds,
            images_per_sec: self.train_items as f64 / self.train_seconds.max(1e-9),
        };
        let percent = |v: f64| {
            if v.is_finite() {
                format!("{v:.2}%")
            } else {
                "—".into()
            }
        };
        self.reporter.info(&format!(
            "{:>5} {:>10.4} {:>9} {:>9.4} {:>8} {:>8.1} {:>9.0}",
            row.epoch,
            row.train_loss,
            percent(row.train_acc),
            row.test_loss,
            percent(row.test_acc),
            row.train_seconds + row.test_seconds,
            row.images_per_sec
        ));
        let rows = {
            let mut rows = self.log.0.lock().unwrap_or_else(|e| e.into_inner());
            rows.push(row.clone());
            rows.clone()
        };
        self.write_files(&rows);
        self.finals.clear();
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split_is_train = split.eq_ignore_ascii_case("train");
        self.split_items = total_items;
        self.split_start = Some(Instant::now());
        self.running.clear();
        let what = if self.split_is_train {
            "train"
        } else {
            "test "
        };
        let label = format!(
            "{} epoch {}/{} {what}",
            self.label,
            self.epoch + 1,
            self.total_epochs
        );
        self.bar = self.reporter.bar(&label, total_items as u64);
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        let seconds = self
            .split_start
            .take()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if self.split_is_train {
            self.train_seconds = seconds;
            self.train_items = self.split_items;
        } else {
            self.test_seconds = seconds;
        }
        self.bar = None;
    }

    fn end(&mut self) {
        self.bar = None;
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochReport {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for EpochReport {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_without_accuracy_survive_a_json_round_trip() {
        let row = EpochRow {
            epoch: 3,
            train_loss: 1.5,
            train_acc: f64::NAN,
            test_loss: 1.25,
            test_acc: f64::NAN,
            train_seconds: 10.0,
            test_seconds: 2.0,
            images_per_sec: 400.0,
        };
        let text = serde_json::to_string(&row).unwrap();
        assert!(text.contains("\"train_acc\":null"), "{text}");
        let back: EpochRow = serde_json::from_str(&text).unwrap();
        assert_eq!(back.epoch, 3);
        assert_eq!(back.test_loss, 1.25);
        assert!(back.train_acc.is_nan() && back.test_acc.is_nan());
    }
}
