//! `frelu export RUN`: a trained run's network as ONNX (for any runtime) or safetensors (for
//! Burn, through burn-store).

use std::path::{Path, PathBuf};

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use super::predict::Predictor;

/// What `frelu export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX, opset [`crate::export::onnx::OPSET`], batch norm and FReLU's positive slopes folded.
    Onnx,
    /// safetensors with Burn's parameter names, for `burn-store`.
    Safetensors,
}

impl std::str::FromStr for Format {
    type Err = crate::data::ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "onnx" => Ok(Self::Onnx),
            "safetensors" => Ok(Self::Safetensors),
            other => Err(crate::data::ParseError(format!(
                "unknown format '{other}'; known: onnx, safetensors"
            ))),
        }
    }
}

/// Writes the network of the finished run `run` as `format` into `out` (default
/// `RUN/model.onnx` or `RUN/model.safetensors`); returns the file written.
pub fn export_run(run: &Path, format: Format, out: Option<&Path>) -> crate::Result<PathBuf> {
    let file = match (out, format) {
        (Some(out), _) => out.to_path_buf(),
        (None, Format::Onnx) => run.join("model.onnx"),
        (None, Format::Safetensors) => run.join("model.safetensors"),
    };
    crate::runs::folder::check_not_a_run_file(&file)?;
    let predictor = Predictor::load(run, &Device::flex())?;
    let p = &predictor.preprocess;
    match format {
        Format::Onnx => {
            let bytes =
                crate::export::onnx::export(&predictor.net, [p.channels, p.height, p.width])
                    .map_err(|e| crate::Error::Invalid(format!("{}: {e}", run.display())))?;
            std::fs::write(&file, bytes).map_err(|e| crate::Error::file("write", &file, e))?;
        }
        Format::Safetensors => {
            let mut store = SafetensorsStore::from_file(&file);
            predictor.net.save_into(&mut store).map_err(|e| {
                crate::Error::Invalid(format!("cannot write {}: {e}", file.display()))
            })?;
        }
    }
    Ok(file)
}
