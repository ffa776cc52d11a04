//! Errors of the data loaders.

use std::path::{Path, PathBuf};

/// Something wrong with a data file or folder, with the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read (or written, created...).
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read`, `write`, `create`...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not what the format says.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A dataset could not be found anywhere it was looked for.
    #[error("{0}")]
    NotFound(String),
    /// An option of a data generator or loader is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl DataError {
    /// A file that could not be read.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::io_during("read", path, source)
    }

    /// A file that could not be written, created... (`action`).
    pub(crate) fn io_during(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// A name or setting written as text that does not parse (a model, a dataset, an augmentation,
/// a video model, an export format, a benchmark path); the message says what is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_maybe_gz(raw, path)
}

/// Gunzips `raw` when it starts with the gzip magic bytes; `path` names it in errors.
pub(crate) fn decode_maybe_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
