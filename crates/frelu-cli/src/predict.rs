//! `frelu predict RUN IMAGE...`: the classes a trained run gives image files.

use std::path::PathBuf;

use clap::Args;
use frelu_vision::device::parse_device;
use frelu_vision::tasks::classify::predict::{markdown, predict};

/// Options of `frelu predict`.
#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// A finished run of `frelu train` (its folder: model, settings and preprocessing are read
    /// from it).
    run: PathBuf,
    /// Image files (PNG, JPEG) or folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// How many classes to show per image, most probable first.
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Device: flex (CPU), wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
}

/// Runs `frelu predict`.
pub fn run(args: &PredictArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.top_k >= 1, "--top-k must be at least 1");
    let device = parse_device(&args.device)?;
    let predictions = predict(&args.run, &args.images, args.top_k, &device)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&predictions)?);
    } else {
        say!("{}", markdown(&predictions).trim_end());
    }
    Ok(())
}
