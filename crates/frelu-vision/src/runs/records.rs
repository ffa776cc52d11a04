//! A grid's records (`frelu records`): what a checkout keeps of a grid so that its numbers
//! outlive the run folders — the settings, the per-epoch metrics, the learned parameters and the
//! summaries, never weights or checkpoints. A grid continues from them in another checkout:
//! copy them back into its output folder and rerun its command (finished runs are skipped, the
//! others trained from their start).

use std::path::Path;

use serde::Serialize;

use super::folder::{self, RunState};
use super::spec::GridManifest;
use crate::analysis::learned::LEARNED_FILE;
use crate::data::preprocess::PREPROCESS_FILE;
use crate::error::Error;
use crate::fsio::{create_dir, read_json, tmp_path};
use crate::run_files::{
    CONFIG, FAILED, GRID_MANIFEST, GRID_SUMMARY_CSV, GRID_SUMMARY_MD, METRICS_CSV, METRICS_JSON,
    SLOPE_HISTORY, SLOPES, SUMMARY, TRAIN_EVAL,
};

/// The files of a run folder that its records keep, where present.
pub const RUN_RECORDS: [&str; 10] = [
    CONFIG,
    METRICS_CSV,
    METRICS_JSON,
    SLOPES,
    SLOPE_HISTORY,
    LEARNED_FILE,
    PREPROCESS_FILE,
    TRAIN_EVAL,
    SUMMARY,
    FAILED,
];

/// The files of a grid folder that its records keep, where present.
pub const GRID_RECORDS: [&str; 4] = [GRID_MANIFEST, GRID_SUMMARY_MD, GRID_SUMMARY_CSV, SUMMARY];

/// What [`keep_records`] copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeptRecords {
    /// The grid's run folders that exist (started, finished or failed).
    pub runs: usize,
    /// Of those, the finished ones.
    pub finished: usize,
    /// The grid's own cells (configurations × seeds; rows whose runs belong to another grid
    /// are not its own).
    pub cells: usize,
    /// Files copied.
    pub files: usize,
}

/// Copies the records of the grid in `grid` (its output folder) into `to`, laid out as the
/// grid folder is (`to/grid.json`, `to/runs/RUN/...`); files already in `to` are replaced, each
/// through a temporary file. Rows whose runs belong to another grid (`runs_from`) are left to
/// that grid's records.
pub fn keep_records(grid: &Path, to: &Path) -> crate::Result<KeptRecords> {
    let manifest_path = grid.join(GRID_MANIFEST);
    if !manifest_path.is_file() {
        crate::error::bail!(
            "{} has no {GRID_MANIFEST}: it is not a grid folder (the --out of a compare command)",
            grid.display()
        );
    }
    if to.starts_with(grid) {
        crate::error::bail!(
            "the records of {} cannot go inside it ({})",
            grid.display(),
            to.display()
        );
    }
    let manifest: GridManifest = read_json(&manifest_path)?;
    let spec = &manifest.spec;
    let mut kept = KeptRecords::default();
    create_dir(to)?;
    kept.files += copy_present(grid, to, &GRID_RECORDS)?;
    for (row, seed) in spec.cells() {
        kept.cells += 1;
        let dir = spec.run_dir(grid, row, seed);
        let state = folder::state(&dir);
        if state == RunState::New {
            continue;
        }
        kept.runs += 1;
        kept.finished += usize::from(state == RunState::Finished);
        let relative = dir
            .strip_prefix(grid)
            .expect("a grid's own runs lie inside it");
        let dest = to.join(relative);
        create_dir(&dest)?;
        kept.files += copy_present(&dir, &dest, &RUN_RECORDS)?;
    }
    Ok(kept)
}

