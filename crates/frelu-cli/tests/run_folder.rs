//! A run folder never loses work to a careless command: a closed pipe, `--overwrite` over a
//! dataset, an export onto the trained model.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

fn small_train(out: &Path) -> Command {
    let mut command = Command::new(FRELU);
    command
        .args([
            "train",
            "--epochs",
            "2",
            "--batch",
            "32",
            "--limit-train",
            "256",
            "--limit-test",
            "64",
            "--out",
        ])
        .arg(out);
    command
}

#[test]
fn a_reader_that_goes_away_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // `frelu train … | head -1`: read one line, then close the pipe.
    let mut child = small_train(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.join("summary.json").is_file(), "the run finished");
}

#[test]
fn overwrite_deletes_only_what_a_run_wrote_and_no_run_goes_inside_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("images");
    let made = Command::new(FRELU)
        .args(["make-imagefolder", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let count = |d: &Path| walk(d);
    let before = count(&data);
    assert!(before > 0);
    for out in [data.clone(), data.join("runs/r1")] {
        let refused = Command::new(FRELU)
            .args(["train", "--dataset", "imagefolder", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .arg("--overwrite")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(stderr.contains("inside it"), "{stderr}");
        assert_eq!(count(&data), before, "the dataset is untouched");
    }

    // A run folder whose train/ holds a file the run did not write: --overwrite keeps it.
    let out = dir.path().join("run");
    assert!(small_train(&out).output().unwrap().status.success());
    std::fs::write(out.join("train/notes.txt"), "mine").unwrap();
    std::fs::write(out.join("checkpoint/keep.txt"), "mine").unwrap();
    let again = small_train(&out).arg("--overwrite").output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("train/notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("checkpoint/keep.txt")).unwrap(),
        "mine"
    );
    assert!(out.join("summary.json").is_file());
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.file_type().unwrap().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn an_export_never_replaces_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert!(small_train(&out).output().unwrap().status.success());
    let model = std::fs::read(out.join("model.bpk")).unwrap();
    for format in ["onnx", "safetensors"] {
        let refused = Command::new(FRELU)
            .arg("export")
            .arg(&out)
            .args(["--format", format, "--out"])
            .arg(out.join("model.bpk"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(stderr.contains("is a file of the run"), "{stderr}");
    }
    assert_eq!(std::fs::read(out.join("model.bpk")).unwrap(), model);
    // Beside it, under a name of its own, it is written.
    let ok = Command::new(FRELU)
        .arg("export")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.join("model.onnx").is_file());
}

#[test]
fn two_trainings_into_one_folder_at_once_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let spawn = || {
        small_train(&out)
            .arg("-q")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    let errors: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert_eq!(ok, 1, "{errors:?}");
    let refused = &errors[usize::from(outputs[0].status.success())];
    // Refused while the other trains, or, had it already finished, because the folder holds it.
    assert!(
        refused.contains("is being trained by") || refused.contains("already holds a run"),
        "{refused}"
    );
    assert!(!out.join("claim.json").exists());
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        3,
        "one run's header and 2 epochs: {metrics}"
    );
}

#[test]
fn a_protocol_row_with_bad_settings_stops_the_grid_before_anything_is_trained() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = dir.path().join("p.toml");
    std::fs::write(
        &protocol,
        "name = \"bad\"\nepochs = 1\nlimit_train = 64\nlimit_test = 64\nseeds = [0]\n\
         [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
         [[configs]]\nname = \"frelu\"\nact = \"frelu\"\nslope_lr_mult = -1\n",
    )
    .unwrap();
    let out = dir.path().join("grid");
    let run = Command::new(FRELU)
        .args(["compare", "-q", "--protocol"])
        .arg(&protocol)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("configuration 'frelu'") && stderr.contains("--slope-lr-mult"),
        "{stderr}"
    );
    assert!(!out.join("runs").exists(), "nothing trained");
}
