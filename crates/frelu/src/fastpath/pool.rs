//! 2-D max pooling on NCHW f32 slices: forward, and the input gradient recomputed from the
//! input and the output (no index tensor is kept).
//!
//! The window geometry is a depthwise convolution's ([`ConvGeometry`] with one channel per
//! group); each plane runs on one core, a kernel tap at a time over whole output rows. Ties go
//! to the first maximum in scan order (rows, then columns), as Burn's own kernels break them.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::matmul::with_scratch;
use crate::simd::multiversion;

/// Whether the windows are 2×2 with stride 2, no padding and no dilation: they tile the image
/// (floor mode: a last odd row or column is left out), and both passes run a kernel of their own.
fn two_by_two(g: &ConvGeometry) -> bool {
    (g.kh, g.kw) == (2, 2) && g.stride == [2, 2] && g.padding == [(0, 0); 2] && g.dilation == [1, 1]
}

/// `out = max over each window of x` (every element written; a window with no input inside
/// the image gives −∞).
pub fn max_forward(x: &[f32], g: &ConvGeometry, out: &mut [MaybeUninit<f32>]) {
    if two_by_two(g) {
        out.par_chunks_mut(g.out_plane().max(1))
            .zip(x.par_chunks(g.in_plane().max(1)))
            .for_each(|(dst, src)| max_plane_2x2(dst, src, g));
        return;
    }
    out.par_chunks_mut(g.out_plane().max(1))
        .zip(x.par_chunks(g.in_plane().max(1)))
        .for_each(|(dst, src)| {
            dst.fill(MaybeUninit::new(f32::NEG_INFINITY));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            max_plane(dst, src, g);
        });
}

multiversion! {
    /// One plane of [`max_forward`], `dst` filled with −∞.
    fn max_plane(dst: &mut [f32], src: &[f32], g: &ConvGeometry) {
        let sx = g.stride[1];
        g.for_each_row(|_, oy, xlo, xhi, start| {
            let line = &mut dst[oy * g.ow..][xlo..xhi];
            if sx == 1 {
                for (d, &v) in line.iter_mut().zip(&src[start..][..xhi - xlo]) {
                    *d = if v > *d { v } else { *d };
                }
            } else {
                for (k, d) in line.iter_mut().enumerate() {
                    let v = src[start + k * sx];
                    *d = if v > *d { v } else { *d };
                }
            }
        })
    }
}

multiversion! {
    /// One plane of [`max_forward`] for 2×2 windows of stride 2: two input rows at a time, the
    /// same comparisons in the same order as [`max_plane`] (so the same result, NaN included),
    /// without bounds checks, so that the compiler vectorises them.
    fn max_plane_2x2(dst: &mut [MaybeUninit<f32>], src: &[f32], g: &ConvGeometry) {
        let pick = |best: f32, v: f32| if v > best { v } else { best };
        for (oy, out) in dst.chunks_exact_mut(g.ow).enumerate().take(g.oh) {
            let (top, bottom) = src[2 * oy * g.w..][..2 * g.w].split_at(g.w);
            for ((o, t), b) in out.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                let best = pick(pick(f32::NEG_INFINITY, t[0]), t[1]);
                o.write(pick(pick(best, b[0]), b[1]));
            }
        }
    }
}

/// The input gradient of [`max_forward`] given its output `y` and the output gradient `dy`:
/// each output's gradient goes to the first input of its window equal to its maximum.
pub fn max_backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    dx: &mut [MaybeUninit<f32>],
) {
    let disjoint = g.stride == [g.kh, g.kw] && g.padding == [(0, 0); 2] && g.dilation == [1, 1];
    if disjoint {
        return disjoint_backward(x, y, dy, g, dx);
    }
    let (sx, p) = (g.stride[1], g.out_plane());
    dx.par_chunks_mut(g.in_plane().max(1))
        .zip(x.par_chunks(g.in_plane().max(1)))
        .zip(y.par_chunks(p.max(1)).zip(dy.par_chunks(p.max(1))))
        .for_each(|((dst, src), (maxima, grads))| {
            dst.fill(MaybeUninit::new(0.0));
            // SAFETY: initialised by the fill above.
            let dst: &mut [f32] = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
            // 1.0 where an output's gradient has been handed out already.
            with_scratch(p, |done| {
                done.fill(0.0);
                g.for_each_row(|_, oy, xlo, xhi, start| {
                    for k in 0..xhi - xlo {
                        let o = oy * g.ow + xlo + k;
                        let i = start + k * sx;
                        if done[o] == 0.0 && src[i] == maxima[o] {
                            dst[i] += grads[o];
                            done[o] = 1.0;
                        }
                    }
                });
            });
        });
}

