//! The fast CPU path for the block every model here is built from: convolution → batch norm →
//! activation.
//!
//! On the Flex (CPU) backend, with f32 tensors, [`conv2d`], [`batch_norm_act`] and
//! [`conv_bn_act`] run this folder's kernels instead of Burn's default decompositions:
//! - convolution forward, input gradient and weight gradient on oneDNN where `libdnnl.so.2`
//!   (2.x) loads at run time ([`engine`], [`ONEDNN_ENV_SWITCH`]); otherwise, and for the
//!   geometries oneDNN has no optimised kernel for, as one matrix product per image and group,
//!   in NCHW without layout copies, images in parallel, scratch buffers reused across steps;
//!   depthwise convolutions computed directly ([`FastPathBackend`]);
//! - batch norm fused with the activation when it is piecewise linear (ReLU, leaky ReLU, PReLU,
//!   FReLU, identity): one pass for the statistics and one for the output forward, one pass of
//!   reductions and one for the input gradient backward, every pass multithreaded; other
//!   activations run their own op after the fused batch norm;
//! - max pooling ([`max_pool2d`]), whose backward recomputes the winning positions.
//!
//! The same modules run everywhere: on any other backend (wgpu, CUDA) or dtype, or with the
//! fast path switched off, the functions call the modules' own `forward`. The switch:
//! [`set_enabled`], or the environment variable `FRELU_FAST_PATH=0` (read once, at the first
//! use). Results equal Burn's within float rounding (tests in this folder hold each pass to the
//! composed version), and every reduction runs in a fixed order, so training stays
//! reproducible and resume exact.

mod autodiff;
mod backend;
mod conv;
mod depthwise;
mod flex;
mod geometry;
mod matmul;
mod norm;
mod onednn;
mod onednn_objects;
mod onednn_sys;
mod pool;
mod switch;
#[cfg(test)]
mod tests;

use burn::backend::Dispatch;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};

use crate::activation::Activation;

pub use backend::FastPathBackend;
pub use onednn::{
    ENV_SWITCH as ONEDNN_ENV_SWITCH, set_enabled as set_onednn, status as onednn_status,
};

use switch::Switch;

/// The environment variable that turns the fast path off (`0`, `off`, `false` or `no`).
pub const ENV_SWITCH: &str = "FRELU_FAST_PATH";

static SWITCH: Switch = Switch::new(ENV_SWITCH);

/// Whether the fast path is on (the default; see [`ENV_SWITCH`] and [`set_enabled`]).
pub fn enabled() -> bool {
    SWITCH.on()
}

/// Turns the fast path on or off for the whole process (overrides [`ENV_SWITCH`]).
pub fn set_enabled(on: bool) {
    SWITCH.set(on);
}

/// Asks the C allocator to keep freed memory for reuse instead of returning it to the operating
/// system: every training step allocates and frees activation buffers of a few to tens of
/// megabytes, and with glibc's defaults each one comes back as fresh pages that the kernel
/// must fault in and zero again (a quarter of a `simple-cnn` step on the fast path, measured).
///
/// Sets glibc's mmap threshold to its maximum (32 MiB: smaller blocks come from the heap) and
/// turns heap trimming off. The process's resident memory then stays at its peak instead of
/// shrinking between steps; the peak itself does not grow. A process-wide setting, so the
/// library never makes it on its own: the `frelu` binary calls this at start, and a program of
/// yours may too. Returns whether the allocator took it (false off Linux/glibc).
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The OpenMP spin count [`shorten_openmp_spin`] sets: about as long as a thread takes to
/// wake from sleep, instead of GNU OpenMP's default of 300,000 iterations.
pub const OPENMP_SPIN_COUNT: &str = "3000";

