//! `frelu demo`: ReLU vs FReLU on Fashion-MNIST, small enough for a laptop CPU.

use std::path::PathBuf;

use clap::Args;
use frelu::ActivationConfig;
use frelu::schedule::{Schedule, ScheduleConfig};
use frelu_vision::runs::folder::Start;
use frelu_vision::tasks::classify::{self, RunOptions, TrainConfig};

/// Options of `frelu demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Training images (the first N of Fashion-MNIST's training set).
    #[arg(long, default_value_t = 10_000)]
    train_images: usize,
    /// Test images.
    #[arg(long, default_value_t = 2_000)]
    test_images: usize,
    /// Epochs per run.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder holding Fashion-MNIST (else $FRELU_DATA, the Debian package, or the bundled subset).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let runs = [
        ("relu", ActivationConfig::Relu, Schedule::Joint),
        (
            "frelu",
            ActivationConfig::frelu(),
            "alternate:4:1:iter".parse()?,
        ),
    ];
    say!(
        "FReLU demo: simple-cnn on Fashion-MNIST ({} train / {} test images, {} epochs each)\n",
        args.train_images,
        args.test_images,
        args.epochs
    );
    let mut rows = Vec::new();
    for (name, activation, schedule) in runs {
        let config = TrainConfig {
            data_dir: args.data.clone(),
            activation,
            schedule: ScheduleConfig::new(schedule),
            epochs: args.epochs,
            lr: 0.01,
            seed: args.seed,
            limit_train: Some(args.train_images),
            limit_test: Some(args.test_images),
            checkpoints: false,
            ..TrainConfig::default()
        };
        say!("== {name} ({schedule})");
        let summary = classify::train(
            &config,
            &args.out.join(name),
            &RunOptions {
                reporter: crate::terminal::Terminal::new(false),
                label: name.to_string(),
                // The demo's own folders: a rerun replaces them.
                start: Start::Overwrite,
            },
        )?;
        say!();
        rows.push((name, schedule, summary));
    }
    say!(
        "| {:<10} | {:<18} | {:>13} | {:>12} | {:>10} | {:>9} |",
        "activation",
        "schedule",
        "test acc (%)",
        "best acc (%)",
        "parameters",
        "s/epoch"
    );
    say!(
        "|{:-<12}|{:-<20}|{:->15}|{:->14}|{:->12}|{:->11}|",
        "",
        "",
        "",
        "",
        "",
        ""
    );
    for (name, schedule, s) in &rows {
        say!(
            "| {:<10} | {:<18} | {:>13.2} | {:>12.2} | {:>10} | {:>9.1} |",
            name,
            schedule.to_string(),
            s.final_test_acc,
            s.best_test_acc,
            s.params,
            s.seconds_per_epoch
        );
    }
    say!(
        "\nper-epoch metrics, models and slopes: {}",
        args.out.display()
    );
    Ok(())
}
