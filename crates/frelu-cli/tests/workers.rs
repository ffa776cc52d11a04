//! Many workers on one grid folder: claims, take-over of a dead worker's run, shards, and the
//! refusals that keep a folder's work.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn frelu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_frelu"))
}

/// A protocol file: ReLU and FReLU, `epochs` epochs on small Fashion-MNIST subsets, `seeds`.
fn protocol(dir: &Path, name: &str, epochs: usize, seeds: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    // Epochs of a second or more where there are several: time to kill a worker mid-run.
    let images = if epochs > 1 { 1024 } else { 128 };
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nepochs = {epochs}\nlimit_train = {images}\nlimit_test = 64\n\
             checkpoints = true\n\
             seeds = [{seeds}]\n\
             [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
             [[configs]]\nname = \"frelu\"\nact = \"frelu\"\n"
        ),
    )
    .unwrap();
    path
}

fn compare(protocol: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = frelu();
    command
        .args(["compare", "-q", "--protocol"])
        .arg(protocol)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT");
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The final accuracies of a finished grid, per configuration, from its `summary.json`.
fn accuracies(out: &Path) -> Vec<(String, Vec<f64>)> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let final_acc = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["key"] == "final_acc")
        .unwrap();
    summary["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let values = row["metrics"][final_acc]["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            (row["name"].as_str().unwrap().to_string(), values)
        })
        .collect()
}

/// `summary.md` without its time column (runs sharing the cores take longer).
fn table_without_times(out: &Path) -> Vec<String> {
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let header = md.lines().find(|l| l.contains("s/epoch")).unwrap();
    let time = header
        .split('|')
        .position(|cell| cell.contains("s/epoch"))
        .expect("a time column");
    md.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            let mut cells: Vec<&str> = l.split('|').collect();
            if cells.len() > time {
                cells.remove(time);
            }
            cells.join("|")
        })
        .collect()
}

