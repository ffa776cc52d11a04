//! Depthwise 2-D convolution (one input and one output channel per group) on NCHW f32
//! slices, computed directly: a matrix product with one row would waste the GEMM.
//!
//! Every pass is parallel over `(n, c)` planes. A plane is first copied into a zero-bordered
//! scratch plane, so that every kernel tap reads (or, for the input gradient, writes) a plain
//! shifted row with no bounds to test; each output row then takes its taps one after the
//! other, in the order `(i, j)`, in a loop over the row that vectorises at stride 1. The weight
//! gradient is reduced per plane, then over `n` in index order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::matmul::with_scratch;
use crate::simd::multiversion;

/// Size `(rows, cols)` of a plane with its padding.
fn padded_size(g: &ConvGeometry) -> (usize, usize) {
    (
        g.h + g.padding[0].0 + g.padding[0].1,
        g.w + g.padding[1].0 + g.padding[1].1,
    )
}

/// Copies `plane` into the inside of the zero-bordered `padded`.
#[inline(always)]
fn pad(plane: &[f32], g: &ConvGeometry, padded: &mut [f32]) {
    let (rows, cols) = padded_size(g);
    let (top, left) = (g.padding[0].0, g.padding[1].0);
    padded[..top * cols].fill(0.0);
    padded[(top + g.h) * cols..rows * cols].fill(0.0);
    for y in 0..g.h {
        let line = &mut padded[(top + y) * cols..][..cols];
        line[..left].fill(0.0);
        line[left..left + g.w].copy_from_slice(&plane[y * g.w..][..g.w]);
        line[left + g.w..].fill(0.0);
    }
}

/// The padded-plane offset read by output `(oy, 0)` at tap `(i, j)`.
#[inline(always)]
fn tap_start(g: &ConvGeometry, cols: usize, oy: usize, i: usize, j: usize) -> usize {
    (oy * g.stride[0] + i * g.dilation[0]) * cols + j * g.dilation[1]
}

/// `out = conv(x, w)` for a depthwise `g` (every element of `out` written).
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry, out: &mut [MaybeUninit<f32>]) {
    debug_assert!(g.is_depthwise());
    let (rows, cols) = padded_size(g);
    let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
    let per_task = planes_per_task(g);
    out.par_chunks_mut(op * per_task)
        .zip(x.par_chunks(ip * per_task))
        .enumerate()
        .for_each(|(task, (dst, src))| {
            dst.fill(MaybeUninit::new(0.0));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            with_scratch(rows * cols, |padded| {
                forward_planes(dst, src, w, task * per_task, g, padded)
            });
        });
}

