//! The PAU kernels of the Flex (CPU) backend, for f32.
//!
//! Both passes split the input into fixed chunks of [`CHUNK`] elements, in parallel with rayon.
//! The backward pass writes `dx` over `dy`'s buffer and reduces the ten coefficient gradients
//! per chunk (with [`LANES`] independent accumulators each), then over the chunks in index
//! order, so its result does not depend on how the work was scheduled.

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use crate::flex_tensor::{
    PlaneMap, contiguous, f32_vec, f32s, map_planes, owned, tensor, unique_slice_mut,
};

/// Elements per rayon task.
const CHUNK: usize = 1 << 13;
/// Independent accumulators per coefficient in the backward reduction.
const LANES: usize = 8;

/// The coefficients as the kernels read them: `a_0 … a_5`, and `b_1 … b_4` with their
/// absolute values taken (version A) or not (version B).
#[derive(Clone, Copy)]
struct Coefficients {
    a: [f32; 6],
    b: [f32; 4],
    /// `sign(b_k)`: version A's derivative of `|b_k|`.
    b_sign: [f32; 4],
    version_a: bool,
}

impl Coefficients {
    fn new(numerator: &FlexTensor, denominator: &FlexTensor, version_a: bool) -> Self {
        let (a, b) = (f32_vec(numerator), f32_vec(denominator));
        assert!(a.len() == 6 && b.len() == 4, "PAU takes 6 + 4 coefficients");
        Self {
            a: std::array::from_fn(|k| a[k]),
            b: std::array::from_fn(|k| if version_a { b[k].abs() } else { b[k] }),
            b_sign: std::array::from_fn(|k| sign(b[k])),
            version_a,
        }
    }

    /// `P(x)`, in the order the composed layer evaluates it (Horner from `a_5`).
    #[inline(always)]
    fn numerator(&self, x: f32) -> f32 {
        let a = &self.a;
        ((((a[5] * x + a[4]) * x + a[3]) * x + a[2]) * x + a[1]) * x + a[0]
    }

    /// `(t, R(t))`: the variable of the denominator polynomial (`|x|` in version A, `x` in B)
    /// and `R(t) = b_1·t + … + b_4·t⁴`.
    #[inline(always)]
    fn denominator_poly(&self, x: f32) -> (f32, f32) {
        let t = if self.version_a { x.abs() } else { x };
        let b = &self.b;
        (t, (((b[3] * t + b[2]) * t + b[1]) * t + b[0]) * t)
    }

    #[inline(always)]
    fn forward(&self, x: f32) -> f32 {
        let (_, r) = self.denominator_poly(x);
        self.numerator(x) / (r.abs() + 1.0)
    }
}

/// `sign(v)` with `sign(0) = 0`, the derivative autodiff takes for `|v|`.
#[inline(always)]
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// PAU forward (see [`super::backend::PeerBackend::pau`]).
pub(super) fn forward(
    x: FlexTensor,
    numerator: FlexTensor,
    denominator: FlexTensor,
    version_a: bool,
) -> FlexTensor {
    let c = Coefficients::new(&numerator, &denominator, version_a);
    map_planes(x, CHUNK, 1, &c)
}

impl PlaneMap for Coefficients {
    type Plane = ();

    fn plane(&self, _: usize) {}

    #[inline(always)]
    fn value(&self, _: &(), _: usize, x: f32) -> f32 {
        self.forward(x)
    }
}

/// Per-chunk sums: `Σ dy·x^k/D` for `k = 0..5`, then `Σ −dy·y/D·s·t^k` for `k = 1..4`
/// (`D = 1 + |R|`, `s = 1` in version A, `sign(R)` in B).
type Sums = [f32; 10];

/// PAU backward (see [`super::backend::PeerBackend::pau_backward`]).
pub(super) fn backward(
    x: FlexTensor,
    numerator: FlexTensor,
    denominator: FlexTensor,
    dy: FlexTensor,
    version_a: bool,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let c = Coefficients::new(&numerator, &denominator, version_a);
    let x = contiguous(x);
    let xs = f32s(&x);
    let mut dy = owned(dy);
    let grad = unique_slice_mut(&mut dy).expect("uniquely owned");
    let mut partials = vec![[0.0f32; 10]; xs.len().div_ceil(CHUNK)];
    grad.par_chunks_mut(CHUNK)
        .zip(xs.par_chunks(CHUNK))
        .zip(partials.par_iter_mut())
        .for_each(|((g, xc), partial)| *partial = chunk_backward(&c, xc, g));
    let mut sums = [0.0f64; 10];
    for partial in &partials {
        for (s, p) in sums.iter_mut().zip(partial) {
            *s += f64::from(*p);
        }
    }
    let da: Vec<f32> = sums[..6].iter().map(|&s| s as f32).collect();
    // Version A differentiates |b_k| as well: sign(b_k) per coefficient.
    let db: Vec<f32> = (0..4)
        .map(|k| {
            let s = sums[6 + k] as f32;
            if version_a { s * c.b_sign[k] } else { s }
        })
        .collect();
    (dy, tensor(da, [6]), tensor(db, [4]))
}

/// One chunk of the backward pass: turns `g` (dy) into dx in place and returns its [`Sums`].
#[inline]
fn chunk_backward(c: &Coefficients, x: &[f32], g: &mut [f32]) -> Sums {
    let mut acc = [[0.0f32; LANES]; 10];
    let mut x_chunks = x.chunks_exact(LANES);
    let mut g_chunks = g.chunks_exact_mut(LANES);
    for (xc, gc) in (&mut x_chunks).zip(&mut g_chunks) {
        for j in 0..LANES {
            gc[j] = element_backward(c, xc[j], gc[j], &mut acc, j);
        }
    }
    let rest = x_chunks.remainder();
    for (j, (&v, d)) in rest.iter().zip(g_chunks.into_remainder()).enumerate() {
        *d = element_backward(c, v, *d, &mut acc, j);
    }
    std::array::from_fn(|k| acc[k].iter().sum())
}

/// dx of one element; adds its terms to lane `j` of the accumulators.
#[inline(always)]
fn element_backward(
    c: &Coefficients,
    x: f32,
    g: f32,
    acc: &mut [[f32; LANES]; 10],
    j: usize,
) -> f32 {
    let a = &c.a;
    let p = c.numerator(x);
    let dp = (((5.0 * a[5] * x + 4.0 * a[4]) * x + 3.0 * a[3]) * x + 2.0 * a[2]) * x + a[1];
    let (t, r) = c.denominator_poly(x);
    let b = &c.b;
    let dr_dt = ((4.0 * b[3] * t + 3.0 * b[2]) * t + 2.0 * b[1]) * t + b[0];
    let inv = 1.0 / (r.abs() + 1.0);
    let y = p * inv;
    // dD/dx = sign(R)·R'(t)·dt/dx; in version A, R ≥ 0 and dt/dx = sign(x).
    let s = if c.version_a { 1.0 } else { sign(r) };
    let dt_dx = if c.version_a { sign(x) } else { 1.0 };
    let w = g * inv;
    let v = -w * y * s;
    let mut power = 1.0;
    for row in acc.iter_mut().take(6) {
        row[j] += w * power;
        power *= x;
    }
    let mut power = t;
    for row in acc.iter_mut().skip(6) {
        row[j] += v * power;
        power *= t;
    }
    w * (dp - y * s * dr_dt * dt_dx)
}
