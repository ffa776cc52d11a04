//! The error of a string that is not a schedule.

/// A string that is not a schedule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseScheduleError(pub(super) String);
