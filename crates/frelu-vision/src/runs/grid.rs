//! The one comparison grid: configurations × seeds, resumable, then aggregated with paired
//! statistics against a reference configuration into `summary.{md,csv,json}` and plots.
//!
//! Every task (classification, detection, action recognition) gives the grid only what is its
//! own through [`GridTask`]: the settings of one cell, how to train one run, and the numbers of
//! its table ([`Metric`]).
//!
//! ```text
//! OUT/grid.json           what the grid is (task, name, rows, seeds): `frelu status` reads it
//! OUT/runs/NAME-sSEED/    one run each (see `runs::folder`); finished when summary.json exists
//! OUT/summary.md|csv|json the comparison        OUT/plots/*.png|svg  curves and slopes
//! ```
//! Many workers may run one grid at once (processes, Slurm array tasks, machines sharing the
//! folder): each claims a run before training it ([`super::claim`]) and skips runs that another
//! live worker holds; a run whose worker went silent for longer than the grace period is taken
//! over and resumed from its checkpoint. A worker trains every cell it can claim, or only its
//! [`Shard`]. The worker that finds the whole grid done aggregates; one that finds runs still
//! going leaves that to the last one (or to `--aggregate-only`).
//!
//! A finished, failed or interrupted run is used only if it was started with the settings asked
//! for now: a difference is refused with the setting named, before anything is trained, and
//! nothing is deleted. A folder that holds another grid (another task or protocol) is refused.
//! An interrupted run resumes from its last checkpoint (or starts again without one); a failed
//! one (`failed.json`) is not retried.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::claim::{Acquired, Claim, DEFAULT_GRACE};
use super::folder::{self, RunFailure, RunState, Start, run_name};
use super::settings::RunSettings;
pub use super::shard::Shard;
pub use super::spec::{GridManifest, GridRow, GridSpec, Headline, Metric, RunSummary};
use super::summary::{GridSummary, aggregate_rows};
use crate::error::{RunError, report};
use crate::fsio::{read_json, write_json};
use crate::progress::{Reporter, hms};
use crate::run_files::{
    CONFIG, GRID_MANIFEST, GRID_PLOTS_DIR, GRID_RUNS_DIR, GRID_SUMMARY_CSV, GRID_SUMMARY_MD,
    SLOPES, SUMMARY,
};

/// What a task gives the grid.
pub trait GridTask {
    /// The settings of one run (stored as the run's `config.json`).
    type Config: RunSettings;
    /// What one run produces (its `summary.json`).
    type Summary: RunSummary;
    /// The task's name in `grid.json` (`classify`, `detect`, `action`).
    const KIND: &'static str;
    /// What `frelu status` shows of a finished run: a label and a JSON pointer into its
    /// `summary.json`.
    const HEADLINE: (&'static str, &'static str);
    /// Which grid of the task this is (a protocol's name): a folder that holds another is
    /// refused.
    fn grid_name(&self) -> String {
        Self::KIND.to_string()
    }
    /// The settings of configuration `row` with `seed`.
    fn config(&self, row: usize, seed: u64) -> Self::Config;
    /// Trains one run into `dir` without terminal output but the grid's lines; `start` says
    /// whether it resumes an interrupted run or clears one that cannot be resumed.
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

/// How one worker takes part in a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Worker {
    /// Only this share of the cells (`None`: every cell it can claim).
    pub shard: Option<Shard>,
    /// How long a claim's heartbeat may be silent before the run is taken over.
    pub grace: Duration,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            shard: None,
            grace: DEFAULT_GRACE,
        }
    }
}

/// What a worker's pass over the grid ended with.
#[derive(Debug)]
pub enum GridOutcome {
    /// Every run is finished or failed: the comparison.
    Complete(GridSummary),
    /// Runs are still going elsewhere or not started (outside this worker's shard, or left by
    /// a damaged claim): their folder names.
    Pending(Vec<String>),
}

impl GridOutcome {
    /// The comparison, if the grid is complete.
    pub fn summary(self) -> Option<GridSummary> {
        match self {
            GridOutcome::Complete(summary) => Some(summary),
            GridOutcome::Pending(_) => None,
        }
    }
}

