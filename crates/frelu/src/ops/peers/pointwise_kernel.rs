//! The kernels of the pointwise peers on the Flex (CPU) backend, for f32: PELU, MPELU, PReNU and
//! ACON-C, each a function of one input element and its channel's parameters (`[K, C]`, or
//! `[K, 1]` for one set per layer).
//!
//! Both passes work on `(n, c)` planes in parallel with rayon. The backward pass writes `dx` over
//! `dy`'s buffer and sums the parameters' gradients per plane, then over the planes in index
//! order, so its result does not depend on how the work was scheduled. Each formula takes the
//! derivative at a kink (`x = 0`) as autodiff takes it through the composed layer: `clamp_min`
//! and `clamp_max` both pass the gradient where `x` equals the bound.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::Pointwise;
use crate::flex_tensor::{contiguous, f32_vec, f32s, map_planes, owned, tensor, unique_slice_mut};
use crate::ops::plane_size;

/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 13;
/// The most parameters per channel of any formula.
const MAX_K: usize = 3;

/// One pointwise activation: its value, and its derivatives in the input and the parameters.
trait Formula: Sync {
    const K: usize;
    fn value(x: f32, p: &[f32]) -> f32;
    /// Adds `g·∂y/∂p_k` to `dp[k]` and returns `g·∂y/∂x`.
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32;
}

/// PELU `(a, b)`: `(a/b)·max(x, 0) + a·(exp(min(x, 0)/b) − 1)`.
struct PeluFormula;
impl Formula for PeluFormula {
    const K: usize = 2;
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let (a, b) = (p[0], p[1]);
        x.max(0.0) * (a / b) + ((x.min(0.0) / b).exp() - 1.0) * a
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (a, b) = (p[0], p[1]);
        let (pos, neg) = (x.max(0.0), x.min(0.0));
        let e = (neg / b).exp();
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
    const K: usize = 2;
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let (alpha, beta) = (p[0], p[1]);
        x.max(0.0) + ((x.min(0.0) * beta).exp() - 1.0) * alpha
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let (alpha, beta) = (p[0], p[1]);
        let neg = x.min(0.0);
        let e = (neg * beta).exp();
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
    const K: usize = 1;
    #[inline(always)]
    fn value(x: f32, p: &[f32]) -> f32 {
        let pos = x.max(0.0);
        pos - pos.ln_1p() * p[0]
    }
    #[inline(always)]
    fn backward(x: f32, p: &[f32], g: f32, dp: &mut [f32]) -> f32 {
        let pos = x.max(0.0);
        dp[0] -= g * pos.ln_1p();
        if x >= 0.0 {
            g * (1.0 - p[0] / (1.0 + pos))
        } else {
            0.0
        }
    }
}

/// ACON-C `(p1, p2, β)`: `d·σ(β·d) + p2·x` with `d = (p1 − p2)·x`.
struct AconFormula;
impl Formula for AconFormula {
    const K: usize = 3;
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
    1.0 / (1.0 + (-v).exp())
}

/// The parameters as `[channel][k]` (one row when they are shared by the layer).
fn by_channel(params: &FlexTensor, k: usize) -> Vec<[f32; MAX_K]> {
    let shape = params.shape();
    assert_eq!(
        shape[0], k,
        "{k} parameters per channel expected, got {}",
        shape[0]
    );
    let c = shape[1];
    let values = f32_vec(params);
    (0..c)
        .map(|ch| std::array::from_fn(|i| if i < k { values[i * c + ch] } else { 0.0 }))
        .collect()
}

fn forward_with<F: Formula>(x: FlexTensor, params: FlexTensor) -> FlexTensor {
    let p = by_channel(&params, F::K);
    let shape = x.shape();
    let (c, s) = (shape[1], plane_size(&shape).max(1));
    let slot = |plane: usize| if p.len() == 1 { 0 } else { plane % c };
    map_planes(
        x,
        s,
        (GRAIN / s).max(1),
        |plane| p[slot(plane)],
        |p, v| F::value(v, p),
    )
}

fn backward_with<F: Formula>(
    x: FlexTensor,
    params: FlexTensor,
    dy: FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let p = by_channel(&params, F::K);
    let shape = x.shape();
    let (c, s) = (shape[1], plane_size(&shape).max(1));
    let slot = |plane: usize| if p.len() == 1 { 0 } else { plane % c };
    let x = contiguous(x);
    let xs = f32s(&x);
    let mut dy = owned(dy);
    let grad = unique_slice_mut(&mut dy).expect("uniquely owned");
    let mut partials = vec![[0.0f32; MAX_K]; xs.len() / s];
    grad.par_chunks_mut(s)
        .zip(xs.par_chunks(s))
        .zip(partials.par_iter_mut())
        .with_min_len((GRAIN / s).max(1))
        .enumerate()
        .for_each(|(plane, ((g, xp), partial))| {
            let p = &p[slot(plane)];
            for (d, &v) in g.iter_mut().zip(xp) {
                *d = F::backward(v, p, *d, &mut partial[..F::K]);
            }
        });
    let mut dp = vec![0.0f32; F::K * p.len()];
    for (plane, partial) in partials.iter().enumerate() {
        let ch = slot(plane);
        for k in 0..F::K {
            dp[k * p.len() + ch] += partial[k];
        }
    }
    (dy, tensor(dp, [F::K, p.len()]))
}

/// The forward pass of `kind`.
pub(super) fn forward(x: FlexTensor, params: FlexTensor, kind: Pointwise) -> FlexTensor {
    match kind {
        Pointwise::Pelu => forward_with::<PeluFormula>(x, params),
        Pointwise::Mpelu => forward_with::<MpeluFormula>(x, params),
        Pointwise::Prenu => forward_with::<PrenuFormula>(x, params),
        Pointwise::AconC => forward_with::<AconFormula>(x, params),
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
    }
}
