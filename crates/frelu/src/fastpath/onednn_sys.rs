//! oneDNN's C API (the 2.x series), loaded at run time from `libdnnl.so.2`.
//!
//! oneDNN is the library PyTorch runs its CPU convolutions on. Loading it at run time, rather
//! than linking it, keeps the build free of system libraries: where the library is missing (or
//! is not a 2.x release), [`api`] says why and the fast path runs its own Rust kernels.
//! Debian and Ubuntu ship it as `libdnnl2`.
//!
//! Only the calls the convolution passes need are bound. Descriptors are opaque buffers the
//! library fills in place; constants are the values of `dnnl_types.h` in the 2.x series.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

/// The library's file name (the 2.x ABI).
pub const LIBRARY: &str = "libdnnl.so.2";

pub type Status = c_int;
pub type Handle = *mut c_void;
pub type Dims = [i64; 12];

pub const SUCCESS: Status = 0;
pub const ENGINE_CPU: c_int = 1;
pub const STREAM_DEFAULT_FLAGS: u32 = 1;
pub const F32: c_int = 3;
pub const TAG_ANY: c_int = 1;
/// `nchw` for activations, `oihw` for 4-D weights (the same value in `dnnl_format_tag_t`).
pub const TAG_NCHW: c_int = 5;
pub const TAG_GOIHW: c_int = 7;
pub const FORWARD_TRAINING: c_int = 64;
pub const CONVOLUTION_DIRECT: c_int = 1;
pub const QUERY_IMPL_INFO_STR: c_int = 8;
pub const QUERY_SRC_MD: c_int = 129;
pub const QUERY_DIFF_SRC_MD: c_int = 130;
pub const QUERY_WEIGHTS_MD: c_int = 131;
pub const QUERY_DIFF_WEIGHTS_MD: c_int = 132;
pub const QUERY_DST_MD: c_int = 133;
pub const QUERY_DIFF_DST_MD: c_int = 134;
pub const ARG_SRC: c_int = 1;
pub const ARG_DST: c_int = 17;
pub const ARG_WEIGHTS: c_int = 33;
pub const ARG_DIFF_SRC: c_int = 129;
pub const ARG_DIFF_DST: c_int = 145;
pub const ARG_DIFF_WEIGHTS: c_int = 161;
pub const ARG_FROM: c_int = ARG_SRC;
pub const ARG_TO: c_int = ARG_DST;

/// `dnnl_memory_desc_t` (696 bytes in 2.6), as an opaque buffer with room to spare.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct MemoryDesc(pub [u8; 1024]);

impl MemoryDesc {
    pub fn zeroed() -> Self {
        Self([0; 1024])
    }
}

/// `dnnl_convolution_desc_t` (5,976 bytes in 2.6), as an opaque buffer with room to spare.
#[repr(C, align(8))]
pub struct ConvDesc(pub [u8; 8192]);

impl ConvDesc {
    pub fn boxed() -> Box<Self> {
        Box::new(Self([0; 8192]))
    }
}

/// `dnnl_exec_arg_t`.
#[repr(C)]
pub struct ExecArg {
    pub arg: c_int,
    pub memory: Handle,
}

/// `dnnl_version_t`.
#[repr(C)]
pub struct Version {
    pub major: c_int,
    pub minor: c_int,
    pub patch: c_int,
    pub hash: *const c_char,
    pub cpu_runtime: u32,
    pub gpu_runtime: u32,
}

/// Declares the bound functions once: the table's fields and the code that looks them up.
macro_rules! bind {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The bound functions of a loaded `libdnnl.so.2`.
        pub struct Api {
            $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            /// OpenMP's `omp_set_num_threads` (oneDNN's threads), where it can be found.
            pub omp_set_num_threads: Option<unsafe extern "C" fn(c_int)>,
            /// `major.minor.patch`.
            pub version: String,
            _library: libloading::Library,
            _openmp: Option<libloading::Library>,
        }

        impl Api {
            /// # Safety
            /// `library` must be oneDNN 2.x, whose symbols have the signatures above.
            unsafe fn bind(library: libloading::Library) -> Result<Self, libloading::Error> {
                $(
                    // SAFETY: the symbol is oneDNN's function of this signature (caller).
                    let $name = unsafe {
                        *library.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )?
                    };
                )*
                Ok(Self {
                    $($name,)*
                    omp_set_num_threads: None,
                    version: String::new(),
                    _library: library,
                    _openmp: None,
                })
            }
        }
    };
}