/// Refuses, before anything is trained or deleted, a finished, failed or interrupted run whose
/// stored settings differ from what the grid asks for now (the error names the run and the
/// setting).
pub fn check_finished<T: GridTask>(task: &T, spec: &GridSpec, out: &Path) -> crate::Result<()> {
    spec.validate()?;
    for (row, seed) in spec.cells() {
        let dir = spec.run_dir(out, row, seed);
        if folder::state(&dir) != RunState::New && dir.join(CONFIG).is_file() {
            folder::check_same_config(&dir, &task.config(row, seed))?;
        }
    }
    Ok(())
}

/// Refuses a folder whose `grid.json` says it holds another grid, then writes this grid's.
fn claim_folder<T: GridTask>(task: &T, spec: &GridSpec, out: &Path) -> crate::Result<()> {
    let manifest = GridManifest {
        task: T::KIND.into(),
        name: task.grid_name(),
        headline: Headline {
            label: T::HEADLINE.0.into(),
            pointer: T::HEADLINE.1.into(),
        },
        spec: spec.clone(),
    };
    let path = out.join(GRID_MANIFEST);
    if path.is_file() {
        let stored: GridManifest = read_json(&path)?;
        if (&stored.task, &stored.name) != (&manifest.task, &manifest.name) {
            let dir = out.to_path_buf();
            let (found, asked) = (stored.describe(), manifest.describe());
            return Err(RunError::OtherGrid { dir, found, asked }.into());
        }
    }
    write_json(&path, &manifest)
}

/// How the claimed run in `dir` starts: fresh in an empty folder, resumed after its last
/// intact checkpoint, or cleared and started again where it has no checkpoint at all (where
/// every checkpoint is damaged, the resume stops with an error naming one, and nothing is
/// deleted).
fn start_of(dir: &Path, log: &dyn Fn(&str), head: &str) -> Start {
    if !folder::holds_run(dir) {
        return Start::Fresh;
    }
    match folder::checkpoints(dir) {
        (0, damaged) if !damaged.is_empty() => Start::Resume,
        (0, _) => {
            log(&format!(
                "{head}: interrupted earlier, restarting (it has no checkpoint)"
            ));
            Start::Overwrite
        }
        (k, _) => {
            log(&format!(
                "{head}: interrupted earlier, resuming after epoch {k}"
            ));
            Start::Resume
        }
    }
}

/// Trains every cell of the grid this worker can claim (of its shard, if it has one) into
/// `out`, then aggregates if the whole grid is done. `reporter` receives the progress lines
/// (run i of n, elapsed, ETA, each run's result) and the warnings.
pub fn run<T: GridTask>(
    task: &T,
    spec: &GridSpec,
    out: &Path,
    worker: &Worker,
    reporter: &dyn Reporter,
) -> crate::Result<GridOutcome> {
    let log = |line: &str| reporter.info(line);
    check_finished(task, spec, out)?;
    crate::fsio::create_dir(&out.join(GRID_RUNS_DIR))?;
    claim_folder(task, spec, out)?;
    let cells: Vec<(usize, u64)> = spec
        .cells()
        .into_iter()
        .enumerate()
        .filter(|(position, _)| worker.shard.is_none_or(|s| s.holds(*position)))
        .map(|(_, cell)| cell)
        .collect();
    if let Some(shard) = worker.shard {
        log(&format!(
            "shard {shard}: {} of the grid's {} runs",
            cells.len(),
            spec.cells().len()
        ));
    }
    let total = cells.len();
    let started = Instant::now();
    let mut done_here = 0usize;
    for (i, &(row, seed)) in cells.iter().enumerate() {
        let dir = spec.run_dir(out, row, seed);
        let name = run_name(&spec.rows[row].name, seed);
        let head = format!("[{}/{total}] {name}", i + 1);
        if done(&dir) {
            log(&format!("{head}: finished earlier, skipped"));
            continue;
        }
        let Some(claim) = claim_cell(&dir, worker, &head, reporter)? else {
            continue;
        };
        // Finished by another worker between the first look and the claim.
        if done(&dir) {
            log(&format!("{head}: finished elsewhere, skipped"));
            continue;
        }
        if folder::state(&dir) == RunState::Failed {
            log(&format!(
                "{head}: failed before it started (its settings were refused), trying again"
            ));
            crate::fsio::remove_if_exists(&dir.join(folder::FAILED))?;
        }
        let start = start_of(&dir, &log, &head);
        let elapsed = started.elapsed().as_secs_f64();
        let remaining = cells[i..]
            .iter()
            .filter(|(r, s)| folder::state(&spec.run_dir(out, *r, *s)) == RunState::New)
            .count();
        let eta = if done_here > 0 {
            let each = elapsed / done_here as f64;
            format!(", ETA {}", hms(each * remaining as f64))
        } else {
            String::new()
        };
        log(&format!("{head} — elapsed {}{eta}", hms(elapsed)));
        let result = task.train(&task.config(row, seed), &dir, &name, start);
        record(task, result, &claim, &dir, &head, reporter)?;
        drop(claim);
        done_here += 1;
    }
    finish(task, spec, out, reporter, started)
}

