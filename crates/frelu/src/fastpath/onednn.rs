//! The fast path's convolutions on oneDNN, where `libdnnl.so.2` (2.x) can be loaded.
//!
//! oneDNN's JIT kernels (AVX-512 / AVX2, chosen by the library for the CPU) compute the three
//! convolution passes in a blocked channel layout (`nChw16c`). The tensors here stay NCHW: each
//! pass reorders its operands into the layout the kernel chose and its result back, as PyTorch
//! does for NCHW tensors. Per geometry and pass, the primitive and its reorders are made once
//! and reused across steps; the operands in the blocked layout live in per-thread scratch
//! buffers shared by every pass.
//!
//! A geometry for which oneDNN offers only its reference or im2col+GEMM implementation is left
//! to the Rust kernels (which are faster there). Results equal the Rust kernels' within float
//! rounding, and are reproducible: oneDNN's passes run in a fixed order for a given thread
//! count, so resume stays exact.
//!
//! The switch: `FRELU_ONEDNN=0` or [`set_enabled`]; [`status`] says whether oneDNN is in use
//! and, where not, why.

use std::collections::HashMap;
use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, OnceLock};

use super::geometry::ConvGeometry;
use super::onednn_objects::{
    Context, Owned, context, descriptor, execute, memory, optimised, primitive, primitive_desc,
    reorder, with_stream,
};
pub use super::onednn_objects::{ENV_SWITCH, set_enabled, status};
use super::onednn_sys::{self as sys, Api, ConvDesc, ExecArg, Handle, MemoryDesc, check};

/// A convolution pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pass {
    Forward,
    InputGrad,
    WeightGrad,
}

/// One operand of a pass: the caller's NCHW buffer, and where the kernel wants another layout,
/// the memory in that layout (its buffer: the thread's [`Scratch`]), the reorder between them
/// and its size in bytes.
struct Operand {
    arg: c_int,
    output: bool,
    user: Owned,
    inner: Option<(Owned, Owned, usize)>,
}

/// 64 bytes, 64-aligned: the unit of the scratch buffers.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Per thread, one buffer per operand slot for the operands in the kernels' layouts, grown to
/// the largest pass run so far and shared by every pass (a buffer per pass and geometry would
/// hold a copy of every activation: ~130 MB more peak memory in a `resnet20` step, measured).
type Scratch = [Vec<Line>; 3];

/// Points `memory` at `buffer`, grown to `bytes` first.
fn attach(
    ctx: &Context,
    memory: &Owned,
    buffer: &mut Vec<Line>,
    bytes: usize,
) -> Result<(), String> {
    let lines = bytes.div_ceil(64);
    if buffer.len() < lines {
        buffer.resize(lines, Line([0; 64]));
    }
    // SAFETY: a memory object of this library; the buffer holds `bytes` and outlives the pass.
    let status =
        unsafe { (ctx.api.dnnl_memory_set_data_handle)(memory.handle, buffer.as_mut_ptr().cast()) };
    check(status, "dnnl_memory_set_data_handle")
}

/// A pass ready to run: its primitive and operands (inputs first, the output last).
struct Prepared {
    primitive: Owned,
    operands: Vec<Operand>,
}

// SAFETY: the handles are used only under the pass's lock (see `run`).
unsafe impl Send for Prepared {}

type Cache = Mutex<HashMap<(ConvGeometry, Pass), Option<Arc<Mutex<Prepared>>>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The operand shapes of a geometry: source, destination, weights (5-D with groups) and the
/// weights' plain layout.
struct Shapes {
    src: [i64; 4],
    dst: [i64; 4],
    weights: Vec<i64>,
    weight_tag: c_int,
}

