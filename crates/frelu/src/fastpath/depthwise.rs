//! Depthwise 2-D convolution (one input and one output channel per group) on NCHW f32
//! slices, computed directly: a matrix product with one row would waste the GEMM.
//!
//! Every pass is parallel over `(n, c)` planes; each kernel tap adds a shifted, scaled copy of
//! a plane (a contiguous, vectorisable loop at stride 1). The weight gradient is reduced per
//! plane, then over `n` in index order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::simd::vectorized;

/// `out = conv(x, w)` for a depthwise `g` (every element of `out` written).
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry, out: &mut [MaybeUninit<f32>]) {
    debug_assert!(g.is_depthwise());
    let (taps, sx) = (g.kh * g.kw, g.stride[1]);
    out.par_chunks_mut(g.out_plane().max(1))
        .zip(x.par_chunks(g.in_plane().max(1)))
        .enumerate()
        .for_each(|(plane, (dst, src))| {
            dst.fill(MaybeUninit::new(0.0));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            let weights = &w[(plane % g.c_out) * taps..][..taps];
            vectorized(|| {
                g.for_each_row(|tap, oy, xlo, xhi, start| {
                    let wv = weights[tap];
                    let line = &mut dst[oy * g.ow..][xlo..xhi];
                    if sx == 1 {
                        for (d, &v) in line.iter_mut().zip(&src[start..][..xhi - xlo]) {
                            *d += wv * v;
                        }
                    } else {
                        for (k, d) in line.iter_mut().enumerate() {
                            *d += wv * src[start + k * sx];
                        }
                    }
                })
            });
        });
}

/// The input gradient of [`forward`] (every element of `dx` written).
pub fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [MaybeUninit<f32>]) {
    debug_assert!(g.is_depthwise());
    let (taps, sx) = (g.kh * g.kw, g.stride[1]);
    dx.par_chunks_mut(g.in_plane().max(1))
        .zip(dy.par_chunks(g.out_plane().max(1)))
        .enumerate()
        .for_each(|(plane, (dst, src))| {
            dst.fill(MaybeUninit::new(0.0));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            let weights = &w[(plane % g.c_out) * taps..][..taps];
            vectorized(|| {
                g.for_each_row(|tap, oy, xlo, xhi, start| {
                    let wv = weights[tap];
                    let line = &src[oy * g.ow..][xlo..xhi];
                    if sx == 1 {
                        for (d, &v) in dst[start..][..xhi - xlo].iter_mut().zip(line) {
                            *d += wv * v;
                        }
                    } else {
                        for (k, &v) in line.iter().enumerate() {
                            dst[start + k * sx] += wv * v;
                        }
                    }
                })
            });
        });
}

/// The weight gradient `[c, 1, kh, kw]` of [`forward`].
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    debug_assert!(g.is_depthwise());
    let (taps, sx) = (g.kh * g.kw, g.stride[1]);
    let partials: Vec<Vec<f32>> = x
        .par_chunks(g.in_plane().max(1))
        .zip(dy.par_chunks(g.out_plane().max(1)))
        .map(|(src, grad)| {
            let mut sums = vec![0.0f32; taps];
            vectorized(|| {
                g.for_each_row(|tap, oy, xlo, xhi, start| {
                    let line = &grad[oy * g.ow..][xlo..xhi];
                    let mut acc = [0.0f32; 8];
                    if sx == 1 {
                        let pairs = line.iter().zip(&src[start..][..xhi - xlo]);
                        for (k, (&d, &v)) in pairs.enumerate() {
                            acc[k % 8] += d * v;
                        }
                    } else {
                        for (k, &d) in line.iter().enumerate() {
                            acc[k % 8] += d * src[start + k * sx];
                        }
                    }
                    sums[tap] += acc.iter().sum::<f32>();
                })
            });
            sums
        })
        .collect();
    let mut grad = vec![0.0f32; g.c_out * taps];
    for (plane, sums) in partials.iter().enumerate() {
        let c = plane % g.c_out;
        for (d, &v) in grad[c * taps..][..taps].iter_mut().zip(sums) {
            *d += v;
        }
    }
    grad
}

#[cfg(test)]
mod tests {
    use super::super::conv::tests::{reference, shapes, values};
    use super::*;

    #[test]
    fn passes_equal_the_reference_and_its_adjoints() {
        for (i, g) in shapes().iter().filter(|g| g.is_depthwise()).enumerate() {
            let x = values(i as u64, g.n * g.in_image());
            let w = values(50 + i as u64, g.weight_len());
            let dy = values(90 + i as u64, g.n * g.out_image());
            let mut out = vec![MaybeUninit::uninit(); dy.len()];
            forward(&x, &w, g, &mut out);
            let out: Vec<f32> = out
                .into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect();
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
            let dx: Vec<f32> = dx.into_iter().map(|v| unsafe { v.assume_init() }).collect();
            let dw = weight_grad(&x, &dy, g);
            let forward_dot = dot(&expected, &dy);
            assert!((dot(&x, &dx) - forward_dot).abs() < 1e-4 * (1.0 + forward_dot.abs()));
            assert!((dot(&w, &dw) - forward_dot).abs() < 1e-4 * (1.0 + forward_dot.abs()));
        }
    }
}
