//! The APL kernels of the Flex (CPU) backend, for f32.
//!
//! Both passes work on `(n, c)` planes of `S = H·W·...` contiguous elements, in parallel with
//! rayon, and within a plane on blocks of [`BLOCK`] elements, hinge by hinge (loops the compiler
//! vectorises, compiled for the widest vector instructions the CPU has: [`multiversion!`]). The backward pass writes `dx` over `dy`'s buffer and reduces `da`, `db` per plane
//! (with [`LANES`] independent accumulators), then over `n` in index order, so its result does
//! not depend on how the work was scheduled.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::flex_tensor::{contiguous, f32_vec, f32s, filled, owned, tensor, unique_slice_mut};
use crate::ops::plane_size;
use crate::simd::multiversion;

/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 13;
/// Elements a plane is processed in at a time.
const BLOCK: usize = 256;
/// Independent accumulators per hinge in the backward reduction.
const LANES: usize = 8;

/// The hinges of every channel, channel-major: `hinges[c]` = `[(a, b); S]`.
struct Hinges {
    per_channel: Vec<Vec<(f32, f32)>>,
}

impl Hinges {
    fn new(a: &FlexTensor, b: &FlexTensor) -> Self {
        let shape = a.shape();
        let (s, c) = (shape[0], shape[1]);
        let (a, b) = (f32_vec(a), f32_vec(b));
        Self {
            per_channel: (0..c)
                .map(|ch| (0..s).map(|k| (a[k * c + ch], b[k * c + ch])).collect())
                .collect(),
        }
    }
}

/// `out = max(0, x) + Σ_s a_s·max(0, b_s − x)` over one block, in the composed layer's order.
#[inline(always)]
fn block_forward(x: &[f32], out: &mut [f32], hinges: &[(f32, f32)]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v.max(0.0);
    }
    for &(a, b) in hinges {
        for (o, &v) in out.iter_mut().zip(x) {
            *o += (b - v).max(0.0) * a;
        }
    }
}

multiversion! {
    /// One plane of the forward pass, in place.
    fn plane_forward_in_place(values: &mut [f32], hinges: &[(f32, f32)]) {
        let mut input = [0.0f32; BLOCK];
        for block in values.chunks_mut(BLOCK) {
            let input = &mut input[..block.len()];
            input.copy_from_slice(block);
            block_forward(input, block, hinges);
        }
    }
}

multiversion! {
    /// One plane of the forward pass, into a new buffer.
    fn plane_forward_into(dst: &mut [MaybeUninit<f32>], src: &[f32], hinges: &[(f32, f32)]) {
        let mut buffer = [0.0f32; BLOCK];
        for (d, x) in dst.chunks_mut(BLOCK).zip(src.chunks(BLOCK)) {
            let buffer = &mut buffer[..x.len()];
            block_forward(x, buffer, hinges);
            for (d, &v) in d.iter_mut().zip(buffer.iter()) {
                d.write(v);
            }
        }
    }
}

/// APL forward (see [`super::backend::PeerBackend::apl`]).
pub(super) fn forward(x: FlexTensor, a: FlexTensor, b: FlexTensor) -> FlexTensor {
    let hinges = Hinges::new(&a, &b);
    let shape = x.shape();
    let (c, s) = (shape[1], plane_size(&shape));
    let grain = (GRAIN / s.max(1)).max(1);
    let mut x = contiguous(x);
    if let Some(data) = unique_slice_mut(&mut x) {
        data.par_chunks_mut(s.max(1))
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, values)| {
                plane_forward_in_place(values, &hinges.per_channel[plane % c])
            });
        return x;
    }
    let input = f32s(&x);
    let out = filled(input.len(), |out| {
        out.par_chunks_mut(s.max(1))
            .zip(input.par_chunks(s.max(1)))
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, (dst, src))| {
                plane_forward_into(dst, src, &hinges.per_channel[plane % c])
            });
    });
    tensor(out, shape)
}