/// Claims the cell in `dir` for this worker; `None` (said why) where another worker holds it or
/// its claim file is damaged.
fn claim_cell(
    dir: &Path,
    worker: &Worker,
    head: &str,
    reporter: &dyn Reporter,
) -> crate::Result<Option<Claim>> {
    Ok(match Claim::acquire(dir, worker.grace)? {
        Acquired::Busy(other) => {
            reporter.info(&format!(
                "{head}: being trained by {} (pid {}, heartbeat {} s ago), skipped",
                other.host,
                other.pid,
                other.age()
            ));
            None
        }
        Acquired::Damaged(why) => {
            reporter.warn(&format!(
                "{head}: {why}; skipped (remove that file if no worker trains this run)"
            ));
            None
        }
        Acquired::Mine { claim, took_over } => {
            if let Some(old) = took_over {
                reporter.info(&format!(
                    "{head}: taking over from {} (pid {}), silent for {} s",
                    old.host,
                    old.pid,
                    old.age()
                ));
            }
            Some(claim)
        }
    })
}

/// Says how a run ended and, if it failed, records why in `failed.json` — unless another worker
/// took the run over meanwhile: then it is that worker's, and nothing is written.
fn record<T: GridTask>(
    task: &T,
    result: crate::Result<T::Summary>,
    claim: &Claim,
    dir: &Path,
    head: &str,
    reporter: &dyn Reporter,
) -> crate::Result<()> {
    if claim.lost() {
        reporter.warn(&format!(
            "{head}: another worker took this run over while it trained (no heartbeat \
             reached the folder for longer than the grace period); it is that worker's now"
        ));
        return Ok(());
    }
    match result {
        Ok(summary) => reporter.info(&format!("    {}", task.describe(&summary))),
        Err(error) => {
            let error = crate::error::report(&error);
            reporter.info(&format!("    FAILED: {error}"));
            write_json(&dir.join(folder::FAILED), &RunFailure { error })?;
        }
    }
    Ok(())
}

/// Whether the run in `dir` is done: finished, or failed after it started (a run that failed
/// before it wrote its settings — refused settings, since fixed — is tried again).
fn done(dir: &Path) -> bool {
    match folder::state(dir) {
        RunState::Finished => true,
        RunState::Failed => dir.join(CONFIG).is_file(),
        RunState::New | RunState::Interrupted => false,
    }
}

/// Aggregates if every cell of the grid is finished or failed; otherwise says what is left.
fn finish<T: GridTask>(
    task: &T,
    spec: &GridSpec,
    out: &Path,
    reporter: &dyn Reporter,
    started: Instant,
) -> crate::Result<GridOutcome> {
    let pending: Vec<String> = spec
        .cells()
        .into_iter()
        .filter(|&(row, seed)| {
            // Unlike `done`, any failure counts: a run that failed before it started is tried
            // again by the next pass, but is not waited for here (the table lists it as failed).
            let state = folder::state(&spec.run_dir(out, row, seed));
            !matches!(state, RunState::Finished | RunState::Failed)
        })
        .map(|(row, seed)| run_name(&spec.rows[row].name, seed))
        .collect();
    if !pending.is_empty() {
        reporter.info(&format!(
            "this worker is done after {}; {} of the grid's runs are not finished yet \
             (other workers or shards, or not started): the last worker aggregates, or \
             `--aggregate-only` once they are",
            hms(started.elapsed().as_secs_f64()),
            pending.len()
        ));
        return Ok(GridOutcome::Pending(pending));
    }
    let summary = aggregate(task, spec, out, reporter)?;
    reporter.info(&format!(
        "all {} runs done; this worker's part took {}; summary in {}",
        spec.cells().len(),
        hms(started.elapsed().as_secs_f64()),
        out.join(GRID_SUMMARY_MD).display()
    ));
    Ok(GridOutcome::Complete(summary))
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
