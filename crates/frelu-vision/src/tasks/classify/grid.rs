//! Classification's row of the comparison grid (`frelu compare`): a protocol's configurations ×
//! seeds, trained by [`super::train`], compared on final and best-epoch test accuracy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::protocol::Protocol;
use super::{RunOptions, TrainConfig, TrainSummary};
use crate::error::RunError;
use crate::fsio::{read_json, write_json};
use crate::progress::{Reporter, silent};
use crate::runs::GridSummary;
use crate::runs::folder::{self, RunState, Start};
use crate::runs::grid::{self, GridOutcome, GridRow, GridSpec, GridTask, Metric, Worker};

/// Name of the row of the networks a protocol with `init_from` starts from.
pub const START_ROW: &str = "start";

impl Protocol {
    /// The shape of this protocol's grid: a row per configuration, in order, then — when the
    /// runs start from finished runs (`init_from` naming run folders) — the row
    /// [`START_ROW`] of those runs, so that every configuration can be paired with its starting
    /// network (`--reference start`). The reference is [`Protocol::reference`], by default the
    /// configuration named `relu`.
    pub fn grid_spec(&self) -> GridSpec {
        let b = &self.base;
        let mut rows: Vec<GridRow> = self
            .configs
            .iter()
            .map(|c| GridRow {
                name: c.name.clone(),
                labels: vec![
                    c.activation.to_string(),
                    if c.activation.is_learnable() {
                        c.schedule.schedule.to_string()
                    } else {
                        "—".into()
                    },
                ],
                learnable: c.activation.is_learnable(),
                runs_from: None,
            })
            .collect();
        if let Some(from) = &b.init_from
            && self
                .seeds
                .iter()
                .any(|&s| self.init_from(s).is_some_and(|p| p.is_dir()))
        {
            rows.push(GridRow {
                name: START_ROW.into(),
                labels: vec!["init_from".into(), "—".into()],
                learnable: false,
                runs_from: Some(from.clone()),
            });
        }
        let reference_name = self.reference.as_deref().unwrap_or("relu");
        GridSpec {
            title: format!(
                "Protocol `{}`: {} on {}, {} epochs, batch {}, SGD lr {} ({}), momentum {}, \
                 weight decay {}, seeds {:?}.",
                self.name,
                b.model,
                b.dataset,
                b.epochs,
                b.batch_size,
                b.lr,
                b.lr_shape,
                b.momentum,
                b.weight_decay,
                self.seeds
            ),
            label_headers: vec!["activation".into(), "schedule".into()],
            reference: rows.iter().position(|r| r.name == reference_name),
            rows,
            seeds: self.seeds.clone(),
            seconds_header: "s/epoch".into(),
            margin: self.margin,
        }
    }
}

/// The protocol of a classification grid, in its folder.
pub const PROTOCOL_FILE: &str = "protocol.json";

/// Classification as a grid task.
pub struct ClassifyGrid<'a> {
    /// The protocol.
    pub protocol: &'a Protocol,
    /// Where each run reports (its table and progress bars).
    pub runs: Arc<dyn Reporter>,
}

impl GridTask for ClassifyGrid<'_> {
    type Config = TrainConfig;
    type Summary = TrainSummary;
    const KIND: &'static str = "classify";
    const HEADLINE: (&'static str, &'static str) = ("test accuracy %", "/final_test_acc");

    fn grid_name(&self) -> String {
        self.protocol.name.clone()
    }

    fn config(&self, row: usize, seed: u64) -> TrainConfig {
        self.protocol.run_config(&self.protocol.configs[row], seed)
    }

    fn train(
        &self,
        config: &TrainConfig,
        dir: &Path,
        label: &str,
        start: Start,
    ) -> crate::Result<TrainSummary> {
        let options = RunOptions {
            reporter: self.runs.clone(),
            label: label.to_string(),
            start,
        };
        super::train(config, dir, &options)
    }

    fn describe(&self, s: &TrainSummary) -> String {
        format!(
            "{}, {}: test accuracy {:.2}% ({:.0} s)",
            s.config.activation, s.config.schedule.schedule, s.final_test_acc, s.total_seconds
        )
    }

    fn metrics(&self) -> Vec<Metric<TrainSummary>> {
        vec![
            Metric {
                key: "final_acc",
                header: "final test acc (%)",
                digits: 2,
                value: |s| s.final_test_acc,
                paired: true,
            },
            Metric {
                key: "best_acc",
                header: "best-epoch acc (%)",
                digits: 2,
                value: |s| s.best_test_acc,
                paired: false,
            },
        ]
    }
}

