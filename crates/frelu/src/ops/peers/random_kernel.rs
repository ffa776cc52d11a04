//! The randomised ReLUs' kernel on the Flex (CPU) backend, for f32: elastic ReLU, EPReLU and
//! RReLU ([`super::random_slope`]).
//!
//! Each element's draw is a hash of the call's seed and the element's index, so the forward and
//! the backward pass draw the same slope without storing it, and the result does not depend on
//! how the planes were scheduled. The hash is two rounds of MurmurHash3's 32-bit finaliser, which
//! passes its avalanche tests; its top 24 bits give `u ∈ [0, 1)`. Indices wrap past 2³² elements.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;

use super::RandomSide;
use crate::flex_tensor::{backward_planes, f32_vec, map_planes, sum_into_slots, tensor};
use crate::ops::plane_size;

/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 13;

/// A call's draws: `(seed, side, [low, high])`.
pub(super) type Spec = (u64, RandomSide, [f32; 2]);

#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// The draws of one call: `a_i = low + u_i·(high − low)`.
#[derive(Clone, Copy)]
struct Draws {
    keys: (u32, u32),
    low: f32,
    span: f32,
}

impl Draws {
    fn new(seed: u64, [low, high]: [f32; 2]) -> Self {
        Self {
            keys: (seed as u32, (seed >> 32) as u32 ^ 0x9E37_79B9),
            low,
            span: high - low,
        }
    }

    /// `u_i ∈ [0, 1)`.
    #[inline(always)]
    fn uniform(self, index: usize) -> f32 {
        let h = fmix32(fmix32(index as u32 ^ self.keys.0).wrapping_add(self.keys.1));
        (h >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// `a_i`.
    #[inline(always)]
    fn at(self, index: usize) -> f32 {
        self.low + self.uniform(index) * self.span
    }
}

/// `(channels, plane size)` of `shape`: an `[N, C, ...]` tensor's, or one plane for rank < 2.
fn planes_of(shape: &burn::tensor::Shape) -> (usize, usize) {
    if shape.num_dims() >= 2 {
        (shape[1], plane_size(shape).max(1))
    } else {
        (1, shape.num_elements().max(1))
    }
}

/// The forward pass (see [`super::backend::PeerBackend::random_slope`]).
pub(super) fn forward(x: FlexTensor, neg: FlexTensor, (seed, side, range): Spec) -> FlexTensor {
    let draws = Draws::new(seed, range);
    let neg = f32_vec(&neg);
    let (c, s) = planes_of(&x.shape());
    let per_plane = |plane: usize| (plane * s, neg[if neg.len() == 1 { 0 } else { plane % c }]);
    let grain = (GRAIN / s).max(1);
    match side {
        RandomSide::Positive => map_planes(x, s, grain, per_plane, |&(base, n), j, v| {
            if v > 0.0 {
                v * draws.at(base + j)
            } else {
                v * n
            }
        }),
        RandomSide::NegativeTimes => map_planes(x, s, grain, per_plane, |&(base, _), j, v| {
            if v > 0.0 { v } else { v * draws.at(base + j) }
        }),
        RandomSide::NegativeDivide => map_planes(x, s, grain, per_plane, |&(base, _), j, v| {
            if v > 0.0 { v } else { v / draws.at(base + j) }
        }),
    }
}

/// The backward pass: `(dx, dneg)`, `dneg` shaped like `neg` (zero on the negative sides, which
/// do not read it).
pub(super) fn backward(
    x: FlexTensor,
    neg: FlexTensor,
    dy: FlexTensor,
    (seed, side, range): Spec,
) -> (FlexTensor, FlexTensor) {
    let draws = Draws::new(seed, range);
    let neg_shape = neg.shape();
    let neg = f32_vec(&neg);
    let slots = neg.len();
    let (c, s) = planes_of(&x.shape());
    let slot = |plane: usize| if slots == 1 { 0 } else { plane % c };
    let per_plane = |plane: usize| (plane * s, neg[slot(plane)]);
    let work = (s, (GRAIN / s).max(1), 1);
    // Where x = 0, both sides pass the gradient (clamp_min and clamp_max under autodiff).
    let (dx, partials) = match side {
        RandomSide::Positive => {
            backward_planes(x, dy, work, per_plane, |&(base, n), j, v, g, dn| {
                dn[0] += g * v.min(0.0);
                let up = if v >= 0.0 { draws.at(base + j) } else { 0.0 };
                let down = if v <= 0.0 { n } else { 0.0 };
                g * (up + down)
            })
        }
        RandomSide::NegativeTimes => {
            backward_planes(x, dy, work, per_plane, |&(base, _), j, v, g, _| {
                let up = if v >= 0.0 { 1.0 } else { 0.0 };
                let down = if v <= 0.0 { draws.at(base + j) } else { 0.0 };
                g * (up + down)
            })
        }
        RandomSide::NegativeDivide => {
            backward_planes(x, dy, work, per_plane, |&(base, _), j, v, g, _| {
                let up = if v >= 0.0 { 1.0 } else { 0.0 };
                let down = if v <= 0.0 {
                    1.0 / draws.at(base + j)
                } else {
                    0.0
                };
                g * (up + down)
            })
        }
    };
    let dneg = sum_into_slots(&partials, 1, slots, slot);
    (dx, tensor(dneg, neg_shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_and_differ_between_seeds() {
        // 2^16 draws in 16 bins: each expects 4096 (standard deviation ≈ 62).
        for seed in [0, 1, 0xDEAD_BEEF_CAFE] {
            let draws = Draws::new(seed, [0.0, 1.0]);
            let mut bins = [0usize; 16];
            for i in 0..1 << 16 {
                let u = draws.uniform(i);
                assert!((0.0..1.0).contains(&u), "{u}");
                bins[(u * 16.0) as usize] += 1;
            }
            assert!(
                bins.iter().all(|&n| n.abs_diff(4096) < 300),
                "seed {seed}: {bins:?}"
            );
            // Neighbouring elements are not correlated: lag-1 correlation near 0.
            let us: Vec<f64> = (0..1 << 16).map(|i| f64::from(draws.uniform(i))).collect();
            let lag: f64 = us
                .windows(2)
                .map(|w| (w[0] - 0.5) * (w[1] - 0.5))
                .sum::<f64>();
            let corr = lag / (us.len() as f64 - 1.0) * 12.0;
            assert!(corr.abs() < 0.02, "seed {seed}: lag-1 correlation {corr}");
        }
        let (a, b) = (Draws::new(7, [0.0, 1.0]), Draws::new(8, [0.0, 1.0]));
        let same = (0..4096).filter(|&i| a.uniform(i) == b.uniform(i)).count();
        assert!(same < 10, "{same} of 4096 draws equal across seeds");
    }

    #[test]
    fn an_empty_range_draws_its_one_value() {
        let draws = Draws::new(99, [0.25, 0.25]);
        assert!((0..1000).all(|i| draws.at(i) == 0.25));
    }
}
