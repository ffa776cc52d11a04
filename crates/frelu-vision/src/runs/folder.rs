//! A run folder: its name, its files (named in [`crate::run_files`]), and whether a finished
//! run matches the settings asked for.
//!
//! `slopes.json` repeats the FReLU-family part of `activation.json` on purpose: it is the
//! small, stable `pos`/`neg` format that the slope analyses, grid summaries and the scripts
//! beside stored runs read, and runs written before the learnable peers existed have only it.

use std::path::{Path, PathBuf};

use crate::analysis::learned::LEARNED_FILE;

use crate::error::Context;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::report::EpochRow;
use super::settings::RunSettings;
use crate::error::RunError;
use crate::fsio::{read_json, remove_if_exists, write_json};
use crate::run_files::{
    ANALYSIS_DIR, CHECKPOINT_DIR, CHECKPOINT_RECORDS, EXPERIMENT_LOG, METRIC_LOG_DIRS, METRICS_CSV,
    METRICS_JSON, MODEL, SLOPE_HISTORY, SLOPES, checkpoint_epoch, checkpoint_file, epoch_of,
};
pub use crate::run_files::{CONFIG, FAILED, SUMMARY};

/// A folder-safe form of `name`: letters, digits, `-`, `_` and `.` are kept, everything else
/// (`:`, `=`, `/`, spaces...) becomes `_`; a leading `.` becomes `_` too.
pub fn clean_name(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        clean.push('_');
    } else if clean.starts_with('.') {
        clean.replace_range(0..1, "_");
    }
    clean
}

/// The folder name of the run of configuration `name` with `seed`: `NAME-sSEED`.
pub fn run_name(name: &str, seed: u64) -> String {
    format!("{}-s{seed}", clean_name(name))
}

/// `pattern` with every `{seed}` replaced by `seed` (paths of per-seed runs, e.g.
/// `results/converge/runs/relu-s{seed}`).
pub fn for_seed(pattern: &Path, seed: u64) -> PathBuf {
    PathBuf::from(
        pattern
            .to_string_lossy()
            .replace("{seed}", &seed.to_string()),
    )
}

/// A run that did not finish normally.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunFailure {
    /// The error.
    pub error: String,
}

/// Where a run folder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// No folder.
    New,
    /// A folder without `summary.json` or `failed.json`: interrupted.
    Interrupted,
    /// `summary.json` exists.
    Finished,
    /// `failed.json` exists.
    Failed,
}

/// The state of the run folder `dir`.
pub fn state(dir: &Path) -> RunState {
    if dir.join(SUMMARY).is_file() {
        RunState::Finished
    } else if dir.join(FAILED).is_file() {
        RunState::Failed
    } else if dir.exists() {
        RunState::Interrupted
    } else {
        RunState::New
    }
}

/// Creates `out` and writes `config` as its `config.json`.
fn start_folder<C: Serialize>(out: &Path, config: &C) -> crate::Result<()> {
    crate::fsio::create_dir(out)?;
    write_json(&out.join(CONFIG), config)
}

/// Saves a trained model as `out/model.bpk`, its learned slopes as `out/slopes.json` and the
/// parameters of its learnable activations, whatever their kind, as `out/activation.json`.
pub fn save_trained<M: Module + Clone>(model: &M, out: &Path) -> crate::Result<()> {
    model
        .clone()
        .save_file(out.join(MODEL))
        .with_context(|| format!("cannot save the model into {}", out.display()))?;
    write_json(&out.join(SLOPES), &frelu::slopes::snapshot(model))?;
    write_json(&out.join(LEARNED_FILE), &frelu::learned::snapshot(model))
}

/// The first setting where `stored` and `wanted` differ, as `path: stored → wanted` (JSON
/// paths with dots, e.g. `schedule.slope_lr_mult: 1.0 → 10.0`); `None` when equal.
pub fn first_difference(stored: &Value, wanted: &Value) -> Option<String> {
    fn walk(path: &str, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|k| {
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &sub,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    )
                })
            }
            (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
            _ if a == b => None,
            _ => Some(format!("{path}: {a} → {b}")),
        }
    }
    walk("", stored, wanted)
}

