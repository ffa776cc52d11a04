//! Reading and making Flex (CPU) f32 tensors for the hand-written kernels: the fused FReLU op
//! (`ops`) and the fast path (`fastpath`) share these; and the elementwise loops over `(n, c)`
//! planes of the fused ops ([`map_planes`], [`backward_planes`]), compiled for the widest vector
//! instructions the CPU has ([`multiversion!`]).

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchDevice, TensorMetadata};
use burn::tensor::{Device, Shape, TensorData};
use rayon::prelude::*;

use crate::simd::multiversion;

/// Whether `device` is Flex, with or without autodiff: where the hand-written kernels run.
pub(crate) fn on_flex(device: &Device) -> bool {
    fn inner(device: &DispatchDevice) -> bool {
        match device {
            DispatchDevice::Flex(_) => true,
            DispatchDevice::Autodiff(device) => inner(&device.clone().inner()),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
    inner(device.as_dispatch())
}

/// Whether every one of `tensors` holds f32 (what the hand-written kernels take).
pub(crate) fn all_f32<const K: usize>(tensors: [&FlexTensor; K]) -> bool {
    tensors
        .iter()
        .all(|t| t.dtype() == burn::tensor::DType::F32)
}

/// `t` laid out contiguously (no copy when it already is).
pub(crate) fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The elements of a contiguous f32 tensor.
pub(crate) fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}

/// The elements of an f32 tensor, copied out.
pub(crate) fn f32_vec(t: &FlexTensor) -> Vec<f32> {
    match t.as_slice::<f32>() {
        Some(values) => values.to_vec(),
        None => t.to_contiguous().as_slice::<f32>().expect("f32").to_vec(),
    }
}

/// The tensor's elements, mutably, if it owns its buffer alone and is contiguous.
pub(crate) fn unique_slice_mut(t: &mut FlexTensor) -> Option<&mut [f32]> {
    if !t.is_unique() {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    Some(&mut t.storage_mut::<f32>()[start..end])
}

/// `t` as a uniquely owned, contiguous tensor, so that a kernel can write its result over it:
/// `t` itself when it already is one, else a copy.
pub(crate) fn owned(t: FlexTensor) -> FlexTensor {
    let mut t = contiguous(t);
    if unique_slice_mut(&mut t).is_some() {
        return t;
    }
    let shape = t.shape();
    tensor(f32s(&t).to_vec(), shape)
}

/// A vector of `len` elements, every one written by `fill` (no zeroing first).
pub(crate) fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: every kernel passed to `filled` writes all `len` elements.
    unsafe { out.set_len(len) };
    out
}

/// A tensor owning `values`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// An elementwise function over `(n, c)` planes (the `i`-th run of `s` contiguous elements of an
/// `[N, C, ...]` tensor), for [`map_planes`]: what a plane's elements share, and each element's
/// value. The loops call these methods through a trait, not a closure, so that the methods
/// (marked `#[inline(always)]`) are compiled inside each version [`multiversion!`] makes: a
/// closure the compiler does not inline stays a call, compiled for the baseline only.
pub(crate) trait PlaneMap: Sync {
    /// What one plane's elements share (their channel's parameters, their first index).
    type Plane;
    /// The data of plane `index`.
    fn plane(&self, index: usize) -> Self::Plane;
    /// The value of element `j` of a plane, whose input is `x`.
    fn value(&self, plane: &Self::Plane, j: usize, x: f32) -> f32;
}

/// The backward pass of a [`PlaneMap`], for [`backward_planes`].
pub(crate) trait PlaneGrad: PlaneMap {
    /// How many parameter gradients each plane sums (at least 1).
    fn partials(&self) -> usize;
    /// Adds element `j`'s `g·∂y/∂p_k` to `partial[k]` and returns `g·∂y/∂x`. (`partial` may be
    /// longer than [`PlaneGrad::partials`]; the entries past it are not read.)
    fn grad(&self, plane: &Self::Plane, j: usize, x: f32, g: f32, partial: &mut [f32]) -> f32;
}

/// `x` with each element replaced by `map`'s value: in place when `x` owns its buffer alone,
/// else into a new one; planes of `s` elements in parallel, at least `grain` per task.
pub(crate) fn map_planes<M: PlaneMap>(
    x: FlexTensor,
    s: usize,
    grain: usize,
    map: &M,
) -> FlexTensor {
    let s = s.max(1);
    let mut x = contiguous(x);
    if let Some(data) = unique_slice_mut(&mut x) {
        data.par_chunks_mut(s)
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, values)| map_plane_in_place(map, &map.plane(plane), values));
        return x;
    }
    let shape = x.shape();
    let input = f32s(&x);
    let out = filled(input.len(), |out| {
        out.par_chunks_mut(s)
            .zip(input.par_chunks(s))
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, (dst, src))| map_plane_into(map, &map.plane(plane), dst, src));
    });
    tensor(out, shape)
}

