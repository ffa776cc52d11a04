//! The fast path's kernels on the Flex (CPU) backend, for contiguous-able f32 tensors; other
//! dtypes and shapes the kernels do not take fall back to the composed default bodies.

use burn::backend::TensorMetadata;
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::ops::ModuleOps;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;

use super::backend::{
    FastPathBackend, NormGrads, composed_affine_act, composed_affine_act_backward,
    composed_batch_norm_act, composed_batch_norm_act_backward,
};
use super::geometry::ConvGeometry;
use super::norm::{self, Channelwise, Planes};
use super::{conv, depthwise, onednn, pool};
use crate::flex_tensor::{contiguous, f32_vec, f32s, filled, owned, tensor, unique_slice_mut};

impl FastPathBackend for Flex {
    fn fast_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return Flex::conv2d(x, weight, None, options);
        };
        let (x, weight) = (contiguous(x), contiguous(weight));
        let (xs, ws) = (f32s(&x), f32s(&weight));
        let out = filled(g.n * g.out_image(), |out| {
            if onednn::forward(xs, ws, &g, out) {
            } else if g.is_depthwise() {
                depthwise::forward(xs, ws, &g, out)
            } else {
                conv::forward(xs, ws, &g, out)
            }
        });
        tensor(out, [g.n, g.c_out, g.oh, g.ow])
    }

    fn fast_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        dy: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options).filter(|_| dy.dtype() == DType::F32) else {
            return Flex::conv2d_x_backward(x, weight, dy, options);
        };
        let (weight, dy) = (contiguous(weight), contiguous(dy));
        let (ws, dys) = (f32s(&weight), f32s(&dy));
        let dx = filled(g.n * g.in_image(), |dx| {
            if onednn::input_grad(dys, ws, &g, dx) {
            } else if g.is_depthwise() {
                depthwise::input_grad(dys, ws, &g, dx)
            } else {
                conv::input_grad(dys, ws, &g, dx)
            }
        });
        tensor(dx, [g.n, g.c_in, g.h, g.w])
    }

    fn fast_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        dy: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options).filter(|_| dy.dtype() == DType::F32) else {
            return Flex::conv2d_weight_backward(x, weight, dy, options);
        };
        let (x, dy) = (contiguous(x), contiguous(dy));
        let (xs, dys) = (f32s(&x), f32s(&dy));
        let dw = if let Some(dw) = onednn::weight_grad(xs, dys, &g) {
            dw
        } else if g.is_depthwise() {
            depthwise::weight_grad(xs, dys, &g)
        } else {
            conv::weight_grad(xs, dys, &g)
        };
        tensor(dw, weight.shape())
    }

    fn fast_max_pool2d(x: FlexTensor, kernel: [usize; 2], options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = pool_geometry(&x, kernel, &options) else {
            let padding = options.padding.map(|(begin, _)| begin);
            return Flex::max_pool2d(x, kernel, options.stride, padding, options.dilation, false);
        };
        let x = contiguous(x);
        let y = filled(g.n * g.out_image(), |y| pool::max_forward(f32s(&x), &g, y));
        tensor(y, [g.n, g.c_out, g.oh, g.ow])
    }

    fn fast_max_pool2d_backward(
        x: FlexTensor,
        y: FlexTensor,
        dy: FlexTensor,
        kernel: [usize; 2],
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let fits = |g: &ConvGeometry| {
            let out = [g.n, g.c_out, g.oh, g.ow];
            [&y, &dy]
                .iter()
                .all(|t| t.dtype() == DType::F32 && t.shape().dims::<4>() == out)
        };
        let Some(g) = pool_geometry(&x, kernel, &options).filter(fits) else {
            let padding = options.padding.map(|(begin, _)| begin);
            let (stride, dilation) = (options.stride, options.dilation);
            let pooled = Flex::max_pool2d_with_indices(
                x.clone(),
                kernel,
                stride,
                padding,
                dilation,
                false,
                burn::tensor::IntDType::I64,
            );
            return Flex::max_pool2d_with_indices_backward(
                x,
                kernel,
                stride,
                padding,
                dilation,
                false,
                dy,
                pooled.indices,
            )
            .x_grad;
        };
        let (x, y, dy) = (contiguous(x), contiguous(y), contiguous(dy));
        let dx = filled(g.n * g.in_image(), |dx| {
            pool::max_backward(f32s(&x), f32s(&y), f32s(&dy), &g, dx)
        });
        tensor(dx, [g.n, g.c_in, g.h, g.w])
    }

    fn fast_batch_norm_act(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        pos: FlexTensor,
        neg: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let Some(p) = planes(&x, [&gamma, &beta, &pos, &neg]) else {
            return composed_batch_norm_act::<Flex>(x, gamma, beta, pos, neg, epsilon);
        };
        let x = contiguous(x);
        let xs = f32s(&x);
        let (mean, var) = norm::channel_stats(xs, p);
        let (scale, shift, _) =
            normalisation(&f32_vec(&gamma), &f32_vec(&beta), &mean, &var, epsilon);
        let (pos, neg) = (f32_vec(&pos), f32_vec(&neg));
        let k = Channelwise {
            scale: &scale,
            shift: &shift,
            pos: &pos,
            neg: &neg,
        };
        let y = filled(p.len(), |y| norm::affine_act(xs, y, p, &k));
        (
            tensor(y, x.shape()),
            tensor(mean, [p.c]),
            tensor(var, [p.c]),
        )
    }

    fn fast_batch_norm_act_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        pos: FlexTensor,
        neg: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        dy: FlexTensor,
    ) -> NormGrads<Flex> {
        let Some(p) = planes(&x, [&gamma, &beta, &pos, &neg, &mean, &variance])
            .filter(|_| dy.dtype() == DType::F32 && dy.shape() == x.shape())
        else {
            return composed_batch_norm_act_backward::<Flex>(
                x, gamma, beta, pos, neg, mean, variance, epsilon, dy,
            );
        };
        let x = contiguous(x);
        let xs = f32s(&x);
        let (mean, var) = (f32_vec(&mean), f32_vec(&variance));
        let (scale, shift, inv_std) =
            normalisation(&f32_vec(&gamma), &f32_vec(&beta), &mean, &var, epsilon);
        let (pos, neg) = (f32_vec(&pos), f32_vec(&neg));
        let k = Channelwise {
            scale: &scale,
            shift: &shift,
            pos: &pos,
            neg: &neg,
        };
        let mut dy = owned(dy);
        let sums = norm::backward_sums(xs, unique_slice_mut(&mut dy).expect("owned"), p, &k);
        norm::batch_norm_act_dx(
            xs,
            unique_slice_mut(&mut dy).expect("owned"),
            p,
            &k,
            &mean,
            &inv_std,
            &sums,
        );
        // γ's gradient: Σ dz·x̂ = σ⁻¹ (Σ dz·x − μ Σ dz).
        let dgamma: Vec<f32> = (0..p.c)
            .map(|c| inv_std[c] * (sums.dz_x[c] - mean[c] * sums.dz[c]))
            .collect();
        (
            dy,
            tensor(dgamma, [p.c]),
            tensor(sums.dz, [p.c]),
            tensor(sums.dpos, [p.c]),
            tensor(sums.dneg, [p.c]),
        )
    }

    fn fast_affine_act(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        pos: FlexTensor,
        neg: FlexTensor,
    ) -> FlexTensor {
        let Some(p) = planes(&x, [&scale, &shift, &pos, &neg]) else {
            return composed_affine_act::<Flex>(x, scale, shift, pos, neg);
        };
        let x = contiguous(x);
        let (scale, shift, pos, neg) = (
            f32_vec(&scale),
            f32_vec(&shift),
            f32_vec(&pos),
            f32_vec(&neg),
        );
        let k = Channelwise {
            scale: &scale,
            shift: &shift,
            pos: &pos,
            neg: &neg,
        };
        let y = filled(p.len(), |y| norm::affine_act(f32s(&x), y, p, &k));
        tensor(y, x.shape())
    }

    fn fast_affine_act_backward(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        pos: FlexTensor,
        neg: FlexTensor,
        dy: FlexTensor,
    ) -> NormGrads<Flex> {
        let Some(p) = planes(&x, [&scale, &shift, &pos, &neg])
            .filter(|_| dy.dtype() == DType::F32 && dy.shape() == x.shape())
        else {
            return composed_affine_act_backward::<Flex>(x, scale, shift, pos, neg, dy);
        };
        let x = contiguous(x);
        let xs = f32s(&x);
        let (scale, shift, pos, neg) = (
            f32_vec(&scale),
            f32_vec(&shift),
            f32_vec(&pos),
            f32_vec(&neg),
        );
        let k = Channelwise {
            scale: &scale,
            shift: &shift,
            pos: &pos,
            neg: &neg,
        };
        let mut dy = owned(dy);
        let sums = norm::backward_sums(xs, unique_slice_mut(&mut dy).expect("owned"), p, &k);
        norm::affine_act_dx(xs, unique_slice_mut(&mut dy).expect("owned"), p, &k);
        (
            dy,
            tensor(sums.dz_x, [p.c]),
            tensor(sums.dz, [p.c]),
            tensor(sums.dpos, [p.c]),
            tensor(sums.dneg, [p.c]),
        )
    }
}

