//! Activation layers: [`FRelu`], its learnable peers (one file per activation or family) and
//! the registry ([`ActivationConfig`] → [`Activation`]) that every model takes as a parameter.

mod acon;
mod apl;
pub(crate) mod common;
mod constraint;
mod frelu;
mod legacy;
mod markers;
mod parse;
mod pau;
mod pelu;
mod prenu;
mod pwlu;
mod registry;
mod stochastic;
mod stored;

pub use acon::*;
pub use apl::*;
pub use constraint::*;
pub use frelu::*;
pub use markers::*;
pub use parse::*;
pub use pau::*;
pub use pelu::*;
pub use prenu::*;
pub use pwlu::*;
pub use registry::*;
pub use stochastic::*;