/// Makes oneDNN's idle OpenMP threads sleep soon after each convolution instead of spinning
/// (GNU OpenMP's `GOMP_SPINCOUNT`, unless the environment already sets it or
/// `OMP_WAIT_POLICY`): between convolutions the fast path's own kernels run on rayon's threads,
/// and a spinning OpenMP thread takes a core from them (measured: a `resnet20` step ~20 %
/// faster on 2 cores). A process-wide setting read when oneDNN is loaded, so the library never
/// makes it on its own: the `frelu` binary calls this first thing, and a program of yours may.
///
/// # Safety
/// Sets an environment variable: call it before the process starts any other thread (first
/// thing in `main`), as for [`std::env::set_var`].
pub unsafe fn shorten_openmp_spin() {
    let unset = |name| std::env::var_os(name).is_none();
    if unset("GOMP_SPINCOUNT") && unset("OMP_WAIT_POLICY") {
        // SAFETY: single-threaded at this point (the caller's contract).
        unsafe { std::env::set_var("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT) };
    }
}

/// What the fast path's convolutions run on: `oneDNN <version>`, or the Rust kernels and why
/// (oneDNN missing, not 2.x, or switched off by [`ONEDNN_ENV_SWITCH`]). Install Debian's or
/// Ubuntu's `libdnnl2` for oneDNN.
pub fn engine() -> String {
    match onednn_status() {
        Ok(version) => format!("oneDNN {version}"),
        Err(why) => format!("the Rust kernels (oneDNN not used: {why})"),
    }
}

/// Whether the fast path has kernels for tensors on `device` (Flex, with or without autodiff).
pub fn has_kernels(device: &Device) -> bool {
    crate::flex_tensor::on_flex(device)
}

/// Whether [`conv2d`] and [`batch_norm_act`] take the fast path for tensors on `device`.
pub fn active(device: &Device) -> bool {
    enabled() && has_kernels(device)
}

/// `conv.forward(x)`, on the fast path where it is [`active`].
///
/// # Shapes
/// - x: `[batch, in_channels, h, w]`
/// - output: `[batch, out_channels, h_out, w_out]`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !active(&x.device()) {
        return conv.forward(x);
    }
    let [_, _, h, w] = x.dims();
    let padding = padding_pairs(&conv.padding, [h, w], conv.kernel_size, conv.stride);
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d_with(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// Burn's `module::conv2d(x, weight, bias, options)`, on the fast path where it is [`active`]
/// (for graphs that hold their weights as tensors, such as a folded network).
///
/// # Shapes
/// - x: `[batch, in_channels, h, w]`; weight: `[out_channels, in_channels / groups, kh, kw]`;
///   bias: `[out_channels]`
/// - output: `[batch, out_channels, h_out, w_out]`
pub fn conv2d_with(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if !active(&x.device()) {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let y = Tensor::<4>::from_dispatch(<Dispatch as FastPathBackend>::fast_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            y + bias.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// `pool.forward(x)` for a max pool, on the fast path where it is [`active`] (floor mode and
/// symmetric padding; other configurations run the module's own forward).
///
/// # Shapes
/// - x: `[batch, channels, h, w]`; output: `[batch, channels, h_out, w_out]`
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !active(&x.device()) || pool.ceil_mode {
        return pool.forward(x);
    }
    let [_, _, h, w] = x.dims();
    let padding = padding_pairs(&pool.padding, [h, w], pool.kernel_size, pool.stride);
    let options = MaxPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_padding_pairs(padding)
        .with_dilation(pool.dilation);
    max_pool2d_with(x, options)
}

/// Burn's `module::max_pool2d(x, options)`, on the fast path where it is [`active`] (floor
/// mode and symmetric padding; other options run Burn's own op).
///
/// # Shapes
/// - x: `[batch, channels, h, w]`; output: `[batch, channels, h_out, w_out]`
pub fn max_pool2d_with(x: Tensor<4>, options: MaxPoolOptions<2>) -> Tensor<4> {
    let symmetric = options.padding.iter().all(|(begin, end)| begin == end);
    if !active(&x.device()) || options.ceil_mode || !symmetric {
        return burn::tensor::module::max_pool2d(x, options);
    }
    let kernel = options.kernel_size;
    let options =
        ConvOptions::new_with_padding(options.stride, options.padding, options.dilation, 1);
    Tensor::from_dispatch(<Dispatch as FastPathBackend>::fast_max_pool2d(
        x.into_dispatch(),
        kernel,
        options,
    ))
}

/// `act.forward(bn.forward(x))` (`bn.forward(x)` without an activation), on the fast path
/// where it is [`active`]: batch norm and a piecewise-linear activation in one operation, the
/// running statistics updated as Burn's `BatchNorm` updates them.
///
/// # Shapes
/// - x: `[batch, channels, ...]`
/// - output: like x
pub fn batch_norm_act<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    act: Option<&Activation>,
) -> Tensor<D> {
    let device = x.device();
    if !active(&device) {
        let y = bn.forward(x);
        return match act {
            Some(act) => act.forward(y),
            None => y,
        };
    }
    let channels = x.dims()[1];
    let identity = || {
        (
            Tensor::<1>::ones([channels], &device),
            Tensor::<1>::ones([channels], &device),
        )
    };
    let (slopes, after) = match act.map(|a| (a, a.piecewise_linear(channels, &device))) {
        None => (identity(), None),
        Some((_, Some(slopes))) => (slopes, None),
        Some((act, None)) => (identity(), Some(act)),
    };
    let (pos, neg) = slopes;
    let y = if device.is_autodiff() && bn.training.is_enabled() {
        train(bn, x, pos, neg)
    } else {
        evaluate(bn, x, pos, neg)
    };
    match after {
        Some(act) => act.forward(y),
        None => y,
    }
}

/// Convolution → batch norm → activation: [`conv2d`] then [`batch_norm_act`].
///
/// # Shapes
/// - x: `[batch, in_channels, h, w]`
/// - output: `[batch, out_channels, h_out, w_out]`
pub fn conv_bn_act(conv: &Conv2d, bn: &BatchNorm, act: &Activation, x: Tensor<4>) -> Tensor<4> {
    batch_norm_act(bn, conv2d(conv, x), Some(act))
}

fn train<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    pos: Tensor<1>,
    neg: Tensor<1>,
) -> Tensor<D> {
    let device = x.device();
    let (y, mean, variance) = <Dispatch as FastPathBackend>::fast_batch_norm_act(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        pos.into_dispatch(),
        neg.into_dispatch(),
        bn.epsilon,
    );
    let (mean, variance) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(variance),
    );
    // As burn-nn's BatchNorm::forward_train updates them.
    let momentum = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - momentum)
        .add(mean.detach().mul_scalar(momentum));
    let running_var = running_var
        .mul_scalar(1.0 - momentum)
        .add(variance.detach().mul_scalar(momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_dispatch(y)
}

fn evaluate<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    pos: Tensor<1>,
    neg: Tensor<1>,
) -> Tensor<D> {
    let device = x.device();
    let mean = bn.running_mean.value().to_device(&device);
    let var = bn.running_var.value().to_device(&device);
    let scale = bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt();
    let shift = bn.beta.val() - mean * scale.clone();
    Tensor::from_dispatch(<Dispatch as FastPathBackend>::fast_affine_act(
        x.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
        pos.into_dispatch(),
        neg.into_dispatch(),
    ))
}

/// `[(top, bottom), (left, right)]` of a padding configuration, as burn-nn's `Conv2d` computes
/// it (its own helper is private to burn-nn).
fn padding_pairs(
    padding: &PaddingConfig2d,
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> [(usize, usize); 2] {
    let same = |k: usize, s: usize, size: usize| {
        let out = size.div_ceil(s);
        let total = if out > 0 {
            ((out - 1) * s + k).saturating_sub(size)
        } else {
            0
        };
        (total / 2, total - total / 2)
    };
    match padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(kernel[0], stride[0], h), same(kernel[1], stride[1], w)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
    }
}
