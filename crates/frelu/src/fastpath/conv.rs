//! 2-D convolution on NCHW f32 slices as matrix products: forward, input gradient and weight
//! gradient, any stride, padding, dilation and group count.
//!
//! Per image and group, the convolution is `out[c_out, P] = W[c_out, K] · col[K, P]` with
//! `col = im2col(x)` (`K = c_in/groups · kh · kw`, `P = oh · ow`); a pointwise (1×1, stride 1,
//! unpadded) convolution uses the image itself as `col`. The output lands in NCHW directly:
//! no layout copies. Images run in parallel, each product on one core with its `col` in that
//! core's reused scratch buffer; with fewer images than cores the product itself is split.
//!
//! - input gradient: `dcol = Wᵀ · dy`, then `col2im` adds it back onto the image;
//! - weight gradient: `dW = Σₙ dyₙ · colₙᵀ`, summed per fixed chunk of images and then over
//!   the chunks in order, so the result does not depend on the thread count or schedule.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::matmul::{View, matmul, with_scratch};
use crate::simd::multiversion;

/// The weight gradient is summed over at most this many chunks of images (then in order).
const WEIGHT_CHUNKS: usize = 16;

/// Threads a per-image product may use: all of them when the images alone cannot fill the
/// pool, else one.
fn product_threads(images: usize) -> usize {
    let pool = rayon::current_num_threads();
    if images >= pool { 1 } else { pool }
}

/// Whether a tap's im2col row is the input plane shifted by a constant offset (stride 1 and
/// output rows as wide as input rows: a 3×3 "same" convolution), so that whole rows move in one
/// copy and only the border columns need fixing.
#[inline(always)]
fn shifted_planes(g: &ConvGeometry) -> bool {
    g.stride == [1, 1] && g.ow == g.w
}

