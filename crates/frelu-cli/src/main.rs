//! `frelu`: train, compare and analyse networks with FReLU and its rivals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use frelu::ActivationConfig;
use frelu::schedule::{LrShape, Schedule, ScheduleConfig, Warmup};
use frelu_vision::data::Augment;
use frelu_vision::fsio::write_json;
use frelu_vision::models::Architecture;
use frelu_vision::models::resnet::ShortcutKind;
use frelu_vision::runs::folder::Start;
use frelu_vision::tasks::classify::{self, DatasetKind, RunOptions, TrainConfig};

#[macro_use]
mod output;

mod action;
mod demo;
mod detect;
mod evaluate;
mod export;
mod import;
mod predict;
mod terminal;
mod utilities;
mod workers;

use terminal::Terminal;

#[derive(Parser)]
#[command(
    name = "frelu",
    version,
    about = "FReLU, the fully parametric ReLU, in Rust with Burn",
    long_about = "Train, compare and analyse CNNs whose activations learn two slopes per \
                  channel (FReLU, Varshney & Singh 2021), against ReLU and its variants."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Train one image classifier.
    Train(TrainArgs),
    /// ReLU vs FReLU on Fashion-MNIST in a few minutes on a laptop CPU.
    Demo(demo::DemoArgs),
    /// What FReLU costs next to ReLU: the op alone and whole training steps.
    Bench(BenchArgs),
    /// A resumable grid of activations × schedules × seeds, aggregated with statistics and plots.
    Compare(CompareArgs),
    /// Where every run of a grid stands: new, running (host, pid, epoch, ETA), finished,
    /// failed, stale.
    Status(workers::StatusArgs),
    /// Copy a grid's records (settings, per-epoch metrics, learned parameters, summaries; no
    /// weights or checkpoints) to a folder that is kept, docs/runs/GRID by default; the grid
    /// continues from them in another checkout.
    Records(workers::RecordsArgs),
    /// Per-layer statistics and plots of the slopes a run learned.
    Analyze(AnalyzeArgs),
    /// A trained run's network as ONNX (batch norm folded, FReLU at PReLU cost) or safetensors.
    Export(export::ExportArgs),
    /// The classes a trained run gives image files (PNG/JPEG files or folders).
    Predict(predict::PredictArgs),
    /// A classification run's test accuracy, loss and confusion matrix (on its own data or
    /// `--data`).
    Eval(evaluate::EvalArgs),
    /// A network trained elsewhere (PyTorch weights) as a run folder, for predict, eval,
    /// export and analyze.
    Import(import::ImportArgs),
    /// Parameter count of a model, and what its activation adds.
    Params(utilities::ParamsArgs),
    /// Write a small generated ImageNet-style folder (for trying --dataset imagefolder).
    MakeImagefolder(utilities::MakeFolderArgs),
    /// Object detection: make-data, train, eval, predict, compare.
    #[command(subcommand)]
    Detect(detect::DetectCommand),
    /// Action recognition in video: make-data, train, compare.
    #[command(subcommand)]
    Action(action::ActionCommand),
}

/// Options of `frelu compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Protocol: a built-in name or a .toml/.json protocol file.
    #[arg(long, default_value = "quick", help = protocol_help())]
    protocol: String,
    /// Output folder (default results/PROTOCOL). Rerunning resumes it; finished runs with other
    /// settings are refused, naming the setting.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Dataset folder, overriding the protocol's.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Device, overriding the protocol's (flex, wgpu, cuda[:N]).
    #[arg(long)]
    device: Option<String>,
    /// Seeds, overriding the protocol's (e.g. `--seeds 0` to run the seeds whose starting
    /// networks are ready; more seeds later extend the same grid).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// The network every run starts from, overriding the protocol's (`trained-slopes`: the
    /// converged ReLU runs); `{seed}` is replaced by the run's seed.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// The configuration the others are compared with, paired by seed (default: the
    /// protocol's, `relu`); with --aggregate-only, re-tabulates the finished runs against it.
    #[arg(long)]
    reference: Option<String>,
    /// Only rebuild summary.* and plots from the finished runs.
    #[arg(long)]
    aggregate_only: bool,
    #[command(flatten)]
    worker: workers::WorkerArgs,
    /// No per-run progress bars (the grid's progress lines stay).
    #[arg(long, short)]
    quiet: bool,
}

