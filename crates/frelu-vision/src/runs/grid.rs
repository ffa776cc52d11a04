//! The one comparison grid: configurations × seeds, resumable, then aggregated with paired
//! statistics against a reference configuration into `summary.{md,csv,json}` and plots.
//!
//! Every task (classification, detection, action recognition) gives the grid only what is its
//! own through [`GridTask`]: the settings of one cell, how to train one run, and the numbers of
//! its table ([`Metric`]).
//!
//! ```text
//! OUT/runs/NAME-sSEED/    one run each (see `runs::folder`); finished when summary.json exists
//! OUT/summary.md|csv|json the comparison        OUT/plots/*.png|svg  curves and slopes
//! ```
//! A finished run is skipped, but only if it was trained with the settings asked for now: a
//! difference is refused with the setting named. An interrupted run is cleared and restarted; a
//! failed one (`failed.json`) is not retried.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::folder::{self, RunFailure, RunState, Start, run_name};
pub use super::spec::{GridRow, GridSpec, Metric, RunSummary};
use super::summary::{GridSummary, aggregate_rows};
use crate::error::report;
use crate::fsio::{read_json, write_json};
use crate::progress::Reporter;
use crate::run_files::{
    GRID_PLOTS_DIR, GRID_RUNS_DIR, GRID_SUMMARY_CSV, GRID_SUMMARY_MD, SLOPES, SUMMARY,
};

/// What a task gives the grid.
pub trait GridTask {
    /// The settings of one run (stored as the run's `config.json`).
    type Config: Serialize + DeserializeOwned;
    /// What one run produces (its `summary.json`).
    type Summary: RunSummary;
    /// The settings of configuration `row` with `seed`.
    fn config(&self, row: usize, seed: u64) -> Self::Config;
    /// Trains one run into `dir` without terminal output but the grid's lines; `start` says
    /// whether it resumes an interrupted run.
    fn train(
        &self,
        config: &Self::Config,
        dir: &Path,
        label: &str,
        start: Start,
    ) -> crate::Result<Self::Summary>;
    /// One line of results for the grid's log.
    fn describe(&self, summary: &Self::Summary) -> String;
    /// The numbers of the table.
    fn metrics(&self) -> Vec<Metric<Self::Summary>>;
}

fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Refuses, before anything is trained, a finished or failed run whose stored settings differ
/// from what the grid asks for now (the error names the run and the setting).
pub fn check_finished<T: GridTask>(task: &T, spec: &GridSpec, out: &Path) -> crate::Result<()> {
    spec.validate()?;
    for (row, seed) in spec.cells() {
        let dir = spec.run_dir(out, row, seed);
        if matches!(folder::state(&dir), RunState::Finished | RunState::Failed) {
            folder::check_same_config(&dir, &task.config(row, seed))?;
        }
    }
    Ok(())
}

/// The epoch the interrupted run in `dir` can be resumed after: it has a checkpoint and was
/// started with the settings asked for now (else `None`: it is restarted from scratch).
fn resume_point<C: Serialize + DeserializeOwned>(dir: &Path, config: &C) -> Option<usize> {
    let k = folder::last_checkpoint(dir);
    (k > 0 && folder::check_same_config(dir, config).is_ok()).then_some(k)
}

/// Runs every unfinished cell of the grid into `out`, then aggregates. `reporter` receives the
/// progress lines (run i of n, elapsed, ETA, each run's result) and the warnings.
pub fn run<T: GridTask>(
    task: &T,
    spec: &GridSpec,
    out: &Path,
    reporter: &dyn Reporter,
) -> crate::Result<GridSummary> {
    let log = |line: &str| reporter.info(line);
    crate::fsio::create_dir(&out.join(GRID_RUNS_DIR))?;
    check_finished(task, spec, out)?;
    let cells = spec.cells();
    let total = cells.len();
    let started = Instant::now();
    let mut done_here = 0usize;
    for (i, &(row, seed)) in cells.iter().enumerate() {
        let dir = spec.run_dir(out, row, seed);
        let name = run_name(&spec.rows[row].name, seed);
        let head = format!("[{}/{total}] {name}", i + 1);
        let config = task.config(row, seed);
        let mut start = Start::Fresh;
        match folder::state(&dir) {
            RunState::Finished | RunState::Failed => {
                log(&format!("{head}: finished earlier, skipped"));
                continue;
            }
            RunState::Interrupted => match resume_point(&dir, &config) {
                Some(k) => {
                    log(&format!(
                        "{head}: interrupted earlier, resuming after epoch {k}"
                    ));
                    start = Start::Resume;
                }
                None => {
                    log(&format!("{head}: interrupted earlier, restarting"));
                    crate::fsio::remove_if_exists(&dir)?;
                }
            },
            RunState::New => {}
        }
        let elapsed = started.elapsed().as_secs_f64();
        let remaining = cells[i..]
            .iter()
            .filter(|(r, s)| folder::state(&spec.run_dir(out, *r, *s)) == RunState::New)
            .count();
        let eta = if done_here > 0 {
            format!(
                ", ETA {}",
                hms(elapsed / done_here as f64 * remaining as f64)
            )
        } else {
            String::new()
        };
        log(&format!("{head} — elapsed {}{eta}", hms(elapsed)));
        match task.train(&config, &dir, &name, start) {
            Ok(summary) => log(&format!("    {}", task.describe(&summary))),
            Err(error) => {
                let error = crate::error::report(&error);
                log(&format!("    FAILED: {error}"));
                crate::fsio::create_dir(&dir)?;
                write_json(&dir.join(folder::FAILED), &RunFailure { error })?;
            }
        }
        done_here += 1;
    }
    let summary = aggregate(task, spec, out, reporter)?;
    log(&format!(
        "all {total} runs done in {}; summary in {}",
        hms(started.elapsed().as_secs_f64()),
        out.join(GRID_SUMMARY_MD).display()
    ));
    Ok(summary)
}

