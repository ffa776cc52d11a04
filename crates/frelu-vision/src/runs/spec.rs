//! What a comparison grid is made of, below the grid runner and its summary writer (both read
//! it): the rows and seeds ([`GridSpec`]), the numbers of its table ([`Metric`]) and what it
//! reads of every run's summary ([`RunSummary`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::folder::{self, run_name};
use super::report::EpochRow;
use crate::run_files::GRID_RUNS_DIR;

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
    /// Equivalence margin of the first paired metric, in its units: each row's difference to
    /// the reference is tested against ±margin (two one-sided tests). `None`: no such test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
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
            None => out
                .join(GRID_RUNS_DIR)
                .join(run_name(&self.rows[row].name, seed)),
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

/// The number `frelu status` shows for a finished run: what it is and where it is in the run's
/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Headline {
    /// What the number is (e.g. `test accuracy %`).
    pub label: String,
    /// A JSON pointer into the run's `summary.json` (e.g. `/final_test_acc`).
    pub pointer: String,
}

/// What a grid folder is (`grid.json`): written by every worker that runs the grid, read by
/// `frelu status` and by the next worker, which refuses to run another grid in the folder.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct GridManifest {
    /// The task (`classify`, `detect`, `action`).
    pub task: String,
    /// Which grid of the task (a protocol's name; the task's name where it has one kind).
    pub name: String,
    /// The number shown for a finished run.
    pub headline: Headline,
    /// The rows and seeds.
    pub spec: GridSpec,
}

impl GridManifest {
    /// `task name`, as errors and `frelu status` name the grid.
    pub fn describe(&self) -> String {
        if self.task == self.name {
            format!("`{}`", self.task)
        } else {
            format!("`{} {}`", self.task, self.name)
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Grids written by hand for the tests of the modules that read grid folders.

    use super::{GridManifest, GridRow, GridSpec, Headline};

    /// A row of that name with no labels but its name, not learnable, the grid's own runs.
    pub(crate) fn row(name: &str) -> GridRow {
        GridRow {
            name: name.into(),
            labels: vec![name.into()],
            learnable: false,
            runs_from: None,
        }
    }

    /// The manifest of a classification grid `name` of `rows` × `seeds`, headline the final
    /// test accuracy.
    pub(crate) fn manifest(name: &str, rows: &[&str], seeds: Vec<u64>) -> GridManifest {
        GridManifest {
            task: "classify".into(),
            name: name.into(),
            headline: Headline {
                label: "test accuracy %".into(),
                pointer: "/final_test_acc".into(),
            },
            spec: GridSpec {
                title: name.into(),
                label_headers: vec!["name".into()],
                rows: rows.iter().map(|n| row(n)).collect(),
                seeds,
                reference: None,
                seconds_header: "s/epoch".into(),
                margin: None,
            },
        }
    }
}
