//! Errors of model construction.

/// A model configuration the model cannot be built with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A setting out of range for this model.
    #[error("{model}: {message}")]
    Config {
        /// The model.
        model: String,
        /// What is wrong.
        message: String,
    },
}

impl ModelError {
    pub(crate) fn config(model: &str, message: impl Into<String>) -> Self {
        Self::Config {
            model: model.into(),
            message: message.into(),
        }
    }
}
