//! Where every cell of a grid stands (`frelu status`), read from the grid folder alone: its
//! `grid.json` for the cells, each run folder's claim, metrics and summary for the rest. Safe to
//! run while workers train: it only reads.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::claim::{self, ClaimState};
use super::folder::{self, RunFailure, RunState};
use super::report::EpochRow;
use super::spec::GridManifest;
use crate::error::report;
use crate::fsio::read_json;
use crate::progress::hms;
use crate::run_files::{CONFIG, FAILED, GRID_MANIFEST, METRICS_JSON, SUMMARY};

/// Where one run stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CellState {
    /// Not started.
    New,
    /// A worker trains it now.
    Running {
        /// The worker's host.
        host: String,
        /// The worker's process id.
        pid: u32,
        /// Epochs finished.
        epoch: usize,
        /// Epochs planned (`None` where the run's settings do not say).
        epochs: Option<usize>,
        /// Seconds since the worker's last heartbeat.
        heartbeat_age: u64,
        /// Seconds left, from the time of its epochs so far (`None` before the first).
        eta_seconds: Option<f64>,
    },
    /// Finished.
    Finished {
        /// The headline number (see [`super::spec::Headline`]); `None` if unreadable.
        value: Option<f64>,
    },
    /// Stopped with an error (not retried).
    Failed {
        /// The error.
        reason: String,
    },
    /// Claimed, but its worker has been silent for longer than the grace period: the next
    /// worker takes it over and resumes it.
    Stale {
        /// The silent worker's host.
        host: String,
        /// Its process id.
        pid: u32,
        /// Epochs finished.
        epoch: usize,
        /// Seconds since its last heartbeat.
        heartbeat_age: u64,
    },
    /// Started, unclaimed, unfinished: the next worker resumes it.
    Interrupted {
        /// Epochs finished.
        epoch: usize,
    },
    /// Its `claim.json` is not a claim: no worker takes it until the file is removed.
    DamagedClaim {
        /// What is wrong.
        reason: String,
    },
}

impl CellState {
    /// The state's name, as `--json` writes it.
    pub fn name(&self) -> &'static str {
        match self {
            CellState::New => "new",
            CellState::Running { .. } => "running",
            CellState::Finished { .. } => "finished",
            CellState::Failed { .. } => "failed",
            CellState::Stale { .. } => "stale",
            CellState::Interrupted { .. } => "interrupted",
            CellState::DamagedClaim { .. } => "damaged_claim",
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStatus {
    /// The run folder's name (`NAME-sSEED`).
    pub run: String,
    /// The configuration.
    pub config: String,
    /// The seed.
    pub seed: u64,
    /// Where it stands.
    #[serde(flatten)]
    pub state: CellState,
}

/// Every cell of a grid.
#[derive(Clone, Debug, Serialize)]
pub struct GridStatus {
    /// `task name` of the grid.
    pub grid: String,
    /// What the finished runs' value is.
    pub headline: String,
    /// The cells, in the grid's order.
    pub cells: Vec<CellStatus>,
}

impl GridStatus {
    /// How many cells are in state `name` ([`CellState::name`]).
    pub fn count(&self, name: &str) -> usize {
        self.cells.iter().filter(|c| c.state.name() == name).count()
    }

    /// Whether every cell is finished or failed.
    pub fn complete(&self) -> bool {
        self.count("finished") + self.count("failed") == self.cells.len()
    }

    /// One line: how many cells are in each state.
    pub fn counts_line(&self) -> String {
        let names = [
            "finished",
            "running",
            "failed",
            "stale",
            "interrupted",
            "damaged_claim",
            "new",
        ];
        let parts: Vec<String> = names
            .iter()
            .map(|&n| (n, self.count(n)))
            .filter(|&(_, k)| k > 0)
            .map(|(n, k)| format!("{k} {}", n.replace('_', " ")))
            .collect();
        format!(
            "{} of {} runs finished ({})",
            self.count("finished"),
            self.cells.len(),
            parts.join(", ")
        )
    }

    /// A Markdown table, a row per cell.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Grid {}: {}\n\n| run | state | details |\n|---|---|---|\n",
            self.grid,
            self.counts_line()
        );
        for cell in &self.cells {
            let details = match &cell.state {
                CellState::New => String::new(),
                CellState::Running {
                    host,
                    pid,
                    epoch,
                    epochs,
                    heartbeat_age,
                    eta_seconds,
                } => format!(
                    "{host} pid {pid}, epoch {epoch}/{}, heartbeat {heartbeat_age} s ago, ETA {}",
                    epochs.map_or("?".into(), |e| e.to_string()),
                    eta_seconds.map_or("?".into(), hms)
                ),
                CellState::Finished { value } => format!(
                    "{} {}",
                    self.headline,
                    value.map_or("unreadable".into(), |v| format!("{v:.4}"))
                ),
                CellState::Failed { reason } => reason.replace('\n', " "),
                CellState::Stale {
                    host,
                    pid,
                    epoch,
                    heartbeat_age,
                } => format!(
                    "{host} pid {pid} silent for {heartbeat_age} s at epoch {epoch}: the next \
                     worker resumes it"
                ),
                CellState::Interrupted { epoch } => {
                    format!("after epoch {epoch}: the next worker resumes it")
                }
                CellState::DamagedClaim { reason } => {
                    format!("{reason}; remove it if no worker trains this run")
                }
            };
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cell.run,
                cell.state.name().replace('_', " "),
                details.replace('|', "\\|")
            ));
        }
        out
    }
}