/// Options of `frelu analyze`.
#[derive(Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// A run folder written by `frelu train` (or one of `frelu compare`'s runs).
    run: PathBuf,
}

fn run_compare(args: &CompareArgs) -> anyhow::Result<()> {
    use frelu_vision::tasks::classify::grid;
    use frelu_vision::tasks::classify::protocol::Protocol;
    let mut protocol = Protocol::load(&args.protocol)?;
    if let Some(data) = &args.data {
        protocol.base.data_dir = Some(data.clone());
    }
    if let Some(device) = &args.device {
        protocol.base.device = device.clone();
    }
    if let Some(seeds) = &args.seeds {
        protocol.seeds = seeds.clone();
    }
    if let Some(from) = &args.init_from {
        protocol.base.init_from = Some(from.clone());
    }
    if let Some(margin) = args.worker.margin {
        protocol.margin = Some(margin);
    }
    if let Some(reference) = &args.reference {
        protocol.reference = Some(reference.clone());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&protocol.name));
    if args.aggregate_only {
        let overrides = (args.reference.as_deref(), args.worker.margin);
        let comparison = grid::aggregate(&out, overrides, &*Terminal::log())?;
        say!("{}", comparison.markdown());
    } else if !args.worker.listed(&protocol.grid_spec()) {
        let worker = args.worker.worker()?;
        let runs = Terminal::new(args.quiet);
        let outcome = grid::run_grid(&protocol, &out, runs, &worker, &*Terminal::log())?;
        workers::print_outcome(outcome, &out);
    }
    Ok(())
}

fn run_analyze(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let analysis = frelu_vision::analysis::analyze::analyze(&args.run)?;
    say!("{}", analysis.markdown());
    say!(
        "plots and analysis.{{md,json}}: {}",
        args.run
            .join(frelu_vision::run_files::ANALYSIS_DIR)
            .display()
    );
    Ok(())
}

/// Options of `frelu bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Device: flex (CPU), wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
    /// Timed repeats per measurement.
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// Untimed warm-up repeats.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Batch size of the training-step benchmark.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Only the op benchmark.
    #[arg(long)]
    ops_only: bool,
    /// Shapes of the op benchmark, `NxCxHxW`, comma-separated; `none` skips it.
    #[arg(long, value_delimiter = ',', default_value = "128x64x28x28,256x256x14x14", value_parser = parse_op_shape)]
    op_shapes: Vec<Option<[usize; 4]>>,
    /// Skip the training-step timing of FReLU's learnable peers (PELU, APL, PAU, ...).
    #[arg(long)]
    no_peers: bool,
    /// Models of the step benchmark (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "simple-cnn,resnet20,mobilenet_v1_cifar"
    )]
    models: Vec<Architecture>,
    /// Width multiplier α of the MobileNets benched.
    #[arg(long, default_value_t = frelu_vision::bench::DEFAULT_MOBILENET_WIDTH)]
    mobilenet_width: f64,
    /// Paths to time, comma-separated: `flex` (Flex's own ops, the fast path off), `fast` (the
    /// CPU fast path, frelu::fastpath, its convolutions on oneDNN where libdnnl2 is installed)
    /// and `fast-rust` (the fast path on its Rust kernels only). Anywhere else,
    /// `FRELU_FAST_PATH=0` turns the fast path off and `FRELU_ONEDNN=0` keeps oneDNN out.
    #[arg(long, value_delimiter = ',', default_value = "flex,fast")]
    paths: Vec<frelu_vision::bench::Path>,
    /// A report of `scripts/pytorch_step.py` (PyTorch on the same networks, batch and thread
    /// count): printed beside the step times, with the ratio.
    #[arg(long)]
    pytorch: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
}

/// `NxCxHxW` → a shape; `none` → no shape.
fn parse_op_shape(text: &str) -> Result<Option<[usize; 4]>, String> {
    if text.trim() == "none" {
        return Ok(None);
    }
    let dims: Vec<usize> = text
        .split('x')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{text:?} is not a shape NxCxHxW of positive sizes (or `none`)"))?;
    let shape: [usize; 4] = dims
        .try_into()
        .map_err(|_| format!("{text:?}: a shape has four sizes, NxCxHxW"))?;
    Ok(Some(shape))
}

