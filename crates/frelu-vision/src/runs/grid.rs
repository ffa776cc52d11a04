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

use crate::error::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::folder::{self, RunFailure, RunState, Start, run_name};
use super::report::EpochRow;
use super::summary::{GridSummary, aggregate_rows};
use crate::fsio::{read_json, write_json};

/// What the grid reads of every run's summary.
pub trait RunSummary: Serialize + DeserializeOwned {
    /// Per-epoch metrics.
    fn epochs(&self) -> &[EpochRow];
    /// Trainable parameters of the model.
    fn params(&self) -> usize;
    /// The run's time figure shown in the table (see [`GridSpec::seconds_header`]).
    fn seconds(&self) -> f64;
}

/// One number of a run, a column of the comparison.
pub struct Metric<S> {
    /// Key in `summary.csv` / `summary.json`.
    pub key: &'static str,
    /// Column header in `summary.md`.
    pub header: &'static str,
    /// Decimals shown.
    pub digits: usize,
    /// Reads it from a run's summary.
    pub value: fn(&S) -> f64,
    /// Whether the table shows its difference to the reference, paired by seed.
    pub paired: bool,
}

/// One configuration (a row of the table).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct GridRow {
    /// Unique name: the run folders are `NAME-sSEED`.
    pub name: String,
    /// Descriptive cells (activation, schedule, model...), one per [`GridSpec::label_headers`].
    pub labels: Vec<String>,
    /// Whether its activation learns parameters (its slopes are plotted).
    pub learnable: bool,
    /// Runs made elsewhere, not by this grid: their folder, with `{seed}` replaced by the seed
    /// (e.g. the networks a fine-tuning grid starts from, so that the others are paired with
    /// them). Read like the grid's own runs; never trained, and without curves in the plots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_from: Option<PathBuf>,
}

/// The shape of a grid.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct GridSpec {
    /// First line of `summary.md` (what was run).
    pub title: String,
    /// Headers of the descriptive cells.
    pub label_headers: Vec<String>,
    /// The configurations, in table order.
    pub rows: Vec<GridRow>,
    /// Seeds: every configuration runs with each.
    pub seeds: Vec<u64>,
    /// Index of the reference row of the paired differences.
    pub reference: Option<usize>,
    /// Header of the time column (e.g. `s/epoch`, `train s`).
    pub seconds_header: String,
}

impl GridSpec {
    /// Every cell `(row, seed)` the grid trains (not the rows of runs made elsewhere), seed
    /// after seed (so that the paired comparisons grow evenly).
    pub fn cells(&self) -> Vec<(usize, u64)> {
        let own: Vec<usize> = (0..self.rows.len())
            .filter(|&row| self.rows[row].runs_from.is_none())
            .collect();
        self.seeds
            .iter()
            .flat_map(|&seed| own.iter().map(move |&row| (row, seed)))
            .collect()
    }

    /// The folder of a cell's run (for a row of runs made elsewhere, theirs).
    pub fn run_dir(&self, out: &Path, row: usize, seed: u64) -> PathBuf {
        match &self.rows[row].runs_from {
            Some(pattern) => folder::for_seed(pattern, seed),
            None => out.join("runs").join(run_name(&self.rows[row].name, seed)),
        }
    }

    /// Checks the shape: rows and seeds present, folder names and seeds unique.
    pub fn validate(&self) -> crate::Result<()> {
        crate::error::ensure!(!self.rows.is_empty(), "the grid has no configurations");
        crate::error::ensure!(!self.seeds.is_empty(), "the grid has no seeds");
        let mut names: Vec<String> = self
            .rows
            .iter()
            .map(|r| folder::clean_name(&r.name))
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            crate::error::bail!("configuration name '{}' is used twice", w[0]);
        }
        let mut seeds = self.seeds.clone();
        seeds.sort_unstable();
        seeds.dedup();
        crate::error::ensure!(seeds.len() == self.seeds.len(), "a seed is listed twice");
        Ok(())
    }
}

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

/// Runs every unfinished cell of the grid into `out`, then aggregates. `log` receives the
/// progress lines (run i of n, elapsed, ETA, each run's result).
pub fn run<T: GridTask>(
    task: &T,
    spec: &GridSpec,
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> crate::Result<GridSummary> {
    std::fs::create_dir_all(out.join("runs"))
        .with_context(|| format!("cannot create {}", out.display()))?;
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
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("cannot clear {}", dir.display()))?;
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
                let error = format!("{error:#}");
                log(&format!("    FAILED: {error}"));
                std::fs::create_dir_all(&dir)?;
                write_json(&dir.join(folder::FAILED), &RunFailure { error })?;
            }
        }
        done_here += 1;
    }
    let summary = aggregate(task, spec, out)?;
    log(&format!(
        "all {total} runs done in {}; summary in {}",
        hms(started.elapsed().as_secs_f64()),
        out.join("summary.md").display()
    ));
    Ok(summary)
}

/// The finished runs of every row as `(seed, summary)`, and the failed seeds. An unreadable
/// summary is reported on stderr and left out, so that one damaged file does not hide the rest.
#[allow(clippy::type_complexity)]
fn read_runs<T: GridTask>(
    spec: &GridSpec,
    out: &Path,
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
                    Err(e) => eprintln!("warning: {e:#}; left out"),
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
/// `slopes.json` is reported on stderr and left out.
fn slope_movement<S>(
    spec: &GridSpec,
    out: &Path,
    row: usize,
    runs: &[(u64, S)],
) -> Option<crate::analysis::slopes::Movement> {
    let layers: Vec<Vec<frelu::slopes::LayerSlopes>> = runs
        .iter()
        .filter_map(|(seed, _)| {
            let path = spec.run_dir(out, row, *seed).join("slopes.json");
            read_json(&path)
                .map_err(|e| eprintln!("warning: {e:#}; its slopes are left out"))
                .ok()
        })
        .collect();
    crate::analysis::slopes::movement(&layers)
}

/// Reads every finished run of the grid in `out` and writes `summary.{md,csv,json}` and plots.
pub fn aggregate<T: GridTask>(task: &T, spec: &GridSpec, out: &Path) -> crate::Result<GridSummary> {
    let (runs, failed) = read_runs::<T>(spec, out);
    let mut rows = aggregate_rows(spec, &runs, &failed, &task.metrics());
    for (i, row) in rows
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| spec.rows[*i].learnable)
    {
        row.slopes = slope_movement(spec, out, i, &runs[i]);
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
    summary.plots = super::summary::plots(&summary, &first_runs, &out.join("plots"))?;
    crate::fsio::write_text(&out.join("summary.md"), &summary.markdown())?;
    crate::fsio::write_text(&out.join("summary.csv"), &summary.csv())?;
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}
