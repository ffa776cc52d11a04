//! `frelu bench`'s report as Markdown tables.

use super::config::BenchReport;

impl BenchReport {
    /// The report as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Machine: {} logical CPUs, measured copy bandwidth {:.1} GB/s; device {}; fast-path \
             convolutions on {}.\n\n",
            self.cpus, self.copy_gbps, self.config.device, self.engine
        ));
        out.push_str(
            "| op shape | activation | forward ms | fwd GB/s | fwd+bwd ms | fwd+bwd vs ReLU |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|\n");
        for r in &self.ops {
            out.push_str(&format!(
                "| {:?} | {} | {:.2} | {:.1} | {:.2} | {:.2}× |\n",
                r.shape,
                r.variant.name(),
                r.forward_ms,
                r.forward_gbps,
                r.forward_backward_ms,
                r.forward_backward_vs_relu
            ));
        }
        if !self.steps.is_empty() {
            out.push_str(&self.steps_table());
        }
        if !self.inference.is_empty() {
            out.push_str(&format!(
                "\n| inference (batch {}) | path | ms | vs ReLU |\n|---|---|---:|---:|\n",
                self.config.batch
            ));
            for r in &self.inference {
                out.push_str(&format!(
                    "| {} {} | {} | {:.1} | {:.3}× |\n",
                    r.model,
                    r.variant,
                    r.path.name(),
                    r.ms,
                    r.vs_relu
                ));
            }
        }
        if !self.peers.is_empty() {
            out.push_str(&format!(
                "\n| simple-cnn (batch {}) | ms/step | vs ReLU |\n|---|---:|---:|\n",
                self.config.batch
            ));
            for r in &self.peers {
                out.push_str(&format!(
                    "| {} | {:.1} | {:.3}× |\n",
                    r.activation, r.step_ms, r.vs_relu
                ));
            }
        }
        out
    }

    /// The training-step table: every model, path and variant, with the fast path's speed-up
    /// over Flex and, when a PyTorch report was given, PyTorch's time and the ratio.
    fn steps_table(&self) -> String {
        let mut out = format!(
            "\n| model (batch {}) | path | activation | ms/step | images/s | vs ReLU | speed-up vs flex | PyTorch ms | PyTorch ms / ms |\n",
            self.config.batch
        );
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        for r in &self.steps {
            out.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.0} | {:.3}× | {} | {} | {} |\n",
                r.model,
                r.path.name(),
                r.variant.name(),
                r.step_ms,
                r.images_per_sec,
                r.vs_relu,
                or_dash(r.speedup_vs_flex.map(|s| format!("{s:.2}×"))),
                or_dash(r.pytorch_ms.map(|t| format!("{t:.1}"))),
                or_dash(r.vs_pytorch().map(|s| format!("{s:.2}×"))),
            ));
        }
        if let Some(reference) = &self.pytorch {
            out.push_str(&format!("\nReference: {reference}, same networks, batch and optimiser (`scripts/pytorch_step.py`).\n"));
        }
        out
    }
}
