//! Training tasks.
