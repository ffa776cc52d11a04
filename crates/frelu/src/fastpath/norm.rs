//! Batch normalisation fused with a piecewise-linear activation, on `[N, C, S]` f32 slices
//! (`S` = the spatial size of a plane).
//!
//! The activation is `act(z) = z · (z > 0 ? pos[c] : neg[c])`: ReLU (`1, 0`), leaky ReLU and
//! PReLU (`1, neg`), FReLU (`pos, neg`) and the identity (`1, 1`).
//!
//! Every pass is parallel over `(n, c)` planes. Reductions are made per plane with
//! [`LANES`] independent accumulators, then summed over `n` in index order, so that a result
//! does not depend on how the planes were scheduled: training is reproducible, and resume is
//! exact.

use rayon::prelude::*;

use crate::simd::multiversion;

/// Independent accumulators per plane in the reductions.
const LANES: usize = 16;
/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 14;

/// The shape of a batch-norm input seen as `[n, c, s]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    /// Batch.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Elements per `(n, c)` plane.
    pub s: usize,
}

impl Planes {
    /// Elements in all.
    pub fn len(&self) -> usize {
        self.n * self.c * self.s
    }

    /// Planes per rayon task, at least.
    fn grain(&self) -> usize {
        (GRAIN / self.s.max(1)).max(1)
    }
}

/// Per-channel `(mean, biased variance)` of `x`.
///
/// Each plane is summed around a shift (the channel's first element) so that a large mean does
/// not cancel the variance; planes are combined in `f64`.
pub fn channel_stats(x: &[f32], p: Planes) -> (Vec<f32>, Vec<f32>) {
    debug_assert_eq!(x.len(), p.len());
    let shift: Vec<f32> = (0..p.c).map(|c| x[c * p.s]).collect();
    let partials: Vec<(f64, f64)> = x
        .par_chunks(p.s.max(1))
        .with_min_len(p.grain())
        .enumerate()
        .map(|(plane, values)| plane_stats(values, shift[plane % p.c]))
        .collect();
    let count = (p.n * p.s) as f64;
    let mut mean = vec![0.0f32; p.c];
    let mut var = vec![0.0f32; p.c];
    for c in 0..p.c {
        let (mut sum, mut squares) = (0.0f64, 0.0f64);
        for n in 0..p.n {
            let (s, q) = partials[n * p.c + c];
            sum += s;
            squares += q;
        }
        let m = sum / count;
        mean[c] = (shift[c] as f64 + m) as f32;
        var[c] = (squares / count - m * m).max(0.0) as f32;
    }
    (mean, var)
}

multiversion! {
    /// `(Σ (v − k), Σ (v − k)²)` over one plane, with [`LANES`] accumulators.
    fn plane_stats(values: &[f32], k: f32) -> (f64, f64) {
        let mut sum = [0.0f32; LANES];
        let mut squares = [0.0f32; LANES];
        let mut chunks = values.chunks_exact(LANES);
        for chunk in &mut chunks {
            for j in 0..LANES {
                let d = chunk[j] - k;
                sum[j] += d;
                squares[j] += d * d;
            }
        }
        for (j, &v) in chunks.remainder().iter().enumerate() {
            let d = v - k;
            sum[j] += d;
            squares[j] += d * d;
        }
        (
            sum.iter().map(|&v| v as f64).sum::<f64>(),
            squares.iter().map(|&v| v as f64).sum::<f64>(),
        )
    }
}

/// Per-channel slopes and the affine map of the normalisation, `z = scale·x + shift`.
#[derive(Clone, Debug)]
pub struct Channelwise<'a> {
    /// `γ / √(var + ε)` (or any per-channel scale).
    pub scale: &'a [f32],
    /// `β − mean·scale` (or any per-channel shift).
    pub shift: &'a [f32],
    /// Slope for `z > 0`.
    pub pos: &'a [f32],
    /// Slope for `z ≤ 0`.
    pub neg: &'a [f32],
}

/// `y = act(scale·x + shift)`, channel by channel. `y` may be uninitialised memory of `x`'s length.
pub fn affine_act(x: &[f32], y: &mut [std::mem::MaybeUninit<f32>], p: Planes, k: &Channelwise) {
    debug_assert_eq!(x.len(), p.len());
    debug_assert_eq!(y.len(), p.len());
    y.par_chunks_mut(p.s.max(1))
        .zip(x.par_chunks(p.s.max(1)))
        .with_min_len(p.grain())
        .enumerate()
        .for_each(|(plane, (dst, src))| {
            let c = plane % p.c;
            affine_act_plane(dst, src, [k.scale[c], k.shift[c], k.pos[c], k.neg[c]]);
        });
}

