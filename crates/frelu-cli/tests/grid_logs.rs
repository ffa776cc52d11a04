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
}
