//! oneDNN's objects for the fast path: the switch, the engine and per-thread streams, owned
//! handles (released on drop), memory descriptors, primitives and their execution.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use super::onednn_sys::{self as sys, Api, ConvDesc, ExecArg, Handle, MemoryDesc, check};
use super::switch::Switch;

/// The environment variable that keeps oneDNN out of the fast path (`0`, `off`, `false`, `no`).
pub const ENV_SWITCH: &str = "FRELU_ONEDNN";

static SWITCH: Switch = Switch::new(ENV_SWITCH);

/// Lets the fast path use oneDNN (the default where it loads) or not, for the whole process
/// (overrides [`ENV_SWITCH`]).
pub fn set_enabled(on: bool) {
    SWITCH.set(on);
}

/// oneDNN's version where the fast path's convolutions run on it, or why they do not (the
/// library is missing or not 2.x, or the switch is off).
pub fn status() -> Result<String, String> {
    if !SWITCH.on() {
        return Err(format!("switched off ({ENV_SWITCH}=0)"));
    }
    match sys::api() {
        Ok(api) => Ok(api.version.clone()),
        Err(why) => Err(why.to_string()),
    }
}

/// The library and its engine, made once.
pub(super) struct Context {
    pub(super) api: &'static Api,
    pub(super) engine: Handle,
}

// SAFETY: oneDNN's CPU engine may be used from any thread. Streams are not shared: each
// thread runs its passes on its own ([`with_stream`]), one pass at a time under its lock.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

pub(super) fn context() -> Option<&'static Context> {
    static CONTEXT: OnceLock<Option<Context>> = OnceLock::new();
    if !SWITCH.on() {
        return None;
    }
    CONTEXT
        .get_or_init(|| {
            let api = sys::api().ok()?;
            let mut engine = std::ptr::null_mut();
            // SAFETY: an out-pointer to a handle; the engine lives as long as the process.
            let status = unsafe { (api.dnnl_engine_create)(&mut engine, sys::ENGINE_CPU, 0) };
            check(status, "dnnl_engine_create").ok()?;
            Some(Context { api, engine })
        })
        .as_ref()
}

/// Calls `f` with this thread's stream on the context's engine (made at the thread's first
/// pass, released when the thread ends).
pub(super) fn with_stream<R>(
    ctx: &'static Context,
    f: impl FnOnce(Handle) -> Result<R, String>,
) -> Result<R, String> {
    thread_local! {
        static STREAM: std::cell::OnceCell<Owned> = const { std::cell::OnceCell::new() };
    }
    STREAM.with(|cell| {
        if cell.get().is_none() {
            let mut stream = std::ptr::null_mut();
            // SAFETY: an out-pointer to a handle on a live engine.
            let status = unsafe {
                (ctx.api.dnnl_stream_create)(&mut stream, ctx.engine, sys::STREAM_DEFAULT_FLAGS)
            };
            check(status, "dnnl_stream_create")?;
            let _ = cell.set(Owned {
                handle: stream,
                destroy: ctx.api.dnnl_stream_destroy,
            });
        }
        f(cell.get().expect("set above").handle)
    })
}

/// A oneDNN object released with its owner.
pub(super) struct Owned {
    pub(super) handle: Handle,
    pub(super) destroy: unsafe extern "C" fn(Handle) -> sys::Status,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            // SAFETY: the handle was created by the library and is released once, here.
            unsafe { (self.destroy)(self.handle) };
        }
    }
}

/// A plain (NCHW / OIHW) or any-layout descriptor of `dims`.
pub(super) fn descriptor(api: &Api, dims: &[i64], tag: c_int) -> Result<MemoryDesc, String> {
    let mut md = MemoryDesc::zeroed();
    let mut all: sys::Dims = [0; 12];
    all[..dims.len()].copy_from_slice(dims);
    // SAFETY: `md` is a buffer larger than `dnnl_memory_desc_t`; `all` holds 12 dims.
    let status = unsafe {
        (api.dnnl_memory_desc_init_by_tag)(
            &mut md,
            dims.len() as c_int,
            all.as_ptr(),
            sys::F32,
            tag,
        )
    };
    check(status, "dnnl_memory_desc_init_by_tag")?;
    Ok(md)
}