/// APL backward (see [`super::backend::PeerBackend::apl_backward`]).
pub(super) fn backward(
    x: FlexTensor,
    a: FlexTensor,
    b: FlexTensor,
    dy: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let hinges = Hinges::new(&a, &b);
    let (n_hinges, c) = (a.shape()[0], a.shape()[1]);
    let shape = x.shape();
    let s = plane_size(&shape);
    let x = contiguous(x);
    let xs = f32s(&x);
    let mut dy = owned(dy);
    let grad = unique_slice_mut(&mut dy).expect("uniquely owned");
    // Per plane: Σ dy·max(0, b_s − x) for each s, then Σ dy·[b_s − x ≥ 0].
    let mut partials = vec![0.0f32; shape[0] * c * 2 * n_hinges];
    grad.par_chunks_mut(s.max(1))
        .zip(xs.par_chunks(s.max(1)))
        .zip(partials.par_chunks_mut(2 * n_hinges))
        .with_min_len((GRAIN / s.max(1)).max(1))
        .enumerate()
        .for_each(|(plane, ((g, xp), partial))| {
            plane_backward(xp, g, &hinges.per_channel[plane % c], partial);
        });
    let mut da = vec![0.0f32; n_hinges * c];
    let mut db = vec![0.0f32; n_hinges * c];
    for (plane, partial) in partials.chunks(2 * n_hinges).enumerate() {
        let ch = plane % c;
        for k in 0..n_hinges {
            let (a_k, _) = hinges.per_channel[ch][k];
            da[k * c + ch] += partial[k];
            db[k * c + ch] += a_k * partial[n_hinges + k];
        }
    }
    (dy, tensor(da, [n_hinges, c]), tensor(db, [n_hinges, c]))
}

multiversion! {
    /// One plane of the backward pass: turns `g` (dy) into dx in place and writes its sums into
    /// `partial` (`[Σ dy·max(0, b_s − x); S]` then `[Σ dy·[b_s − x ≥ 0]; S]`).
    fn plane_backward(x: &[f32], g: &mut [f32], hinges: &[(f32, f32)], partial: &mut [f32]) {
        let n_hinges = hinges.len();
        let mut upstream = [0.0f32; BLOCK];
        for (xb, gb) in x.chunks(BLOCK).zip(g.chunks_mut(BLOCK)) {
            let upstream = &mut upstream[..xb.len()];
            upstream.copy_from_slice(gb);
            // The ReLU term passes the gradient where x ≥ 0.
            for (d, &v) in gb.iter_mut().zip(xb.iter()) {
                *d = if v >= 0.0 { *d } else { 0.0 };
            }
            for (k, &(a, b)) in hinges.iter().enumerate() {
                let (sum_a, sum_b) = hinge_block(xb, upstream, gb, a, b);
                partial[k] += sum_a;
                partial[n_hinges + k] += sum_b;
            }
        }
    }
}

/// One hinge over one block: `dx −= dy·a·[b − x ≥ 0]`; returns `(Σ dy·max(0, b − x),
/// Σ dy·[b − x ≥ 0])`.
#[inline(always)]
fn hinge_block(x: &[f32], g: &[f32], dx: &mut [f32], a: f32, b: f32) -> (f32, f32) {
    let mut sum_a = [0.0f32; LANES];
    let mut sum_b = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES).zip(g.chunks_exact(LANES));
    let mut dx_chunks = dx.chunks_exact_mut(LANES);
    for ((xc, gc), dc) in (&mut chunks).zip(&mut dx_chunks) {
        for j in 0..LANES {
            let t = b - xc[j];
            let open = t >= 0.0;
            sum_a[j] += gc[j] * t.max(0.0);
            sum_b[j] += if open { gc[j] } else { 0.0 };
            dc[j] -= if open { gc[j] * a } else { 0.0 };
        }
    }
    let done = x.len() - x.len() % LANES;
    for i in done..x.len() {
        let t = b - x[i];
        let open = t >= 0.0;
        sum_a[0] += g[i] * t.max(0.0);
        sum_b[0] += if open { g[i] } else { 0.0 };
        dx[i] -= if open { g[i] * a } else { 0.0 };
    }
    (sum_a.iter().sum(), sum_b.iter().sum())
}
