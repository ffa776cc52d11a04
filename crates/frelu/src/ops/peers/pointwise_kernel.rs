//! The kernels of the pointwise peers on the Flex (CPU) backend, for f32: PELU, MPELU, PReNU,
//! ACON-C and PWLU, each a function of one input element and its channel's parameters (`[K, C]`,
//! or `[K, 1]` for one set per layer).
//!
//! Both passes work on `(n, c)` planes in parallel with rayon ([`map_planes`],
//! [`backward_planes`]). The backward pass writes `dx` over `dy`'s buffer and sums the
//! parameters' gradients per plane, then over the planes in index order, so its result does not
//! depend on how the work was scheduled. `exp` and `ln_1p` are [`crate::fast_math`]'s, which
//! vectorise (the C library's are calls). Each formula takes the
//! derivative at a kink (`x = 0`) as autodiff takes it through the composed layer: `clamp_min`
//! and `clamp_max` both pass the gradient where `x` equals the bound.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;

use super::{PWLU_MIN_WIDTH, Pointwise};
use crate::fast_math::{exp, ln_1p};
use crate::flex_tensor::{
    PlaneGrad, PlaneMap, backward_planes, f32_vec, map_planes, slot_of, sum_into_slots, tensor,
};
use crate::ops::plane_size;

/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 13;

/// One pointwise activation: its value, and its derivatives in the input and the parameters.
trait Formula: Sync {
    /// Whether `k` parameters per channel are what the formula takes.
    fn takes(k: usize) -> bool;
    fn value(x: f32, p: &[f32]) -> f32;
    /// Adds `g·∂y/∂p_k` to `dp[k]` and returns `g·∂y/∂x`.
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32;
}

/// PELU `(a, b)`: `(a/b)·max(x, 0) + a·(exp(min(x, 0)/b) − 1)`.
struct PeluFormula;
impl Formula for PeluFormula {
    fn takes(k: usize) -> bool {
        k == 2
    }
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let (a, b) = (p[0], p[1]);
        x.max(0.0) * (a / b) + (exp(x.min(0.0) / b) - 1.0) * a
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (a, b) = (p[0], p[1]);
        let (pos, neg) = (x.max(0.0), x.min(0.0));
        let e = exp(neg / b);
        dp[0] += g * (pos / b + e - 1.0);
        dp[1] += g * (-a * pos / (b * b) - a * e * neg / (b * b));
        let from_pos = if x >= 0.0 { a / b } else { 0.0 };
        let from_neg = if x <= 0.0 { a * e / b } else { 0.0 };
        g * (from_pos + from_neg)
    }
}

/// MPELU `(α, β)`: `max(x, 0) + α·(exp(β·min(x, 0)) − 1)`.
struct MpeluFormula;
impl Formula for MpeluFormula {
    fn takes(k: usize) -> bool {
        k == 2
    }
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let (alpha, beta) = (p[0], p[1]);
        x.max(0.0) + (exp(x.min(0.0) * beta) - 1.0) * alpha
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (alpha, beta) = (p[0], p[1]);
        let neg = x.min(0.0);
        let e = exp(neg * beta);
        dp[0] += g * (e - 1.0);
        dp[1] += g * alpha * e * neg;
        let from_pos = if x >= 0.0 { 1.0 } else { 0.0 };
        let from_neg = if x <= 0.0 { alpha * e * beta } else { 0.0 };
        g * (from_pos + from_neg)
    }
}

/// PReNU `α`: `max(x, 0) − α·ln(1 + max(x, 0))`.
struct PrenuFormula;
impl Formula for PrenuFormula {
    fn takes(k: usize) -> bool {
        k == 1
    }
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let pos = x.max(0.0);
        pos - ln_1p(pos) * p[0]
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        // α read before the branch: a bounds check inside it would keep the loop scalar.
        let (alpha, pos) = (p[0], x.max(0.0));
        dp[0] -= g * ln_1p(pos);
        if x >= 0.0 {
            g * (1.0 - alpha / (1.0 + pos))
        } else {
            0.0
        }
    }
}

/// ACON-C `(p1, p2, β)`: `d·σ(β·d) + p2·x` with `d = (p1 − p2)·x`.
struct AconFormula;
impl Formula for AconFormula {
    fn takes(k: usize) -> bool {
        k == 3
    }
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let d = x * (p[0] - p[1]);
        d * sigmoid(d * p[2]) + x * p[1]
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (p1, p2, beta) = (p[0], p[1], p[2]);
        let d = x * (p1 - p2);
        let s = sigmoid(d * beta);
        // ∂y/∂d = σ + β·d·σ·(1 − σ); ∂y/∂β = d²·σ·(1 − σ).
        let dd = s + beta * d * s * (1.0 - s);
        dp[0] += g * dd * x;
        dp[1] += g * (x - dd * x);
        dp[2] += g * d * d * s * (1.0 - s);
        g * (dd * (p1 - p2) + p2)
    }
}

#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + exp(-v))
}

