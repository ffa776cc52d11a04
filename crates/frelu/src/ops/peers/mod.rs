//! Fused operations for FReLU's peers, whose composed forms cost several times a ReLU step:
//! PAU (about 30 elementwise tensor operations per layer), APL (four per hinge), the pointwise
//! peers PELU, MPELU, PReNU, ACON-C and PWLU ([`Pointwise`]), and the randomised ReLUs EReLU,
//! EPReLU and RReLU ([`random_slope`]).
//!
//! - [`pau`], [`apl`], [`pointwise`] and [`random_slope`]: one kernel forward, one backward that
//!   gives the input's and every parameter's gradient together ([`PeerBackend`]). Flex (CPU, f32)
//!   has kernels.
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
mod random_kernel;

use burn::backend::Dispatch;
use burn::tensor::{DType, Tensor};

pub use backend::PeerBackend;

/// Whether [`pau`], [`apl`], [`pointwise`] and [`random_slope`] have a kernel for `input` (f32 on Flex, under
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
    /// `(left, right, left slope, right slope, h_0 … h_N)`, `N ≥ 1`: linear between heights at
    /// `N + 1` equally spaced breakpoints on `[left, right]`, the slopes outside
    /// (the PWLU layer).
    Pwlu,
}

impl Pointwise {
    const ALL: [Pointwise; 5] = [
        Self::Pelu,
        Self::Mpelu,
        Self::Prenu,
        Self::AconC,
        Self::Pwlu,
    ];

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
    pointwise_stacked(input, Tensor::stack::<2>(params, 0), kind)
}

/// The smallest interval width PWLU uses ([`Pointwise::Pwlu`] and the composed layer),
/// whatever the learned bounds say.
pub const PWLU_MIN_WIDTH: f64 = 1e-4;

/// [`pointwise`] with the parameters already stacked.
///
/// # Shapes
/// - input: `[N, C, ...]`; params: `[K, C]` or `[K, 1]`; output: like the input.
pub fn pointwise_stacked<const D: usize>(
    input: Tensor<D>,
    params: Tensor<2>,
    kind: Pointwise,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PeerBackend>::pointwise(
        input.into_dispatch(),
        params.into_dispatch(),
        kind.code(),
    ))
}

/// Which slope of a randomised ReLU [`random_slope`] draws, per element, from `U(low, high)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomSide {
    /// `a·x` for `x ≥ 0` and `neg[c]·x` for `x ≤ 0`: elastic ReLU (`neg = 0`) and EPReLU.
    Positive,
    /// `x` for `x ≥ 0`, `a·x` below: RReLU as PyTorch draws it.
    NegativeTimes,
    /// `x` for `x ≥ 0`, `x / a` below: RReLU as its paper draws it.
    NegativeDivide,
}

/// A per-element draw of [`random_slope`]: `a = low + u·(high − low)`, `u ∈ [0, 1)` a hash of
/// `seed` and the element's index (so the backward pass draws the same `a` again, with nothing
/// stored). `low = high` gives a deterministic function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomDraw {
    /// Which slope is drawn.
    pub side: RandomSide,
    /// The lower end of the draw's range.
    pub low: f32,
    /// The upper end of the draw's range.
    pub high: f32,
    /// The seed of this call's draws.
    pub seed: u64,
}

impl RandomDraw {
    /// A draw whose seed comes from `device`'s generator (as every other random tensor's does,
    /// so a seeded device repeats it).
    pub fn seeded(side: RandomSide, low: f64, high: f64, device: &burn::tensor::Device) -> Self {
        let bits = Tensor::<1>::random([2], burn::tensor::Distribution::Default, device)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 values");
        let part = |u: f32| (f64::from(u) * f64::from(1u32 << 24)) as u64 & 0xFF_FFFF;
        Self {
            side,
            low: low as f32,
            high: high as f32,
            seed: part(bits[0]) | part(bits[1]) << 24,
        }
    }

    /// The side as the backend operation carries it.
    fn side_code(self) -> u8 {
        self.side as u8
    }
}

impl RandomSide {
    /// The side of a code from [`RandomDraw`]'s backend operation.
    fn from_code(code: u8) -> Self {
        [Self::Positive, Self::NegativeTimes, Self::NegativeDivide]
            .into_iter()
            .find(|side| *side as u8 == code)
            .unwrap_or_else(|| panic!("no random side has code {code}"))
    }
}

/// A randomised ReLU: the slope [`RandomDraw::side`] names drawn per element, the other side's
/// slope 1 (RReLU) or `neg[c]` (elastic ReLU, EPReLU); only where [`has_fused_kernel`] holds.
///
/// # Shapes
/// - input: `[N, C, ...]` (any rank for the negative sides: `neg` is not read there);
///   neg: `[C]` or `[1]`; output: like the input.
pub fn random_slope<const D: usize>(
    input: Tensor<D>,
    neg: Tensor<1>,
    draw: RandomDraw,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PeerBackend>::random_slope(
        input.into_dispatch(),
        neg.into_dispatch(),
        draw.seed,
        draw.side_code(),
        [draw.low, draw.high],
    ))
}