#[test]
fn three_workers_finish_a_grid_together_each_run_trained_once() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "tiny", 1, "0, 1, 2");
    let out = dir.path().join("grid");
    let workers: Vec<Child> = (0..3)
        .map(|_| {
            compare(&protocol, &out, &[])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = workers
        .into_iter()
        .map(|w| w.wait_with_output().unwrap())
        .collect();
    let logs: Vec<String> = outputs.iter().map(text).collect();
    for (output, log) in outputs.iter().zip(&logs) {
        assert!(output.status.success(), "{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
    // Every run was started by exactly one worker.
    for run in [
        "relu-s0", "frelu-s0", "relu-s1", "frelu-s1", "relu-s2", "frelu-s2",
    ] {
        let starts: usize = logs
            .iter()
            .map(|log| {
                log.lines()
                    .filter(|l| l.contains(&format!("] {run} — elapsed")))
                    .count()
            })
            .sum();
        assert_eq!(
            starts,
            1,
            "{run} trained {starts} times:\n{}",
            logs.join("\n")
        );
        assert!(!out.join("runs").join(run).join("claim.json").exists());
    }
    // The last one to finish aggregated; the same grid by one worker gives the same table.
    let alone = dir.path().join("alone");
    let single = compare(&protocol, &alone, &[]).output().unwrap();
    assert!(single.status.success(), "{}", text(&single));
    assert_eq!(accuracies(&out), accuracies(&alone));
    assert_eq!(table_without_times(&out), table_without_times(&alone));
}

/// Whether epoch 1's checkpoint is whole: its three records are written independently.
fn complete_checkpoint(run: &Path) -> bool {
    ["model", "optim", "scheduler"]
        .iter()
        .all(|r| run.join(format!("checkpoint/{r}-1.bpk")).exists())
}

/// Starts a worker on the grid in `out` and SIGKILLs it (no clean-up of any kind) once the run
/// it took first — relu-s0, the grid's first, the one the next workers meet first — has a whole
/// checkpoint; returns that run's folder.
fn killed_after_first_checkpoint(protocol: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut first = compare(protocol, out, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run = out.join("runs/relu-s0");
    wait_for(
        "a first complete checkpoint",
        Duration::from_secs(300),
        || complete_checkpoint(&run),
    );
    first.kill().unwrap();
    first.wait().unwrap();
    run
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_workers_run_is_taken_over_after_the_grace_period_and_resumed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "long", 6, "0");
    let out = dir.path().join("grid");
    let grace = ["--claim-grace", "2"];
    let run = killed_after_first_checkpoint(&protocol, &out, &grace);
    assert!(run.join("claim.json").exists());
    assert!(!run.join("summary.json").exists(), "killed too late");
    // A worker that died on this host is known to be gone at once (its pid is); one on another
    // machine only by its silence. Make it the other machine's.
    let claim = run.join("claim.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&claim).unwrap()).unwrap();
    info["host"] = "another-node".into();
    std::fs::write(&claim, info.to_string()).unwrap();

    // Right away, the claim is still within its grace period: left alone.
    let early = compare(&protocol, &out, &grace).output().unwrap();
    let early_log = text(&early);
    assert!(early.status.success(), "{early_log}");
    assert!(
        early_log.contains("relu-s0: being trained by"),
        "{early_log}"
    );
    assert!(early_log.contains("not finished"), "{early_log}");
    assert!(!run.join("summary.json").exists());

    std::thread::sleep(Duration::from_secs(3));
    let late = compare(&protocol, &out, &grace).output().unwrap();
    let late_log = text(&late);
    assert!(late.status.success(), "{late_log}");
    assert!(
        late_log.contains("relu-s0: taking over from another-node"),
        "{late_log}"
    );
    assert!(late_log.contains("resuming after epoch"), "{late_log}");

    // As if never interrupted.
    let alone = dir.path().join("alone");
    let single = compare(&protocol, &alone, &[]).output().unwrap();
    assert!(single.status.success(), "{}", text(&single));
    assert_eq!(accuracies(&out), accuracies(&alone));
}

#[test]
fn shards_split_the_grid_and_status_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "tiny", 1, "0, 1");
    let out = dir.path().join("grid");
    let listed = compare(&protocol, &out, &["--list-runs"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["relu-s0", "frelu-s0", "relu-s1", "frelu-s1"]
    );
    assert!(!out.exists(), "--list-runs writes nothing");

    // Share 0 of 2 by Slurm's array variables: runs 0 and 2 of the grid.
    let shard0 = compare(&protocol, &out, &[])
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    let log = text(&shard0);
    assert!(shard0.status.success(), "{log}");
    assert!(log.contains("shard 0/2: 2 of the grid's 4 runs"), "{log}");
    assert!(log.contains("2 runs of the grid"), "{log}");
    assert!(!out.join("summary.md").exists());

    let status = frelu()
        .args(["status", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let states: Vec<(&str, &str)> = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["run"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("relu-s0", "finished"),
            ("frelu-s0", "new"),
            ("relu-s1", "finished"),
            ("frelu-s1", "new")
        ]
    );

    // Share 1 of 2 finishes the grid and aggregates.
    let shard1 = compare(&protocol, &out, &["--shard", "1/2"])
        .output()
        .unwrap();
    assert!(shard1.status.success(), "{}", text(&shard1));
    assert!(out.join("summary.md").exists());
    let table = frelu().arg("status").arg(&out).output().unwrap();
    let table = text(&table);
    assert!(table.contains("4 of 4 runs finished"), "{table}");
    assert!(
        table.contains("| frelu-s1 | finished | test accuracy %"),
        "{table}"
    );
}

#[test]
fn bad_shards_garbage_claims_and_another_protocols_folder_are_refused_keeping_everything() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "tiny", 1, "0");
    let out = dir.path().join("grid");
    for (shard, why) in [("3/2", "numbered 0 to 1"), ("0/0", "at least 1 shard")] {
        let bad = compare(&protocol, &out, &["--shard", shard])
            .output()
            .unwrap();
        let log = text(&bad);
        assert!(!bad.status.success() && log.contains(why), "{shard}: {log}");
        assert!(!log.contains("panicked"), "{log}");
    }
    let bad = compare(&protocol, &out, &[])
        .env("SLURM_ARRAY_TASK_ID", "x")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(!bad.status.success() && text(&bad).contains("SLURM_ARRAY_TASK_ID=x"));
    assert!(!out.exists(), "nothing written for a bad shard");

    // A claim file with garbage: that run is skipped with a warning and the file kept.
    let claim = out.join("runs/relu-s0/claim.json");
    std::fs::create_dir_all(claim.parent().unwrap()).unwrap();
    std::fs::write(&claim, "garbage").unwrap();
    let run = compare(&protocol, &out, &[]).output().unwrap();
    let log = text(&run);
    assert!(run.status.success(), "{log}");
    assert!(log.contains("claim.json is not a claim"), "{log}");
    assert_eq!(std::fs::read_to_string(&claim).unwrap(), "garbage");
    assert!(out.join("runs/frelu-s0/summary.json").exists());
    let status = frelu().arg("status").arg(&out).output().unwrap();
    assert!(
        text(&status).contains("| relu-s0 | damaged claim |"),
        "{}",
        text(&status)
    );

    // Another protocol in the same folder: refused, nothing touched.
    let before = std::fs::read_to_string(out.join("runs/frelu-s0/summary.json")).unwrap();
    let other = self::protocol(dir.path(), "other", 1, "0");
    let refused = compare(&other, &out, &[]).output().unwrap();
    let log = text(&refused);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains("holds the grid of `classify tiny`, not of `classify other`"),
        "{log}"
    );
    assert!(log.contains("another --out"), "{log}");
    let after = std::fs::read_to_string(out.join("runs/frelu-s0/summary.json")).unwrap();
    assert_eq!(before, after);
    assert!(claim.exists());
}

#[test]
fn a_worker_killed_on_this_host_is_taken_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "long", 6, "0");
    let out = dir.path().join("grid");
    killed_after_first_checkpoint(&protocol, &out, &[]);
    // The default grace period is 10 minutes; the dead pid is enough.
    let next = compare(&protocol, &out, &[]).output().unwrap();
    let log = text(&next);
    assert!(next.status.success(), "{log}");
    assert!(log.contains("relu-s0: taking over from"), "{log}");
    assert!(log.contains("resuming after epoch"), "{log}");
    assert!(out.join("summary.md").is_file(), "{log}");
}