/// Settings that decide which files a run writes, not what it trains (resuming is exact, so a
/// run with checkpoints trains the same bits as one without): not compared by
/// [`check_same_config`].
pub const BOOKKEEPING_SETTINGS: [&str; 1] = ["checkpoints"];

/// Checks that the finished run in `dir` was trained with `wanted`. The stored `config.json`
/// is read back through `C` first, so settings added since it was written take their defaults
/// instead of counting as differences; [`BOOKKEEPING_SETTINGS`] are not compared, nor a
/// setting inert for both ([`RunSettings::inert_settings`]).
pub fn check_same_config<C: RunSettings>(dir: &Path, wanted: &C) -> crate::Result<()> {
    let path = dir.join(CONFIG);
    let stored: C = read_json(&path)?;
    let inert = wanted.inert_settings();
    let inert: Vec<_> = stored
        .inert_settings()
        .into_iter()
        .filter(|key| inert.contains(key))
        .collect();
    let mut stored = serde_json::to_value(&stored)?;
    let mut wanted = serde_json::to_value(wanted)?;
    for value in [&mut stored, &mut wanted] {
        if let Value::Object(map) = value {
            for key in BOOKKEEPING_SETTINGS.iter().chain(&inert) {
                map.remove(*key);
            }
        }
    }
    match first_difference(&stored, &wanted) {
        Some(difference) => Err(RunError::OtherSettings {
            dir: dir.to_path_buf(),
            difference,
        }
        .into()),
        None => Ok(()),
    }
}

/// How a training command treats its output folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// A new run: a folder that already holds a run is refused.
    #[default]
    Fresh,
    /// Continue the run in the folder from its last complete checkpoint.
    Resume,
    /// Clear the run in the folder first.
    Overwrite,
}

/// Where a resumed run continues.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    /// Epochs finished (the checkpoint it continues from).
    pub epochs: usize,
    /// Their metrics rows.
    pub rows: Vec<EpochRow>,
    /// Newer checkpoints passed over, each with what is wrong with it (the run resumes from an
    /// earlier epoch than the newest checkpoint; the training reports these as warnings).
    pub damaged: Vec<String>,
}

/// The files and folders every run writes (and [`Start::Overwrite`] removes, with the task's
/// own files; nothing else is touched).
fn run_files() -> Vec<String> {
    let files = vec![
        CONFIG,
        SUMMARY,
        FAILED,
        METRICS_CSV,
        METRICS_JSON,
        MODEL,
        SLOPES,
        SLOPE_HISTORY,
        LEARNED_FILE,
        crate::data::preprocess::PREPROCESS_FILE,
        EXPERIMENT_LOG,
        ANALYSIS_DIR,
    ];
    files.into_iter().map(String::from).collect()
}

/// Removes from burn-train's folder `sub` (checkpoints, per-epoch logs) what burn-train wrote
/// there — `NAME-EPOCH.bpk[.sum]`, `epoch-EPOCH/`, `.partial/` — and the folder if that leaves
/// it empty; anything else in it stays.
fn clear_burn_folder(sub: &Path) -> crate::Result<()> {
    let Ok(entries) = std::fs::read_dir(sub) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if epoch_of(&name).is_some() || name == ".partial" {
            remove_if_exists(&entry.path())?;
        }
    }
    // Only if empty: what the run did not write is kept.
    let _ = std::fs::remove_dir(sub);
    Ok(())
}

/// Refuses to write `file` (an export, a prediction) where it would replace a file of a run
/// folder's own — the trained model, its settings, metrics or summary — which a training wrote
/// and nothing else can write again.
pub fn check_not_a_run_file(file: &Path) -> crate::Result<()> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    let owned = name
        .as_deref()
        .is_some_and(|n| n != ANALYSIS_DIR && run_files().iter().any(|f| f == n));
    let in_run = file.parent().is_some_and(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        holds_run(dir)
    });
    if owned && in_run {
        crate::error::bail!(
            "{} is a file of the run in {}: writing there would replace what the training \
             wrote; choose another --out",
            file.display(),
            file.parent()
                .map_or_else(String::new, |d| d.display().to_string())
        );
    }
    Ok(())
}

