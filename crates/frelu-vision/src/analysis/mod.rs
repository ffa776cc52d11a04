//! Analyses of trained networks: statistics over seeds, per-layer slope statistics, plots.

pub mod coco_eval;
pub mod plots;
pub mod slopes;
pub mod stats;
