//! # frelu-vision
//!
//! Everything that exercises FReLU on real tasks: data loaders, models (which take the
//! activation as a parameter and never name a concrete one), training tasks wired into
//! burn-train's `Learner`, and analyses of the learned slopes.

pub mod analysis;
pub mod bench;
pub mod data;
pub mod device;
pub mod models;
pub mod tasks;
