//! The outside reference: a report of `scripts/pytorch_step.py`, which times the same networks
//! in PyTorch (same layers, batch, optimiser and thread count), read and matched to the rows of
//! the training-step benchmark. PyTorch is never a dependency: only its JSON is read.

use std::path::Path as FilePath;

use serde::Deserialize;

use super::config::{BenchConfig, StepResult, Variant};

/// The parts of the script's report that are read.
#[derive(Debug, Deserialize)]
struct Report {
    torch_version: String,
    threads: usize,
    batch: usize,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    model: String,
    activation: String,
    step_ms: f64,
    #[serde(default)]
    width: Option<f64>,
}

/// Fills `pytorch_ms` of every row that the report at `path` has a step for (same model, the
/// same activation, MobileNet at the same width), and returns how the report describes
/// PyTorch. A report made with another batch size is refused.
pub fn attach(
    path: &FilePath,
    config: &BenchConfig,
    steps: &mut [StepResult],
) -> crate::Result<String> {
    let invalid =
        |why: String| crate::Error::Invalid(format!("PyTorch report {}: {why}", path.display()));
    let text =
        std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let report: Report = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("not a report of scripts/pytorch_step.py: {e}")))?;
    if report.batch != config.batch {
        return Err(invalid(format!(
            "made with batch {}, this benchmark uses batch {}; run the script with --batch {}",
            report.batch, config.batch, config.batch
        )));
    }
    for row in steps.iter_mut() {
        let activation = match row.variant {
            Variant::Relu => "relu",
            Variant::PRelu => "prelu",
            _ => continue,
        };
        row.pytorch_ms = report
            .steps
            .iter()
            .find(|s| {
                s.model == row.model
                    && s.activation == activation
                    && s.width
                        .is_none_or(|w| (w - config.mobilenet_width).abs() < 1e-9)
            })
            .map(|s| s.step_ms);
    }
    Ok(format!(
        "PyTorch {} ({} threads)",
        report.torch_version, report.threads
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::config::Path;

    fn row(model: &str, variant: Variant, step_ms: f64) -> StepResult {
        StepResult {
            model: model.into(),
            path: Path::Fast,
            variant,
            step_ms,
            images_per_sec: 0.0,
            vs_relu: 1.0,
            speedup_vs_flex: None,
            pytorch_ms: None,
        }
    }

    #[test]
    fn matches_rows_by_model_activation_and_width_and_refuses_another_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("torch.json");
        std::fs::write(
            &path,
            r#"{"torch_version": "2.x", "threads": 2, "batch": 128, "steps": [
                {"model": "simple-cnn", "activation": "relu", "step_ms": 50.0},
                {"model": "mobilenet_v1_cifar", "activation": "relu", "step_ms": 80.0, "width": 1.0}
            ]}"#,
        )
        .unwrap();
        let config = BenchConfig::default();
        let mut steps = vec![
            row("simple-cnn", Variant::Relu, 100.0),
            row("simple-cnn", Variant::FReluFused, 100.0),
            row("mobilenet_v1_cifar", Variant::Relu, 100.0),
        ];
        let described = attach(&path, &config, &mut steps).unwrap();
        assert_eq!(described, "PyTorch 2.x (2 threads)");
        assert_eq!(steps[0].vs_pytorch(), Some(0.5));
        assert_eq!(steps[1].pytorch_ms, None);
        // The report's MobileNet has another width than the benchmark's 0.5.
        assert_eq!(steps[2].pytorch_ms, None);

        let other = BenchConfig {
            batch: 64,
            ..BenchConfig::default()
        };
        let err = attach(&path, &other, &mut steps).unwrap_err().to_string();
        assert!(err.contains("--batch 64"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(attach(&path, &config, &mut steps).is_err());
    }
}