pub(super) fn memory(
    ctx: &Context,
    md: *const MemoryDesc,
    buffer: Handle,
) -> Result<Owned, String> {
    let mut handle = std::ptr::null_mut();
    // SAFETY: `md` is a valid descriptor; `buffer` is NONE (a buffer is set before each use).
    let status = unsafe { (ctx.api.dnnl_memory_create)(&mut handle, md, ctx.engine, buffer) };
    check(status, "dnnl_memory_create")?;
    Ok(Owned {
        handle,
        destroy: ctx.api.dnnl_memory_destroy,
    })
}

pub(super) fn primitive(ctx: &Context, pd: Handle) -> Result<Owned, String> {
    let mut handle = std::ptr::null_mut();
    // SAFETY: `pd` is a valid primitive descriptor.
    check(
        unsafe { (ctx.api.dnnl_primitive_create)(&mut handle, pd) },
        "dnnl_primitive_create",
    )?;
    Ok(Owned {
        handle,
        destroy: ctx.api.dnnl_primitive_destroy,
    })
}

/// A primitive descriptor for `desc` (with `hint`, the forward one, for the backward passes).
pub(super) fn primitive_desc(
    ctx: &Context,
    desc: &ConvDesc,
    hint: Handle,
) -> Result<Owned, String> {
    let mut pd = std::ptr::null_mut();
    let op = desc as *const ConvDesc as *const c_void;
    let null = std::ptr::null_mut();
    // SAFETY: `desc` was initialised by a `*_desc_init` call; `hint` is null or a forward pd.
    let status =
        unsafe { (ctx.api.dnnl_primitive_desc_create)(&mut pd, op, null, ctx.engine, hint) };
    check(status, "dnnl_primitive_desc_create")?;
    Ok(Owned {
        handle: pd,
        destroy: ctx.api.dnnl_primitive_desc_destroy,
    })
}

/// Whether oneDNN picked an optimised kernel: not its reference loops, not im2col + GEMM.
pub(super) fn optimised(ctx: &Context, pd: Handle) -> bool {
    let mut info: *const c_char = std::ptr::null();
    // SAFETY: `info` receives a pointer to a string the pd owns.
    let status = unsafe {
        (ctx.api.dnnl_primitive_desc_query)(
            pd,
            sys::QUERY_IMPL_INFO_STR,
            0,
            &mut info as *mut *const c_char as *mut c_void,
        )
    };
    if status != sys::SUCCESS || info.is_null() {
        return false;
    }
    // SAFETY: a NUL-terminated string alive as long as `pd`.
    let name = unsafe { CStr::from_ptr(info) }.to_string_lossy();
    !(name.contains("ref") || name.contains("gemm"))
}

/// Runs `primitive` on `args` in `stream`.
pub(super) fn execute(
    ctx: &Context,
    stream: Handle,
    primitive: &Owned,
    args: &[ExecArg],
) -> Result<(), String> {
    // SAFETY: every memory in `args` has a live buffer of its descriptor's size: the caller's
    // slices (sized by the geometry, checked by the callers) or the library's own.
    let status = unsafe {
        (ctx.api.dnnl_primitive_execute)(
            primitive.handle,
            stream,
            args.len() as c_int,
            args.as_ptr(),
        )
    };
    check(status, "dnnl_primitive_execute")
}

/// Runs a reorder primitive from memory `from` to memory `to`.
pub(super) fn reorder(
    ctx: &Context,
    stream: Handle,
    primitive: &Owned,
    from: Handle,
    to: Handle,
) -> Result<(), String> {
    let args = [
        ExecArg {
            arg: sys::ARG_FROM,
            memory: from,
        },
        ExecArg {
            arg: sys::ARG_TO,
            memory: to,
        },
    ];
    execute(ctx, stream, primitive, &args)
}
