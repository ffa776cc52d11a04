//! # frelu-vision
//!
//! Everything that exercises FReLU on real tasks. Layers import downward only:
//!
//! ```text
//! fsio, device, progress, run_files → data → models → analysis, export → runs → tasks → bench
//! (frelu-cli above all)
//! ```
//! - [`progress`]: the [`progress::Reporter`] every message and progress bar goes through (the
//!   library never prints); [`run_files`]: the names of what run and grid folders hold;
//! - [`data`]: loaders that validate, datasets, batchers; [`data::synth`] the generated
//!   benchmarks;
//! - [`models`]: networks that take the activation as a parameter and never name one;
//! - [`analysis`]: statistics, slope analyses, COCO evaluation, plots (reads files);
//! - [`runs`]: run folders, the per-epoch report and the one resumable comparison grid;
//! - [`tasks`]: classification, detection and action recognition through burn-train's
//!   `Learner`.

pub mod analysis;
pub mod bench;
pub mod data;
pub mod device;
pub mod error;
pub mod export;
pub mod fsio;
pub mod models;
pub mod progress;
pub mod run_files;
pub mod runs;
pub mod tasks;

pub use error::{Error, Result};
