//! Training tasks, each thin: its config (with `validate`), its training through
//! [`launch::launch`], and its row of the comparison grid (`runs::grid`). Nothing one task
//! needs lives inside another.

pub mod action;
pub mod classify;
pub mod detect;
pub mod guard;
pub mod launch;
