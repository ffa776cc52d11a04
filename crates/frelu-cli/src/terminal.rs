//! What the library reports, on the terminal: lines on stdout (or stderr for a command's
//! progress log), warnings on stderr, and `indicatif` progress bars on stderr; and the flags
//! that get a user out of a refused run folder.

use std::sync::Arc;

use frelu_vision::Error;
use frelu_vision::error::RunError;
use frelu_vision::progress::{Bar, Reporter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The terminal as a [`Reporter`].
pub struct Terminal {
    quiet: bool,
    to_stderr: bool,
    bars: MultiProgress,
}

impl Terminal {
    fn make(quiet: bool, to_stderr: bool) -> Arc<Self> {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        Arc::new(Self {
            quiet,
            to_stderr,
            bars,
        })
    }

    /// A run's reporter: its lines on stdout with progress bars, or only warnings if `quiet`.
    pub fn new(quiet: bool) -> Arc<Self> {
        Self::make(quiet, false)
    }

    /// A command's progress log (a grid's runs, a benchmark's steps): lines on stderr, so that
    /// stdout keeps only the result.
    pub fn log() -> Arc<Self> {
        Self::make(false, true)
    }
}

impl Reporter for Terminal {
    fn info(&self, line: &str) {
        if self.quiet {
            return;
        }
        self.bars.suspend(|| {
            if self.to_stderr {
                tell!("{line}");
            } else {
                say!("{line}");
            }
        });
    }

    fn warn(&self, line: &str) {
        self.bars.suspend(|| tell!("warning: {line}"));
    }

    fn bar(&self, label: &str, total: u64) -> Option<Box<dyn Bar>> {
        if self.quiet {
            return None;
        }
        let bar = self.bars.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:28.cyan/blue} {pos:>6}/{len:6} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Some(Box::new(TerminalBar(bar)))
    }
}

/// An `indicatif` bar, cleared when dropped.
struct TerminalBar(ProgressBar);

impl Bar for TerminalBar {
    fn set_position(&self, done: u64) {
        self.0.set_position(done);
    }

    fn set_message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}

impl Drop for TerminalBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// What a user of this tool does about a refused run folder, in its flags.
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let run = error
        .chain()
        .find_map(|e| match e.downcast_ref::<Error>() {
            Some(Error::Run(run)) => Some(run),
            _ => e.downcast_ref::<RunError>(),
        })?;
    match run {
        RunError::Occupied(_) => Some(
            "add --resume to continue it from its last checkpoint, or --overwrite to delete it \
             and start again (or choose another --out)",
        ),
        RunError::Inconsistent { .. } => Some("use --overwrite to start again"),
        RunError::OtherSettings { .. } => {
            Some("use another --out, or delete that run folder to train it again")
        }
        RunError::OtherGrid { .. } => Some("use another --out for this grid"),
        RunError::Busy { .. } => Some("wait for it to finish, or use another --out"),
        RunError::NothingToResume(_) | RunError::Finished(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_folders_get_the_flags_that_help() {
        let occupied = anyhow::Error::from(Error::from(RunError::Occupied("r".into())));
        let hint_text = hint(&occupied.context("run in r")).expect("a hint");
        assert!(hint_text.contains("--resume") && hint_text.contains("--overwrite"));
        let other = Error::from(RunError::OtherSettings {
            dir: "r".into(),
            difference: "lr: 0.1 → 0.2".into(),
        });
        assert!(hint(&other.into()).is_some_and(|h| h.contains("--out")));
        assert!(hint(&anyhow::anyhow!("something else")).is_none());
    }
}
