//! The fast path as a backend extension: convolution (forward, input and weight gradients),
//! training-mode batch norm fused with a piecewise-linear activation, and a per-channel affine
//! map fused with it (batch norm in evaluation mode).
//!
//! The default bodies compose Burn's own backend operations and [`crate::ops`]'s composed FReLU;
//! `Flex` (f32) overrides them with the kernels of this folder, and `Autodiff` records one node
//! per operation with a hand-written backward that calls the inner backend's gradient ops.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{IntDType, Shape};

use crate::ops::{channel_shape_of, composed_backward, composed_forward};

/// The gradients of a normalisation fused with the activation: `(dx, d-scale, d-shift, dpos,
/// dneg)`, where scale and shift are γ and β (training mode) or the affine map's own. (The
/// trait's methods spell the tuple out: its macro reads their signatures as written.)
pub type NormGrads<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
);

/// The operations of the CPU fast path.
///
/// The activation is `act(z) = z · (z > 0 ? pos[c] : neg[c])` with `pos`, `neg` of shape
/// `[C]`: ReLU is `(1, 0)`, PReLU `(1, neg)`, FReLU `(pos, neg)`, the identity `(1, 1)`.
#[backend_extension(Flex, Autodiff)]
pub trait FastPathBackend: Backend {
    /// 2-D convolution without bias.
    ///
    /// # Shapes
    /// - x: `[N, C_in, H, W]`; weight: `[C_out, C_in / groups, KH, KW]`
    /// - output: `[N, C_out, OH, OW]`
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient of [`FastPathBackend::fast_conv2d`] with respect to `x`, given `dy`.
    fn fast_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, dy, options)
    }

    /// The gradient of [`FastPathBackend::fast_conv2d`] with respect to `weight`, given `dy`.
    fn fast_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, dy, options)
    }

    /// 2-D max pooling over `kernel` windows (stride, symmetric padding and dilation from
    /// `options`; `groups` unused).
    ///
    /// # Shapes
    /// - x: `[N, C, H, W]`; output: `[N, C, OH, OW]`
    fn fast_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let padding = options.padding.map(|(begin, _)| begin);
        Self::max_pool2d(x, kernel, options.stride, padding, options.dilation, false)
    }

    /// The gradient of [`FastPathBackend::fast_max_pool2d`] with respect to `x`, given its
    /// output `y` and the output gradient `dy`.
    fn fast_max_pool2d_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: [usize; 2],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let _ = y;
        let padding = options.padding.map(|(begin, _)| begin);
        let (stride, dilation) = (options.stride, options.dilation);
        let pooled = Self::max_pool2d_with_indices(
            x.clone(),
            kernel,
            stride,
            padding,
            dilation,
            false,
            IntDType::I64,
        );
        Self::max_pool2d_with_indices_backward(
            x,
            kernel,
            stride,
            padding,
            dilation,
            false,
            dy,
            pooled.indices,
        )
        .x_grad
    }

    /// Training-mode batch norm followed by the activation: `(y, mean, variance)`, the
    /// statistics of the batch (variance biased), as Burn's `batch_norm_train` returns them.
    ///
    /// # Shapes
    /// - x: `[N, C, ...]`; gamma, beta, pos, neg: `[C]`
    /// - y: like x; mean, variance: `[C]`
    fn fast_batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed_batch_norm_act::<Self>(x, gamma, beta, pos, neg, epsilon)
    }

    /// Gradients of [`FastPathBackend::fast_batch_norm_act`] given `dy` (see [`NormGrads`]):
    /// `(dx, dgamma, dbeta, dpos, dneg)`. `mean` and `variance` are the ones it returned.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn fast_batch_norm_act_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        dy: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        composed_batch_norm_act_backward::<Self>(
            x, gamma, beta, pos, neg, mean, variance, epsilon, dy,
        )
    }

    /// `y = act(scale[c]·x + shift[c])`: batch norm in evaluation mode followed by the
    /// activation, with `scale = γ/√(var + ε)` and `shift = β − mean·scale`.
    ///
    /// # Shapes
    /// - x: `[N, C, ...]`; scale, shift, pos, neg: `[C]`; y: like x
    fn fast_affine_act(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed_affine_act::<Self>(x, scale, shift, pos, neg)
    }

    /// Gradients of [`FastPathBackend::fast_affine_act`] given `dy` (see [`NormGrads`]):
    /// `(dx, dscale, dshift, dpos, dneg)`.
    #[allow(clippy::type_complexity)]
    fn fast_affine_act_backward(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        composed_affine_act_backward::<Self>(x, scale, shift, pos, neg, dy)
    }
}

/// Sum over every dimension but 1, as a `[C]` tensor.
fn channel_sum<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let shape = t.shape();
    let dims: Vec<usize> = (0..shape.num_dims()).filter(|&d| d != 1).collect();
    B::float_reshape(B::float_sum_dims(t, &dims), Shape::new([shape[1]]))
}

/// `scale[c]·x + shift[c]`.
fn composed_affine<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = channel_shape_of(&x.shape());
    let scale = B::float_reshape(scale, shape.clone());
    let shift = B::float_reshape(shift, shape);
    B::float_add(B::float_mul(x, scale), shift)
}

/// [`FastPathBackend::fast_batch_norm_act_backward`] composed of backend operations.
#[allow(clippy::too_many_arguments)]
pub fn composed_batch_norm_act_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    dy: FloatTensor<B>,
) -> NormGrads<B> {
    let z = B::batch_norm(
        x.clone(),
        gamma.clone(),
        beta,
        mean.clone(),
        variance.clone(),
        epsilon,
    );
    let (dz, dpos, dneg) = composed_backward::<B>(z, pos, neg, dy);
    let grads = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, dz);
    (grads.x_grad, grads.gamma_grad, grads.beta_grad, dpos, dneg)
}

/// [`FastPathBackend::fast_affine_act_backward`] composed of backend operations.
pub fn composed_affine_act_backward<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
    dy: FloatTensor<B>,
) -> NormGrads<B> {
    let shape = channel_shape_of(&x.shape());
    let z = composed_affine::<B>(x.clone(), scale.clone(), shift);
    let (dz, dpos, dneg) = composed_backward::<B>(z, pos, neg, dy);
    let dshift = channel_sum::<B>(dz.clone());
    let dscale = channel_sum::<B>(B::float_mul(dz.clone(), x));
    let dx = B::float_mul(dz, B::float_reshape(scale, shape));
    (dx, dscale, dshift, dpos, dneg)
}

/// [`FastPathBackend::fast_batch_norm_act`] composed of backend operations (for fallbacks).
pub fn composed_batch_norm_act<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let normalized = B::batch_norm_train(x, gamma, beta, epsilon);
    let y = composed_forward::<B>(normalized.output, pos, neg);
    (y, normalized.mean, normalized.variance)
}

/// [`FastPathBackend::fast_affine_act`] composed of backend operations (for fallbacks).
pub fn composed_affine_act<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
) -> FloatTensor<B> {
    let z = composed_affine::<B>(x, scale, shift);
    composed_forward::<B>(z, pos, neg)
}