/// Reads the grid in `out`: claims whose heartbeat is older than `grace` count as stale.
pub fn status(out: &Path, grace: Duration) -> crate::Result<GridStatus> {
    let path = out.join(GRID_MANIFEST);
    if !path.is_file() {
        crate::error::bail!(
            "{} has no {GRID_MANIFEST}: it is not a grid folder, or its grid was last run by an \
             older frelu (run its compare command again: finished runs are skipped)",
            out.display()
        );
    }
    let manifest: GridManifest = read_json(&path)?;
    let spec = &manifest.spec;
    let cells = spec
        .cells()
        .into_iter()
        .map(|(row, seed)| {
            let dir = spec.run_dir(out, row, seed);
            CellStatus {
                run: folder::run_name(&spec.rows[row].name, seed),
                config: spec.rows[row].name.clone(),
                seed,
                state: cell_state(&dir, &manifest, grace),
            }
        })
        .collect();
    Ok(GridStatus {
        grid: manifest.describe(),
        headline: manifest.headline.label.clone(),
        cells,
    })
}

fn cell_state(dir: &Path, manifest: &GridManifest, grace: Duration) -> CellState {
    match folder::state(dir) {
        RunState::Finished => {
            let summary: Option<Value> = read_json(&dir.join(SUMMARY)).ok();
            let value = summary
                .as_ref()
                .and_then(|s| s.pointer(&manifest.headline.pointer))
                .and_then(Value::as_f64);
            return CellState::Finished { value };
        }
        RunState::Failed => {
            let reason = match read_json::<RunFailure>(&dir.join(FAILED)) {
                Ok(failure) => failure.error,
                Err(e) => report(&e),
            };
            return CellState::Failed { reason };
        }
        RunState::New => return CellState::New,
        RunState::Interrupted => {}
    }
    let rows: Vec<EpochRow> = read_json(&dir.join(METRICS_JSON)).unwrap_or_default();
    let epoch = rows.len();
    match claim::state(dir, grace) {
        ClaimState::Free if folder::holds_run(dir) => CellState::Interrupted { epoch },
        ClaimState::Free => CellState::New,
        ClaimState::Damaged(reason) => CellState::DamagedClaim { reason },
        ClaimState::Stale(c) => CellState::Stale {
            heartbeat_age: c.age(),
            host: c.host,
            pid: c.pid,
            epoch,
        },
        ClaimState::Live(c) => {
            let config: Option<Value> = read_json(&dir.join(CONFIG)).ok();
            let epochs = config
                .as_ref()
                .and_then(|c| c.get("epochs"))
                .and_then(Value::as_u64)
                .map(|e| e as usize);
            let per_epoch = (epoch > 0).then(|| {
                rows.iter()
                    .map(|r| r.train_seconds + r.test_seconds.max(0.0))
                    .filter(|s| s.is_finite())
                    .sum::<f64>()
                    / epoch as f64
            });
            let eta_seconds = match (epochs, per_epoch) {
                (Some(total), Some(each)) => Some(total.saturating_sub(epoch) as f64 * each),
                _ => None,
            };
            CellState::Running {
                heartbeat_age: c.age(),
                host: c.host,
                pid: c.pid,
                epoch,
                epochs,
                eta_seconds,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsio::write_json;
    use crate::runs::claim::{ClaimInfo, now};
    use crate::runs::spec::testing;
    use serde_json::json;

    /// A grid folder with one run in every state, written by hand.
    fn grid(out: &Path) -> GridManifest {
        let names = [
            "new",
            "running",
            "finished",
            "failed",
            "stale",
            "interrupted",
            "damaged",
        ];
        let manifest = testing::manifest("states", &names, vec![0]);
        write_json(&out.join(GRID_MANIFEST), &manifest).unwrap();
        let run = |name: &str| {
            let dir = out.join("runs").join(format!("{name}-s0"));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let claim = |dir: &Path, age: u64| {
            let info = ClaimInfo {
                host: "node7".into(),
                pid: 4242,
                token: "t".into(),
                started: now() - age - 100,
                heartbeat: now() - age,
            };
            write_json(&dir.join(claim::CLAIM), &info).unwrap();
        };
        let epochs = |dir: &Path, n: usize| {
            let rows: Vec<EpochRow> = (1..=n)
                .map(|epoch| EpochRow {
                    epoch,
                    train_seconds: 8.0,
                    test_seconds: 2.0,
                    ..EpochRow::default()
                })
                .collect();
            write_json(&dir.join(METRICS_JSON), &rows).unwrap();
            write_json(&dir.join(CONFIG), &json!({"epochs": 5})).unwrap();
        };
        let running = run("running");
        epochs(&running, 2);
        claim(&running, 3);
        let finished = run("finished");
        write_json(&finished.join(SUMMARY), &json!({"final_test_acc": 91.25})).unwrap();
        let failed = run("failed");
        write_json(&failed.join(FAILED), &json!({"error": "loss became NaN"})).unwrap();
        let stale = run("stale");
        epochs(&stale, 1);
        claim(&stale, 3600);
        epochs(&run("interrupted"), 3);
        std::fs::write(run("damaged").join(claim::CLAIM), "not json").unwrap();
        manifest
    }

    #[test]
    fn every_state_of_a_grid_is_read_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        grid(dir.path());
        let status = status(dir.path(), Duration::from_secs(600)).unwrap();
        let states: Vec<&str> = status.cells.iter().map(|c| c.state.name()).collect();
        assert_eq!(
            states,
            [
                "new",
                "running",
                "finished",
                "failed",
                "stale",
                "interrupted",
                "damaged_claim"
            ]
        );
        let CellState::Running {
            host,
            pid,
            epoch,
            epochs,
            heartbeat_age,
            eta_seconds,
        } = &status.cells[1].state
        else {
            panic!("running");
        };
        assert_eq!(
            (host.as_str(), *pid, *epoch, *epochs),
            ("node7", 4242, 2, Some(5))
        );
        assert!((3..10).contains(heartbeat_age), "{heartbeat_age}");
        // 3 epochs left at 10 s each.
        assert_eq!(*eta_seconds, Some(30.0));
        assert_eq!(
            status.cells[2].state,
            CellState::Finished { value: Some(91.25) }
        );
        assert!(!status.complete());
        let table = status.markdown();
        for expected in [
            "1 of 7 runs finished (1 finished, 1 running, 1 failed, 1 stale, 1 interrupted, 1 \
             damaged claim, 1 new)",
            "| running-s0 | running | node7 pid 4242, epoch 2/5, heartbeat",
            "ETA 0:00:30",
            "| finished-s0 | finished | test accuracy % 91.2500 |",
            "| failed-s0 | failed | loss became NaN |",
            "| stale-s0 | stale | node7 pid 4242 silent for",
            "| interrupted-s0 | interrupted | after epoch 3",
            "| damaged-s0 | damaged claim |",
        ] {
            assert!(table.contains(expected), "{expected}\n{table}");
        }
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["cells"][1]["state"], "running");
        assert_eq!(json["cells"][1]["epoch"], 2);
        // A grace period longer than the stale claim's silence makes it running again.
        let lenient = super::status(dir.path(), Duration::from_secs(7200)).unwrap();
        assert_eq!(lenient.cells[4].state.name(), "running");
    }

    #[test]
    fn a_folder_without_a_grid_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let err = status(dir.path(), Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no grid.json"), "{err}");
    }
}