/// The finished runs of every row as `(seed, summary)`, and the failed seeds. An unreadable
/// summary is a warning and left out, so that one damaged file does not hide the rest.
#[allow(clippy::type_complexity)]
fn read_runs<T: GridTask>(
    spec: &GridSpec,
    out: &Path,
    reporter: &dyn Reporter,
) -> (Vec<Vec<(u64, T::Summary)>>, Vec<Vec<u64>>) {
    let mut finished = Vec::new();
    let mut failed = Vec::new();
    for row in 0..spec.rows.len() {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for &seed in &spec.seeds {
            let dir = spec.run_dir(out, row, seed);
            match folder::state(&dir) {
                RunState::Finished => match read_json(&dir.join(folder::SUMMARY)) {
                    Ok(summary) => ok.push((seed, summary)),
                    Err(e) => reporter.warn(&format!("{}; left out", report(&e))),
                },
                RunState::Failed => bad.push(seed),
                _ => {}
            }
        }
        finished.push(ok);
        failed.push(bad);
    }
    (finished, failed)
}

/// How far the slopes of row `row`'s finished runs moved; a run without a readable
/// `slopes.json` is a warning and left out.
fn slope_movement<S>(
    spec: &GridSpec,
    out: &Path,
    row: usize,
    runs: &[(u64, S)],
    reporter: &dyn Reporter,
) -> Option<crate::analysis::slopes::Movement> {
    let layers: Vec<Vec<frelu::slopes::LayerSlopes>> = runs
        .iter()
        .filter_map(|(seed, _)| {
            let path = spec.run_dir(out, row, *seed).join(SLOPES);
            read_json(&path)
                .map_err(|e| reporter.warn(&format!("{}; its slopes are left out", report(&e))))
                .ok()
        })
        .collect();
    crate::analysis::slopes::movement(&layers)
}

/// Reads every finished run of the grid in `out` and writes `summary.{md,csv,json}` and plots;
/// damaged files it leaves out are warnings to `reporter`.
pub fn aggregate<T: GridTask>(
    task: &T,
    spec: &GridSpec,
    out: &Path,
    reporter: &dyn Reporter,
) -> crate::Result<GridSummary> {
    let (runs, failed) = read_runs::<T>(spec, out, reporter);
    let mut rows = aggregate_rows(spec, &runs, &failed, &task.metrics());
    for (i, row) in rows
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| spec.rows[*i].learnable)
    {
        row.slopes = slope_movement(spec, out, i, &runs[i], reporter);
    }
    let mut summary = GridSummary::new(spec, &task.metrics(), rows);
    let first_runs: Vec<Option<PathBuf>> = (0..spec.rows.len())
        .map(|row| {
            runs[row]
                .first()
                .filter(|_| spec.rows[row].runs_from.is_none())
                .map(|(seed, _)| spec.run_dir(out, row, *seed))
        })
        .collect();
    summary.plots = super::summary::plots(&summary, &first_runs, &out.join(GRID_PLOTS_DIR))?;
    crate::fsio::write_text(&out.join(GRID_SUMMARY_MD), &summary.markdown())?;
    crate::fsio::write_text(&out.join(GRID_SUMMARY_CSV), &summary.csv())?;
    write_json(&out.join(SUMMARY), &summary)?;
    Ok(summary)
}
