//! The small commands: `frelu params` (a model's parameter count) and `frelu make-imagefolder`
//! (a generated image folder to try the loaders on).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use frelu::ActivationConfig;
use frelu_vision::models::Architecture;

/// Options of `frelu params`.
#[derive(Args, Debug, Clone)]
pub struct ParamsArgs {
    /// Model name (as for `frelu train`).
    #[arg(long)]
    model: Architecture,
    /// Activation.
    #[arg(long, default_value = "relu")]
    act: ActivationConfig,
    /// Number of classes.
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// Input channels.
    #[arg(long, default_value_t = 3)]
    in_channels: usize,
    /// MobileNet width multiplier.
    #[arg(long, default_value_t = 1.0)]
    width: f64,
}

/// Options of `frelu make-imagefolder`.
#[derive(Args, Debug, Clone)]
pub struct MakeFolderArgs {
    /// Output folder (gets train/ and val/).
    #[arg(long)]
    out: PathBuf,
    /// Number of classes.
    #[arg(long, default_value_t = 4)]
    classes: usize,
    /// Images per class and split.
    #[arg(long, default_value_t = 32)]
    per_class: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 48)]
    size: u32,
    /// Also write one corrupt file into train/ (to see it skipped and reported).
    #[arg(long)]
    corrupt: bool,
}

pub fn run_params(args: &ParamsArgs) -> anyhow::Result<()> {
    use burn::tensor::Device;
    use frelu_vision::models::{ModelConfig, trainable_params};
    anyhow::ensure!(args.width > 0.0, "--width must be positive");
    let build = |act: &ActivationConfig| {
        let config = ModelConfig {
            width: args.width,
            ..ModelConfig::new(args.model, args.in_channels, args.classes, act.clone())
        };
        anyhow::Ok(trainable_params(&config.init(&Device::flex())?))
    };
    let total = build(&args.act)?;
    let relu = build(&ActivationConfig::Relu)?;
    say!(
        "{} with {} and {} classes: {total} trainable parameters ({} added by the activation over ReLU)",
        args.model,
        args.act,
        args.classes,
        total - relu
    );
    Ok(())
}

pub fn run_make_folder(args: &MakeFolderArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.classes >= 1 && args.per_class >= 1 && args.size >= 8,
        "need at least one class and image, of at least 8 pixels"
    );
    frelu_vision::data::synth::write_synthetic(
        &args.out,
        args.classes,
        args.per_class,
        args.size,
        args.corrupt,
    )
    .with_context(|| format!("cannot write into {}", args.out.display()))?;
    say!(
        "wrote {} classes × {} images into {}/train and {}/val",
        args.classes,
        args.per_class,
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
