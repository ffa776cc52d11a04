//! A run folder: its name, its files, and whether a finished run matches the settings asked for.
//!
//! ```text
//! RUN/config.json      the settings (written first)
//! RUN/metrics.csv|json one row per finished epoch (rewritten after each)
//! RUN/model.bpk        the trained model      RUN/slopes.json  its learned slopes
//! RUN/summary.json     written last: the run is finished when it exists
//! RUN/failed.json      a run that stopped with an error (not retried by a grid)
//! ```

use std::path::Path;

use crate::error::Context;
use burn::module::Module;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fsio::{read_json, write_json};

/// The file whose presence marks a finished run.
pub const SUMMARY: &str = "summary.json";
/// The file of a run that failed.
pub const FAILED: &str = "failed.json";
/// The settings of a run.
pub const CONFIG: &str = "config.json";

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
pub fn start<C: Serialize>(out: &Path, config: &C) -> crate::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    write_json(&out.join(CONFIG), config)
}

/// Saves a trained model as `out/model.bpk` and its learned slopes as `out/slopes.json`.
pub fn save_trained<M: Module + Clone>(model: &M, out: &Path) -> crate::Result<()> {
    model
        .clone()
        .save_file(out.join("model.bpk"))
        .with_context(|| format!("cannot save the model into {}", out.display()))?;
    write_json(&out.join("slopes.json"), &frelu::slopes::snapshot(model))
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

/// Checks that the finished run in `dir` was trained with `wanted`. The stored `config.json`
/// is read back through `C` first, so settings added since it was written take their defaults
/// instead of counting as differences.
pub fn check_same_config<C>(dir: &Path, wanted: &C) -> crate::Result<()>
where
    C: Serialize + DeserializeOwned,
{
    let path = dir.join(CONFIG);
    let stored: C = read_json(&path)?;
    let stored = serde_json::to_value(&stored)?;
    let wanted = serde_json::to_value(wanted)?;
    if let Some(difference) = first_difference(&stored, &wanted) {
        crate::error::bail!(
            "{} was trained with other settings ({difference}, stored → asked); use another \
             --out, or delete that run folder to train it again",
            dir.display()
        );
    }
    Ok(())
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
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG), r#"{"lr": 0.05}"#).unwrap();
        assert!(
            check_same_config(
                dir.path(),
                &C {
                    lr: 0.05,
                    added_later: false
                }
            )
            .is_ok()
        );
        let err = check_same_config(
            dir.path(),
            &C {
                lr: 0.01,
                added_later: false,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("lr: 0.05 → 0.01"), "{err}");
        assert_eq!(state(dir.path()), RunState::Interrupted);
        std::fs::write(dir.path().join(SUMMARY), "{}").unwrap();
        assert_eq!(state(dir.path()), RunState::Finished);
        assert_eq!(state(&dir.path().join("nope")), RunState::New);
    }
}