/// [`max_backward`] for windows that tile the image without overlap or padding (the usual
/// 2×2, stride 2): each input compared once, branch-free, every element written once.
fn disjoint_backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    dx: &mut [MaybeUninit<f32>],
) {
    let (kh, kw, p) = (g.kh, g.kw, g.out_plane());
    dx.par_chunks_mut(g.in_plane().max(1))
        .zip(x.par_chunks(g.in_plane().max(1)))
        .zip(y.par_chunks(p.max(1)).zip(dy.par_chunks(p.max(1))))
        .for_each(|((dst, src), (maxima, grads))| {
            // Rows and columns past the last whole window get no gradient; the windows'
            // elements are all written below.
            if g.oh * kh != g.h || g.ow * kw != g.w {
                dst.fill(MaybeUninit::new(0.0));
            }
            disjoint_plane(dst, src, maxima, grads, g);
        });
}

multiversion! {
    /// One plane of [`disjoint_backward`]: writes every element of `dst` inside a window.
    fn disjoint_plane(dst: &mut [MaybeUninit<f32>], src: &[f32], maxima: &[f32], grads: &[f32], g: &ConvGeometry) {
        let (kh, kw) = (g.kh, g.kw);
        for oy in 0..g.oh {
            let (m, d) = (&maxima[oy * g.ow..][..g.ow], &grads[oy * g.ow..][..g.ow]);
            let rows = oy * kh * g.w;
            if (kh, kw) == (2, 2) {
                let (top, bottom) = src[rows..][..2 * g.w].split_at(g.w);
                let (out_top, out_bottom) = dst[rows..][..2 * g.w].split_at_mut(g.w);
                // Iterators, not indices: no bounds checks, so the loop vectorises.
                let inputs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                let outputs = out_top.chunks_exact_mut(2).zip(out_bottom.chunks_exact_mut(2));
                for (((t, b), (ot, ob)), (&mx, &dv)) in inputs.zip(outputs).zip(m.iter().zip(d)) {
                    let (hit_a, hit_b, hit_c) = (t[0] == mx, t[1] == mx, b[0] == mx);
                    let to_b = !hit_a & hit_b;
                    let to_c = !hit_a & !hit_b & hit_c;
                    let to_e = !hit_a & !hit_b & !hit_c & (b[1] == mx);
                    ot[0].write(if hit_a { dv } else { 0.0 });
                    ot[1].write(if to_b { dv } else { 0.0 });
                    ob[0].write(if to_c { dv } else { 0.0 });
                    ob[1].write(if to_e { dv } else { 0.0 });
                }
                continue;
            }
            for ox in 0..g.ow {
                let mut found = false;
                for i in 0..kh {
                    let at = rows + i * g.w + ox * kw;
                    for (o, &v) in dst[at..][..kw].iter_mut().zip(&src[at..][..kw]) {
                        let hit = !found & (v == m[ox]);
                        o.write(if hit { d[ox] } else { 0.0 });
                        found |= hit;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::tests::values;
    use super::*;

    fn pool_geometry(x: [usize; 4], k: usize, s: usize, p: usize) -> ConvGeometry {
        ConvGeometry::new(x, [x[1], 1, k, k], [s, s], [(p, p); 2], [1, 1], x[1]).expect("valid")
    }

    #[test]
    fn forward_and_backward_follow_the_first_maximum() {
        // One 4×4 plane with ties: 2×2 windows, stride 2.
        let x = [
            1.0, 3.0, 3.0, 0.0, 2.0, 3.0, 1.0, 3.0, 5.0, 5.0, 0.0, 1.0, 5.0, 4.0, 2.0, 2.0,
        ];
        let g = pool_geometry([1, 1, 4, 4], 2, 2, 0);
        let mut y = vec![MaybeUninit::uninit(); 4];
        max_forward(&x, &g, &mut y);
        let y: Vec<f32> = y.into_iter().map(|v| unsafe { v.assume_init() }).collect();
        assert_eq!(y, [3.0, 3.0, 5.0, 2.0]);
        let mut dx = vec![MaybeUninit::uninit(); 16];
        max_backward(&x, &y, &[1.0, 2.0, 3.0, 4.0], &g, &mut dx);
        let dx: Vec<f32> = dx.into_iter().map(|v| unsafe { v.assume_init() }).collect();
        let mut expected = [0.0; 16];
        expected[1] = 1.0; // first 3 of the first window
        expected[2] = 2.0; // first 3 of the second window
        expected[8] = 3.0; // first 5 of the third window
        expected[14] = 4.0; // first 2 of the fourth window
        assert_eq!(dx, expected);
    }

    #[test]
    fn the_disjoint_backward_equals_the_general_one() {
        for (shape, k) in [([2, 3, 9, 8], 2), ([1, 2, 9, 9], 3), ([3, 1, 4, 4], 2)] {
            let g = pool_geometry(shape, k, k, 0);
            // Few distinct values: many ties.
            let x: Vec<f32> = values(7, g.n * g.in_image())
                .iter()
                .map(|v| (v * 3.0).round())
                .collect();
            let dy = values(8, g.n * g.out_image());
            let mut y = vec![MaybeUninit::uninit(); dy.len()];
            max_forward(&x, &g, &mut y);
            let y: Vec<f32> = y.into_iter().map(|v| unsafe { v.assume_init() }).collect();
            let mut fast = vec![MaybeUninit::uninit(); x.len()];
            disjoint_backward(&x, &y, &dy, &g, &mut fast);
            // The general algorithm, forced by a geometry that is not recognised as disjoint.
            let mut general = vec![0.0f32; x.len()];
            for plane in 0..g.n * g.c_in {
                let mut done = vec![false; g.out_plane()];
                g.for_each_row(|_, oy, xlo, xhi, start| {
                    for k in 0..xhi - xlo {
                        let (o, i) = (oy * g.ow + xlo + k, start + k * g.stride[1]);
                        let (xv, yv) = (x[plane * g.in_plane() + i], y[plane * g.out_plane() + o]);
                        if !done[o] && xv == yv {
                            general[plane * g.in_plane() + i] += dy[plane * g.out_plane() + o];
                            done[o] = true;
                        }
                    }
                });
            }
            let fast: Vec<f32> = fast
                .into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect();
            assert_eq!(fast, general, "{shape:?} k{k}");
        }
    }

    #[test]
    fn the_two_by_two_forward_equals_the_general_one() {
        for shape in [[2, 3, 9, 8], [1, 2, 4, 4], [3, 1, 7, 5]] {
            let g = pool_geometry(shape, 2, 2, 0);
            assert!(two_by_two(&g));
            let mut x = values(5, g.n * g.in_image());
            x[3] = f32::NAN;
            let mut fast = vec![MaybeUninit::uninit(); g.n * g.out_image()];
            max_forward(&x, &g, &mut fast);
            let mut general = vec![f32::NEG_INFINITY; g.n * g.out_image()];
            for (dst, src) in general
                .chunks_mut(g.out_plane())
                .zip(x.chunks(g.in_plane()))
            {
                max_plane(dst, src, &g);
            }
            let fast: Vec<f32> = fast
                .into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect();
            let same = |a: &f32, b: &f32| a == b || (a.is_nan() && b.is_nan());
            assert!(
                fast.iter().zip(&general).all(|(a, b)| same(a, b)),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn overlapping_padded_windows_match_a_scan() {
        let g = pool_geometry([2, 3, 7, 6], 3, 2, 1);
        let x = values(3, g.n * g.in_image());
        let mut y = vec![MaybeUninit::uninit(); g.n * g.out_image()];
        max_forward(&x, &g, &mut y);
        let y: Vec<f32> = y.into_iter().map(|v| unsafe { v.assume_init() }).collect();
        for plane in 0..g.n * g.c_in {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut best = f32::NEG_INFINITY;
                    for i in 0..3 {
                        for j in 0..3 {
                            let (iy, ix) = ((oy * 2 + i) as isize - 1, (ox * 2 + j) as isize - 1);
                            if (0..7).contains(&iy) && (0..6).contains(&ix) {
                                best = best.max(x[plane * 42 + iy as usize * 6 + ix as usize]);
                            }
                        }
                    }
                    assert_eq!(y[plane * g.out_plane() + oy * g.ow + ox], best);
                }
            }
        }
    }
}
