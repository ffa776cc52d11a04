//! Action recognition's row of the comparison grid (`frelu action compare`): (model,
//! activation) pairs × seeds, compared on top-1 (paired by seed against TSM with ReLU).

use std::path::Path;

use frelu::ActivationConfig;

use super::{ActionConfig, ActionSummary, VideoModel};
use crate::runs::folder::Start;
use crate::runs::grid::{self, GridOutcome, GridRow, GridSpec, GridTask, Metric, Worker};

/// Action recognition as a grid task: `base` with each (model, activation).
pub struct ActionGrid<'a> {
    /// Settings shared by every run (model, activation and seed replaced).
    pub base: &'a ActionConfig,
    /// One row each.
    pub configs: &'a [(VideoModel, ActivationConfig)],
}

impl ActionGrid<'_> {
    /// The shape of the grid: rows `MODEL-ACT`, reference TSM with ReLU.
    pub fn spec(&self, seeds: &[u64]) -> GridSpec {
        let b = self.base;
        GridSpec {
            title: format!(
                "Action recognition on {}: {} segments of {}×{} frames, {} epochs, batch {}, \
                 SGD lr {}, schedule `{}`, seeds {seeds:?}.",
                b.data.display(),
                b.segments,
                b.frame_size,
                b.frame_size,
                b.epochs,
                b.batch_size,
                b.lr,
                b.schedule.schedule
            ),
            label_headers: vec!["model".into(), "activation".into()],
            rows: self
                .configs
                .iter()
                .map(|(m, a)| GridRow {
                    name: format!("{m}-{a}"),
                    labels: vec![m.to_string(), a.to_string()],
                    learnable: a.is_learnable(),
                    runs_from: None,
                })
                .collect(),
            seeds: seeds.to_vec(),
            reference: self
                .configs
                .iter()
                .position(|(m, a)| *m == VideoModel::Tsm && *a == ActivationConfig::Relu),
            seconds_header: "train s".into(),
            margin: None,
        }
    }
}

impl GridTask for ActionGrid<'_> {
    type Config = ActionConfig;
    type Summary = ActionSummary;
    const KIND: &'static str = "action";
    const HEADLINE: (&'static str, &'static str) = ("top-1 %", "/final_top1");

    fn config(&self, row: usize, seed: u64) -> ActionConfig {
        let (model, activation) = &self.configs[row];
        ActionConfig {
            model: *model,
            activation: activation.clone(),
            seed,
            ..self.base.clone()
        }
    }

    fn train(
        &self,
        config: &ActionConfig,
        dir: &Path,
        _label: &str,
        start: Start,
    ) -> crate::Result<ActionSummary> {
        let options = crate::tasks::launch::RunOptions {
            start,
            ..crate::tasks::launch::RunOptions::quiet()
        };
        super::train(config, dir, &options)
    }

    fn describe(&self, s: &ActionSummary) -> String {
        format!(
            "{} {}: top-1 {:.2}% ({:.0} s)",
            s.config.model, s.config.activation, s.final_top1, s.train_seconds
        )
    }

    fn metrics(&self) -> Vec<Metric<ActionSummary>> {
        vec![Metric {
            key: "top1",
            header: "top-1 (%)",
            digits: 2,
            value: |s| s.final_top1,
            paired: true,
        }]
    }
}

/// Trains every `(model, activation)` × seed that `worker` can claim into `out/runs/`
/// (resumable, refusing runs with other settings) and, once the whole grid is done, writes
/// `out/summary.{md,csv,json}`.
pub fn compare(
    base: &ActionConfig,
    configs: &[(VideoModel, ActivationConfig)],
    seeds: &[u64],
    out: &Path,
    worker: &Worker,
    margin: Option<f64>,
    reporter: &dyn crate::progress::Reporter,
) -> crate::Result<GridOutcome> {
    base.validate()?;
    crate::error::ensure!(
        margin.is_none_or(|m| m.is_finite() && m > 0.0),
        "--margin must be a positive number"
    );
    let task = ActionGrid { base, configs };
    let spec = GridSpec {
        margin,
        ..task.spec(seeds)
    };
    grid::run(&task, &spec, out, worker, reporter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fashion_mnist::Source;
    use crate::data::synth::{MotionConfig, make_motion_benchmark};
    use crate::tasks::action::ActionConfig;
    use crate::tasks::launch::RunOptions;

    /// A generated motion benchmark in `dir/data` and a one-epoch configuration on it.
    fn small_benchmark(dir: &Path, train_clips: usize, val_clips: usize) -> ActionConfig {
        let data = dir.join("data");
        let bench = MotionConfig {
            frames: 4,
            size: 32,
            train_clips,
            val_clips,
            seed: 0,
            ..MotionConfig::default()
        };
        make_motion_benchmark(&data, &bench, &Source::Bundled).unwrap();
        ActionConfig {
            data,
            segments: 4,
            frame_size: 32,
            epochs: 1,
            batch_size: 8,
            workers: 0,
            ..ActionConfig::default()
        }
    }

    #[test]
    fn a_validation_label_beyond_the_training_classes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = small_benchmark(dir.path(), 16, 8);
        let data = &config.data;
        std::fs::remove_file(data.join("classes.txt")).unwrap();
        let val = std::fs::read_to_string(data.join("val.txt")).unwrap();
        let mut lines: Vec<String> = val.lines().map(String::from).collect();
        let first: Vec<&str> = lines[0].split_whitespace().collect();
        lines[0] = format!("{} {} 50", first[0], first[1]);
        std::fs::write(data.join("val.txt"), lines.join("\n") + "\n").unwrap();
        let out = dir.path().join("run");
        let err = crate::tasks::action::train(&config, &out, &RunOptions::quiet())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has label 50") && err.contains("val.txt"),
            "{err}"
        );
        assert!(!out.exists(), "a run that cannot start leaves no folder");
    }

    #[test]
    fn trains_tsm_on_a_generated_benchmark_and_compares() {
        let dir = tempfile::tempdir().unwrap();
        let base = small_benchmark(dir.path(), 32, 16);
        let configs = [
            (VideoModel::Tsm, ActivationConfig::Relu),
            (VideoModel::Tsm, ActivationConfig::frelu()),
            (VideoModel::Tsn, ActivationConfig::Relu),
        ];
        let out = dir.path().join("out");
        let summary = compare(
            &base,
            &configs,
            &[0],
            &out,
            &Worker::default(),
            None,
            &crate::progress::Silent,
        )
        .unwrap()
        .summary()
        .unwrap();
        let rows = &summary.rows;
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|r| r.seeds == vec![0] && r.metrics[0].mean.is_finite())
        );
        assert!(rows[1].params > rows[0].params);
        assert!(rows[1].metrics[0].delta.is_some() && rows[0].metrics[0].delta.is_none());
        assert!(out.join("summary.md").is_file());
        assert!(
            out.join("runs/tsm-frelu_neg_0-s0/summary.json").is_file(),
            "run names kept"
        );
        // A finished run asked for with another setting is refused, naming it.
        let other = ActionConfig {
            lr: 0.2,
            ..base.clone()
        };
        let err = compare(
            &other,
            &configs,
            &[0],
            &out,
            &Worker::default(),
            None,
            &crate::progress::Silent,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("lr: 0.05 → 0.2"), "{err}");
    }
}
