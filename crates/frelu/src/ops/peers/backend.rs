//! The peers' backend extension: a forward and a backward operation for PAU, for APL, for the
//! pointwise peers ([`super::Pointwise`]) and for the randomised ReLUs ([`super::RandomDraw`]).
//! Only `Flex` (f32) has kernels; [`super`]'s wrappers call them there and compose the
//! activation from tensor operations everywhere else.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

/// The peers as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait PeerBackend: Backend {
    /// Safe PAU `y = P(x) / Q(x)`, `P(x) = Σ_{k=0..5} a_k·x^k`; `Q(x) = 1 + Σ_{k=1..4}
    /// |b_k|·|x|^k` when `version_a`, else `1 + |Σ_{k=1..4} b_k·x^k|`.
    ///
    /// # Shapes
    /// - x: any; numerator: `[6]`; denominator: `[4]`; output: like `x`.
    fn pau(
        x: FloatTensor<Self>,
        numerator: FloatTensor<Self>,
        denominator: FloatTensor<Self>,
        version_a: bool,
    ) -> FloatTensor<Self>;

    /// Gradients of [`PeerBackend::pau`] given the upstream gradient `dy`:
    /// `(dx, dnumerator, ddenominator)`; where `|·|` has a kink, its derivative is taken as
    /// `sign(0) = 0`, as autodiff's `abs` does.
    fn pau_backward(
        x: FloatTensor<Self>,
        numerator: FloatTensor<Self>,
        denominator: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        version_a: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// APL `y = max(0, x) + Σ_s a[s, c]·max(0, b[s, c] − x)`, `c` = dimension 1 of `x`.
    ///
    /// # Shapes
    /// - x: `[N, C, ...]` (rank ≥ 2); a, b: `[S, C]`; output: like `x`.
    fn apl(x: FloatTensor<Self>, a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Gradients of [`PeerBackend::apl`] given `dy`: `(dx, da, db)`; at a kink (`x = 0`,
    /// `b − x = 0`) the hinge passes the gradient, as autodiff's `clamp_min` does.
    fn apl_backward(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The pointwise peer `kind` ([`super::Pointwise::code`]) with parameters `[K, C]` (one set
    /// per channel `c` = dimension 1 of `x`) or `[K, 1]` (one set for the layer).
    ///
    /// # Shapes
    /// - x: `[N, C, ...]` (rank ≥ 2); params: `[K, C]` or `[K, 1]`; output: like `x`.
    fn pointwise(x: FloatTensor<Self>, params: FloatTensor<Self>, kind: u8) -> FloatTensor<Self>;

    /// Gradients of [`PeerBackend::pointwise`] given `dy`: `(dx, dparams)`.
    fn pointwise_backward(
        x: FloatTensor<Self>,
        params: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kind: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// A randomised ReLU ([`super::random_slope`]): per element `i`, `a = low + u_i·(high − low)`
    /// with `u_i ∈ [0, 1)` a hash of `(seed, i)`; `side` ([`super::RandomSide`]'s code) says
    /// which slope `a` is. `range` is `[low, high]`.
    ///
    /// # Shapes
    /// - x: any (rank ≥ 2 where `neg` is read); neg: `[C]` or `[1]`; output: like `x`.
    fn random_slope(
        x: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> FloatTensor<Self>;

    /// Gradients of [`PeerBackend::random_slope`] given `dy`, with the same draws: `(dx, dneg)`;
    /// at `x = 0` both sides pass the gradient, as autodiff's `clamp_min` and `clamp_max` do.
    fn random_slope_backward(
        x: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}
