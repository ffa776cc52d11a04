//! The FReLU kernels of the Flex (CPU) backend, for f32.
//!
//! Both passes work on `(n, c)` planes of `S = H·W·...` contiguous elements, in parallel with
//! rayon (the pool Flex itself uses). The backward pass writes `dx` into `dy`'s buffer when `dy`
//! is uniquely owned, and reduces `dpos`/`dneg` in a fixed order — per-plane sums with 16
//! independent branch-free accumulators, then a sum over `n` in index order — so its result does
//! not depend on how the work was scheduled.

use burn::backend::TensorMetadata;
use burn::backend::flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::backend::{FReluBackend, composed_backward, composed_forward};
use super::shape::plane_size;
use crate::flex_tensor::{
    PlaneMap, all_f32, contiguous, f32_vec, f32s, map_planes, owned, tensor, unique_slice_mut,
};

/// Elements per rayon task, at least.
const GRAIN: usize = 1 << 14;
/// Independent accumulators per plane in the backward reduction.
const LANES: usize = 16;

/// FReLU's slopes per channel, for [`map_planes`].
struct Slopes {
    pos: Vec<f32>,
    neg: Vec<f32>,
    c: usize,
}

impl PlaneMap for Slopes {
    type Plane = (f32, f32);

    fn plane(&self, index: usize) -> (f32, f32) {
        (self.pos[index % self.c], self.neg[index % self.c])
    }

    #[inline(always)]
    fn value(&self, &(p, n): &(f32, f32), _: usize, v: f32) -> f32 {
        v * if v > 0.0 { p } else { n }
    }
}

impl FReluBackend for Flex {
    fn frelu(x: FlexTensor, pos: FlexTensor, neg: FlexTensor) -> FlexTensor {
        if !all_f32([&x, &pos, &neg]) {
            return composed_forward::<Flex>(x, pos, neg);
        }
        let shape = x.shape();
        let (c, s) = (shape[1], plane_size(&shape));
        let slopes = Slopes {
            pos: f32_vec(&pos),
            neg: f32_vec(&neg),
            c,
        };
        map_planes(x, s, (GRAIN / s.max(1)).max(1), &slopes)
    }

    fn frelu_backward(
        x: FlexTensor,
        pos: FlexTensor,
        neg: FlexTensor,
        dy: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if !all_f32([&x, &pos, &neg, &dy]) {
            return composed_backward::<Flex>(x, pos, neg, dy);
        }
        let shape = x.shape();
        let (n_batch, c, s) = (shape[0], shape[1], plane_size(&shape));
        let pos = f32_vec(&pos);
        let neg = f32_vec(&neg);
        let x = contiguous(x);
        let xs = f32s(&x);

        // dx goes into dy's buffer: in place when dy is uniquely owned, else into a copy.
        let mut dy = owned(dy);
        let grad = unique_slice_mut(&mut dy).expect("uniquely owned");

        let mut partials = vec![(0.0f32, 0.0f32); n_batch * c];
        grad.par_chunks_mut(s)
            .zip(xs.par_chunks(s))
            .zip(partials.par_iter_mut())
            .with_min_len((GRAIN / s.max(1)).max(1))
            .enumerate()
            .for_each(|(plane, ((g, xp), partial))| {
                let ch = plane % c;
                *partial = plane_backward(xp, g, pos[ch], neg[ch]);
            });

        let mut dpos = vec![0.0f32; c];
        let mut dneg = vec![0.0f32; c];
        for (plane, (sp, sn)) in partials.into_iter().enumerate() {
            dpos[plane % c] += sp;
            dneg[plane % c] += sn;
        }
        (dy, tensor(dpos, [c]), tensor(dneg, [c]))
    }
}

/// One plane of the backward pass: turns `g` (dy) into dx in place and returns
/// `(Σ dy·max(x, 0), Σ dy·min(x, 0))`.
#[inline]
fn plane_backward(x: &[f32], g: &mut [f32], p: f32, n: f32) -> (f32, f32) {
    let mut sum_pos = [0.0f32; LANES];
    let mut sum_neg = [0.0f32; LANES];
    let mut x_chunks = x.chunks_exact(LANES);
    let mut g_chunks = g.chunks_exact_mut(LANES);
    for (xc, gc) in (&mut x_chunks).zip(&mut g_chunks) {
        for j in 0..LANES {
            let (v, d) = (xc[j], gc[j]);
            let positive = v > 0.0;
            let dv = d * v;
            sum_pos[j] += if positive { dv } else { 0.0 };
            sum_neg[j] += if positive { 0.0 } else { dv };
            gc[j] = d * if positive { p } else { n };
        }
    }
    for (j, (&v, d)) in x_chunks
        .remainder()
        .iter()
        .zip(g_chunks.into_remainder())
        .enumerate()
    {
        let positive = v > 0.0;
        let dv = *d * v;
        sum_pos[j] += if positive { dv } else { 0.0 };
        sum_neg[j] += if positive { 0.0 } else { dv };
        *d *= if positive { p } else { n };
    }
    (sum_pos.iter().sum(), sum_neg.iter().sum())
}
