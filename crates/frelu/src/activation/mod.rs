//! Activation layers: [`FRelu`] and the registry ([`ActivationConfig`] → [`Activation`]) that
//! every model takes as a parameter.

mod frelu;
mod registry;

pub use frelu::*;
pub use registry::*;
