//! `frelu analyze`: what a run's activations learned, from its slopes and its learnable
//! activations' parameters together (statistics, Markdown, plots into `RUN/analysis/`).

use std::path::{Path, PathBuf};

use frelu::slopes::LayerSlopes;
use serde::{Deserialize, Serialize};

use super::learned;
use super::plots;
use super::slopes::{LayerStats, Summary, layer_stats, read_history};
use crate::error::Context;

/// Everything `frelu analyze` reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    /// The run folder.
    pub run: PathBuf,
    /// Per-layer statistics of the FReLU-family slopes.
    pub layers: Vec<LayerStats>,
    /// Per-layer statistics of every learnable activation's parameters (any kind).
    #[serde(default)]
    pub learned: Vec<learned::LayerParamStats>,
    /// Plots written.
    pub plots: Vec<PathBuf>,
}

impl Analysis {
    /// The statistics as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if !self.layers.is_empty() {
            out.push_str(&self.slope_markdown());
        }
        if !self.learned.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&learned::markdown(&self.learned));
        }
        out
    }

    /// The FReLU-family slope statistics as a Markdown table.
    fn slope_markdown(&self) -> String {
        let fmt = |s: &Option<Summary>| match s {
            Some(s) => format!("{:.3} ± {:.3} [{:.3}, {:.3}]", s.mean, s.std, s.min, s.max),
            None => "fixed".into(),
        };
        let mut out = String::from(
            "| layer | channels | pos: mean ± std [min, max] | neg: mean ± std [min, max] | neg < 0 | pos < 1 | linear | dead |\n\
             |---|---:|---|---|---:|---:|---:|---:|\n",
        );
        for l in &self.layers {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} % | {:.0} % | {:.0} % | {:.0} % |\n",
                l.path,
                l.channels,
                fmt(&l.pos),
                fmt(&l.neg),
                100.0 * l.share_neg_below_zero,
                100.0 * l.share_pos_below_one,
                100.0 * l.share_nearly_linear,
                100.0 * l.share_nearly_dead,
            ));
        }
        out.push_str(
            "\nstd over the layer's channels (population); linear: |pos − neg| < 0.1; \
             dead: pos < 0.05; \"fixed\": the slope is not learned.\n",
        );
        out
    }
}

/// Analyses a run folder (written by `frelu train` or `frelu compare`): reads `slopes.json`,
/// writes `analysis.md`, `analysis.json` and the slope plots into `RUN/analysis/`.
pub fn analyze(run: &Path) -> crate::Result<Analysis> {
    let path = run.join(crate::run_files::SLOPES);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a finished run of `frelu train`?)",
            path.display(),
            run.display()
        )
    })?;
    let layers: Vec<LayerSlopes> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a slopes file", path.display()))?;
    let learned = learned::read(run)?;
    crate::error::ensure!(
        !layers.is_empty() || learned.is_some(),
        "{} has no learned activation parameters: the run's activation learns nothing \
         (relu, gelu, rrelu, ...)",
        run.display()
    );
    let out = run.join(crate::run_files::ANALYSIS_DIR);
    crate::fsio::create_dir(&out)?;
    let mut plot_files = Vec::new();
    if !layers.is_empty() {
        plot_files.extend(slope_plots(&out, run, &layers)?);
    }
    let learned_stats = match &learned {
        Some(learned) => {
            plot_files.extend(learned::curve_plot(&out.join("learned_curves"), learned)?);
            learned::stats(learned)
        }
        None => Vec::new(),
    };
    let analysis = Analysis {
        run: run.to_path_buf(),
        layers: layers.iter().map(layer_stats).collect(),
        learned: learned_stats,
        plots: plot_files,
    };
    crate::fsio::write_text(&out.join("analysis.md"), &analysis.markdown())?;
    crate::fsio::write_json(&out.join("analysis.json"), &analysis)?;
    Ok(analysis)
}

/// The FReLU-family plots of a run's slopes, written into `out`.
fn slope_plots(out: &Path, run: &Path, layers: &[LayerSlopes]) -> crate::Result<Vec<PathBuf>> {
    let mut plot_files = Vec::new();
    plot_files.extend(plots::slope_scatter(
        &out.join("slopes_pos_vs_neg"),
        layers,
    )?);
    plot_files.extend(plots::slope_distributions(
        &out.join("slope_distributions"),
        layers,
    )?);
    plot_files.extend(plots::activation_curves(
        &out.join("activation_curves"),
        layers,
    )?);
    let history = read_history(run)?;
    if history.len() > 1 {
        plot_files.extend(plots::slope_trajectories(
            &out.join("slope_trajectories"),
            &history,
        )?);
    }
    Ok(plot_files)
}