impl Shapes {
    fn of(g: &ConvGeometry) -> Self {
        let i = |v: usize| v as i64;
        let (weights, weight_tag) = if g.groups == 1 {
            (vec![i(g.c_out), i(g.c_in), i(g.kh), i(g.kw)], sys::TAG_NCHW)
        } else {
            let groups = g.groups;
            let dims = [groups, g.c_out / groups, g.c_in / groups, g.kh, g.kw];
            (dims.map(i).to_vec(), sys::TAG_GOIHW)
        };
        Self {
            src: [i(g.n), i(g.c_in), i(g.h), i(g.w)],
            dst: [i(g.n), i(g.c_out), i(g.oh), i(g.ow)],
            weights,
            weight_tag,
        }
    }

    /// The operands of `pass`, inputs first: argument, query of the kernel's layout, dims,
    /// plain layout, whether it is the output.
    fn operands(&self, pass: Pass) -> [(c_int, c_int, &[i64], c_int, bool); 3] {
        let (src, dst, weights, wtag) = (
            &self.src[..],
            &self.dst[..],
            &self.weights[..],
            self.weight_tag,
        );
        let nchw = sys::TAG_NCHW;
        let weights_in = (
            sys::ARG_WEIGHTS,
            sys::QUERY_WEIGHTS_MD,
            weights,
            wtag,
            false,
        );
        match pass {
            Pass::Forward => [
                (sys::ARG_SRC, sys::QUERY_SRC_MD, src, nchw, false),
                weights_in,
                (sys::ARG_DST, sys::QUERY_DST_MD, dst, nchw, true),
            ],
            Pass::InputGrad => [
                (sys::ARG_DIFF_DST, sys::QUERY_DIFF_DST_MD, dst, nchw, false),
                weights_in,
                (sys::ARG_DIFF_SRC, sys::QUERY_DIFF_SRC_MD, src, nchw, true),
            ],
            Pass::WeightGrad => [
                (sys::ARG_SRC, sys::QUERY_SRC_MD, src, nchw, false),
                (sys::ARG_DIFF_DST, sys::QUERY_DIFF_DST_MD, dst, nchw, false),
                (
                    sys::ARG_DIFF_WEIGHTS,
                    sys::QUERY_DIFF_WEIGHTS_MD,
                    weights,
                    wtag,
                    true,
                ),
            ],
        }
    }
}

/// The operation descriptor of `pass`, on any-layout descriptors `[src, weights, dst]`.
fn describe(
    api: &Api,
    g: &ConvGeometry,
    pass: Pass,
    any: &[MemoryDesc; 3],
) -> Result<Box<ConvDesc>, String> {
    let i = |v: usize| v as i64;
    let strides = g.stride.map(i);
    let dilates = g.dilation.map(|d| i(d) - 1);
    let before = g.padding.map(|(b, _)| i(b));
    let after = g.padding.map(|(_, a)| i(a));
    let (s, d, b, a) = (
        strides.as_ptr(),
        dilates.as_ptr(),
        before.as_ptr(),
        after.as_ptr(),
    );
    let [src, weights, dst] = any;
    let none = std::ptr::null();
    let alg = sys::CONVOLUTION_DIRECT;
    let mut desc = ConvDesc::boxed();
    // SAFETY: the descriptors are initialised; every array holds 2 values.
    let status = unsafe {
        match pass {
            Pass::Forward => (api.dnnl_dilated_convolution_forward_desc_init)(
                &mut *desc,
                sys::FORWARD_TRAINING,
                alg,
                src,
                weights,
                none,
                dst,
                s,
                d,
                b,
                a,
            ),
            Pass::InputGrad => (api.dnnl_dilated_convolution_backward_data_desc_init)(
                &mut *desc, alg, src, weights, dst, s, d, b, a,
            ),
            Pass::WeightGrad => (api.dnnl_dilated_convolution_backward_weights_desc_init)(
                &mut *desc, alg, src, weights, none, dst, s, d, b, a,
            ),
        }
    };
    check(status, "convolution descriptor")?;
    Ok(desc)
}

