//! The kill test: a `frelu train` run (and a Faster R-CNN `frelu detect train` run) killed with
//! SIGKILL after its first epoch's checkpoint, then resumed with `--resume`, ends exactly as the
//! same run uninterrupted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

/// A small FReLU run with the alternate schedule (its phase must survive the restart too).
fn train_args(out: &Path) -> Vec<String> {
    [
        "train",
        "--act",
        "frelu",
        "--schedule",
        "alternate:3:1:iter",
        "--epochs",
        "3",
        "--batch",
        "32",
        "--limit-train",
        "1536",
        "--limit-test",
        "256",
        "--lr",
        "0.05",
        "-q",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(out.display().to_string()))
    .collect()
}

fn metrics_without_timing(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
        .collect()
}

/// Starts `args` and kills it (SIGKILL) once epoch 1's checkpoint is complete; `run` must not
/// have finished by then.
fn kill_after_first_checkpoint(args: &[String], run: &Path) {
    let mut child = Command::new(FRELU)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = run.join("checkpoint/scheduler-1.bpk");
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no checkpoint after 10 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !run.join("summary.json").exists(),
        "the run finished before it could be killed; the test needs a longer run"
    );
}

#[test]
fn a_killed_run_resumes_to_the_same_weights_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let status = Command::new(FRELU)
        .args(train_args(&whole))
        .status()
        .unwrap();
    assert!(status.success());

    // The same run, killed once epoch 1's checkpoint is complete.
    let cut = dir.path().join("cut");
    kill_after_first_checkpoint(&train_args(&cut), &cut);

    // Without --resume the folder is refused, naming both ways out.
    let refused = Command::new(FRELU).args(train_args(&cut)).output().unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("--resume") && message.contains("--overwrite"),
        "{message}"
    );

    // Three epochs, the same losses and accuracies, the same weights and slopes.
    // (model.bpk is not compared byte for byte: it stores the random ids of the parameters.)
    resume_and_compare(
        &train_args(&cut),
        (&whole, &cut),
        3,
        &["slopes.json", "slopes_history.jsonl"],
    );
}

/// Resumes the killed run `cut` with `args` + `--resume`, then checks that its per-epoch
/// metrics (`epochs` rows, timing aside) and `files` equal those of the uninterrupted `whole`.
fn resume_and_compare(
    args: &[String],
    (whole, cut): (&Path, &Path),
    epochs: usize,
    files: &[&str],
) {
    let resumed = Command::new(FRELU)
        .args(args)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let rows = metrics_without_timing(cut);
    assert_eq!(rows.len(), epochs + 1, "{rows:?}");
    assert_eq!(rows, metrics_without_timing(whole));
    for file in files {
        assert!(
            std::fs::read(whole.join(file)).unwrap() == std::fs::read(cut.join(file)).unwrap(),
            "{file} differs between the resumed and the uninterrupted run"
        );
    }
}

/// A small Faster R-CNN run with FReLU (alternate schedule) on a tiny generated benchmark: its
/// samplers draw from (seed, epoch, image), so a resumed run samples as the uninterrupted one.
fn detect_args(data: &Path, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "detect",
        "train",
        "--detector",
        "faster-rcnn",
        "--backbone-width",
        "4",
        "--fpn-channels",
        "8",
        "--box-head-width",
        "32",
        "--act",
        "frelu",
        "--image-size",
        "64",
        "--epochs",
        "4",
        "--batch",
        "8",
        "--workers",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--data".into(), data.display().to_string()]);
    args.extend(["--out".into(), out.display().to_string()]);
    args
}

#[test]
fn a_killed_faster_rcnn_run_resumes_to_the_same_metrics_and_detections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let made = Command::new(FRELU)
        .args([
            "detect",
            "make-data",
            "--train",
            "96",
            "--val",
            "16",
            "--canvas",
            "96",
        ])
        .arg("--out")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let whole = dir.path().join("whole");
    let status = Command::new(FRELU)
        .args(detect_args(&data, &whole))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let cut = dir.path().join("cut");
    kill_after_first_checkpoint(&detect_args(&data, &cut), &cut);
    resume_and_compare(
        &detect_args(&data, &cut),
        (&whole, &cut),
        4,
        &["slopes.json", "detections.json", "coco_metrics.json"],
    );
}
