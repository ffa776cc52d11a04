//! Fused operations for FReLU's peers, whose composed forms cost several times a ReLU step:
//! PAU (about 30 elementwise tensor operations per layer), APL (four per hinge) and the
//! pointwise peers PELU, MPELU, PReNU and ACON-C ([`Pointwise`]).
//!
//! - [`pau`], [`apl`] and [`pointwise`]: one kernel forward, one backward that gives the input's
//!   and every parameter's gradient together ([`PeerBackend`]). Flex (CPU, f32) has kernels.
//! - [`has_fused_kernel`]: whether a tensor can take them; the layers compose the same function
//!   from tensor operations everywhere else, and their tests hold the two equal, values and
//!   gradients. A layer's parameter constraint read in the forward pass (a clamp) stays outside
//!   the op, on the parameters.

mod apl_kernel;
mod autodiff;
mod backend;
mod flex;
mod pau_kernel;
mod pointwise_kernel;

use burn::backend::Dispatch;
use burn::tensor::{DType, Tensor};

pub use backend::PeerBackend;

/// Whether [`pau`], [`apl`] and [`pointwise`] have a kernel for `input` (f32 on Flex, under
/// autodiff or not).
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

/// The pointwise peers [`pointwise`] computes: each a function of one input element and its
/// channel's (or layer's) parameters, stacked `[K, C]` in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointwise {
    /// `(a, b)`: `(a/b)·max(x, 0) + a·(exp(min(x, 0)/b) − 1)`.
    Pelu,
    /// `(α, β)`: `max(x, 0) + α·(exp(β·min(x, 0)) − 1)`.
    Mpelu,
    /// `(α)`: `max(x, 0) − α·ln(1 + max(x, 0))`.
    Prenu,
    /// `(p1, p2, β)`: `d·σ(β·d) + p2·x`, `d = (p1 − p2)·x`.
    AconC,
}

impl Pointwise {
    const ALL: [Pointwise; 4] = [Self::Pelu, Self::Mpelu, Self::Prenu, Self::AconC];

    /// The code the backend operation carries.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).expect("listed") as u8
    }

    /// The kind of a code from [`Pointwise::code`].
    pub fn from_code(code: u8) -> Self {
        *Self::ALL
            .get(code as usize)
            .unwrap_or_else(|| panic!("no pointwise peer has code {code}"))
    }
}

/// The pointwise peer `kind` on `input` with its parameters, each `[C]` or `[1]` (one set per
/// channel or per layer), in the order of [`Pointwise`]'s docs; only where [`has_fused_kernel`]
/// holds.
///
/// # Shapes
/// - input: `[N, C, ...]`; each parameter: `[C]` or `[1]`; output: like the input.
pub fn pointwise<const D: usize>(
    input: Tensor<D>,
    params: Vec<Tensor<1>>,
    kind: Pointwise,
) -> Tensor<D> {
    let params = Tensor::stack::<2>(params, 0);
    Tensor::from_dispatch(<Dispatch as PeerBackend>::pointwise(
        input.into_dispatch(),
        params.into_dispatch(),
        kind.code(),
    ))
}