/// Runs the cells of the protocol's grid that `worker` can claim into `out` (resumable:
/// finished runs with the same settings are skipped, runs with other settings and a folder of
/// another protocol refused), writes `out/protocol.json`, and aggregates once the whole grid
/// is done.
/// Each run reports to `runs`; the grid's progress and warnings go to `reporter`.
pub fn run_grid(
    protocol: &Protocol,
    out: &Path,
    runs: Arc<dyn Reporter>,
    worker: &Worker,
    reporter: &dyn Reporter,
) -> crate::Result<GridOutcome> {
    protocol.validate()?;
    let task = ClassifyGrid { protocol, runs };
    let spec = protocol.grid_spec();
    grid::check_finished(&task, &spec, out)?;
    let missing = missing_sources(protocol, &spec, out);
    if !missing.is_empty() {
        crate::error::bail!(
            "protocol `{}` starts its runs from trained networks, and these are not there or \
             not finished: {}. Finish them first (for `trained-slopes`: `frelu compare \
             --protocol converge`), point --init-from elsewhere, or run only the seeds that \
             are ready (--seeds)",
            protocol.name,
            missing
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Grids from before `grid.json` existed name their protocol only here.
    let stored = out.join(PROTOCOL_FILE);
    if stored.is_file() {
        let stored: Protocol = read_json(&stored)?;
        if stored.name != protocol.name {
            return Err(RunError::OtherGrid {
                dir: out.to_path_buf(),
                found: format!("`classify {}`", stored.name),
                asked: format!("`classify {}`", protocol.name),
            }
            .into());
        }
    }
    crate::fsio::create_dir(out)?;
    write_json(&out.join(PROTOCOL_FILE), protocol)?;
    grid::run(&task, &spec, out, worker, reporter)
}

/// The networks that unfinished runs of `protocol` start from (`init_from`) and that are not
/// there yet: a missing file, or a run folder whose run has not finished.
fn missing_sources(protocol: &Protocol, spec: &GridSpec, out: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    for (row, seed) in spec.cells() {
        if folder::state(&spec.run_dir(out, row, seed)) == RunState::Finished {
            continue;
        }
        let Some(from) = protocol.init_from(seed) else {
            continue;
        };
        let ready = if from.is_dir() {
            folder::state(&from) == RunState::Finished
        } else {
            from.is_file()
        };
        if !ready && !missing.contains(&from) {
            missing.push(from);
        }
    }
    missing
}

/// Rebuilds `summary.*` and the plots of the grid in `out` from its finished runs, compared
/// with `reference` (a configuration's name) instead of the stored protocol's reference, and
/// tested for equivalence against `margin` instead of the stored protocol's, where given;
/// damaged runs it leaves out are warnings to `reporter`.
pub fn aggregate(
    out: &Path,
    (reference, margin): (Option<&str>, Option<f64>),
    reporter: &dyn Reporter,
) -> crate::Result<GridSummary> {
    let mut protocol: Protocol = read_json(&out.join(PROTOCOL_FILE))?;
    if let Some(name) = reference {
        protocol.reference = Some(name.to_string());
    }
    if margin.is_some() {
        protocol.margin = margin;
    }
    if reference.is_some() || margin.is_some() {
        protocol.validate()?;
    }
    let task = ClassifyGrid {
        protocol: &protocol,
        runs: silent(),
    };
    grid::aggregate(&task, &protocol.grid_spec(), out, reporter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::mean;
    use crate::progress::{Collect, Silent};
    use crate::runs::run_name;
    use crate::tasks::classify::protocol::{RunSpec, TRAINED_SLOPES_LR};
    use frelu::schedule::ScheduleConfig;

    /// One worker runs the whole grid: its comparison.
    fn grid_of(
        protocol: &Protocol,
        out: &Path,
        reporter: &dyn Reporter,
    ) -> crate::Result<GridSummary> {
        run_grid(protocol, out, silent(), &Worker::default(), reporter)
            .map(|outcome| outcome.summary().expect("one worker finishes the grid"))
    }

    fn spec(name: &str, activation: &str, schedule: &str) -> RunSpec {
        RunSpec {
            name: name.into(),
            activation: activation.parse().unwrap(),
            schedule: ScheduleConfig::new(schedule.parse().unwrap()),
        }
    }

    fn tiny() -> Protocol {
        Protocol {
            name: "tiny".into(),
            base: TrainConfig {
                epochs: 1,
                batch_size: 32,
                limit_train: Some(96),
                limit_test: Some(64),
                workers: 0,
                checkpoints: false,
                ..TrainConfig::default()
            },
            configs: vec![
                spec("relu", "relu", "joint"),
                spec("frelu-alt", "frelu", "alternate:1:1:iter"),
            ],
            seeds: vec![0, 1],
            reference: None,
            margin: None,
        }
    }

    #[test]
    fn an_interrupted_run_with_a_checkpoint_is_resumed_to_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut protocol = tiny();
        protocol.base.epochs = 2;
        protocol.base.checkpoints = true;
        protocol.configs.truncate(1);
        protocol.seeds = vec![0];
        let first = grid_of(&protocol, dir.path(), &Silent).unwrap();
        // Undo the end of the run: as if killed during epoch 2.
        let run = dir.path().join("runs/relu-s0");
        std::fs::remove_file(run.join("summary.json")).unwrap();
        for name in ["model", "optim", "scheduler"] {
            std::fs::remove_file(run.join(format!("checkpoint/{name}-2.bpk"))).unwrap();
        }
        let collect = Collect::default();
        let again = grid_of(&protocol, dir.path(), &collect).unwrap();
        let lines = collect.lines();
        assert!(
            lines.iter().any(|l| l.contains("resuming after epoch 1")),
            "{lines:?}"
        );
        let acc = |s: &GridSummary| s.metric(&s.rows[0], "final_acc").unwrap().values.clone();
        assert_eq!(acc(&again), acc(&first));
    }

    #[test]
    fn trained_slopes_starts_each_seed_from_its_trained_run_and_waits_for_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let trained = dir.path().join("converge");
        let mut base = tiny();
        base.configs.truncate(1);
        base.seeds = vec![0];
        grid_of(&base, &trained, &Silent).unwrap();

        let mut protocol = Protocol::trained_slopes();
        protocol.base.limit_train = Some(96);
        protocol.base.limit_test = Some(64);
        protocol.base.batch_size = 32;
        protocol.base.workers = 0;
        protocol.base.checkpoints = false;
        protocol.base.init_from = Some(trained.join("runs/relu-s{seed}"));
        let out = dir.path().join("slopes");
        // Seed 1 has no trained run: refused before anything is written, naming it.
        protocol.seeds = vec![0, 1];
        let err = grid_of(&protocol, &out, &Silent).unwrap_err().to_string();
        assert!(err.contains("relu-s1") && !err.contains("relu-s0"), "{err}");
        assert!(!out.exists());

        protocol.seeds = vec![0];
        let summary = grid_of(&protocol, &out, &Silent).unwrap();
        for name in [
            "relu-s0",
            "frelu-slopes-s0",
            "frelu-slopes-x100-s0",
            "stats-only-s0",
        ] {
            let s: TrainSummary =
                read_json(&out.join("runs").join(name).join("summary.json")).unwrap();
            assert_eq!(s.config.init_from, Some(trained.join("runs/relu-s0")));
            assert_eq!(s.config.lr, TRAINED_SLOPES_LR);
        }
        // Paired against the control (ReLU trained one more epoch), seed by seed; the starting
        // networks are a row of their own (read from their folders, not trained again).
        let names: Vec<&str> = summary.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "relu",
                "frelu-slopes",
                "frelu-slopes-x100",
                "stats-only",
                START_ROW
            ]
        );
        assert_eq!(protocol.grid_spec().cells().len(), 4);
        let source: TrainSummary = read_json(&trained.join("runs/relu-s0/summary.json")).unwrap();
        let start = &summary.rows[4];
        let acc = |summary: &GridSummary, row: usize| {
            summary
                .metric(&summary.rows[row], "final_acc")
                .unwrap()
                .clone()
        };
        assert_eq!(acc(&summary, 4).values, vec![source.final_test_acc]);
        assert!(
            start.test_acc_by_epoch.is_empty(),
            "its own epochs are not drawn"
        );
        // Each configuration against its starting network: the change the fine-tuning made.
        let from_start = aggregate(&out, (Some(START_ROW), None), &Silent).unwrap();
        for row in 0..4 {
            let change = acc(&from_start, row).delta.unwrap().mean;
            let expected = acc(&summary, row).values[0] - source.final_test_acc;
            assert!(
                (change - expected).abs() < 1e-9,
                "{row}: {change} vs {expected}"
            );
        }
        // At slope rate 0 nothing learns: the slopes are exactly ReLU's.
        let slopes: Vec<frelu::slopes::LayerSlopes> =
            read_json(&out.join("runs/stats-only-s0/slopes.json")).unwrap();
        for layer in &slopes {
            assert!(layer.pos.as_ref().unwrap().iter().all(|&p| p == 1.0));
            assert!(layer.neg.as_ref().unwrap().iter().all(|&n| n == 0.0));
        }
        for row in &summary.rows[1..] {
            assert_eq!(
                summary
                    .metric(row, "final_acc")
                    .unwrap()
                    .delta
                    .as_ref()
                    .unwrap()
                    .n,
                1
            );
        }
    }

    #[test]
    fn a_run_that_failed_before_it_started_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut protocol = tiny();
        protocol.configs.truncate(1);
        protocol.seeds = vec![0];
        // An older version recorded a refused row as failed before writing its settings; the
        // row has been fixed since.
        let run = dir
            .path()
            .join("runs")
            .join(run_name(&protocol.configs[0].name, 0));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(
            run.join("failed.json"),
            r#"{"error": "--slope-lr-mult must be ≥ 0"}"#,
        )
        .unwrap();
        let collect = Collect::default();
        let summary = grid_of(&protocol, dir.path(), &collect).unwrap();
        let lines = collect.lines();
        assert!(
            lines.iter().any(|l| l.contains("failed before it started")),
            "{lines:?}"
        );
        assert!(run.join("summary.json").is_file() && !run.join("failed.json").exists());
        assert_eq!(summary.rows[0].seeds, vec![0]);
    }

    #[test]
    fn an_interrupted_grid_finishes_without_redoing_finished_runs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let protocol = tiny();
        let options = RunOptions::quiet();
        // Simulate a first session that finished two runs and was killed in the third.
        for (config, seed) in [(&protocol.configs[0], 0), (&protocol.configs[1], 0)] {
            let run = out.join("runs").join(run_name(&config.name, seed));
            crate::tasks::classify::train(&protocol.run_config(config, seed), &run, &options)
                .unwrap();
        }
        let interrupted = out.join("runs").join(run_name("relu", 1));
        std::fs::create_dir_all(&interrupted).unwrap();
        std::fs::write(interrupted.join("metrics.csv"), "half a file").unwrap();
        let finished = out.join("runs/relu-s0/summary.json");
        let before = std::fs::metadata(&finished).unwrap().modified().unwrap();

        let collect = Collect::default();
        let summary = grid_of(&protocol, out, &collect).unwrap();
        let text = collect.lines().join("\n");
        assert_eq!(
            text.matches("finished earlier, skipped").count(),
            2,
            "{text}"
        );
        assert_eq!(
            text.matches("interrupted earlier, restarting").count(),
            1,
            "{text}"
        );
        assert_eq!(
            std::fs::metadata(&finished).unwrap().modified().unwrap(),
            before
        );
        assert!(interrupted.join("summary.json").is_file());

        assert_eq!(summary.rows.len(), 2);
        assert!(summary.rows.iter().all(|r| r.seeds == vec![0, 1]));
        let acc = |row: usize| summary.metric(&summary.rows[row], "final_acc").unwrap();
        assert!(acc(0).delta.is_none());
        let delta = acc(1).delta.as_ref().unwrap();
        assert_eq!(delta.n, 2);
        let expected = mean(&[
            acc(1).values[0] - acc(0).values[0],
            acc(1).values[1] - acc(0).values[1],
        ]);
        assert!((delta.mean - expected).abs() < 1e-9);
        assert_eq!(summary.rows[1].params_added, 2 * (32 + 32 + 64 + 64));
        for file in [
            "summary.md",
            "summary.csv",
            "summary.json",
            "protocol.json",
            "plots/test_accuracy.png",
            "plots/frelu-alt_pos_vs_neg.svg",
        ] {
            assert!(out.join(file).is_file(), "{file}");
        }
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.starts_with("Protocol `tiny`"), "{md}");
        assert!(
            md.contains("| frelu-alt | `frelu:neg=0` | `alternate:1:1:iter` |"),
            "{md}"
        );
        // The slope table: FReLU's two seeds pooled (192 channels each), nothing for ReLU.
        assert!(summary.rows[0].slopes.is_none());
        let moved = summary.rows[1].slopes.as_ref().unwrap();
        assert_eq!((moved.runs, moved.channels), (2, 2 * 192));
        let pos = moved.pos_from_one.as_ref().unwrap();
        assert!(pos.max >= pos.mean && pos.mean > 0.0, "{moved:?}");
        assert!(
            md.contains("| config | runs | channels | mean \\|pos − 1\\|")
                && md.contains("| frelu-alt | 2 | 384 |")
                && !md.contains("| relu | 2 |"),
            "{md}"
        );
        // Re-aggregating gives the same table.
        assert_eq!(
            aggregate(out, (None, None), &Silent).unwrap().markdown(),
            summary.markdown()
        );
        // Against another reference: the same pairs, the other way round.
        let against_alt = aggregate(out, (Some("frelu-alt"), None), &Silent).unwrap();
        assert_eq!(against_alt.reference.as_deref(), Some("frelu-alt"));
        let relu_vs_alt = against_alt
            .metric(&against_alt.rows[0], "final_acc")
            .unwrap();
        let back = relu_vs_alt.delta.as_ref().unwrap();
        assert!((back.mean + delta.mean).abs() < 1e-9);
        assert!(
            (back.p_value - delta.p_value).abs() < 1e-9
                || (back.p_value.is_nan() && delta.p_value.is_nan())
        );
        assert!(
            against_alt
                .metric(&against_alt.rows[1], "final_acc")
                .unwrap()
                .delta
                .is_none()
        );
        let err = aggregate(out, (Some("gelu"), None), &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reference 'gelu'") && err.contains("relu, frelu-alt"),
            "{err}"
        );

        // A second call has nothing left to run; more seeds extend the grid.
        let collect = Collect::default();
        grid_of(&protocol, out, &collect).unwrap();
        let again = collect.lines();
        assert_eq!(again.iter().filter(|l| l.contains("skipped")).count(), 4);
        // Other settings for runs that are finished: refused, naming the run and the setting,
        // before anything is trained or protocol.json is touched.
        let mut other = protocol.clone();
        other.base.lr = 0.05;
        let err = grid_of(&other, out, &Silent).unwrap_err().to_string();
        assert!(
            err.contains("relu-s0") && err.contains("lr: 0.01 → 0.05"),
            "{err}"
        );
        let stored: Protocol = read_json(&out.join("protocol.json")).unwrap();
        assert_eq!(stored, protocol);
    }
}
