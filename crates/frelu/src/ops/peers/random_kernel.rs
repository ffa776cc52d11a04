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
use crate::flex_tensor::{
    PlaneGrad, PlaneMap, backward_planes, f32_vec, map_planes, slot_of, sum_into_slots, tensor,
};
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

/// The draws of one call with the learned negative slopes, for the side `SIDE`
/// ([`RandomSide`]'s code), as a [`PlaneMap`].
struct Slopes<const SIDE: u8> {
    draws: Draws,
    neg: Vec<f32>,
    c: usize,
    s: usize,
}

const POSITIVE: u8 = RandomSide::Positive as u8;
const NEGATIVE_TIMES: u8 = RandomSide::NegativeTimes as u8;
const NEGATIVE_DIVIDE: u8 = RandomSide::NegativeDivide as u8;

impl<const SIDE: u8> Slopes<SIDE> {
    fn slot(&self, plane: usize) -> usize {
        slot_of(plane, self.neg.len(), self.c)
    }
}

impl<const SIDE: u8> PlaneMap for Slopes<SIDE> {
    /// The plane's first index, and its negative slope.
    type Plane = (usize, f32);

    fn plane(&self, index: usize) -> (usize, f32) {
        (index * self.s, self.neg[self.slot(index)])
    }

    #[inline(always)]
    fn value(&self, &(base, n): &(usize, f32), j: usize, v: f32) -> f32 {
        let a = self.draws.at(base + j);
        match SIDE {
            POSITIVE => v * if v > 0.0 { a } else { n },
            NEGATIVE_TIMES => v * if v > 0.0 { 1.0 } else { a },
            _ => {
                if v > 0.0 {
                    v
                } else {
                    v / a
                }
            }
        }
    }
}

impl<const SIDE: u8> PlaneGrad for Slopes<SIDE> {
    fn partials(&self) -> usize {
        1
    }

    /// Where x = 0, both sides pass the gradient (clamp_min and clamp_max under autodiff).
    #[inline(always)]
    fn grad(&self, &(base, n): &(usize, f32), j: usize, v: f32, g: f32, dn: &mut [f32]) -> f32 {
        let a = self.draws.at(base + j);
        let (up, down) = match SIDE {
            POSITIVE => {
                dn[0] += g * v.min(0.0);
                (a, n)
            }
            NEGATIVE_TIMES => (1.0, a),
            _ => (1.0, 1.0 / a),
        };
        g * (if v >= 0.0 { up } else { 0.0 } + if v <= 0.0 { down } else { 0.0 })
    }
}

fn slopes<const SIDE: u8>(
    x: &FlexTensor,
    neg: &FlexTensor,
    seed: u64,
    range: [f32; 2],
) -> Slopes<SIDE> {
    let (c, s) = planes_of(&x.shape());
    Slopes {
        draws: Draws::new(seed, range),
        neg: f32_vec(neg),
        c,
        s,
    }
}

/// The forward pass (see [`super::backend::PeerBackend::random_slope`]).
pub(super) fn forward(x: FlexTensor, neg: FlexTensor, (seed, side, range): Spec) -> FlexTensor {
    fn run<const SIDE: u8>(
        x: FlexTensor,
        neg: &FlexTensor,
        seed: u64,
        range: [f32; 2],
    ) -> FlexTensor {
        let map = slopes::<SIDE>(&x, neg, seed, range);
        let s = map.s;
        map_planes(x, s, (GRAIN / s).max(1), &map)
    }
    match side {
        RandomSide::Positive => run::<POSITIVE>(x, &neg, seed, range),
        RandomSide::NegativeTimes => run::<NEGATIVE_TIMES>(x, &neg, seed, range),
        RandomSide::NegativeDivide => run::<NEGATIVE_DIVIDE>(x, &neg, seed, range),
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
    fn run<const SIDE: u8>(
        x: FlexTensor,
        neg: FlexTensor,
        dy: FlexTensor,
        seed: u64,
        range: [f32; 2],
    ) -> (FlexTensor, FlexTensor) {
        let map = slopes::<SIDE>(&x, &neg, seed, range);
        let s = map.s;
        let (dx, partials) = backward_planes(x, dy, (s, (GRAIN / s).max(1)), &map);
        let dneg = sum_into_slots(&partials, 1, map.neg.len(), |i| map.slot(i));
        (dx, tensor(dneg, neg.shape()))
    }
    match side {
        RandomSide::Positive => run::<POSITIVE>(x, neg, dy, seed, range),
        RandomSide::NegativeTimes => run::<NEGATIVE_TIMES>(x, neg, dy, seed, range),
        RandomSide::NegativeDivide => run::<NEGATIVE_DIVIDE>(x, neg, dy, seed, range),
    }
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
