//! `--resume` after a checkpoint was damaged on disk (truncated, zeroed, bytes flipped): never a
//! panic; the run continues from the newest intact epoch and says which one it passed over, or,
//! where none is intact, stops with an error naming the damaged file and deletes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

fn train(out: &Path, resume: bool) -> std::process::Output {
    let mut command = Command::new(FRELU);
    command.args([
        "train",
        "--act",
        "frelu",
        "--epochs",
        "3",
        "--batch",
        "32",
        "--limit-train",
        "256",
        "--limit-test",
        "64",
        "-q",
        "--out",
    ]);
    command.arg(out);
    if resume {
        command.arg("--resume");
    }
    command.output().unwrap()
}

/// One finished 3-epoch run with a checkpoint after each epoch, trained once for every case.
fn finished_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, run) = RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let output = train(&run, false);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (dir, run)
    });
    run
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[derive(Clone, Debug)]
enum Damage {
    /// Keep this fraction of the file.
    Truncate(f64),
    /// Zero this many bytes from this fraction on.
    Zero(f64, usize),
    /// Flip one bit of the byte at this fraction.
    Flip(f64),
}

fn damage(path: &Path, how: &Damage) {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    let len = bytes.len();
    let at = |f: f64| ((len as f64 * f) as usize).min(len.saturating_sub(1));
    match *how {
        Damage::Truncate(f) => bytes.truncate(at(f)),
        Damage::Zero(f, n) => {
            let start = at(f);
            let end = (start + n).min(bytes.len());
            bytes[start..end].iter_mut().for_each(|b| *b = 0);
        }
        Damage::Flip(f) => {
            let i = at(f);
            bytes[i] ^= 0x10;
        }
    }
    if bytes == original {
        // Zeros written over zeros: damage it still.
        bytes[at(0.5)] ^= 0x10;
    }
    std::fs::write(path, bytes).unwrap();
}

/// The epochs with a checkpoint in `run`, newest first.
fn checkpoint_epochs(run: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(run.join("checkpoint"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..0.99f64).prop_map(Damage::Truncate),
        (0.0..0.99f64, 1usize..4096).prop_map(|(f, n)| Damage::Zero(f, n)),
        (0.0..1.0f64).prop_map(Damage::Flip),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_checkpoint_is_passed_over_or_named_never_a_panic(
        record in prop::sample::select(vec!["model", "optim", "scheduler"]),
        // Damage the newest checkpoint only, or the newest two, ... or all that are kept.
        depth in 1usize..=3,
        how in damage_strategy(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        copy_dir(finished_run(), &run);
        // Interrupted during its last epoch: no summary.
        std::fs::remove_file(run.join("summary.json")).unwrap();
        let epochs = checkpoint_epochs(&run);
        prop_assert!(epochs.len() >= 2, "checkpoints kept: {:?}", epochs);
        let depth = depth.min(epochs.len());
        let damaged: Vec<PathBuf> = epochs[..depth]
            .iter()
            .map(|epoch| run.join(format!("checkpoint/{record}-{epoch}.bpk")))
            .collect();
        for path in &damaged {
            damage(path, &how);
        }
        let output = train(&run, true);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        prop_assert!(!stderr.contains("panicked"), "{}", stderr);
        prop_assert!(!stderr.contains("loss became NaN"), "{}", stderr);
        let newest = format!("{record}-{}.bpk", epochs[0]);
        match epochs.get(depth) {
            Some(intact) => {
                // Resumed from the newest intact epoch, saying what was passed over.
                prop_assert!(output.status.success(), "{}", stderr);
                let said = format!("resuming from the checkpoint of epoch {intact} instead");
                prop_assert!(stderr.contains(&said), "{}", stderr);
                prop_assert!(stderr.contains(&newest), "{}", stderr);
                prop_assert!(run.join("summary.json").is_file());
            }
            None => {
                // Nothing intact: an error naming a damaged file; the files are still there.
                prop_assert!(!output.status.success(), "{}", stderr);
                prop_assert!(stderr.contains("no intact checkpoint"), "{}", stderr);
                prop_assert!(stderr.contains(&newest), "{}", stderr);
                prop_assert!(damaged.iter().all(|p| p.is_file()));
                prop_assert!(run.join("metrics.json").is_file());
            }
        }
    }
}
