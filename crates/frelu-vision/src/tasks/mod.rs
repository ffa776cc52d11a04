//! Training tasks wired into burn-train's `Learner`.

pub mod action;
pub mod classify;
pub mod compare;
pub mod detect;
pub mod guard;
pub mod launch;
pub mod report;