/// One operand of the pass `pd`: the caller's buffer, and the reorder into (or out of) the
/// kernel's layout where it differs.
fn operand(
    ctx: &Context,
    pd: Handle,
    spec: (c_int, c_int, &[i64], c_int, bool),
) -> Result<Operand, String> {
    let (arg, query, dims, tag, output) = spec;
    let api = ctx.api;
    let plain = descriptor(api, dims, tag)?;
    // SAFETY: the pd answers for its own operands; the descriptor lives as long as the pd.
    let chosen = unsafe { (api.dnnl_primitive_desc_query_md)(pd, query, 0) };
    if chosen.is_null() {
        return Err(format!("oneDNN has no descriptor for argument {arg}"));
    }
    let user = memory(ctx, &plain, sys::MEMORY_NONE)?;
    // SAFETY: both descriptors are valid.
    if unsafe { (api.dnnl_memory_desc_equal)(&plain, chosen) } != 0 {
        return Ok(Operand {
            arg,
            output,
            user,
            inner: None,
        });
    }
    let buffer = memory(ctx, chosen, sys::MEMORY_NONE)?;
    // SAFETY: a valid descriptor.
    let bytes = unsafe { (api.dnnl_memory_desc_get_size)(chosen) };
    let plain: *const MemoryDesc = &plain;
    let (from, to) = if output {
        (chosen, plain)
    } else {
        (plain, chosen)
    };
    let mut reorder = std::ptr::null_mut();
    let (engine, none) = (ctx.engine, std::ptr::null_mut());
    // SAFETY: valid descriptors on the one CPU engine; no attributes.
    let status = unsafe {
        (api.dnnl_reorder_primitive_desc_create)(&mut reorder, from, engine, to, engine, none)
    };
    check(status, "reorder descriptor")?;
    let reorder = Owned {
        handle: reorder,
        destroy: api.dnnl_primitive_desc_destroy,
    };
    let inner = Some((buffer, primitive(ctx, reorder.handle)?, bytes));
    Ok(Operand {
        arg,
        output,
        user,
        inner,
    })
}

/// Makes the primitive of `pass` for `g`, or `Ok(None)` where oneDNN has no optimised kernel.
fn prepare(ctx: &Context, g: &ConvGeometry, pass: Pass) -> Result<Option<Prepared>, String> {
    let api = ctx.api;
    let shapes = Shapes::of(g);
    let any = |dims: &[i64]| descriptor(api, dims, sys::TAG_ANY);
    let any = [any(&shapes.src)?, any(&shapes.weights)?, any(&shapes.dst)?];
    let forward = describe(api, g, Pass::Forward, &any)?;
    let forward_pd = primitive_desc(ctx, &forward, std::ptr::null_mut())?;
    let pd = match pass {
        Pass::Forward => forward_pd,
        _ => primitive_desc(ctx, &*describe(api, g, pass, &any)?, forward_pd.handle)?,
    };
    if !optimised(ctx, pd.handle) {
        return Ok(None);
    }
    let operands = shapes
        .operands(pass)
        .into_iter()
        .map(|spec| operand(ctx, pd.handle, spec))
        .collect::<Result<_, _>>()?;
    Ok(Some(Prepared {
        primitive: primitive(ctx, pd.handle)?,
        operands,
    }))
}

/// The prepared pass for `g`, made at its first use; `None` where oneDNN is off or has no
/// optimised kernel for it.
fn prepared(ctx: &Context, g: &ConvGeometry, pass: Pass) -> Option<Arc<Mutex<Prepared>>> {
    let key = (*g, pass);
    if let Some(entry) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return entry.clone();
    }
    // An error preparing a pass (an unusual geometry) leaves it to the Rust kernels.
    let made = prepare(ctx, g, pass)
        .ok()
        .flatten()
        .map(|p| Arc::new(Mutex::new(p)));
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(made)
        .clone()
}