/// PWLU `(left, right, left slope, right slope, h_0 … h_N)`: `N` equal intervals on
/// `[left, right]` (each at least [`PWLU_MIN_WIDTH`] wide), linear between the heights `h_i` at
/// their ends, and the two slopes outside; in the composed layer's order of operations. Where
/// the bounds cross, right of `right` wins, as there.
struct PwluFormula;
impl PwluFormula {
    /// `(width, free, t, cell)`: the interval width, whether it is `(right − left)/N` (not held
    /// at its minimum), `x`'s position in widths from `left`, and the index of its interval,
    /// clamped into `0..N`.
    #[inline(always)]
    fn locate(x: f32, p: &[f32]) -> (f32, bool, f32, f32) {
        let n = (p.len() - 5) as f32;
        let raw = (p[1] - p[0]) / n;
        let width = raw.max(PWLU_MIN_WIDTH as f32);
        let t = (x - p[0]) / width;
        (
            width,
            raw >= PWLU_MIN_WIDTH as f32,
            t,
            t.floor().clamp(0.0, n - 1.0),
        )
    }
}
impl Formula for PwluFormula {
    fn takes(k: usize) -> bool {
        k >= 6
    }
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let (left, right, h) = (p[0], p[1], &p[4..]);
        if x > right {
            return h[h.len() - 1] + (x - right) * p[3];
        }
        if x < left {
            return h[0] + (x - left) * p[2];
        }
        let (_, _, t, cell) = Self::locate(x, p);
        let i = cell as usize;
        h[i] + (t - cell) * (h[i + 1] - h[i])
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (left, right, last) = (p[0], p[1], p.len() - 1);
        if x > right {
            dp[1] -= g * p[3];
            dp[3] += g * (x - right);
            dp[last] += g;
            return g * p[3];
        }
        if x < left {
            dp[0] -= g * p[2];
            dp[2] += g * (x - left);
            dp[4] += g;
            return g * p[2];
        }
        let (width, free, t, cell) = Self::locate(x, p);
        let (i, frac) = (4 + cell as usize, t - cell);
        dp[i] += g * (1.0 - frac);
        dp[i + 1] += g * frac;
        // t = (x − left)/width: through the numerator, and through the width where it is not
        // held at its minimum (width = (right − left)/N).
        let dt = g * (p[i + 1] - p[i]);
        dp[0] -= dt / width;
        if free {
            let n = (p.len() - 5) as f32;
            let dwidth = -dt * (x - left) / (width * width);
            dp[0] -= dwidth / n;
            dp[1] += dwidth / n;
        }
        dt / width
    }
}

/// A formula with every plane's parameters: `p` holds them as `[slot][k]`, flattened (one slot
/// per channel, or one for the layer).
struct Planes<F> {
    p: Vec<f32>,
    k: usize,
    slots: usize,
    c: usize,
    formula: std::marker::PhantomData<F>,
}

impl<F: Formula> Planes<F> {
    fn new(params: &FlexTensor, x: &burn::tensor::Shape) -> Self {
        let shape = params.shape();
        let (k, slots) = (shape[0], shape[1]);
        assert!(
            F::takes(k),
            "{k} parameters per channel do not fit this formula"
        );
        let values = f32_vec(params);
        let p = (0..slots)
            .flat_map(|ch| (0..k).map(move |i| (i, ch)))
            .map(|(i, ch)| values[i * slots + ch])
            .collect();
        Self {
            p,
            k,
            slots,
            c: x[1],
            formula: std::marker::PhantomData,
        }
    }

    fn slot(&self, plane: usize) -> usize {
        slot_of(plane, self.slots, self.c)
    }
}

impl<F: Formula> PlaneMap for Planes<F> {
    type Plane = usize;

    /// Where the plane's parameters start in `p`.
    fn plane(&self, index: usize) -> usize {
        self.slot(index) * self.k
    }

    #[inline(always)]
    fn value(&self, &at: &usize, _: usize, x: f32) -> f32 {
        F::value(x, &self.p[at..at + self.k])
    }
}

impl<F: Formula> PlaneGrad for Planes<F> {
    fn partials(&self) -> usize {
        self.k
    }

    #[inline(always)]
    fn grad(&self, &at: &usize, _: usize, x: f32, g: f32, partial: &mut [f32]) -> f32 {
        F::backward(x, &self.p[at..at + self.k], g, partial)
    }
}

fn forward_with<F: Formula>(x: FlexTensor, params: FlexTensor) -> FlexTensor {
    let shape = x.shape();
    let planes = Planes::<F>::new(&params, &shape);
    let s = plane_size(&shape).max(1);
    map_planes(x, s, (GRAIN / s).max(1), &planes)
}

fn backward_with<F: Formula>(
    x: FlexTensor,
    params: FlexTensor,
    dy: FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let shape = x.shape();
    let planes = Planes::<F>::new(&params, &shape);
    let s = plane_size(&shape).max(1);
    let (dx, partials) = backward_planes(x, dy, (s, (GRAIN / s).max(1)), &planes);
    let dp = sum_into_slots(&partials, planes.k, planes.slots, |i| planes.slot(i));
    (dx, tensor(dp, [planes.k, planes.slots]))
}

/// The forward pass of `kind`.
pub(super) fn forward(x: FlexTensor, params: FlexTensor, kind: Pointwise) -> FlexTensor {
    match kind {
        Pointwise::Pelu => forward_with::<PeluFormula>(x, params),
        Pointwise::Mpelu => forward_with::<MpeluFormula>(x, params),
        Pointwise::Prenu => forward_with::<PrenuFormula>(x, params),
        Pointwise::AconC => forward_with::<AconFormula>(x, params),
        Pointwise::Pwlu => forward_with::<PwluFormula>(x, params),
    }
}

/// The backward pass of `kind`: `(dx, dparams)`.
pub(super) fn backward(
    x: FlexTensor,
    params: FlexTensor,
    dy: FlexTensor,
    kind: Pointwise,
) -> (FlexTensor, FlexTensor) {
    match kind {
        Pointwise::Pelu => backward_with::<PeluFormula>(x, params, dy),
        Pointwise::Mpelu => backward_with::<MpeluFormula>(x, params, dy),
        Pointwise::Prenu => backward_with::<PrenuFormula>(x, params, dy),
        Pointwise::AconC => backward_with::<AconFormula>(x, params, dy),
        Pointwise::Pwlu => backward_with::<PwluFormula>(x, params, dy),
    }
}
