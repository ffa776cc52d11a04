//! Several trainings in one process (a comparison grid): each run has its own log.

use std::process::Command;

#[test]
fn every_run_of_a_grid_writes_its_own_experiment_log() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = dir.path().join("p.toml");
    std::fs::write(
        &protocol,
        "name = \"tiny\"\nepochs = 1\nlimit_train = 128\nlimit_test = 64\nseeds = [0]\n\
         [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
         [[configs]]\nname = \"frelu\"\nact = \"frelu\"\n",
    )
    .unwrap();
    let out = dir.path().join("grid");
    let status = Command::new(env!("CARGO_BIN_EXE_frelu"))
        .args(["compare", "-q", "--protocol"])
        .arg(&protocol)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for run in ["relu-s0", "frelu-s0"] {
        let log = std::fs::read_to_string(out.join("runs").join(run).join("experiment.log"))
            .unwrap_or_default();
        assert!(
            log.contains("Executing training step for epoch 1"),
            "{run}: its experiment.log lacks its own training lines: {log:?}"
        );
    }

    // The finished grid re-tabulated against another configuration; an unknown one is refused.
    let again = |reference: &str| {
        Command::new(env!("CARGO_BIN_EXE_frelu"))
            .args([
                "compare",
                "--aggregate-only",
                "--reference",
                reference,
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap()
    };
    let against_frelu = again("frelu");
    let table = String::from_utf8_lossy(&against_frelu.stdout);
    assert!(against_frelu.status.success(), "{table}");
    assert!(table.contains("vs frelu [95 % CI]"), "{table}");
    let relu_row = table.lines().find(|l| l.starts_with("| relu |")).unwrap();
    assert!(
        relu_row.contains("[—, —]"),
        "one seed: a difference, no interval: {relu_row}"
    );
    // Re-tabulated with an equivalence margin: its column and a verdict per row.
    let with_margin = Command::new(env!("CARGO_BIN_EXE_frelu"))
        .args(["compare", "--aggregate-only", "--margin", "0.5", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&with_margin.stdout);
    assert!(with_margin.status.success(), "{table}");
    assert!(
        table.contains("equivalence p (±0.5), Holm | verdict"),
        "{table}"
    );
    let bad_margin = Command::new(env!("CARGO_BIN_EXE_frelu"))
        .args(["compare", "--aggregate-only", "--margin=-1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad_margin.stderr);
    assert!(
        !bad_margin.status.success() && err.contains("margin"),
        "{err}"
    );
    let unknown = again("gelu");
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        err.contains("reference 'gelu' is not a configuration"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