fn run_bench(args: &BenchArgs) -> anyhow::Result<()> {
    use frelu_vision::bench;
    let config = bench::BenchConfig {
        device: args.device.clone(),
        repeats: args.repeats.max(1),
        warmup: args.warmup,
        batch: args.batch.max(1),
        ops_only: args.ops_only,
        op_shapes: args.op_shapes.iter().flatten().copied().collect(),
        models: args.models.clone(),
        peers: !args.no_peers,
        paths: args.paths.clone(),
        mobilenet_width: args.mobilenet_width,
        pytorch: args.pytorch.clone(),
    };
    let report = bench::run(&config, &*Terminal::log())?;
    say!("{}", report.markdown());
    write_json(&args.out, &report)?;
    say!("JSON report: {}", args.out.display());
    Ok(())
}

/// The library's defaults: the one source of every default below.
fn defaults() -> TrainConfig {
    TrainConfig::default()
}

fn protocol_help() -> String {
    use frelu_vision::tasks::classify::protocol::Protocol;
    format!(
        "Protocol: {} (quick: Fashion-MNIST, simple-cnn, 2 epochs, 3 seeds; paper: CIFAR-10, \
         ResNet-20, 30 epochs, 5 seeds; cifar100), or a .toml/.json protocol file",
        Protocol::NAMES.join(", ")
    )
}

/// What to do with an output folder that already holds a run.
#[derive(Args, Debug, Clone, Default)]
pub struct StartArgs {
    /// Continue the run in --out from its last complete checkpoint (model, optimisers, learning
    /// rate and slope schedule, data order); the settings must be the run's.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Delete the run in --out (its files only) and start again.
    #[arg(long)]
    overwrite: bool,
}

impl StartArgs {
    /// The run-folder mode these flags ask for.
    pub fn start(&self) -> Start {
        match (self.resume, self.overwrite) {
            (true, _) => Start::Resume,
            (_, true) => Start::Overwrite,
            _ => Start::Fresh,
        }
    }
}

