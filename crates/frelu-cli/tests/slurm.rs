//! A grid on a real Slurm: `scripts/slurm/submit.sh` submits a job array (one run per task) and
//! the aggregation job after it; the test waits for both and checks the grid.
//!
//! Needs a Slurm cluster this machine can submit to. Where `sinfo` finds none and the test runs
//! as root with Debian's `slurmctld slurmd slurm-client munge` installed, it starts a one-node
//! cluster on localhost (`scripts/slurm/local-cluster.sh`) and stops it at the end. Otherwise it
//! is skipped, saying so, unless `FRELU_REQUIRE_SLURM=1` (set by `.ci/run` when it installed
//! Slurm), which makes it fail instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm")
}

fn node_idle() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| matches!(l.trim(), "idle" | "mix" | "alloc"))
        })
}

/// Stops the cluster this test started, whatever happens.
struct LocalCluster;

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("local-cluster.sh"))
            .arg("stop")
            .status();
    }
}

/// A cluster to submit to: `Ok(None)` if one was there, `Ok(Some(_))` if this test started one,
/// `Err(why)` if there is none.
fn cluster() -> Result<Option<LocalCluster>, String> {
    if node_idle() {
        return Ok(None);
    }
    let started = Command::new(scripts().join("local-cluster.sh"))
        .arg("start")
        .output()
        .map_err(|e| format!("cannot run local-cluster.sh: {e}"))?;
    if started.status.success() && node_idle() {
        Ok(Some(LocalCluster))
    } else {
        Err(format!(
            "no Slurm cluster, and none could be started here: {}{}",
            String::from_utf8_lossy(&started.stdout),
            String::from_utf8_lossy(&started.stderr)
        ))
    }
}

fn queued(jobs: &[String]) -> bool {
    let listed = Command::new("squeue")
        .args(["-h", "-o", "%i", "-j"])
        .arg(jobs.join(","))
        .output();
    listed.is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
}

#[test]
fn a_grid_submitted_as_a_slurm_array_finishes_and_is_aggregated() {
    let _cluster = match cluster() {
        Ok(cluster) => cluster,
        Err(why) if std::env::var("FRELU_REQUIRE_SLURM").as_deref() == Ok("1") => {
            panic!("FRELU_REQUIRE_SLURM=1 but {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: a_grid_submitted_as_a_slurm_array...: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let protocol = dir.path().join("p.toml");
    std::fs::write(
        &protocol,
        "name = \"slurm\"\nepochs = 1\nlimit_train = 128\nlimit_test = 64\nseeds = [0]\n\
         [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
         [[configs]]\nname = \"frelu\"\nact = \"frelu\"\n",
    )
    .unwrap();
    let out = dir.path().join("grid");
    let submitted = Command::new(scripts().join("submit.sh"))
        .current_dir(dir.path())
        .env("FRELU", env!("CARGO_BIN_EXE_frelu"))
        .env("THROTTLE", "2")
        .args(["compare", "-q", "--protocol"])
        .arg(&protocol)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&submitted.stdout).into_owned();
    assert!(
        submitted.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    assert!(said.contains("(2 runs, at most 2 at once)"), "{said}");
    // "array job ID (…); aggregation job ID"
    let words: Vec<&str> = said.split_whitespace().collect();
    let jobs: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "job" && w[1].chars().all(|c| c.is_ascii_digit()))
        .map(|w| w[1].to_string())
        .collect();
    assert_eq!(jobs.len(), 2, "{said}");

    let start = Instant::now();
    while queued(&jobs) {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "jobs {jobs:?} still queued after 10 minutes"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let outputs: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let all = outputs.join("\n---\n");
    assert_eq!(
        outputs.len(),
        3,
        "two array tasks and the aggregation:\n{all}"
    );
    for shard in [
        "shard 0/2: 1 of the grid's 2 runs",
        "shard 1/2: 1 of the grid's 2 runs",
    ] {
        assert!(all.contains(shard), "{shard}\n{all}");
    }
    assert!(!all.contains("panicked"), "{all}");
    // Both runs finished, each by its own array task; the summary is there.
    for run in ["relu-s0", "frelu-s0"] {
        assert!(
            out.join("runs").join(run).join("summary.json").is_file(),
            "{run}\n{all}"
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("| relu |") && summary.contains("| frelu |"),
        "{summary}"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_frelu"))
        .arg("status")
        .arg(&out)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("2 of 2 runs finished"), "{status}");
}
