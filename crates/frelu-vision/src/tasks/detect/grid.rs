//! Detection's row of the comparison grid (`frelu detect compare`): activations × seeds of one
//! base configuration, compared on COCO AP and AP50 (paired by seed against ReLU).

use std::path::Path;

use frelu::ActivationConfig;

use super::{DetectConfig, DetectSummary, metrics_line};
use crate::runs::folder::Start;
use crate::runs::grid::{self, GridOutcome, GridRow, GridSpec, GridTask, Metric, Worker};

/// Detection as a grid task: `base` with each activation.
pub struct DetectGrid<'a> {
    /// Settings shared by every run (activation and seed replaced).
    pub base: &'a DetectConfig,
    /// One row each.
    pub activations: &'a [ActivationConfig],
}

impl DetectGrid<'_> {
    /// The shape of the grid: one row per activation (named by it), reference ReLU.
    pub fn spec(&self, seeds: &[u64]) -> GridSpec {
        let b = self.base;
        GridSpec {
            title: format!(
                "Detection ({}) on {}: {} epochs, batch {}, Adam lr {}, images {}×{}, \
                 schedule `{}`, seeds {seeds:?}.",
                b.detector,
                b.data.display(),
                b.epochs,
                b.batch_size,
                b.lr,
                b.image_size,
                b.image_size,
                b.schedule.schedule
            ),
            label_headers: vec!["activation".into()],
            rows: self
                .activations
                .iter()
                .map(|a| GridRow {
                    name: a.to_string(),
                    labels: vec![a.to_string()],
                    learnable: a.is_learnable(),
                    runs_from: None,
                })
                .collect(),
            seeds: seeds.to_vec(),
            reference: self
                .activations
                .iter()
                .position(|a| *a == ActivationConfig::Relu),
            seconds_header: "train s".into(),
            margin: None,
        }
    }
}

impl GridTask for DetectGrid<'_> {
    type Config = DetectConfig;
    type Summary = DetectSummary;
    const KIND: &'static str = "detect";
    const HEADLINE: (&'static str, &'static str) = ("AP", "/metrics/ap");

    fn config(&self, row: usize, seed: u64) -> DetectConfig {
        DetectConfig {
            activation: self.activations[row].clone(),
            seed,
            ..self.base.clone()
        }
    }

    fn train(
        &self,
        config: &DetectConfig,
        dir: &Path,
        _label: &str,
        start: Start,
    ) -> crate::Result<DetectSummary> {
        let options = crate::tasks::launch::RunOptions {
            start,
            ..crate::tasks::launch::RunOptions::quiet()
        };
        super::train(config, dir, &options)
    }

    fn describe(&self, s: &DetectSummary) -> String {
        format!(
            "{}: {} ({:.0} s)",
            s.config.activation,
            metrics_line(&s.metrics),
            s.train_seconds
        )
    }

    fn metrics(&self) -> Vec<Metric<DetectSummary>> {
        let metric = |key, header, value: fn(&DetectSummary) -> f64, paired| Metric {
            key,
            header,
            digits: 3,
            value,
            paired,
        };
        vec![
            metric("ap", "AP", |s| s.metrics.ap, true),
            metric("ap50", "AP50", |s| s.metrics.ap50, true),
            metric("ap75", "AP75", |s| s.metrics.ap75, false),
            metric("ap_small", "APs", |s| defined(s.metrics.ap_small), false),
            metric("ap_medium", "APm", |s| defined(s.metrics.ap_medium), false),
            metric("ap_large", "APl", |s| defined(s.metrics.ap_large), false),
        ]
    }
}

/// COCO reports −1 where an area range has no ground truth: undefined, not a score.
fn defined(v: f64) -> f64 {
    if v >= 0.0 { v } else { f64::NAN }
}

/// Trains the `activations` × `seeds` detectors with `base` that `worker` can claim into
/// `out/runs/ACT-sSEED` (resumable, refusing runs with other settings), then, once the whole
/// grid is done, writes `out/summary.{md,csv,json}`.
pub fn compare(
    base: &DetectConfig,
    activations: &[ActivationConfig],
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
    let task = DetectGrid { base, activations };
    let spec = GridSpec {
        margin,
        ..task.spec(seeds)
    };
    grid::run(&task, &spec, out, worker, reporter)
}
