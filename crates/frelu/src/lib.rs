//! # frelu — the fully parametric ReLU for Burn
//!
//! FReLU (Varshney & Singh, *Optimizing nonlinear activation function for convolutional neural
//! networks*, SIViP 2021) generalises ReLU with two learnable slopes per channel:
//!
//! ```text
//! f(x)[n, c, ...] = pos[c] · x   if x > 0
//!                   neg[c] · x   if x ≤ 0
//! ```
//!
//! ReLU is `pos = 1, neg = 0` with nothing learned; PReLU learns only `neg`; FReLU learns both.
//!
//! This crate is what a Burn user adds to their own model:
//! - [`activation`]: the [`FRelu`] layer and a string-parsable activation registry
//!   ([`ActivationConfig`]) covering ReLU and its usual rivals;
//! - [`ops`]: the FReLU operation itself (composed from tensor ops, or fused), and fused
//!   operations for six of its peers ([`ops::peers`]);
//! - [`fastpath`]: convolution → batch norm → activation as fast CPU operations (Flex);
//! - [`schedule`]: the alternate optimisation of the paper — weights and slopes take turns —
//!   wired into Burn's optimiser and learning-rate scheduler so that it runs inside
//!   burn-train's `Learner` on any training strategy.

pub mod activation;
mod fast_math;
pub mod fastpath;
mod flex_tensor;
pub mod learned;
pub mod ops;
pub mod params;
pub mod schedule;
mod simd;
pub mod slopes;

pub use activation::{
    Activation, ActivationConfig, FRelu, FReluConfig, ParseActivationError, SlopeSharing,
};
pub use schedule::{LrCurve, LrShape, Phase, Schedule, ScheduleConfig, Unit, Warmup};