impl Prepared {
    /// Runs the pass on `buffers` (in the operand order), reordering in and out.
    fn execute(
        &self,
        ctx: &Context,
        stream: Handle,
        buffers: [Handle; 3],
        scratch: &mut Scratch,
    ) -> Result<(), String> {
        let api = ctx.api;
        let mut args = Vec::with_capacity(3);
        for ((operand, buffer), slot) in self.operands.iter().zip(buffers).zip(scratch.iter_mut()) {
            if let Some((inner, _, bytes)) = &operand.inner {
                attach(ctx, inner, slot, *bytes)?;
            }
            // SAFETY: a memory object of this library; the buffer outlives the call.
            let status = unsafe { (api.dnnl_memory_set_data_handle)(operand.user.handle, buffer) };
            check(status, "dnnl_memory_set_data_handle")?;
            let memory = match &operand.inner {
                Some((inner, into, _)) if !operand.output => {
                    reorder(ctx, stream, into, operand.user.handle, inner.handle)?;
                    inner.handle
                }
                Some((inner, _, _)) => inner.handle,
                None => operand.user.handle,
            };
            args.push(ExecArg {
                arg: operand.arg,
                memory,
            });
        }
        execute(ctx, stream, &self.primitive, &args)?;
        let out = &self.operands[2];
        if let Some((inner, out_of, _)) = &out.inner {
            reorder(ctx, stream, out_of, inner.handle, out.user.handle)?;
        }
        // SAFETY: a live stream of this thread.
        check(
            unsafe { (api.dnnl_stream_wait)(stream) },
            "dnnl_stream_wait",
        )
    }
}

/// Runs `pass` on the caller's buffers (inputs, then the output, in the operand order of
/// [`Shapes::operands`]). Returns false where oneDNN does not take it (the caller then writes
/// the whole output with its own kernel).
fn run(g: &ConvGeometry, pass: Pass, inputs: [*const f32; 2], output: *mut f32) -> bool {
    let Some(ctx) = context() else {
        return false;
    };
    let Some(prepared) = prepared(ctx, g, pass) else {
        return false;
    };
    let prepared = prepared.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set_threads) = ctx.api.omp_set_num_threads {
        // SAFETY: sets the calling thread's OpenMP thread count.
        unsafe { set_threads(rayon::current_num_threads() as c_int) };
    }
    let buffers = [inputs[0] as Handle, inputs[1] as Handle, output as Handle];
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    }
    SCRATCH
        .with_borrow_mut(|scratch| {
            with_stream(ctx, |stream| {
                prepared.execute(ctx, stream, buffers, scratch)
            })
        })
        .is_ok()
}

/// `y = conv(x, w)` into `out` (`[n, c_out, oh, ow]`), where oneDNN takes `g`.
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry, out: &mut [MaybeUninit<f32>]) -> bool {
    debug_assert_eq!(out.len(), g.n * g.out_image());
    run(
        g,
        Pass::Forward,
        [x.as_ptr(), w.as_ptr()],
        out.as_mut_ptr().cast(),
    )
}

/// The input gradient of `dy` into `dx` (`[n, c_in, h, w]`), where oneDNN takes `g`.
pub fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [MaybeUninit<f32>]) -> bool {
    debug_assert_eq!(dx.len(), g.n * g.in_image());
    run(
        g,
        Pass::InputGrad,
        [dy.as_ptr(), w.as_ptr()],
        dx.as_mut_ptr().cast(),
    )
}