/// Options of `frelu train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[arg(long, default_value_t = defaults().dataset,
          help = format!("Dataset: {}", DatasetKind::names()))]
    dataset: DatasetKind,
    /// Folder holding the dataset (else $FRELU_DATA, the Debian package, or the bundled subset).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value_t = defaults().model,
          help = format!("Model: {}", Architecture::names()))]
    model: Architecture,
    #[arg(long, default_value_t = defaults().activation,
          help = format!("Activation: {} (options: shared, composed, pos=, neg=)",
                         frelu::activation::activation_names()))]
    act: ActivationConfig,
    #[arg(long, default_value_t = defaults().schedule.schedule,
          help = format!("Slope schedule: {} (UNIT = iter | epoch)", Schedule::SYNTAX.join(", ")))]
    schedule: Schedule,
    /// Weights-only warm-up before the schedule: N or N:UNIT (e.g. 1:epoch, 200:iter).
    #[arg(long)]
    warmup: Option<Warmup>,
    /// Slope learning rate = this × the weights' learning rate.
    #[arg(long, default_value_t = defaults().schedule.slope_lr_mult)]
    slope_lr_mult: f64,
    /// Apply weight decay to the slopes too.
    #[arg(long)]
    slope_wd: bool,
    /// Weight decay of the activation parameters = this × --wd (overrides --slope-wd): a
    /// paper's recipe, e.g. MPELU's 10.
    #[arg(long)]
    slope_wd_mult: Option<f64>,
    /// The slopes learn only until N or N:UNIT (e.g. 2:epoch) and stay frozen after it.
    #[arg(long)]
    slopes_until: Option<Warmup>,
    /// Number of epochs.
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = defaults().batch_size)]
    batch: usize,
    /// Learning rate (SGD).
    #[arg(long, default_value_t = defaults().lr)]
    lr: f64,
    /// Learning-rate schedule: constant or cosine (annealed to 0 over the run).
    #[arg(long, default_value_t = defaults().lr_shape)]
    lr_schedule: LrShape,
    /// Linear learning-rate warm-up, in epochs (may be fractional).
    #[arg(long, default_value_t = defaults().lr_warmup_epochs)]
    lr_warmup: f64,
    /// SGD momentum (0 for none).
    #[arg(long, default_value_t = defaults().momentum)]
    momentum: f64,
    /// Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay of the weights.
    #[arg(long, default_value_t = defaults().weight_decay)]
    wd: f64,
    /// Seed (initialisation, shuffling, augmentation).
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Training augmentation: none, flip, crop[:PAD], crop[:PAD]+flip (default: the dataset's
    /// usual one — none for Fashion-MNIST, crop:4+flip for CIFAR).
    #[arg(long)]
    augment: Option<Augment>,
    /// Width multiplier α of mobilenet_v1 (0.25, 0.5, 0.75, 1.0).
    #[arg(long, default_value_t = defaults().width)]
    width: f64,
    /// Image side for --dataset imagefolder (RandomResizedCrop / centre crop size).
    #[arg(long, default_value_t = defaults().resolution)]
    resolution: usize,
    /// Data-parallel training on several devices, e.g. cuda:0,cuda:1 (burn-train's
    /// multi-device strategy; see --ddp).
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// With --devices: burn-train's distributed data parallel strategy (all-reduce of the
    /// gradients) instead of gathering them on the first device.
    #[arg(long)]
    ddp: bool,
    /// ResNet shortcut option: A (zero-pad, the CIFAR paper's) or B (1×1 projection).
    #[arg(long, default_value_t = defaults().shortcut)]
    shortcut: ShortcutKind,
    /// Use only the first N training images.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Use only the first N test images.
    #[arg(long)]
    limit_test: Option<usize>,
    /// Data-loading worker threads.
    #[arg(long, default_value_t = defaults().workers)]
    workers: usize,
    /// Device: flex (CPU), wgpu, cuda[:N] (the last two need the cargo features).
    #[arg(long, default_value_t = defaults().device)]
    device: String,
    /// Do not write per-epoch checkpoints (a run without them cannot be resumed).
    #[arg(long)]
    no_checkpoints: bool,
    /// Stop when the training loss passes this many times its start (0 = never).
    #[arg(long, default_value_t = defaults().max_loss_growth)]
    max_loss_growth: f64,
    /// Start from weights: a run folder (of `frelu train` or `frelu import`), a Burn
    /// `model.bpk`, or PyTorch weights (`.pth`, `.pt`, `.safetensors`) in torchvision's ResNet /
    /// VGG-16-BN or timm's MobileNetV1 key layout. Activation parameters they lack start as
    /// ReLU, so ReLU → FReLU computes the same function at step 0.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// After each epoch, score the training set in evaluation mode too (`train_eval.csv`).
    #[arg(long)]
    eval_train: bool,
    /// Output folder (default runs/DATASET-MODEL-ACT-sSEED).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar or table.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    start: StartArgs,
}