bind! {
    dnnl_version: fn() -> *const Version;
    dnnl_engine_create: fn(*mut Handle, c_int, usize) -> Status;
    dnnl_stream_create: fn(*mut Handle, Handle, u32) -> Status;
    dnnl_stream_wait: fn(Handle) -> Status;
    dnnl_stream_destroy: fn(Handle) -> Status;
    dnnl_memory_desc_init_by_tag: fn(*mut MemoryDesc, c_int, *const i64, c_int, c_int) -> Status;
    dnnl_memory_desc_equal: fn(*const MemoryDesc, *const MemoryDesc) -> c_int;
    dnnl_memory_desc_get_size: fn(*const MemoryDesc) -> usize;
    dnnl_memory_create: fn(*mut Handle, *const MemoryDesc, Handle, Handle) -> Status;
    dnnl_memory_set_data_handle: fn(Handle, Handle) -> Status;
    dnnl_memory_destroy: fn(Handle) -> Status;
    dnnl_dilated_convolution_forward_desc_init: fn(
        *mut ConvDesc, c_int, c_int, *const MemoryDesc, *const MemoryDesc, *const MemoryDesc,
        *const MemoryDesc, *const i64, *const i64, *const i64, *const i64
    ) -> Status;
    dnnl_dilated_convolution_backward_data_desc_init: fn(
        *mut ConvDesc, c_int, *const MemoryDesc, *const MemoryDesc, *const MemoryDesc,
        *const i64, *const i64, *const i64, *const i64
    ) -> Status;
    dnnl_dilated_convolution_backward_weights_desc_init: fn(
        *mut ConvDesc, c_int, *const MemoryDesc, *const MemoryDesc, *const MemoryDesc,
        *const MemoryDesc, *const i64, *const i64, *const i64, *const i64
    ) -> Status;
    dnnl_primitive_desc_create: fn(*mut Handle, *const c_void, Handle, Handle, Handle) -> Status;
    dnnl_primitive_desc_query: fn(Handle, c_int, c_int, *mut c_void) -> Status;
    dnnl_primitive_desc_query_md: fn(Handle, c_int, c_int) -> *const MemoryDesc;
    dnnl_primitive_desc_destroy: fn(Handle) -> Status;
    dnnl_reorder_primitive_desc_create: fn(
        *mut Handle, *const MemoryDesc, Handle, *const MemoryDesc, Handle, Handle
    ) -> Status;
    dnnl_primitive_create: fn(*mut Handle, Handle) -> Status;
    dnnl_primitive_execute: fn(Handle, Handle, c_int, *const ExecArg) -> Status;
    dnnl_primitive_destroy: fn(Handle) -> Status;
}

/// `DNNL_MEMORY_NONE`: a memory object without a buffer (one is set before each use).
pub const MEMORY_NONE: Handle = std::ptr::null_mut();

fn load() -> Result<Api, String> {
    // SAFETY: loading runs the library's initialisers, which have no preconditions.
    let library = unsafe { libloading::Library::new(LIBRARY) }.map_err(|e| e.to_string())?;
    // SAFETY: the symbols are looked up by their oneDNN names; the version is checked below,
    // before any other call.
    let mut api = unsafe { Api::bind(library) }.map_err(|e| e.to_string())?;
    // SAFETY: `dnnl_version` returns a pointer to a static struct.
    let version = unsafe { &*(api.dnnl_version)() };
    if version.major != 2 {
        return Err(format!(
            "{LIBRARY} is oneDNN {}.{}, not a 2.x release",
            version.major, version.minor
        ));
    }
    api.version = format!("{}.{}.{}", version.major, version.minor, version.patch);
    // oneDNN's OpenMP runtime (already loaded as a dependency of oneDNN where it uses one).
    // SAFETY: as above; `omp_set_num_threads(int)` is OpenMP's standard signature.
    if let Ok(openmp) = unsafe { libloading::Library::new("libgomp.so.1") } {
        api.omp_set_num_threads = unsafe {
            openmp
                .get::<unsafe extern "C" fn(c_int)>(b"omp_set_num_threads\0")
                .ok()
                .map(|f| *f)
        };
        api._openmp = Some(openmp);
    }
    Ok(api)
}

/// The loaded library, or why it could not be loaded (read once, at the first call).
pub fn api() -> Result<&'static Api, &'static str> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(String::as_str)
}

/// `Err` with the call's name where `status` is not success.
pub fn check(status: Status, call: &'static str) -> Result<(), String> {
    if status == SUCCESS {
        Ok(())
    } else {
        Err(format!("{call} failed with oneDNN status {status}"))
    }
}
