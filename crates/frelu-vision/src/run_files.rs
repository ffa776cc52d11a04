//! The names of what a run folder and a grid folder hold, in one place. burn-train's own names
//! (its checkpoint files and per-epoch log folders) are mirrored here because burn-train 0.22
//! keeps them private; the resume tests, which run burn-train, fail if they drift.
//!
//! ```text
//! RUN/config.json       the settings (written first)
//! RUN/metrics.csv|json  one row per finished epoch (rewritten after each)
//! RUN/model.bpk         the trained model       RUN/slopes.json  its learned slopes
//! RUN/activation.json   the learned parameters of every learnable activation (any kind)
//! RUN/summary.json      written last: the run is finished when it exists
//! RUN/failed.json       a run that stopped with an error (not retried by a grid)
//! RUN/claim.json        the worker training it now (host, pid, heartbeat; `runs::claim`)
//! RUN/checkpoint/       burn-train's MODEL-EPOCH.bpk (model, optim, scheduler)
//! RUN/train|valid/      burn-train's per-epoch metric logs (epoch-N/)
//! GRID/grid.json        what the grid is (task, name, rows, seeds): read by `frelu status`
//! GRID/runs/RUN         one run folder per configuration and seed
//! GRID/summary.md|csv|json, GRID/plots/
//! ```
//! Task files (e.g. a detector's `detections.json`) are named by their task.

/// The settings of a run.
pub const CONFIG: &str = "config.json";
/// The file whose presence marks a finished run.
pub const SUMMARY: &str = "summary.json";
/// The file of a run that failed.
pub const FAILED: &str = "failed.json";
/// The claim of the worker training a run.
pub const CLAIM: &str = "claim.json";
/// What a grid folder holds: its task, name and shape.
pub const GRID_MANIFEST: &str = "grid.json";
/// The per-epoch metrics, as CSV.
pub const METRICS_CSV: &str = "metrics.csv";
/// The per-epoch metrics, as JSON.
pub const METRICS_JSON: &str = "metrics.json";
/// The trained model.
pub const MODEL: &str = "model.bpk";
/// The learned FReLU-family slopes (`pos`/`neg` per layer).
pub const SLOPES: &str = "slopes.json";
/// The slopes after every phase of training, one JSON line each.
pub const SLOPE_HISTORY: &str = "slopes_history.jsonl";
/// The training set in evaluation mode after each epoch (classification's `--eval-train`).
pub const TRAIN_EVAL: &str = "train_eval.csv";
/// burn-train's application log.
pub const EXPERIMENT_LOG: &str = "experiment.log";
/// The slope analyses of a run (`frelu analyze`).
pub const ANALYSIS_DIR: &str = "analysis";
/// The grid's run folders.
pub const GRID_RUNS_DIR: &str = "runs";
/// The grid's plots.
pub const GRID_PLOTS_DIR: &str = "plots";
/// The grid's summary table, as Markdown.
pub const GRID_SUMMARY_MD: &str = "summary.md";
/// The grid's summary table, as CSV.
pub const GRID_SUMMARY_CSV: &str = "summary.csv";

/// burn-train's checkpoint folder inside a run.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The records burn-train checkpoints after each epoch (the model, the optimisers, the
/// learning-rate scheduler); a checkpoint is complete when all three are there.
pub const CHECKPOINT_RECORDS: [&str; 3] = ["model", "optim", "scheduler"];
/// burn-train's per-epoch metric log folders.
pub const METRIC_LOG_DIRS: [&str; 2] = ["train", "valid"];

/// The file of checkpoint `record` (see [`CHECKPOINT_RECORDS`]) after `epoch`.
pub fn checkpoint_file(record: &str, epoch: usize) -> String {
    format!("{record}-{epoch}.bpk")
}

/// The file holding the length and CRC-32 of the checkpoint file `file` (`NAME-EPOCH.bpk.sum`),
/// written before the checkpoint is moved into place: `--resume` checks each checkpoint
/// against it and falls back to an earlier epoch where one is damaged.
pub fn checksum_file(file: &str) -> String {
    format!("{file}.sum")
}

/// The epoch of `file` when it is a checkpoint of `record`.
pub fn checkpoint_epoch(record: &str, file: &str) -> Option<usize> {
    file.strip_prefix(record)?
        .strip_prefix('-')?
        .strip_suffix(".bpk")?
        .parse()
        .ok()
}

/// The epoch of a file or folder of burn-train's checkpoint or log folders:
/// `NAME-EPOCH.bpk` or `epoch-EPOCH`.
pub fn epoch_of(name: &str) -> Option<usize> {
    let epoch = |s: &str| s.parse::<usize>().ok();
    let name = name.strip_suffix(".sum").unwrap_or(name);
    match name.strip_suffix(".bpk") {
        Some(stem) => stem.rsplit_once('-').and_then(|(_, e)| epoch(e)),
        None => name.strip_prefix("epoch-").and_then(epoch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_and_log_names_round_trip() {
        for record in CHECKPOINT_RECORDS {
            let file = checkpoint_file(record, 12);
            assert_eq!(checkpoint_epoch(record, &file), Some(12));
            assert_eq!(epoch_of(&file), Some(12));
            assert_eq!(epoch_of(&checksum_file(&file)), Some(12));
            assert_eq!(checkpoint_epoch(record, &checksum_file(&file)), None);
        }
        assert_eq!(checkpoint_epoch("model", "optim-3.bpk"), None);
        assert_eq!(checkpoint_epoch("model", "model-x.bpk"), None);
        assert_eq!(epoch_of("epoch-7"), Some(7));
        assert_eq!(epoch_of("notes.txt"), None);
    }
}
