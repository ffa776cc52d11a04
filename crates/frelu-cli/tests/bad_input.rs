//! Bad input on the command line: each case ends with a clear error naming the flag or file,
//! exit status 1, and no panic.

use std::process::Command;

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

/// Runs `frelu ARGS` (with extra environment) and returns its stderr; it must fail cleanly.
fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(FRELU)
        .args(args)
        .arg("--out")
        .arg(dir.path().join("run"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        !dir.path().join("run").exists(),
        "{args:?} left a run folder behind"
    );
    stderr
}

const QUICK: [&str; 6] = ["train", "--epochs", "1", "--limit-train", "64", "-q"];

#[test]
fn each_reproduction_gives_a_clear_error() {
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        QUICK.iter().chain(extra).copied().collect()
    };
    let err = fails(&with(&["--model", "vgg16_bn_cifar"]), &[]);
    assert!(err.contains("at least 32×32"), "{err}");
    let err = fails(&with(&["--augment", "crop:1000"]), &[]);
    assert!(err.contains("--augment crop:1000"), "{err}");
    let err = fails(&with(&["--ddp"]), &[]);
    assert!(err.contains("--ddp needs at least two --devices"), "{err}");
    let err = fails(&with(&[]), &[("FRELU_DATA", "/nonexistent/frelu-data")]);
    assert!(
        err.contains("FRELU_DATA") && err.contains("not a folder"),
        "{err}"
    );
    let err = fails(&with(&["--lr=-1"]), &[]);
    assert!(err.contains("--lr"), "{err}");
    // A setting the model does not read is refused, not recorded as if applied.
    let err = fails(&with(&["--model", "resnet20", "--width", "0.5"]), &[]);
    assert!(err.contains("--width 0.5 is not used by resnet20"), "{err}");
    let err = fails(&with(&["--shortcut", "b"]), &[]);
    assert!(
        err.contains("--shortcut b is not used by simple-cnn"),
        "{err}"
    );
    // A message that names the missing file once, not its cause twice.
    let err = fails(
        &with(&["--dataset", "imagefolder", "--data", "/nonexistent"]),
        &[],
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}