/// `(γ·σ⁻¹, β − μ·γ·σ⁻¹, σ⁻¹)` per channel, `σ = √(var + ε)`.
fn normalisation(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), a)| b - m * a)
        .collect();
    (scale, shift, inv_std)
}

/// The convolution's geometry when the kernels take it: f32 operands of rank 4 that fit.
fn geometry(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let (xs, ws) = (x.shape(), weight.shape());
    if xs.num_dims() != 4 || ws.num_dims() != 4 {
        return None;
    }
    ConvGeometry::new(
        [xs[0], xs[1], xs[2], xs[3]],
        [ws[0], ws[1], ws[2], ws[3]],
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
}

/// The window geometry of a max pool over `x`, when the kernels take it: f32 of rank 4,
/// symmetric padding (the backend's own op takes no other).
fn pool_geometry(
    x: &FlexTensor,
    kernel: [usize; 2],
    options: &ConvOptions<2>,
) -> Option<ConvGeometry> {
    let shape = x.shape();
    if x.dtype() != DType::F32
        || shape.num_dims() != 4
        || options.padding.iter().any(|(a, b)| a != b)
    {
        return None;
    }
    let c = shape[1];
    ConvGeometry::new(
        [shape[0], c, shape[2], shape[3]],
        [c, 1, kernel[0], kernel[1]],
        options.stride,
        options.padding,
        options.dilation,
        c,
    )
    .filter(|g| g.oh > 0 && g.ow > 0)
}

/// `x` seen as `[n, c, s]` planes, when it and every per-channel tensor are f32 and fit.
fn planes<const K: usize>(x: &FlexTensor, channel: [&FlexTensor; K]) -> Option<Planes> {
    let shape = x.shape();
    if x.dtype() != DType::F32 || shape.num_dims() < 2 {
        return None;
    }
    let c = shape[1];
    let fits = channel
        .iter()
        .all(|t| t.dtype() == DType::F32 && t.shape().num_elements() == c);
    fits.then(|| Planes {
        n: shape[0],
        c,
        s: shape.iter().skip(2).product(),
    })
}
