//! The library's one error type. Every message names the file, the setting or the step it
//! concerns and what is wrong; the error it comes from stays its `source()`. `anyhow` is for
//! the command-line tool only.

use std::path::PathBuf;

use crate::data::DataError;
use crate::models::ModelError;

/// Everything that can go wrong in `frelu-vision`.
///
/// Each error's message says what it is about; the error it comes from (an OS error, a parse
/// error) is its [`source`](std::error::Error::source), not part of its message. [`report`]
/// (or `anyhow`'s `{:#}`) prints the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file or folder.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model that cannot be built as configured.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A run folder that cannot be used as asked.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A setting out of range.
    #[error("{0}")]
    Invalid(String),
    /// A name no registry knows (a model, a dataset, ...).
    #[error(transparent)]
    Parse(#[from] crate::data::ParseError),
    /// A file that could not be read, written, created or removed.
    #[error("cannot {action} {}", path.display())]
    File {
        /// `read`, `write`, `create`, `remove`...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error without a file to name (prefer [`Error::File`]).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON that cannot be read or written.
    #[error("JSON")]
    Json(#[from] serde_json::Error),
    /// TOML that cannot be read.
    #[error("TOML")]
    Toml(#[from] toml::de::Error),
    /// An activation that does not parse.
    #[error(transparent)]
    Activation(#[from] frelu::ParseActivationError),
    /// A schedule that does not parse.
    #[error(transparent)]
    Schedule(#[from] frelu::schedule::ParseScheduleError),
    /// A model file that cannot be read or written.
    #[error("model file")]
    Record(#[from] burn::store::RecordError),
    /// A file whose content is not what it should be.
    #[error("{}: {message}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training stopped: a non-finite loss, an error inside burn-train, an interruption.
    #[error("{0}")]
    Training(String),
    /// A plot could not be drawn.
    #[error("plotting failed: {0}")]
    Plot(String),
    /// Another error, with what was being done.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// The error it happened with (an I/O error itself, not wrapped in [`Error::Io`]).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A run folder that cannot be used as asked. The messages say what is wrong in the library's
/// terms; a program adds how its users choose another start (the `frelu` tool names its flags).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A fresh start was asked in a folder that holds a run.
    #[error("{} already holds a run", .0.display())]
    Occupied(PathBuf),
    /// A resume was asked in a folder that holds no run.
    #[error("nothing to resume in {}: it holds no run", .0.display())]
    NothingToResume(PathBuf),
    /// A resume was asked of a finished run.
    #[error("the run in {} is finished; nothing to resume", .0.display())]
    Finished(PathBuf),
    /// The folder's checkpoints and metrics disagree.
    #[error("{} has {message}", dir.display())]
    Inconsistent {
        /// The run folder.
        dir: PathBuf,
        /// What disagrees.
        message: String,
    },
    /// The folder's run was made with other settings than those asked now.
    #[error("{} was trained with other settings ({difference}, stored → asked)", dir.display())]
    OtherSettings {
        /// The run folder.
        dir: PathBuf,
        /// The settings that differ, `name: stored → asked`.
        difference: String,
    },
    /// Another live process trains the run in the folder now.
    #[error("{} is being trained by {host} (pid {pid}, heartbeat {age} s ago)", dir.display())]
    Busy {
        /// The run folder.
        dir: PathBuf,
        /// That process's host.
        host: String,
        /// Its process id.
        pid: u32,
        /// Seconds since its last heartbeat.
        age: u64,
    },
    /// The folder holds another grid (another task or protocol) than the one asked for.
    #[error("{} holds the grid of {found}, not of {asked}", dir.display())]
    OtherGrid {
        /// The grid folder.
        dir: PathBuf,
        /// What made the grid there (`task name`).
        found: String,
        /// What was asked now.
        asked: String,
    },
}

impl From<burn::tensor::TensorReadError> for Error {
    fn from(e: burn::tensor::TensorReadError) -> Self {
        Self::Training(format!("reading a tensor failed: {e:?}"))
    }
}

impl Error {
    /// An [`Error::File`].
    pub fn file(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The message of `error` and of each of its causes, joined by `: ` (what `anyhow` prints
/// with `{:#}`).
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// `error` as a cause: an [`Error::Io`] unwrapped, so that the OS error is the last cause.
fn boxed(error: Error) -> Box<dyn std::error::Error + Send + Sync> {
    match error {
        Error::Io(io) => Box::new(io),
        other => Box::new(other),
    }
}

/// Adds what was being done to an error, like `anyhow::Context`.
pub trait Context<T> {
    /// Wraps the error in `context` (the error stays its source).
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error in the context `f` makes (only on error).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.into(),
            source: boxed(e.into()),
        })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().into(),
            source: boxed(e.into()),
        })
    }
}

/// Returns an [`Error::Invalid`] with the formatted message when the condition is false.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        match $cond {
            true => {}
            false => return Err($crate::error::Error::Invalid(format!($($arg)+))),
        }
    };
}

/// Returns an [`Error::Invalid`] with the formatted message.
macro_rules! bail {
    ($($arg:tt)+) => {
        return Err($crate::error::Error::Invalid(format!($($arg)+)))
    };
}

pub(crate) use {bail, ensure};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_cause_and_its_message_once() {
        let io: std::result::Result<(), std::io::Error> = Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        ));
        let err = io.context("cannot read a.json").unwrap_err();
        assert!(
            std::error::Error::source(&err).is_some_and(|e| e.is::<std::io::Error>()),
            "the I/O error stays the cause"
        );
        let err = report(&err);
        assert_eq!(
            err,
            "cannot read a.json: No such file or directory (os error 2)"
        );
        assert_eq!(err.matches("os error 2").count(), 1);
        fn check(x: usize) -> Result<()> {
            ensure!(x > 0, "x must be positive, got {x}");
            Ok(())
        }
        assert_eq!(
            check(0).unwrap_err().to_string(),
            "x must be positive, got 0"
        );
    }
}