impl TrainArgs {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            dataset: self.dataset,
            data_dir: self.data.clone(),
            model: self.model,
            shortcut: self.shortcut,
            width: self.width,
            resolution: self.resolution,
            activation: self.act.clone(),
            schedule: ScheduleConfig {
                schedule: self.schedule,
                warmup: self.warmup,
                slope_lr_mult: self.slope_lr_mult,
                slope_weight_decay: self.slope_wd,
                slope_wd_mult: self.slope_wd_mult,
                slopes_until: self.slopes_until,
            },
            epochs: self.epochs,
            batch_size: self.batch,
            lr: self.lr,
            lr_shape: self.lr_schedule,
            lr_warmup_epochs: self.lr_warmup,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.wd,
            seed: self.seed,
            workers: self.workers,
            augment: self.augment,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            device: self.device.clone(),
            devices: self.devices.clone(),
            ddp: self.ddp,
            checkpoints: !self.no_checkpoints,
            max_loss_growth: self.max_loss_growth,
            init_from: self.init_from.clone(),
            eval_train: self.eval_train,
        }
    }

    fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from("runs").join(frelu_vision::runs::run_name(
                &format!("{}-{}-{}", self.dataset, self.model, self.act),
                self.seed,
            ))
        })
    }
}

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.config();
    let out = args.out_dir();
    let options = RunOptions {
        reporter: Terminal::new(args.quiet),
        label: config.activation.name().to_string(),
        start: args.start.start(),
    };
    let summary = classify::train(&config, &out, &options)
        .with_context(|| format!("run in {}", out.display()))?;
    say!(
        "final test accuracy {:.2}% (best {:.2}%), {:.1} s/epoch; results in {}",
        summary.final_test_acc,
        summary.best_test_acc,
        summary.seconds_per_epoch,
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    unsafe { frelu::fastpath::shorten_openmp_spin() };
    let cli = Cli::parse();
    // Activation buffers are reused from step to step instead of faulted in afresh.
    frelu::fastpath::retain_freed_memory();
    if matches!(
        cli.command,
        Command::Train(_) | Command::Bench(_) | Command::Detect(_) | Command::Action(_)
    ) && frelu::fastpath::enabled()
    {
        // Said once, so that a machine without oneDNN knows what it runs.
        tell!(
            "CPU fast path: convolutions on {}",
            frelu::fastpath::engine()
        );
    }
    let result = match &cli.command {
        Command::Train(args) => run_train(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => run_bench(args),
        Command::Compare(args) => run_compare(args),
        Command::Status(args) => workers::run_status(args),
        Command::Records(args) => workers::run_records(args),
        Command::Analyze(args) => run_analyze(args),
        Command::Export(args) => export::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Eval(args) => evaluate::run(args),
        Command::Import(args) => import::run(args),
        Command::Params(args) => utilities::run_params(args),
        Command::MakeImagefolder(args) => utilities::run_make_folder(args),
        Command::Detect(command) => detect::run(command),
        Command::Action(command) => action::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match terminal::hint(&error) {
                Some(hint) => tell!("error: {error:#}; {hint}"),
                None => tell!("error: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("frelu").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_cli_defaults_are_the_library_defaults() {
        let Command::Train(args) = parse(&["train"]).command else {
            panic!("not train");
        };
        // Every setting a flag does not give is the library's default (checkpoints on).
        assert_eq!(args.config(), TrainConfig::default());
        assert_eq!(args.config().lr, 0.01);
        let Command::Train(args) = parse(&["train", "--lr", "0.2", "--act", "frelu"]).command
        else {
            panic!("not train");
        };
        assert_eq!(args.config().lr, 0.2);
        assert_eq!(
            args.out_dir(),
            PathBuf::from("runs/fashion-mnist-simple-cnn-frelu_neg_0-s0")
        );
    }

    #[test]
    fn an_io_failure_deep_in_a_loader_reaches_the_cli_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        // The training split's one image "file" is a folder: opening it succeeds, reading its
        // header fails (EISDIR) inside the COCO loader's image check, under the detection
        // task's start-up.
        std::fs::create_dir_all(dir.path().join("annotations")).unwrap();
        std::fs::write(
            dir.path().join("annotations/instances_train.json"),
            r#"{"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                "annotations": [], "categories": [{"id": 1, "name": "x"}]}"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("train/a.png")).unwrap();
        // The run folder beside the data, not inside it (that is refused before any loading).
        let outer = tempfile::tempdir().unwrap();
        let out = outer.path().join("run");
        let (data, out_arg) = (dir.path().to_str().unwrap(), out.to_str().unwrap());
        let cli = parse(&["detect", "train", "--data", data, "--out", out_arg]);
        let Command::Detect(command) = cli.command else {
            panic!("not detect");
        };
        let error = detect::run(&command).unwrap_err();
        let causes: Vec<String> = error.chain().map(|e| e.to_string()).collect();
        let last = error.chain().last().unwrap();
        let os = last
            .downcast_ref::<std::io::Error>()
            .unwrap_or_else(|| panic!("the last cause is not the OS error: {causes:?}"));
        assert!(os.raw_os_error().is_some(), "{causes:?}");
        assert!(causes.len() >= 2, "{causes:?}");
        assert!(causes[0].contains("a.png"), "{causes:?}");
        // What the user reads: the file, then the OS's reason, once.
        let printed = format!("{error:#}");
        assert_eq!(printed.matches("os error").count(), 1, "{printed}");
        assert!(!out.exists(), "a run that cannot start leaves no folder");
    }

    #[test]
    fn help_lists_come_from_the_registries() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        let train = command.find_subcommand_mut("train").unwrap();
        let help = train.render_long_help().to_string();
        for arch in Architecture::ALL {
            assert!(
                help.contains(&arch.to_string()),
                "{arch} missing from train --help"
            );
        }
        for dataset in DatasetKind::ALL {
            assert!(help.contains(&dataset.to_string()), "{dataset} missing");
        }
        assert!(help.contains(&frelu::activation::activation_names()));
    }
}