/// Copies each of `names` that is a file in `from` into `to`; returns how many were.
fn copy_present(from: &Path, to: &Path, names: &[&str]) -> crate::Result<usize> {
    let mut copied = 0;
    for name in names {
        let source = from.join(name);
        if !source.is_file() {
            continue;
        }
        let dest = to.join(name);
        let tmp = tmp_path(&dest);
        std::fs::copy(&source, &tmp).map_err(|e| Error::file("copy", &source, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| Error::file("write", &dest, e))?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsio::write_json;
    use crate::runs::spec::testing;
    use serde_json::json;

    /// A grid of two rows × two seeds, written by hand: one run finished with every kind of
    /// file a run folder holds, one interrupted, one failed, one not started.
    fn grid(out: &Path) {
        let manifest = testing::manifest("records", &["relu", "pau"], vec![0, 1]);
        write_json(&out.join(GRID_MANIFEST), &manifest).unwrap();
        std::fs::write(out.join(GRID_SUMMARY_MD), "| table |").unwrap();
        let run = |name: &str| {
            let dir = out.join("runs").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let finished = run("pau-s0");
        for name in RUN_RECORDS.iter().filter(|n| **n != FAILED) {
            std::fs::write(finished.join(name), format!("{name} of pau-s0")).unwrap();
        }
        // What records never keep: weights, checkpoints, burn-train's logs.
        std::fs::write(finished.join("model.bpk"), [0u8; 64]).unwrap();
        std::fs::create_dir_all(finished.join("checkpoint")).unwrap();
        std::fs::write(finished.join("checkpoint/model-3.bpk"), [0u8; 64]).unwrap();
        std::fs::write(finished.join("experiment.log"), "log").unwrap();
        write_json(&run("relu-s0").join(CONFIG), &json!({"epochs": 3})).unwrap();
        write_json(&run("relu-s1").join(FAILED), &json!({"error": "NaN"})).unwrap();
        // A folder that is no cell of the grid.
        std::fs::write(run("stray-s9").join(CONFIG), "{}").unwrap();
    }

    #[test]
    fn keeps_every_record_and_no_weight() {
        let dir = tempfile::tempdir().unwrap();
        let (out, to) = (dir.path().join("results/g"), dir.path().join("docs/runs/g"));
        std::fs::create_dir_all(&out).unwrap();
        grid(&out);
        let kept = keep_records(&out, &to).unwrap();
        assert_eq!(
            kept,
            KeptRecords {
                runs: 3,
                finished: 1,
                cells: 4,
                files: 2 + 9 + 1 + 1,
            }
        );
        for name in RUN_RECORDS.iter().filter(|n| **n != FAILED) {
            let text = std::fs::read_to_string(to.join("runs/pau-s0").join(name)).unwrap();
            assert_eq!(text, format!("{name} of pau-s0"));
        }
        assert!(to.join("runs/relu-s0").join(CONFIG).is_file());
        assert!(to.join("runs/relu-s1").join(FAILED).is_file());
        for absent in [
            "runs/pau-s0/model.bpk",
            "runs/pau-s0/checkpoint",
            "runs/pau-s0/experiment.log",
            "runs/pau-s1",
            "runs/stray-s9",
            "summary.csv",
        ] {
            assert!(!to.join(absent).exists(), "{absent} was copied");
        }
        // Again, after the grid moved on: files are replaced, nothing is left half-written.
        std::fs::write(out.join("runs/relu-s0").join(SUMMARY), "{}").unwrap();
        assert_eq!(keep_records(&out, &to).unwrap().finished, 2);
        let names: Vec<String> = std::fs::read_dir(to.join("runs/relu-s0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // The copy brings a grid back: its folder reads as the same grid, run by run.
        let status = crate::runs::status::status(&to, std::time::Duration::from_secs(60)).unwrap();
        let states: Vec<&str> = status.cells.iter().map(|c| c.state.name()).collect();
        assert_eq!(states, ["finished", "finished", "failed", "new"]);
    }

    #[test]
    fn refuses_what_is_not_a_grid_and_a_destination_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = keep_records(dir.path(), &dir.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no grid.json"), "{err}");
        grid(dir.path());
        let err = keep_records(dir.path(), &dir.path().join("runs/copy"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot go inside it"), "{err}");
    }
}