/// The weight gradient (`[c_out, c_in / groups, kh, kw]`), where oneDNN takes `g`.
pub fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Option<Vec<f32>> {
    let mut dw = vec![0.0f32; g.weight_len()];
    run(
        g,
        Pass::WeightGrad,
        [x.as_ptr(), dy.as_ptr()],
        dw.as_mut_ptr(),
    )
    .then_some(dw)
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;

    use super::*;
    use crate::fastpath::conv::tests::{init, reference, shapes, values};
    use crate::fastpath::{conv, depthwise};

    /// Whether oneDNN is in use here; with `FRELU_REQUIRE_ONEDNN` set (as CI sets it, having
    /// installed libdnnl2), its absence fails the test instead of skipping it.
    fn available() -> bool {
        match status() {
            Ok(_) => true,
            Err(why) => {
                let required = std::env::var_os("FRELU_REQUIRE_ONEDNN").is_some();
                assert!(
                    !required,
                    "FRELU_REQUIRE_ONEDNN is set but oneDNN is not used: {why}"
                );
                false
            }
        }
    }

    /// `a ≈ b` relative to the largest magnitude of `b` (oneDNN's blocked summation order
    /// differs from the Rust kernels', so small elements of a large sum carry its rounding).
    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    /// The shape table of the Rust kernels plus the shapes of the networks here (where oneDNN
    /// picks its JIT kernels: 16+ channels, depthwise, 1×1, stride 2).
    fn geometries() -> Vec<ConvGeometry> {
        let mut all = shapes();
        let same = |k: usize| [(k / 2, k / 2); 2];
        for (x, w, s, groups) in [
            ([4, 16, 9, 9], [32, 16, 3, 3], 2, 1),
            ([3, 32, 8, 8], [32, 32, 3, 3], 1, 1),
            ([2, 3, 10, 10], [16, 3, 3, 3], 1, 1),
            ([4, 32, 6, 6], [32, 1, 3, 3], 1, 32),
            ([4, 32, 6, 6], [64, 32, 1, 1], 1, 1),
        ] {
            all.push(ConvGeometry::new(x, w, [s; 2], same(w[2]), [1, 1], groups).expect("valid"));
        }
        all
    }

    #[test]
    fn every_pass_equals_the_rust_kernels() {
        if !available() {
            return;
        }
        let mut taken = [0; 3];
        for (i, g) in geometries().iter().enumerate() {
            let seed = 10 * i as u64;
            let x = values(seed, g.n * g.in_image());
            let w = values(seed + 1, g.weight_len());
            let dy = values(seed + 2, g.n * g.out_image());

            let mut y = vec![MaybeUninit::uninit(); g.n * g.out_image()];
            if forward(&x, &w, g, &mut y) {
                taken[0] += 1;
                close(&init(y), &reference(&x, &w, g), &format!("forward {g:?}"));
            }

            let mut dx = vec![MaybeUninit::uninit(); g.n * g.in_image()];
            if input_grad(&dy, &w, g, &mut dx) {
                taken[1] += 1;
                let mut expected = vec![MaybeUninit::uninit(); g.n * g.in_image()];
                if g.is_depthwise() {
                    depthwise::input_grad(&dy, &w, g, &mut expected);
                } else {
                    conv::input_grad(&dy, &w, g, &mut expected);
                }
                close(&init(dx), &init(expected), &format!("input gradient {g:?}"));
            }

            if let Some(dw) = weight_grad(&x, &dy, g) {
                taken[2] += 1;
                let expected = if g.is_depthwise() {
                    depthwise::weight_grad(&x, &dy, g)
                } else {
                    conv::weight_grad(&x, &dy, g)
                };
                close(&dw, &expected, &format!("weight gradient {g:?}"));
            }
        }
        // The networks' shapes at least go through oneDNN, in every pass.
        assert!(
            taken.iter().all(|&n| n >= 5),
            "passes taken by oneDNN: {taken:?}"
        );
    }

    #[test]
    fn passes_are_reproducible() {
        if !available() {
            return;
        }
        let g = geometries()[shapes().len()];
        let x = values(7, g.n * g.in_image());
        let dy = values(8, g.n * g.out_image());
        let first = weight_grad(&x, &dy, &g).expect("oneDNN takes this shape");
        let again = weight_grad(&x, &dy, &g).expect("oneDNN takes this shape");
        assert_eq!(first, again, "the same inputs give the same bits");
    }
}
