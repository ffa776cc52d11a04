//! `frelu bench`: what FReLU costs compared with ReLU, and what the CPU fast path
//! ([`frelu::fastpath`]) saves over Flex's own operations, measured in one run with the variants
//! and paths interleaved in an order that rotates every repeat (so that a noisy machine slows
//! them alike and none always follows the same other), as medians of repeats, ratios paired
//! within a repeat; with a report of `scripts/pytorch_step.py`, beside PyTorch on the same networks.

mod config;
mod ops;
mod pytorch;
mod report;
mod steps;

pub use config::{
    BenchConfig, BenchReport, DEFAULT_MOBILENET_WIDTH, InferenceResult, OpResult, Path, PeerResult,
    StepResult, Variant,
};
pub use ops::{bench_op, copy_bandwidth};
pub use steps::{bench_inference, bench_peers, bench_step};

/// Runs everything `config` asks for; its progress lines go to `reporter`.
pub fn run(
    config: &BenchConfig,
    reporter: &dyn crate::progress::Reporter,
) -> crate::Result<BenchReport> {
    let log = |line: &str| reporter.info(line);
    let device = crate::device::parse_device(&config.device)?;
    if config.paths.is_empty() {
        return Err(crate::Error::Invalid(
            "no path to bench: give flex, fast, fast-rust or several".into(),
        ));
    }
    log(&format!(
        "device {}; {} timed repeats after {} warm-up, variants interleaved in rotating order",
        config.device, config.repeats, config.warmup
    ));
    let copy_gbps = copy_bandwidth();
    let mut ops = Vec::new();
    for &shape in &config.op_shapes {
        log(&format!("op {shape:?} ..."));
        ops.extend(bench_op(shape, config, &device));
    }
    let mut steps = Vec::new();
    if !config.ops_only {
        for &arch in &config.models {
            log(&format!("train step {arch}, batch {} ...", config.batch));
            steps.extend(bench_step(arch, config, &device)?);
        }
    }
    let pytorch = match &config.pytorch {
        Some(path) => Some(pytorch::attach(path, config, &mut steps)?),
        None => None,
    };
    let mut inference = Vec::new();
    if !config.ops_only {
        for &arch in &config.models {
            log(&format!("inference {arch}, batch {} ...", config.batch));
            inference.extend(bench_inference(arch, config, &device)?);
        }
    }
    let mut peers = Vec::new();
    if config.peers && !config.ops_only {
        log(&format!(
            "train step simple-cnn with each learnable peer, batch {} ...",
            config.batch
        ));
        peers = bench_peers(config, &device)?;
    }
    Ok(BenchReport {
        config: config.clone(),
        copy_gbps,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        engine: frelu::fastpath::engine(),
        ops,
        steps,
        pytorch,
        peers,
        inference,
    })
}

#[cfg(test)]
mod tests {
    use super::config::median;
    use super::*;
    use crate::models::Architecture;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn a_tiny_run_measures_every_variant() {
        let config = BenchConfig {
            repeats: 1,
            warmup: 0,
            batch: 4,
            op_shapes: vec![[2, 3, 4, 4]],
            models: vec![Architecture::SimpleCnn],
            ..BenchConfig::default()
        };
        let report = run(&config, &crate::progress::Silent).unwrap();
        assert_eq!(report.ops.len(), 4);
        // Every variant on both paths, Flex first; the fast rows know their speed-up.
        assert_eq!(report.steps.len(), 8);
        assert!(
            report.steps[..4]
                .iter()
                .all(|r| r.path == Path::Flex && r.speedup_vs_flex.is_none())
        );
        assert!(
            report.steps[4..]
                .iter()
                .all(|r| r.path == Path::Fast && r.speedup_vs_flex.is_some_and(|s| s > 0.0))
        );
        assert!(
            report
                .ops
                .iter()
                .all(|r| r.forward_ms > 0.0 && r.forward_backward_ms > 0.0)
        );
        assert!((report.steps[0].vs_relu - 1.0).abs() < 1e-12);
        assert!(report.copy_gbps > 0.0);
        assert!(report.markdown().contains("frelu (fused)"));
        // ReLU, FReLU and the ten peers, each timed.
        assert_eq!(report.peers.len(), 12);
        let variants: Vec<&str> = report
            .inference
            .iter()
            .map(|r| r.variant.as_str())
            .collect();
        assert_eq!(
            variants[..4],
            ["relu", "frelu", "relu folded", "frelu folded"]
        );
        assert_eq!(variants[4..], variants[..4]);
        assert!(report.inference.iter().all(|r| r.ms > 0.0));
        assert!(report.peers.iter().all(|r| r.step_ms > 0.0));
        assert_eq!(report.peers[0].vs_relu, 1.0);
        assert!(report.markdown().contains("| pwlu:16 |"));
    }
}
