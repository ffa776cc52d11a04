//! The library's one error type. Every message is complete on its own (the file, the setting
//! or the step it concerns, and what is wrong); `anyhow` is for the command-line tool only.

use std::path::PathBuf;

use crate::data::DataError;
use crate::models::ModelError;

/// Everything that can go wrong in `frelu-vision`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file or folder.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model that cannot be built as configured.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A setting out of range, or a name no registry knows.
    #[error("{0}")]
    Invalid(String),
    /// A file that could not be read or written.
    #[error("cannot {action} {path}: {message}")]
    File {
        /// `read`, `write`, `create`...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's reason.
        message: String,
    },
    /// A file whose content is not what it should be.
    #[error("{path}: {message}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training stopped: a non-finite loss, an error inside burn-train, an interruption.
    #[error("{0}")]
    Training(String),
    /// A run folder that holds something else than what was asked (e.g. other settings).
    #[error("{0}")]
    Run(String),
    /// A plot could not be drawn.
    #[error("plotting failed: {0}")]
    Plot(String),
    /// Anything else, with where it happened.
    #[error("{context}: {message}")]
    Context {
        /// What was being done.
        context: String,
        /// The underlying error's message.
        message: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Invalid(format!("JSON: {e}"))
    }
}

impl From<frelu::ParseActivationError> for Error {
    fn from(e: frelu::ParseActivationError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<frelu::schedule::ParseScheduleError> for Error {
    fn from(e: frelu::schedule::ParseScheduleError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<toml::de::Error> for Error {
    fn from(e: toml::de::Error) -> Self {
        Self::Invalid(format!("TOML: {e}"))
    }
}

impl From<burn::store::RecordError> for Error {
    fn from(e: burn::store::RecordError) -> Self {
        Self::Invalid(format!("model file: {e}"))
    }
}

impl From<burn::tensor::TensorReadError> for Error {
    fn from(e: burn::tensor::TensorReadError) -> Self {
        Self::Training(format!("reading a tensor failed: {e:?}"))
    }
}

/// Adds what was being done to an error, like `anyhow::Context`.
pub trait Context<T> {
    /// Prefixes the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Prefixes the error with the context `f` makes (only on error).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.into(),
            message: e.into().to_string(),
        })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().into(),
            message: e.into().to_string(),
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
    fn context_keeps_the_message_once() {
        let io: std::result::Result<(), std::io::Error> = Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        ));
        let err = io.context("cannot read a.json").unwrap_err().to_string();
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
