//! The CPU fast path trains as Flex's own operations do: the same `frelu train` command, same
//! seed, with the fast path (the default) and with `FRELU_FAST_PATH=0`, ends within 0.3 pp of
//! test accuracy after 2 epochs of `simple-cnn` on Fashion-MNIST (the Debian package's 60,000 /
//! 10,000 images where installed, else the bundled subset), and the training losses agree.

use std::path::Path;
use std::process::Command;

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

fn train(out: &Path, fast: bool) -> serde_json::Value {
    let mut command = Command::new(FRELU);
    command.args(["train", "--model", "simple-cnn", "--act", "relu"]);
    command.args([
        "--epochs",
        "2",
        "--seed",
        "0",
        "--no-checkpoints",
        "-q",
        "--out",
    ]);
    command.arg(out);
    if !fast {
        command.env("FRELU_FAST_PATH", "0");
    } else {
        command.env_remove("FRELU_FAST_PATH");
    }
    let output = command.output().expect("frelu runs");
    assert!(
        output.status.success(),
        "frelu train failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn train_losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "train_loss")
        .expect("train_loss column");
    lines
        .map(|l| l.split(',').nth(column).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn two_epochs_on_the_fast_path_match_flex_s_own_ops() {
    let dir = tempfile::tempdir().unwrap();
    let (fast_dir, flex_dir) = (dir.path().join("fast"), dir.path().join("flex"));
    let fast = train(&fast_dir, true);
    let flex = train(&flex_dir, false);
    let accuracy = |s: &serde_json::Value| s["final_test_acc"].as_f64().expect("accuracy");
    let (a, b) = (accuracy(&fast), accuracy(&flex));
    assert!(
        (a - b).abs() <= 0.3,
        "fast path {a:.2} % vs Flex {b:.2} % ({} test images)",
        fast["test_images"]
    );
    // The same curve, not only the same end: training losses per epoch within 2 %.
    let (fast_losses, flex_losses) = (train_losses(&fast_dir), train_losses(&flex_dir));
    assert_eq!(fast_losses.len(), 2);
    for (x, y) in fast_losses.iter().zip(&flex_losses) {
        assert!((x - y).abs() <= 0.02 * y, "train loss {x} vs {y}");
    }
}
