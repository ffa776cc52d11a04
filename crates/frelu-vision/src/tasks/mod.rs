//! Training tasks wired into burn-train's `Learner`.

pub mod classify;
pub mod compare;
pub mod guard;
pub mod report;