multiversion! {
    /// One plane of [`map_planes`], in place.
    fn map_plane_in_place<M>(map: &M, p: &M::Plane, values: &mut [f32]) where [M: PlaneMap] {
        for (j, v) in values.iter_mut().enumerate() {
            *v = map.value(p, j, *v);
        }
    }
}

multiversion! {
    /// One plane of [`map_planes`], into a new buffer.
    fn map_plane_into<M>(map: &M, p: &M::Plane, dst: &mut [MaybeUninit<f32>], src: &[f32])
    where [M: PlaneMap]
    {
        for (j, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
            d.write(map.value(p, j, v));
        }
    }
}

/// The most parameter gradients per element [`backward_plane`] handles in its vectorised loop;
/// a map with more takes them one element at a time.
const BLOCK_PARTIALS: usize = 4;
/// Elements per block of [`backward_plane`]'s vectorised loop.
const BLOCK: usize = 64;
/// Independent accumulators of [`lane_sum`].
const LANES: usize = 8;

multiversion! {
    /// One plane of [`backward_planes`]. With at most [`BLOCK_PARTIALS`] parameter gradients, in
    /// blocks: each element's contributions go to their own slots (no sum carried from element
    /// to element, so the loop vectorises), then each parameter's block sums in a fixed order
    /// ([`lane_sum`]).
    fn backward_plane<M>(map: &M, p: &M::Plane, g: &mut [f32], xs: &[f32], partial: &mut [f32])
    where [M: PlaneGrad]
    {
        let k = partial.len();
        if k > BLOCK_PARTIALS {
            for (j, (d, &v)) in g.iter_mut().zip(xs).enumerate() {
                *d = map.grad(p, j, v, *d, partial);
            }
            return;
        }
        let mut contributions = [[0.0f32; BLOCK]; BLOCK_PARTIALS];
        for (b, (gb, xb)) in g.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)).enumerate() {
            for (i, (d, &v)) in gb.iter_mut().zip(xb).enumerate() {
                let mut dp = [0.0f32; BLOCK_PARTIALS];
                *d = map.grad(p, b * BLOCK + i, v, *d, &mut dp);
                for (slot, c) in contributions.iter_mut().zip(dp) {
                    slot[i] = c;
                }
            }
            for (sum, c) in partial.iter_mut().zip(&contributions) {
                *sum += lane_sum(&c[..gb.len()]);
            }
        }
    }
}

/// The sum of `values` over [`LANES`] accumulators, then across them, in a fixed order.
#[inline(always)]
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    for (lane, v) in lanes.iter_mut().zip(rest) {
        *lane += v;
    }
    lanes.iter().sum()
}

/// The backward pass of a [`PlaneMap`] over planes of `s` elements (at least `grain` per task):
/// `dy`'s buffer (or a copy, when it is shared) overwritten with `dx`, and each plane's
/// parameter gradients summed into its own `map.partials()` values, returned in plane order.
pub(crate) fn backward_planes<M: PlaneGrad>(
    x: FlexTensor,
    dy: FlexTensor,
    (s, grain): (usize, usize),
    map: &M,
) -> (FlexTensor, Vec<f32>) {
    let k = map.partials();
    assert!(k > 0, "at least one parameter gradient per plane");
    let s = s.max(1);
    let x = contiguous(x);
    let xs = f32s(&x);
    let mut dy = owned(dy);
    let grad = unique_slice_mut(&mut dy).expect("uniquely owned");
    let mut partials = vec![0.0f32; (xs.len() / s) * k];
    grad.par_chunks_mut(s)
        .zip(xs.par_chunks(s))
        .zip(partials.par_chunks_mut(k))
        .with_min_len(grain)
        .enumerate()
        .for_each(|(plane, ((g, xp), partial))| {
            backward_plane(map, &map.plane(plane), g, xp, partial)
        });
    (dy, partials)
}

/// The parameter slot of plane `plane` of an `[N, C, ...]` tensor (`C = channels`): its channel,
/// or 0 when one set of parameters (`slots == 1`) serves the layer.
pub(crate) fn slot_of(plane: usize, slots: usize, channels: usize) -> usize {
    if slots == 1 { 0 } else { plane % channels }
}

/// The partials of [`backward_planes`] (`k` per plane) summed into `k × slots` values, `k`-major,
/// plane `i` adding into slot `slot(i)`; in plane order, so the sums do not depend on how the
/// planes were scheduled.
pub(crate) fn sum_into_slots(
    partials: &[f32],
    k: usize,
    slots: usize,
    slot: impl Fn(usize) -> usize,
) -> Vec<f32> {
    let mut sums = vec![0.0f32; k * slots];
    for (plane, partial) in partials.chunks(k).enumerate() {
        let at = slot(plane);
        for (i, v) in partial.iter().enumerate() {
            sums[i * slots + at] += v;
        }
    }
    sums
}