/// `frelu records`, then the same command on its output, as a record kept in one checkout and
/// copied into another.
fn records(from: &Path, to: &Path) -> String {
    let output = frelu()
        .arg("records")
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

// In its own process, as every test here: a run trained again draws its weights and data order
// from the device's seeded generator, which other tests of the same process would reseed.
#[test]
fn a_grid_continues_from_its_records_in_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    let protocol = protocol(dir.path(), "records", 1, "0, 1");
    let out = dir.path().join("results/records");
    let kept = dir.path().join("docs/runs/records");
    let elsewhere = dir.path().join("checkout-2/results/records");
    let first = compare(&protocol, &out, &[]).output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let trained = accuracies(&out);
    // As if killed during relu-s1; its checkpoints stay behind with the results.
    std::fs::remove_file(out.join("runs/relu-s1/summary.json")).unwrap();
    let said = records(&out, &kept);
    assert!(said.contains("3 of 4 runs finished, 4 started"), "{said}");
    assert!(!kept.join("runs/relu-s0/model.bpk").exists());
    assert!(!kept.join("runs/relu-s1/checkpoint").exists());
    records(&kept, &elsewhere);
    let again = compare(&protocol, &elsewhere, &[]).output().unwrap();
    let log = text(&again);
    assert!(again.status.success(), "{log}");
    assert_eq!(log.matches("finished earlier, skipped").count(), 3, "{log}");
    assert_eq!(
        log.matches("interrupted earlier, restarting").count(),
        1,
        "{log}"
    );
    // The same numbers: three read from the records, one trained again from its seed.
    assert_eq!(accuracies(&elsewhere), trained);
}
