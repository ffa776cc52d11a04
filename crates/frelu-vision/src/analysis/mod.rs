//! Analyses of trained networks: statistics over seeds, per-layer slope statistics, the learned parameters and curves of any learnable activation,
//! plots.

pub mod analyze;
pub mod coco_eval;
pub mod learned;
pub mod plots;
pub mod slopes;
pub mod stats;
