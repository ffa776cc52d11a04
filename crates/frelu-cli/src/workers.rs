//! What the three `compare` commands share: how a worker takes part in a grid (`--shard`,
//! Slurm's array variables, `--claim-grace`), `frelu status`, and what a worker prints when it
//! is done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use frelu_vision::runs::claim::DEFAULT_GRACE;
use frelu_vision::runs::grid::{GridOutcome, GridSpec, Shard, Worker};
use frelu_vision::runs::run_name;
use frelu_vision::runs::status;

/// Options of a grid's worker.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Train only share I of N of the grid's runs (0-based: `--shard 0/4` to `--shard 3/4`).
    /// Inside a Slurm job array the share is the array task's (SLURM_ARRAY_TASK_ID of
    /// SLURM_ARRAY_TASK_COUNT); without either, this worker claims every free run in turn, so
    /// any number of workers can be started on one folder.
    #[arg(long)]
    shard: Option<Shard>,
    /// Seconds a run's claim may go without a heartbeat before another worker takes the run
    /// over and resumes it (cover clock differences between machines too).
    #[arg(long, default_value_t = DEFAULT_GRACE.as_secs())]
    claim_grace: u64,
    /// Equivalence margin of the grid's first paired metric (accuracy in percentage points, AP,
    /// top-1), overriding the protocol's: each row's difference to the reference is tested
    /// against ±margin (two one-sided tests) and given a verdict.
    #[arg(long)]
    pub margin: Option<f64>,
    /// Print the grid's run folders, one per line, and train nothing (their count is the size
    /// of a Slurm array with one run per task: scripts/slurm/submit.sh).
    #[arg(long)]
    list_runs: bool,
}

impl WorkerArgs {
    /// With `--list-runs`, prints the run folders of `spec` and returns true: nothing else to do.
    pub fn listed(&self, spec: &GridSpec) -> bool {
        if self.list_runs {
            for (row, seed) in spec.cells() {
                say!("{}", run_name(&spec.rows[row].name, seed));
            }
        }
        self.list_runs
    }

    /// The worker these options describe.
    pub fn worker(&self) -> anyhow::Result<Worker> {
        let shard = match self.shard {
            Some(shard) => Some(shard),
            None => Shard::from_slurm()?,
        };
        anyhow::ensure!(
            self.claim_grace > 0,
            "--claim-grace must be at least 1 second"
        );
        Ok(Worker {
            shard,
            grace: Duration::from_secs(self.claim_grace),
        })
    }
}

/// Prints the comparison of a finished grid, or what is left of it.
pub fn print_outcome(outcome: GridOutcome, out: &Path) {
    match outcome {
        GridOutcome::Complete(summary) => say!("{}", summary.markdown()),
        GridOutcome::Pending(runs) => say!(
            "{} runs of the grid in {} are not finished ({}{}). `frelu status {}` shows where \
             each stands; the last worker to finish aggregates, or rerun with --aggregate-only \
             once they are done.",
            runs.len(),
            out.display(),
            runs.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if runs.len() > 5 { ", …" } else { "" },
            out.display()
        ),
    }
}

/// Options of `frelu status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// A grid folder (the `--out` of `frelu compare`, `detect compare` or `action compare`).
    out: PathBuf,
    /// Write the status as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds without a heartbeat after which a running run counts as stale (as the
    /// workers' --claim-grace).
    #[arg(long, default_value_t = DEFAULT_GRACE.as_secs())]
    claim_grace: u64,
}

/// Options of `frelu records`.
#[derive(Args, Debug, Clone)]
pub struct RecordsArgs {
    /// A grid folder (the `--out` of `frelu compare`, `detect compare` or `action compare`).
    grid: PathBuf,
    /// Where the records go (default: docs/runs/ followed by the grid folder's name).
    #[arg(long)]
    to: Option<PathBuf>,
}

/// `frelu records`.
pub fn run_records(args: &RecordsArgs) -> anyhow::Result<()> {
    let to = match &args.to {
        Some(to) => to.clone(),
        None => {
            let name = args.grid.file_name().ok_or_else(|| {
                anyhow::anyhow!("{} names no folder: give --to", args.grid.display())
            })?;
            Path::new("docs/runs").join(name)
        }
    };
    let kept = frelu_vision::runs::records::keep_records(&args.grid, &to)?;
    say!(
        "{}: {} of {} runs finished, {} started ({} files; no weights or checkpoints)",
        to.display(),
        kept.finished,
        kept.cells,
        kept.runs,
        kept.files
    );
    Ok(())
}

/// `frelu status`.
pub fn run_status(args: &StatusArgs) -> anyhow::Result<()> {
    let status = status::status(&args.out, Duration::from_secs(args.claim_grace))?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        say!("{}", status.markdown().trim_end());
    }
    Ok(())
}
