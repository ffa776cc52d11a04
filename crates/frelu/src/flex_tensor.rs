//! Reading and making Flex (CPU) f32 tensors for the hand-written kernels: the fused FReLU op
//! (`ops`) and the fast path (`fastpath`) share these.

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchDevice, TensorMetadata};
use burn::tensor::{Device, Shape, TensorData};
use rayon::prelude::*;

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

/// `x` with element `j` of plane `i` (the `i`-th run of `s` contiguous elements, an `(n, c)`
/// plane for an `[N, C, ...]` tensor), `v`, replaced by `f(&per_plane(i), j, v)`: in place when
/// `x` owns its buffer alone, else into a new one; planes in parallel, at least `grain` per task.
pub(crate) fn map_planes<P>(
    x: FlexTensor,
    s: usize,
    grain: usize,
    per_plane: impl Fn(usize) -> P + Sync,
    f: impl Fn(&P, usize, f32) -> f32 + Sync,
) -> FlexTensor {
    let s = s.max(1);
    let mut x = contiguous(x);
    if let Some(data) = unique_slice_mut(&mut x) {
        data.par_chunks_mut(s)
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, values)| {
                let p = per_plane(plane);
                for (j, v) in values.iter_mut().enumerate() {
                    *v = f(&p, j, *v);
                }
            });
        return x;
    }
    let shape = x.shape();
    let input = f32s(&x);
    let out = filled(input.len(), |out| {
        out.par_chunks_mut(s)
            .zip(input.par_chunks(s))
            .with_min_len(grain)
            .enumerate()
            .for_each(|(plane, (dst, src))| {
                let p = per_plane(plane);
                for (j, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
                    d.write(f(&p, j, v));
                }
            });
    });
    tensor(out, shape)
}

/// The backward pass of an elementwise op over planes (as in [`map_planes`]): `dy`'s buffer
/// (or a copy, when it is shared) overwritten with `dx = f(&per_plane(i), j, x, dy, partial)`
/// for element `j` of plane `i`, where `partial` (`k` zeros at the start of each plane) collects
/// the plane's parameter gradients. Returns `dx` and the partials, `k` per plane in plane order.
pub(crate) fn backward_planes<P>(
    x: FlexTensor,
    dy: FlexTensor,
    (s, grain, k): (usize, usize, usize),
    per_plane: impl Fn(usize) -> P + Sync,
    f: impl Fn(&P, usize, f32, f32, &mut [f32]) -> f32 + Sync,
) -> (FlexTensor, Vec<f32>) {
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
            let p = per_plane(plane);
            for (j, (d, &v)) in g.iter_mut().zip(xp).enumerate() {
                *d = f(&p, j, v, *d, partial);
            }
        });
    (dy, partials)
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
