//! `frelu import WEIGHTS`: a network trained elsewhere as a run folder.

use std::path::PathBuf;

use clap::Args;
use frelu::ActivationConfig;
use frelu_vision::data::Normalize;
use frelu_vision::data::datasets::DatasetKind;
use frelu_vision::data::preprocess::{Fit, Preprocess};
use frelu_vision::models::Architecture;
use frelu_vision::runs::folder::Start;
use frelu_vision::tasks::classify::TrainConfig;
use frelu_vision::tasks::classify::import::{IMAGENET_MEAN, IMAGENET_STD, import};

/// Options of `frelu import`.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// PyTorch weights (`.pth`, `.pt` or `.safetensors`) in torchvision's ResNet / VGG-16-BN or
    /// timm's MobileNetV1 key layout.
    weights: PathBuf,
    /// The model the weights are for (`resnet18`, `resnet50`, `vgg16_bn`, `mobilenet_v1`, ...).
    #[arg(long)]
    model: Architecture,
    /// The activation of every place a ReLU was (FReLU starts as ReLU: pos 1, neg 0).
    #[arg(long, default_value = "relu")]
    act: ActivationConfig,
    /// Width multiplier of the model, as the weights were trained.
    #[arg(long, default_value_t = 1.0)]
    width: f64,
    /// Number of classes (another count than the file's leaves the classifier at its
    /// initialisation, and says so).
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// A text file of class names, one per line, in label order (default: 0, 1, 2, ...).
    #[arg(long)]
    class_names: Option<PathBuf>,
    /// Input channels.
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Input height and width.
    #[arg(long, default_value_t = 224)]
    image_size: usize,
    /// Per-channel mean of the normalisation, of pixels in [0, 1] (default: ImageNet's).
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation of the normalisation (default: ImageNet's).
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// The dataset `frelu eval` reads for this network by default, and its folder.
    #[arg(long, default_value = "imagefolder")]
    dataset: DatasetKind,
    /// Its folder.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run folder to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace the run in --out.
    #[arg(long)]
    overwrite: bool,
}

/// Runs `frelu import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.classes >= 1, "--classes must be at least 1");
    anyhow::ensure!(args.image_size >= 8, "--image-size must be at least 8");
    let classes: Vec<String> = match &args.class_names {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        None => (0..args.classes).map(|c| c.to_string()).collect(),
    };
    anyhow::ensure!(
        classes.len() == args.classes,
        "--class-names lists {} classes, --classes says {}",
        classes.len(),
        args.classes
    );
    let mean = args.mean.clone().unwrap_or_else(|| IMAGENET_MEAN.to_vec());
    let std = args.std.clone().unwrap_or_else(|| IMAGENET_STD.to_vec());
    anyhow::ensure!(
        mean.len() == std.len() && [1, args.channels].contains(&mean.len()),
        "--mean and --std need one value, or one per channel ({})",
        args.channels
    );
    anyhow::ensure!(std.iter().all(|&s| s > 0.0), "--std must be positive");
    let preprocess = Preprocess {
        channels: args.channels,
        height: args.image_size,
        width: args.image_size,
        normalize: Normalize::new(mean, std),
        fit: Fit::ResizeCenterCrop,
        classes,
    };
    let config = TrainConfig {
        dataset: args.dataset,
        data_dir: args.data.clone(),
        model: args.model,
        width: args.width,
        resolution: args.image_size,
        activation: args.act.clone(),
        ..TrainConfig::default()
    };
    let start = if args.overwrite {
        Start::Overwrite
    } else {
        Start::Fresh
    };
    let imported = import(&args.weights, &config, &preprocess, &args.out, start)?;
    say!(
        "imported {} tensors of {} into {} ({} with {})",
        imported.loaded,
        args.weights.display(),
        args.out.display(),
        args.model,
        args.act
    );
    if let Some((file, model)) = imported.head_reinitialised {
        tell!(
            "warning: the file's classifier has {file} classes and --classes {model}: the \
             classifier is left at its initialisation; fine-tune before predicting"
        );
    }
    Ok(())
}