/// Refuses a run folder `out` that is the data folder `data` or lies inside it: a run writes
/// `train/`, `valid/` and `checkpoint/` folders, the names a dataset's own folders often have,
/// and `--overwrite` or a resume clears them.
pub fn check_outside_data(out: &Path, data: &Path) -> crate::Result<()> {
    /// `path` made absolute, symbolic links resolved as far as it exists.
    fn resolve(path: &Path) -> PathBuf {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut existing = absolute.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => break,
            }
        }
        let mut resolved = existing
            .canonicalize()
            .unwrap_or_else(|_| existing.to_path_buf());
        resolved.extend(rest.iter().rev());
        resolved
    }
    if resolve(out).starts_with(resolve(data)) {
        crate::error::bail!(
            "the output folder {} is the data folder {} or inside it: a run writes (and \
             --overwrite clears) train/, valid/ and checkpoint/ folders there; choose an output \
             folder outside the data",
            out.display(),
            data.display()
        );
    }
    Ok(())
}

/// Whether `dir` holds (part of) a run.
pub fn holds_run(dir: &Path) -> bool {
    [CONFIG, SUMMARY, FAILED, METRICS_CSV, CHECKPOINT_DIR]
        .iter()
        .any(|f| dir.join(f).exists())
}

fn clear_run(dir: &Path, task_files: &[&str]) -> crate::Result<()> {
    let files = run_files();
    let task_files = task_files.iter().copied();
    for name in files.iter().map(String::as_str).chain(task_files) {
        remove_if_exists(&dir.join(name))?;
    }
    for sub in [CHECKPOINT_DIR].into_iter().chain(METRIC_LOG_DIRS) {
        clear_burn_folder(&dir.join(sub))?;
    }
    // Temporary files of the metrics that a kill mid-write left behind.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if [METRICS_CSV, METRICS_JSON]
            .iter()
            .any(|m| crate::fsio::is_tmp_of(&name, m))
        {
            remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// The last epoch `k` with an intact checkpoint in `dir/checkpoint` (see [`checkpoints`]), or 0.
pub fn last_checkpoint(dir: &Path) -> usize {
    checkpoints(dir).0
}

/// Whether the checkpoint of epoch `k` in `checkpoints` can be resumed from: `Ok(false)` where a
/// record (model, optimiser, scheduler) is missing — a run killed while it saved, not damage —
/// and `Err(why)` where one does not match its checksum file (truncated, zeroed, garbled after
/// it was written). Checkpoints written before checksums existed are taken as they are.
fn checkpoint_intact(checkpoints: &Path, k: usize) -> Result<bool, String> {
    let mut complete = true;
    for record in CHECKPOINT_RECORDS {
        let file = checkpoint_file(record, k);
        let path = checkpoints.join(&file);
        let sum = checkpoints.join(crate::run_files::checksum_file(&file));
        if !path.is_file() {
            complete = false;
        } else if sum.is_file() {
            crate::fsio::verify(&path, &sum)?;
        }
    }
    Ok(complete)
}

/// The last epoch `k` whose checkpoint in `dir/checkpoint` is intact (all three records there,
/// each matching its checksum), or 0; and, for every newer epoch whose files were damaged after
/// they were written, what is wrong with it (an epoch whose saving was cut short is passed over
/// without a word, as it always was).
pub fn checkpoints(dir: &Path) -> (usize, Vec<String>) {
    let checkpoints = dir.join(CHECKPOINT_DIR);
    let Ok(entries) = std::fs::read_dir(&checkpoints) else {
        return (0, Vec::new());
    };
    let mut epochs: Vec<usize> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            CHECKPOINT_RECORDS
                .iter()
                .find_map(|record| checkpoint_epoch(record, &name))
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs.dedup();
    let mut damaged = Vec::new();
    for k in epochs {
        match checkpoint_intact(&checkpoints, k) {
            Ok(true) => return (k, damaged),
            Ok(false) => {}
            Err(fault) => damaged.push(format!("the checkpoint of epoch {k}: {fault}")),
        }
    }
    (0, damaged)
}

/// Removes what epochs after `k` left behind (checkpoints, burn-train's per-epoch logs) and
/// keeps the first `k` metrics rows; returns those rows.
fn rewind(dir: &Path, k: usize) -> crate::Result<Vec<EpochRow>> {
    let rows: Vec<EpochRow> = read_json(&dir.join(METRICS_JSON))?;
    let rows: Vec<EpochRow> = rows.into_iter().filter(|r| r.epoch <= k).collect();
    if rows.len() != k {
        let message = format!(
            "a checkpoint of epoch {k} but metrics of {} epochs; cannot resume it",
            rows.len()
        );
        let dir = dir.to_path_buf();
        return Err(RunError::Inconsistent { dir, message }.into());
    }
    for sub in [CHECKPOINT_DIR].into_iter().chain(METRIC_LOG_DIRS) {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if epoch_of(&name).is_some_and(|epoch| epoch > k) {
                remove_if_exists(&entry.path())?;
            }
        }
    }
    super::report::write_rows(dir, &rows)?;
    super::history::truncate(dir, k)?;
    Ok(rows)
}

/// Opens the run folder `out` for a training with `config`:
/// - [`Start::Fresh`] refuses a folder that holds a run ([`RunError::Occupied`]);
/// - [`Start::Overwrite`] removes the old run's files (and only those: every run's and the
///   task's `task_files`) first;
/// - [`Start::Resume`] checks that the stored settings are `config` (naming the first that
///   differs), finds the last complete checkpoint and rewinds the folder to it. Without any
///   checkpoint the run starts again from scratch.
///
/// Returns where a resumed run continues; `config.json` is written in every case.
pub fn open<C>(
    out: &Path,
    config: &C,
    start: Start,
    task_files: &[&str],
) -> crate::Result<Option<Resumed>>
where
    C: RunSettings,
{
    check_start(out, config, start)?;
    match start {
        Start::Overwrite => clear_run(out, task_files)?,
        Start::Resume => {
            let (k, damaged) = checkpoints(out);
            if k == 0 && !damaged.is_empty() {
                // Starting again would delete what is left: the user decides.
                let message = format!("no intact checkpoint to resume from ({})", damaged[0]);
                let dir = out.to_path_buf();
                return Err(RunError::Inconsistent { dir, message }.into());
            }
            if k == 0 {
                clear_run(out, task_files)?;
            } else {
                let rows = rewind(out, k)?;
                return Ok(Some(Resumed {
                    epochs: k,
                    rows,
                    damaged,
                }));
            }
        }
        Start::Fresh => {}
    }
    start_folder(out, config)?;
    Ok(None)
}

/// The checks of [`open`], writing nothing: call it before loading data so that a refused
/// folder is reported at once and a run that fails to start leaves no folder behind.
pub fn check_start<C: RunSettings>(out: &Path, config: &C, start: Start) -> crate::Result<()> {
    let dir = || out.to_path_buf();
    match start {
        Start::Fresh if holds_run(out) => Err(RunError::Occupied(dir()).into()),
        Start::Resume if !holds_run(out) => Err(RunError::NothingToResume(dir()).into()),
        Start::Resume if out.join(SUMMARY).is_file() => Err(RunError::Finished(dir()).into()),
        Start::Resume => check_same_config(out, config),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_folder_safe() {
        assert_eq!(run_name("frelu:0.1", 2), "frelu_0.1-s2");
        assert_eq!(run_name("tsm/frelu:neg=0.2", 0), "tsm_frelu_neg_0.2-s0");
        assert_eq!(clean_name(".."), "_.");
        assert_eq!(clean_name(""), "_");
        assert_eq!(clean_name("frelu-alt"), "frelu-alt");
    }

    #[test]
    fn a_checkpoint_cut_short_is_passed_over_quietly_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&folder).unwrap();
        let write = |record: &str, epoch: usize| {
            let file = checkpoint_file(record, epoch);
            let path = folder.join(&file);
            std::fs::write(&path, format!("{record} {epoch}")).unwrap();
            let sum = crate::fsio::digest(&path).unwrap();
            std::fs::write(folder.join(crate::run_files::checksum_file(&file)), sum).unwrap();
        };
        for record in CHECKPOINT_RECORDS {
            write(record, 1);
            write(record, 2);
        }
        assert_eq!(checkpoints(dir.path()), (2, vec![]));
        // Epoch 3: killed while saving (the model only).
        write("model", 3);
        assert_eq!(checkpoints(dir.path()), (2, vec![]));
        // Epoch 2's optimiser file changed after it was written.
        std::fs::write(folder.join("optim-2.bpk"), "optim 9").unwrap();
        let (k, damaged) = checkpoints(dir.path());
        assert_eq!(k, 1);
        assert_eq!(damaged.len(), 1);
        assert!(
            damaged[0].contains("epoch 2") && damaged[0].contains("optim-2.bpk"),
            "{damaged:?}"
        );
        assert_eq!(last_checkpoint(dir.path()), 1);
    }

    #[test]
    fn the_first_difference_names_the_setting() {
        let a = json!({"lr": 0.01, "schedule": {"slope_lr_mult": 1.0, "kind": "joint"}});
        let b = json!({"lr": 0.01, "schedule": {"slope_lr_mult": 10.0, "kind": "joint"}});
        assert_eq!(
            first_difference(&a, &b).unwrap(),
            "schedule.slope_lr_mult: 1.0 → 10.0"
        );
        assert!(first_difference(&a, &a).is_none());
        // 1 and 1.0 are the same number.
        assert!(first_difference(&json!({"x": 1}), &json!({"x": 1.0})).is_none());
        assert_eq!(
            first_difference(&json!({"x": 1}), &json!({})).unwrap(),
            "x: 1 → null"
        );
    }

    #[test]
    fn a_finished_run_with_other_settings_is_refused() {
        #[derive(Serialize, Deserialize)]
        struct C {
            lr: f64,
            #[serde(default)]
            added_later: bool,
            #[serde(default)]
            checkpoints: bool,
        }
        impl RunSettings for C {}
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG), r#"{"lr": 0.05}"#).unwrap();
        let c = |lr, checkpoints| C {
            lr,
            added_later: false,
            checkpoints,
        };
        assert!(check_same_config(dir.path(), &c(0.05, false)).is_ok());
        // Whether checkpoints were written does not change what was trained.
        assert!(check_same_config(dir.path(), &c(0.05, true)).is_ok());
        let err = check_same_config(dir.path(), &c(0.01, true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lr: 0.05 → 0.01"), "{err}");
        assert_eq!(state(dir.path()), RunState::Interrupted);
        std::fs::write(dir.path().join(SUMMARY), "{}").unwrap();
        assert_eq!(state(dir.path()), RunState::Finished);
        assert_eq!(state(&dir.path().join("nope")), RunState::New);
    }

    #[test]
    fn a_schedule_with_nothing_to_train_is_not_compared() {
        use frelu::{ActivationConfig, ScheduleConfig};
        #[derive(Serialize, Deserialize)]
        struct C {
            activation: ActivationConfig,
            schedule: ScheduleConfig,
        }
        impl RunSettings for C {
            fn inert_settings(&self) -> Vec<&'static str> {
                crate::runs::settings::inert_schedule(&self.activation, &self.schedule)
            }
        }
        let c = |act: &str, schedule: &str| C {
            activation: act.parse().unwrap(),
            schedule: ScheduleConfig::new(schedule.parse().unwrap()),
        };
        let dir = tempfile::tempdir().unwrap();
        let store = |config: &C| write_json(&dir.path().join(CONFIG), config).unwrap();
        // A ReLU run trained under alternation is the ReLU run of a joint grid ...
        store(&c("relu", "alternate:4:1:iter"));
        assert!(check_same_config(dir.path(), &c("relu", "joint")).is_ok());
        // ... but not under a budget-matched schedule, which lays its epochs out differently,
        let err = check_same_config(dir.path(), &c("relu", "matched:4:1")).unwrap_err();
        assert!(err.to_string().contains("schedule"), "{err}");
        store(&c("relu", "matched:4:1"));
        assert!(check_same_config(dir.path(), &c("relu", "joint")).is_err());
        // ... and an activation with parameters keeps its schedule.
        store(&c("frelu", "alternate:4:1:iter"));
        assert!(check_same_config(dir.path(), &c("frelu", "joint")).is_err());
        assert!(check_same_config(dir.path(), &c("frelu", "alternate:4:1:iter")).is_ok());
    }
}