multiversion! {
    /// [`forward`] for the consecutive planes `first..` in `dst` (zeroed) and `src`.
    fn forward_planes(dst: &mut [f32], src: &[f32], w: &[f32], first: usize, g: &ConvGeometry, padded: &mut [f32]) {
        let (taps, sx) = (g.kh * g.kw, g.stride[1]);
        let cols = padded_size(g).1;
        let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
        for (k, (dst, src)) in dst.chunks_mut(op).zip(src.chunks(ip)).enumerate() {
            let weights = &w[((first + k) % g.c_out) * taps..][..taps];
            pad(src, g, padded);
            for oy in 0..g.oh {
                let line = &mut dst[oy * g.ow..][..g.ow];
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let wv = weights[i * g.kw + j];
                        let from = &padded[tap_start(g, cols, oy, i, j)..];
                        if sx == 1 {
                            for (d, &v) in line.iter_mut().zip(from) {
                                *d += wv * v;
                            }
                        } else {
                            for (k, d) in line.iter_mut().enumerate() {
                                *d += wv * from[k * sx];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Planes per parallel task: enough that small planes (4×4, 2×2 at the end of a network) do
/// not pay a task and a scratch look-up each.
fn planes_per_task(g: &ConvGeometry) -> usize {
    (4096 / g.in_plane().max(g.out_plane()).max(1)).clamp(1, 64)
}

/// The input gradient of [`forward`] (every element of `dx` written).
pub fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [MaybeUninit<f32>]) {
    debug_assert!(g.is_depthwise());
    let (rows, cols) = padded_size(g);
    let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
    let per_task = planes_per_task(g);
    dx.par_chunks_mut(ip * per_task)
        .zip(dy.par_chunks(op * per_task))
        .enumerate()
        .for_each(|(task, (dst, src))| {
            dst.fill(MaybeUninit::new(0.0));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            with_scratch(rows * cols, |padded| {
                input_grad_planes(dst, src, w, task * per_task, g, padded)
            });
        });
}

multiversion! {
    /// [`input_grad`] for the consecutive planes `first..` in `dst` and `src`.
    fn input_grad_planes(dst: &mut [f32], src: &[f32], w: &[f32], first: usize, g: &ConvGeometry, padded: &mut [f32]) {
        let (taps, sx) = (g.kh * g.kw, g.stride[1]);
        let cols = padded_size(g).1;
        let (top, left) = (g.padding[0].0, g.padding[1].0);
        let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
        for (k, (dst, src)) in dst.chunks_mut(ip).zip(src.chunks(op)).enumerate() {
            let weights = &w[((first + k) % g.c_out) * taps..][..taps];
            padded.fill(0.0);
            for oy in 0..g.oh {
                let line = &src[oy * g.ow..][..g.ow];
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let wv = weights[i * g.kw + j];
                        let to = &mut padded[tap_start(g, cols, oy, i, j)..];
                        if sx == 1 {
                            for (d, &v) in to.iter_mut().zip(line) {
                                *d += wv * v;
                            }
                        } else {
                            for (k, &v) in line.iter().enumerate() {
                                to[k * sx] += wv * v;
                            }
                        }
                    }
                }
            }
            // The inside of the padded gradient is the input's gradient.
            for y in 0..g.h {
                let from = &padded[(top + y) * cols + left..][..g.w];
                dst[y * g.w..][..g.w].copy_from_slice(from);
            }
        }
    }
}

/// The weight gradient `[c, 1, kh, kw]` of [`forward`].
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    debug_assert!(g.is_depthwise());
    let taps = g.kh * g.kw;
    let (rows, cols) = padded_size(g);
    let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
    let per_task = planes_per_task(g);
    // Per plane, the sums of every tap; planes in index order.
    let partials: Vec<Vec<f32>> = x
        .par_chunks(ip * per_task)
        .zip(dy.par_chunks(op * per_task))
        .map(|(src, grad)| {
            let mut out = vec![0.0f32; taps * src.len().div_ceil(ip)];
            with_scratch(rows * cols + taps * g.ow, |scratch| {
                let (padded, sums) = scratch.split_at_mut(rows * cols);
                weight_grad_planes(&mut out, src, grad, g, padded, sums);
            });
            out
        })
        .collect();
    let mut grad = vec![0.0f32; g.c_out * taps];
    for (plane, sums) in partials
        .iter()
        .flat_map(|task| task.chunks(taps))
        .enumerate()
    {
        let c = plane % g.c_out;
        for (d, &v) in grad[c * taps..][..taps].iter_mut().zip(sums) {
            *d += v;
        }
    }
    grad
}

multiversion! {
    /// Each plane's tap sums of [`weight_grad`] into `out` (`taps` per plane), with `sums`, one
    /// row of partial sums per tap, reduced at the end of each plane.
    fn weight_grad_planes(out: &mut [f32], src: &[f32], grad: &[f32], g: &ConvGeometry, padded: &mut [f32], sums: &mut [f32]) {
        let (taps, sx) = (g.kh * g.kw, g.stride[1]);
        let cols = padded_size(g).1;
        let (ip, op) = (g.in_plane().max(1), g.out_plane().max(1));
        for ((src, grad), out) in src.chunks(ip).zip(grad.chunks(op)).zip(out.chunks_mut(taps)) {
            pad(src, g, padded);
            sums.fill(0.0);
            for oy in 0..g.oh {
                let line = &grad[oy * g.ow..][..g.ow];
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let from = &padded[tap_start(g, cols, oy, i, j)..];
                        let acc = &mut sums[(i * g.kw + j) * g.ow..][..g.ow];
                        if sx == 1 {
                            for ((a, &d), &v) in acc.iter_mut().zip(line).zip(from) {
                                *a += d * v;
                            }
                        } else {
                            for (k, (a, &d)) in acc.iter_mut().zip(line).enumerate() {
                                *a += d * from[k * sx];
                            }
                        }
                    }
                }
            }
            for (o, row) in out.iter_mut().zip(sums.chunks(g.ow.max(1))) {
                *o = row.iter().sum::<f32>();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::tests::{init, reference, shapes, values};
    use super::*;

    #[test]
    fn passes_equal_the_reference_and_its_adjoints() {
        for (i, g) in shapes().iter().filter(|g| g.is_depthwise()).enumerate() {
            let x = values(i as u64, g.n * g.in_image());
            let w = values(50 + i as u64, g.weight_len());
            let dy = values(90 + i as u64, g.n * g.out_image());
            let mut out = vec![MaybeUninit::uninit(); dy.len()];
            forward(&x, &w, g, &mut out);
            let out = init(out);
            let expected = reference(&x, &w, g);
            for (a, b) in out.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
            };
            let mut dx = vec![MaybeUninit::uninit(); x.len()];
            input_grad(&dy, &w, g, &mut dx);
            let dx = init(dx);
            let dw = weight_grad(&x, &dy, g);
            let forward_dot = dot(&expected, &dy);
            assert!((dot(&x, &dx) - forward_dot).abs() < 1e-4 * (1.0 + forward_dot.abs()));
            assert!((dot(&w, &dw) - forward_dot).abs() < 1e-4 * (1.0 + forward_dot.abs()));
        }
    }
}