multiversion! {
    /// One plane of [`affine_act`]: `[scale, shift, pos, neg]`.
    fn affine_act_plane(dst: &mut [std::mem::MaybeUninit<f32>], src: &[f32], k: [f32; 4]) {
        let [a, b, up, down] = k;
        for (d, &v) in dst.iter_mut().zip(src) {
            let z = a * v + b;
            d.write(z * if z > 0.0 { up } else { down });
        }
    }
}

/// The per-channel sums the backward passes need, for `z = scale·x + shift` and
/// `dz = dy · act'(z)`.
#[derive(Clone, Debug, PartialEq)]
pub struct BackwardSums {
    /// `Σ dz` (β's gradient).
    pub dz: Vec<f32>,
    /// `Σ dz·x`.
    pub dz_x: Vec<f32>,
    /// `Σ dy·z` over `z > 0` (the gradient of `pos`).
    pub dpos: Vec<f32>,
    /// `Σ dy·z` over `z ≤ 0` (the gradient of `neg`).
    pub dneg: Vec<f32>,
}

/// Reduces [`BackwardSums`] over `(n, s)` for every channel.
pub fn backward_sums(x: &[f32], dy: &[f32], p: Planes, k: &Channelwise) -> BackwardSums {
    debug_assert_eq!(x.len(), p.len());
    debug_assert_eq!(dy.len(), p.len());
    let partials: Vec<[f32; 4]> = x
        .par_chunks(p.s.max(1))
        .zip(dy.par_chunks(p.s.max(1)))
        .with_min_len(p.grain())
        .enumerate()
        .map(|(plane, (xs, gs))| {
            let c = plane % p.c;
            plane_sums(xs, gs, [k.scale[c], k.shift[c], k.pos[c], k.neg[c]])
        })
        .collect();
    let mut sums = BackwardSums {
        dz: vec![0.0; p.c],
        dz_x: vec![0.0; p.c],
        dpos: vec![0.0; p.c],
        dneg: vec![0.0; p.c],
    };
    for (plane, [dz, dz_x, dpos, dneg]) in partials.into_iter().enumerate() {
        let c = plane % p.c;
        sums.dz[c] += dz;
        sums.dz_x[c] += dz_x;
        sums.dpos[c] += dpos;
        sums.dneg[c] += dneg;
    }
    sums
}

multiversion! {
    /// The sums of [`BackwardSums`] over one plane: `[scale, shift, pos, neg]`.
    fn plane_sums(x: &[f32], dy: &[f32], k: [f32; 4]) -> [f32; 4] {
        let [a, b, up, down] = k;
        let mut acc = [[0.0f32; LANES]; 4];
        let mut x_chunks = x.chunks_exact(LANES);
        let mut g_chunks = dy.chunks_exact(LANES);
        let step = |acc: &mut [[f32; LANES]; 4], j: usize, v: f32, g: f32| {
            let z = a * v + b;
            let positive = z > 0.0;
            let dz = g * if positive { up } else { down };
            let gz = g * z;
            acc[0][j] += dz;
            acc[1][j] += dz * v;
            acc[2][j] += if positive { gz } else { 0.0 };
            acc[3][j] += if positive { 0.0 } else { gz };
        };
        for (xc, gc) in (&mut x_chunks).zip(&mut g_chunks) {
            for j in 0..LANES {
                step(&mut acc, j, xc[j], gc[j]);
            }
        }
        for (j, (&v, &g)) in x_chunks
            .remainder()
            .iter()
            .zip(g_chunks.remainder())
            .enumerate()
        {
            step(&mut acc, j, v, g);
        }
        acc.map(|lanes| lanes.iter().sum())
    }
}

/// The input gradient of an affine map followed by the activation (batch norm in evaluation
/// mode): `dx = dy · act'(z) · scale`, written over `dy`.
pub fn affine_act_dx(x: &[f32], dy: &mut [f32], p: Planes, k: &Channelwise) {
    // The batch statistics are constants here: no terms beyond dz·scale.
    input_grad(x, dy, p, k, &vec![(0.0, 0.0); p.c]);
}

