//! `frelu eval RUN`: a classification run's test accuracy, loss and confusion matrix.

use std::path::PathBuf;

use clap::Args;
use frelu_vision::tasks::classify::evaluate::evaluate;

/// Options of `frelu eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// A run folder of `frelu train` (model, settings and preprocessing are read from it).
    run: PathBuf,
    /// The dataset folder to evaluate on (the run's dataset kind; default: the run's own data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
    /// Print JSON (with the whole confusion matrix) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `frelu eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.limit != Some(0), "--limit must be at least 1");
    let evaluation = evaluate(&args.run, args.data.as_deref(), args.limit)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        say!("{}", evaluation.markdown().trim_end());
    }
    Ok(())
}
