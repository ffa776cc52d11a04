//! `frelu export RUN`: a trained run's network as ONNX or safetensors.

use std::path::PathBuf;

use clap::Args;
use frelu_vision::tasks::classify::export::{Format, export_run};

/// Options of `frelu export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// A finished run of `frelu train`.
    run: PathBuf,
    /// `onnx` (opset 13; batch norm folded, FReLU at PReLU cost) or `safetensors` (Burn's
    /// parameter names, for burn-store).
    #[arg(long, default_value = "onnx")]
    format: Format,
    /// The file to write [RUN/model.onnx or RUN/model.safetensors].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `frelu export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let file = export_run(&args.run, args.format, args.out.as_deref())?;
    say!("wrote {}", file.display());
    Ok(())
}
