//! Fused operations for two of FReLU's peers whose composed forms cost several times a ReLU
//! step: PAU (about 30 elementwise tensor operations per layer) and APL (four per hinge).
//!
//! - [`pau`] and [`apl`]: one kernel forward, one backward that gives the input's and every
//!   parameter's gradient together ([`PeerBackend`]). Flex (CPU, f32) has kernels.
//! - [`has_fused_kernel`]: whether a tensor can take them; the layers (`activation::pau`,
//!   `activation::apl`) compose the same function from tensor operations everywhere else, and
//!   their tests hold the two equal, values and gradients.

mod apl_kernel;
mod autodiff;
mod backend;
mod flex;
mod pau_kernel;

use burn::backend::Dispatch;
use burn::tensor::{DType, Tensor};

pub use backend::PeerBackend;

/// Whether [`pau`] and [`apl`] have a kernel for `input` (f32 on Flex, under autodiff or not).
pub fn has_fused_kernel<const D: usize>(input: &Tensor<D>) -> bool {
    input.dtype() == DType::F32 && crate::flex_tensor::on_flex(&input.device())
}

/// Safe PAU with numerator `a_0 … a_5` and denominator `b_1 … b_4` ([`PeerBackend::pau`]); only
/// where [`has_fused_kernel`] holds.
///
/// # Shapes
/// - input: any; numerator: `[6]`; denominator: `[4]`; output: like the input.
pub fn pau<const D: usize>(
    input: Tensor<D>,
    numerator: Tensor<1>,
    denominator: Tensor<1>,
    version_a: bool,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PeerBackend>::pau(
        input.into_dispatch(),
        numerator.into_dispatch(),
        denominator.into_dispatch(),
        version_a,
    ))
}

/// APL with hinge slopes `a` and positions `b` per channel ([`PeerBackend::apl`]); only where
/// [`has_fused_kernel`] holds.
///
/// # Shapes
/// - input: `[N, C, ...]`; a, b: `[S, C]`; output: like the input.
pub fn apl<const D: usize>(input: Tensor<D>, a: Tensor<2>, b: Tensor<2>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PeerBackend>::apl(
        input.into_dispatch(),
        a.into_dispatch(),
        b.into_dispatch(),
    ))
}
