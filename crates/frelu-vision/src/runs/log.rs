//! One `experiment.log` per run, also when one process trains several runs (`frelu compare`,
//! `frelu demo`, the detection and action grids).
//!
//! burn-train installs its file logger as the process's global `tracing` subscriber, which can
//! be installed only once: every later run's log would go to the first run's file. Here the
//! subscriber is installed once and writes to whichever run started last.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use burn::train::ApplicationLoggerInstaller;
use tracing_core::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The file of the run that started last.
fn current() -> &'static Mutex<Option<File>> {
    static CURRENT: OnceLock<Mutex<Option<File>>> = OnceLock::new();
    CURRENT.get_or_init(|| Mutex::new(None))
}

/// Whether the global subscriber could be installed (once per process).
fn installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(CurrentRun)
            .with_filter(LevelFilter::INFO);
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .is_ok()
    })
}

/// Writes to the current run's log.
#[derive(Clone, Copy)]
struct CurrentRun;

impl Write for CurrentRun {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = current().lock().unwrap_or_else(|e| e.into_inner());
        match file.as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut file = current().lock().unwrap_or_else(|e| e.into_inner());
        file.as_mut().map_or(Ok(()), File::flush)
    }
}

impl<'a> MakeWriter<'a> for CurrentRun {
    type Writer = CurrentRun;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// The application logger of one run: from its installation on, the process's log lines go to
/// `path` (appended, so a resumed run keeps its earlier lines).
pub struct RunLog {
    path: PathBuf,
}

impl RunLog {
    /// A logger writing into `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl ApplicationLoggerInstaller for RunLog {
    fn install(&self) -> Result<(), String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot open {}: {e}", self.path.display()))?;
        *current().lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        if installed() {
            Ok(())
        } else {
            Err("another tracing subscriber is installed; run logs go there".into())
        }
    }
}