/// The input gradient of training-mode batch norm followed by the activation, written over
/// `dy`:
///
/// `dx = γ·σ⁻¹ · (dz − mean(dz) − x̂ · mean(dz·x̂))`, `x̂ = (x − μ)·σ⁻¹`,
///
/// where `k.scale = γ·σ⁻¹`, `inv_std = σ⁻¹` and `sums` come from [`backward_sums`].
pub fn batch_norm_act_dx(
    x: &[f32],
    dy: &mut [f32],
    p: Planes,
    k: &Channelwise,
    mean: &[f32],
    inv_std: &[f32],
    sums: &BackwardSums,
) {
    let count = (p.n * p.s) as f32;
    // Per channel: dx = scale·dz − scale·mean(dz) − scale·x̂·mean(dz·x̂)
    //                 = scale·dz + (u·x + w), with u, w constants of the channel.
    let coefficients: Vec<(f32, f32)> = (0..p.c)
        .map(|c| {
            let mean_dz = sums.dz[c] / count;
            // Σ dz·x̂ = σ⁻¹ (Σ dz·x − μ Σ dz)
            let mean_dz_xhat = inv_std[c] * (sums.dz_x[c] - mean[c] * sums.dz[c]) / count;
            let u = -k.scale[c] * mean_dz_xhat * inv_std[c];
            let w = -k.scale[c] * mean_dz - u * mean[c];
            (u, w)
        })
        .collect();
    input_grad(x, dy, p, k, &coefficients);
}

multiversion! {
    /// One plane of an input gradient: `g = g · (z > 0 ? up : down) + (u·x + w)` with
    /// `z = a·x + b`, for `[a, b, up, down]` and `[u, w]`.
    fn dx_plane(gs: &mut [f32], xs: &[f32], k: [f32; 4], uw: [f32; 2]) {
        let ([a, b, up, down], [u, w]) = (k, uw);
        for (g, &v) in gs.iter_mut().zip(xs) {
            let z = a * v + b;
            *g = *g * if z > 0.0 { up } else { down } + (u * v + w);
        }
    }
}

/// `dy = dy · act'(z) · scale + (u·x + w)` per channel, `z = scale·x + shift`: the input
/// gradient of the affine map and activation, plus a term linear in `x` per channel.
fn input_grad(x: &[f32], dy: &mut [f32], p: Planes, k: &Channelwise, coefficients: &[(f32, f32)]) {
    dy.par_chunks_mut(p.s.max(1))
        .zip(x.par_chunks(p.s.max(1)))
        .with_min_len(p.grain())
        .enumerate()
        .for_each(|(plane, (gs, xs))| {
            let c = plane % p.c;
            let (a, b) = (k.scale[c], k.shift[c]);
            let (up, down) = (k.pos[c] * a, k.neg[c] * a);
            let (u, w) = coefficients[c];
            dx_plane(gs, xs, [a, b, up, down], [u, w]);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    #[test]
    fn stats_equal_the_two_pass_definition_with_a_large_mean() {
        let p = Planes { n: 3, c: 5, s: 37 };
        let x: Vec<f32> = lcg(1, p.len(), -1.0, 1.0)
            .into_iter()
            .map(|v| v + 1000.0)
            .collect();
        let (mean, var) = channel_stats(&x, p);
        for c in 0..p.c {
            let values: Vec<f64> = (0..p.n)
                .flat_map(|n| x[(n * p.c + c) * p.s..][..p.s].iter().map(|&v| v as f64))
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let v = values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / values.len() as f64;
            assert!((mean[c] as f64 - m).abs() < 1e-3, "mean {c}");
            assert!(
                (var[c] as f64 - v).abs() < 1e-3 * v.max(1.0),
                "var {c}: {} vs {v}",
                var[c]
            );
        }
    }

    #[test]
    fn sums_split_the_slope_gradients_by_the_sign_of_z() {
        let p = Planes { n: 2, c: 1, s: 4 };
        let x = [1.0, -1.0, 2.0, -2.0, 0.0, 3.0, -3.0, 0.5];
        let dy = [1.0; 8];
        let k = Channelwise {
            scale: &[1.0],
            shift: &[0.0],
            pos: &[2.0],
            neg: &[0.5],
        };
        let sums = backward_sums(&x, &dy, p, &k);
        assert_eq!(sums.dpos, vec![1.0 + 2.0 + 3.0 + 0.5]);
        assert_eq!(sums.dneg, vec![-1.0 - 2.0 - 3.0]);
        // dz = 2 for z > 0 (4 values), 0.5 for z ≤ 0 (4 values, 0 included)
        assert_eq!(sums.dz, vec![4.0 * 2.0 + 4.0 * 0.5]);
    }
}