multiversion! {
    /// Writes the im2col matrix `[K, P]` of group `group` of one image into `col`.
    fn im2col(image: &[f32], g: &ConvGeometry, group: usize, col: &mut [f32]) {
        let (p, [sy, sx]) = (g.out_plane(), g.stride);
        let first = group * g.c_in_group();
        let shifted = shifted_planes(g);
        let mut row = 0;
        for ci in 0..g.c_in_group() {
            let plane = &image[(first + ci) * g.in_plane()..][..g.in_plane()];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let ((ylo, yhi), (xlo, xhi), start) = g.tap_window(i, j);
                    let dst = &mut col[row * p..][..p];
                    row += 1;
                    if ylo >= yhi || xlo >= xhi {
                        dst.fill(0.0);
                        continue;
                    }
                    dst[..ylo * g.ow].fill(0.0);
                    dst[yhi * g.ow..].fill(0.0);
                    if shifted {
                        // One copy of every inside row; the columns it wraps into are zeroed after.
                        let (first_out, last_out) = (ylo * g.ow + xlo, (yhi - 1) * g.ow + xhi);
                        dst[first_out..last_out]
                            .copy_from_slice(&plane[start..][..last_out - first_out]);
                        for oy in ylo..yhi {
                            let line = &mut dst[oy * g.ow..][..g.ow];
                            line[..xlo].fill(0.0);
                            line[xhi..].fill(0.0);
                        }
                        continue;
                    }
                    for oy in ylo..yhi {
                        let line = &mut dst[oy * g.ow..][..g.ow];
                        line[..xlo].fill(0.0);
                        line[xhi..].fill(0.0);
                        let from = start + (oy - ylo) * sy * g.w;
                        if sx == 1 {
                            line[xlo..xhi].copy_from_slice(&plane[from..][..xhi - xlo]);
                        } else {
                            for (k, v) in line[xlo..xhi].iter_mut().enumerate() {
                                *v = plane[from + k * sx];
                            }
                        }
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Adds the im2col-shaped gradient `col [K, P]` of group `group` onto one image's gradient
    /// (`col`'s border columns may be overwritten).
    fn col2im(col: &mut [f32], g: &ConvGeometry, group: usize, image: &mut [f32]) {
        let (p, [sy, sx]) = (g.out_plane(), g.stride);
        let first = group * g.c_in_group();
        let shifted = shifted_planes(g);
        let mut row = 0;
        for ci in 0..g.c_in_group() {
            let plane = &mut image[(first + ci) * g.in_plane()..][..g.in_plane()];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let ((ylo, yhi), (xlo, xhi), start) = g.tap_window(i, j);
                    let src = &mut col[row * p..][..p];
                    row += 1;
                    if ylo >= yhi || xlo >= xhi {
                        continue;
                    }
                    if shifted {
                        // Zero the columns that read outside, then add every inside row at once.
                        for oy in ylo..yhi {
                            let line = &mut src[oy * g.ow..][..g.ow];
                            line[..xlo].fill(0.0);
                            line[xhi..].fill(0.0);
                        }
                        let (first_out, last_out) = (ylo * g.ow + xlo, (yhi - 1) * g.ow + xhi);
                        let target = &mut plane[start..][..last_out - first_out];
                        for (d, &v) in target.iter_mut().zip(&src[first_out..last_out]) {
                            *d += v;
                        }
                        continue;
                    }
                    for oy in ylo..yhi {
                        let line = &src[oy * g.ow..][..g.ow];
                        let to = start + (oy - ylo) * sy * g.w;
                        if sx == 1 {
                            for (d, &v) in plane[to..][..xhi - xlo].iter_mut().zip(&line[xlo..xhi]) {
                                *d += v;
                            }
                        } else {
                            for (k, &v) in line[xlo..xhi].iter().enumerate() {
                                plane[to + k * sx] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f` with the column matrix `[K, P]` of group `group` of one image: the image's own
/// channels for a pointwise convolution, else its im2col in this thread's scratch buffer.
#[inline(always)]
fn with_columns<R>(
    image: &[f32],
    g: &ConvGeometry,
    group: usize,
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    let len = g.k_group() * g.out_plane();
    if g.is_pointwise() {
        return f(&image[group * len..][..len]);
    }
    with_scratch(len, |col| {
        im2col(image, g, group, col);
        f(col)
    })
}

/// `out = conv(x, w)`: `x [n, c_in, h, w]`, `w [c_out, c_in/groups, kh, kw]`,
/// `out [n, c_out, oh, ow]` (every element written).
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry, out: &mut [MaybeUninit<f32>]) {
    debug_assert_eq!(x.len(), g.n * g.in_image());
    debug_assert_eq!(w.len(), g.weight_len());
    debug_assert_eq!(out.len(), g.n * g.out_image());
    if out.is_empty() {
        return;
    }
    let threads = product_threads(g.n);
    let (p, kg, mg) = (g.out_plane(), g.k_group(), g.c_out_group());
    let image = |(out, x): (&mut [MaybeUninit<f32>], &[f32])| {
        for group in 0..g.groups {
            let w_group = &w[group * mg * kg..][..mg * kg];
            let dst = out[group * mg * p..][..mg * p].as_mut_ptr().cast::<f32>();
            with_columns(x, g, group, |col| {
                // SAFETY: dst holds mg·p elements, written and not read (accumulate = false);
                // col holds kg·p.
                unsafe {
                    matmul(
                        mg,
                        p,
                        kg,
                        dst,
                        false,
                        w_group.as_ptr(),
                        View::rows(kg),
                        col.as_ptr(),
                        View::rows(p),
                        threads,
                    )
                }
            });
        }
    };
    let chunks = out
        .par_chunks_mut(g.out_image())
        .zip(x.par_chunks(g.in_image().max(1)));
    if threads > 1 {
        chunks.with_max_len(1).for_each(image);
    } else {
        chunks.for_each(image);
    }
}

/// The input gradient `dx [n, c_in, h, w]` (every element written) of [`forward`], given the
/// output gradient `dy [n, c_out, oh, ow]`.
pub fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [MaybeUninit<f32>]) {
    debug_assert_eq!(dy.len(), g.n * g.out_image());
    debug_assert_eq!(dx.len(), g.n * g.in_image());
    if dx.is_empty() {
        return;
    }
    let threads = product_threads(g.n);
    let (p, kg, mg) = (g.out_plane(), g.k_group(), g.c_out_group());
    let image = |(dx, dy): (&mut [MaybeUninit<f32>], &[f32])| {
        for group in 0..g.groups {
            let w_group = &w[group * mg * kg..][..mg * kg];
            let dy_group = &dy[group * mg * p..][..mg * p];
            if g.is_pointwise() {
                // A pointwise convolution's input gradient is one product per group.
                let dst = dx[group * kg * p..][..kg * p].as_mut_ptr().cast::<f32>();
                // SAFETY: dst holds kg·p elements, written and not read; Wᵀ is w transposed.
                unsafe {
                    matmul(
                        kg,
                        p,
                        mg,
                        dst,
                        false,
                        w_group.as_ptr(),
                        View::transposed(kg),
                        dy_group.as_ptr(),
                        View::rows(p),
                        threads,
                    )
                };
            } else {
                if group == 0 {
                    // col2im accumulates: start from zero.
                    dx.fill(MaybeUninit::new(0.0));
                }
                // SAFETY: every element was initialised by the fill above.
                let dx: &mut [f32] = unsafe { &mut *(dx as *mut [MaybeUninit<f32>] as *mut [f32]) };
                with_scratch(kg * p, |col| {
                    // SAFETY: col holds kg·p elements.
                    unsafe {
                        matmul(
                            kg,
                            p,
                            mg,
                            col.as_mut_ptr(),
                            false,
                            w_group.as_ptr(),
                            View::transposed(kg),
                            dy_group.as_ptr(),
                            View::rows(p),
                            threads,
                        )
                    };
                    col2im(col, g, group, dx);
                });
            }
        }
    };
    let chunks = dx
        .par_chunks_mut(g.in_image())
        .zip(dy.par_chunks(g.out_image().max(1)));
    if threads > 1 {
        chunks.with_max_len(1).for_each(image);
    } else {
        chunks.for_each(image);
    }
}

/// The weight gradient `[c_out, c_in/groups, kh, kw]` of [`forward`], given the output
/// gradient `dy [n, c_out, oh, ow]`.
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    debug_assert_eq!(x.len(), g.n * g.in_image());
    debug_assert_eq!(dy.len(), g.n * g.out_image());
    let len = g.weight_len();
    if g.n == 0 || g.out_plane() == 0 {
        return vec![0.0; len];
    }
    let per_chunk = g.n.div_ceil(WEIGHT_CHUNKS);
    let chunks = g.n.div_ceil(per_chunk);
    let threads = product_threads(chunks);
    let (p, kg, mg) = (g.out_plane(), g.k_group(), g.c_out_group());
    let mut partials = vec![0.0f32; chunks * len];
    let chunk = |(index, partial): (usize, &mut [f32])| {
        let images = index * per_chunk..((index + 1) * per_chunk).min(g.n);
        for (nth, image) in images.enumerate() {
            let x_image = &x[image * g.in_image()..][..g.in_image()];
            let dy_image = &dy[image * g.out_image()..][..g.out_image()];
            for group in 0..g.groups {
                let dst = partial[group * mg * kg..][..mg * kg].as_mut_ptr();
                let dy_group = dy_image[group * mg * p..][..mg * p].as_ptr();
                let accumulate = nth > 0;
                with_columns(x_image, g, group, |col| {
                    // SAFETY: dst holds mg·kg elements; colᵀ is col read transposed.
                    unsafe {
                        matmul(
                            mg,
                            kg,
                            p,
                            dst,
                            accumulate,
                            dy_group,
                            View::rows(p),
                            col.as_ptr(),
                            View::transposed(p),
                            threads,
                        )
                    }
                });
            }
        }
    };
    let parts = partials.par_chunks_mut(len).enumerate();
    if threads > 1 {
        parts.with_max_len(1).for_each(chunk);
    } else {
        parts.for_each(chunk);
    }
    let mut grad = partials[..len].to_vec();
    for partial in partials.chunks(len).skip(1) {
        for (g, &v) in grad.iter_mut().zip(partial) {
            *g += v;
        }
    }
    grad
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A direct, obviously correct convolution: `out[n, co, oy, ox]`.
    pub(crate) fn reference(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut out = vec![0.0f32; g.n * g.out_image()];
        let (cig, cog) = (g.c_in_group(), g.c_out_group());
        for n in 0..g.n {
            for co in 0..g.c_out {
                let group = co / cog;
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = 0.0f64;
                        for ci in 0..cig {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = ConvGeometry::input_index(
                                        oy,
                                        i,
                                        g.stride[0],
                                        g.padding[0].0,
                                        g.dilation[0],
                                        g.h,
                                    );
                                    let ix = ConvGeometry::input_index(
                                        ox,
                                        j,
                                        g.stride[1],
                                        g.padding[1].0,
                                        g.dilation[1],
                                        g.w,
                                    );
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        let xv = x[((n * g.c_in + group * cig + ci) * g.h + iy)
                                            * g.w
                                            + ix];
                                        let wv = w[((co * cig + ci) * g.kh + i) * g.kw + j];
                                        acc += xv as f64 * wv as f64;
                                    }
                                }
                            }
                        }
                        out[((n * g.c_out + co) * g.oh + oy) * g.ow + ox] = acc as f32;
                    }
                }
            }
        }
        out
    }

    pub(crate) fn values(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed.wrapping_add(0x9E3779B97F4A7C15);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        crate::ops::testing::assert_close(a, b, 1e-4, what);
    }

    /// The values a pass wrote into `v`.
    pub(crate) fn init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: only called on buffers a pass has filled.
        v.into_iter().map(|v| unsafe { v.assume_init() }).collect()
    }

    /// Shapes: stride 1 and 2, asymmetric padding, dilation, groups, depthwise, 1×1, batch 1,
    /// odd sizes, channel counts that are not multiples of 8.
    /// Input shape, weight shape, stride, padding, dilation, groups.
    type Case = (
        [usize; 4],
        [usize; 4],
        [usize; 2],
        [(usize, usize); 2],
        [usize; 2],
        usize,
    );

    pub(crate) fn shapes() -> Vec<ConvGeometry> {
        let cases: [Case; 10] = [
            (
                [2, 3, 7, 7],
                [5, 3, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
                1,
            ),
            (
                [1, 4, 9, 6],
                [6, 4, 3, 3],
                [2, 2],
                [(1, 1), (1, 1)],
                [1, 1],
                1,
            ),
            (
                [3, 5, 5, 8],
                [7, 5, 1, 1],
                [1, 1],
                [(0, 0), (0, 0)],
                [1, 1],
                1,
            ),
            (
                [2, 6, 9, 9],
                [4, 6, 1, 1],
                [2, 2],
                [(0, 0), (0, 0)],
                [1, 1],
                1,
            ),
            (
                [2, 6, 8, 7],
                [6, 1, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
                6,
            ),
            (
                [2, 6, 8, 7],
                [6, 1, 3, 3],
                [2, 2],
                [(1, 1), (1, 1)],
                [1, 1],
                6,
            ),
            (
                [2, 4, 6, 6],
                [6, 2, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
                2,
            ),
            (
                [1, 3, 10, 9],
                [2, 3, 3, 2],
                [2, 1],
                [(2, 0), (0, 1)],
                [2, 1],
                1,
            ),
            (
                [5, 3, 11, 13],
                [17, 3, 5, 5],
                [1, 2],
                [(2, 2), (2, 2)],
                [1, 1],
                1,
            ),
            (
                [1, 3, 2, 2],
                [2, 3, 3, 3],
                [1, 1],
                [(2, 2), (2, 2)],
                [1, 1],
                1,
            ),
        ];
        cases
            .iter()
            .map(|&(x, w, s, p, d, groups)| {
                ConvGeometry::new(x, w, s, p, d, groups).expect("valid")
            })
            .collect()
    }

    fn run_forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut out = vec![MaybeUninit::uninit(); g.n * g.out_image()];
        forward(x, w, g, &mut out);
        init(out)
    }

    #[test]
    fn forward_equals_the_direct_convolution() {
        for (i, g) in shapes().iter().enumerate() {
            let x = values(i as u64, g.n * g.in_image());
            let w = values(100 + i as u64, g.weight_len());
            close(
                &run_forward(&x, &w, g),
                &reference(&x, &w, g),
                &format!("forward {g:?}"),
            );
        }
    }

    /// The gradients are the adjoints of the forward map: ⟨conv(x, w), dy⟩ equals
    /// ⟨x, dx(dy)⟩ and ⟨w, dw(x, dy)⟩ for every x, w, dy.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward_map() {
        for (i, g) in shapes().iter().enumerate() {
            let x = values(i as u64, g.n * g.in_image());
            let w = values(100 + i as u64, g.weight_len());
            let dy = values(200 + i as u64, g.n * g.out_image());
            let y = reference(&x, &w, g);
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
            };
            let forward_dot = dot(&y, &dy);
            let mut dx = vec![MaybeUninit::uninit(); x.len()];
            input_grad(&dy, &w, g, &mut dx);
            let dx = init(dx);
            let dw = weight_grad(&x, &dy, g);
            let tol = 1e-4 * (1.0 + forward_dot.abs());
            assert!((dot(&x, &dx) - forward_dot).abs() < tol, "dx adjoint {g:?}");
            assert!((dot(&w, &dw) - forward_dot).abs() < tol, "dw adjoint {g:?}");
            // And elementwise: dw[k] = Σ dy · ∂y/∂w[k], by the reference with a unit weight.
            for k in [0, g.weight_len() / 2, g.weight_len() - 1] {
                let mut unit = vec![0.0; g.weight_len()];
                unit[k] = 1.0;
                let expected = dot(&reference(&x, &unit, g), &dy);
                assert!(
                    (dw[k] as f64 - expected).abs() < 1e-4 * (1.0 + expected.abs()),
                    "dw[{k}] {g:?}"
                );
            }
        }
    }

    #[test]
    fn the_weight_gradient_does_not_depend_on_the_thread_count() {
        let g = ConvGeometry::new(
            [37, 8, 9, 9],
            [16, 8, 3, 3],
            [1, 1],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        )
        .expect("valid");
        let x = values(1, g.n * g.in_image());
        let dy = values(2, g.n * g.out_image());
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        let a = one.install(|| weight_grad(&x, &dy, &g));
        let b = three.install(|| weight_grad(&x, &dy, &g));
        assert_eq!(a, b);
    }
}
