//! The FReLU backend extension: one forward and one backward operation that each backend can
//! implement with its own kernel.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata, backend_extension};
use burn::tensor::Shape;

use super::shape::channel_shape_of;

/// FReLU as a backend operation.
///
/// The default bodies compose ordinary backend operations; they are the fallback for backends
/// and dtypes without a dedicated kernel. `Flex` (f32) has a multi-threaded CPU kernel,
/// `Autodiff` a custom backward that calls [`FReluBackend::frelu_backward`] of the inner
/// backend, and `Cube` (with the `wgpu` or `cuda` feature) CubeCL kernels.
#[backend_extension(
    Flex,
    Autodiff,
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Fusion: cfg(any(feature = "wgpu", feature = "cuda"))
)]
pub trait FReluBackend: Backend {
    /// `y = x · (x > 0 ? pos[c] : neg[c])`, `c` = dimension 1 of `x`.
    ///
    /// # Shapes
    /// - x: `[N, C, ...]` (rank ≥ 2); pos, neg: `[C]`; output: like `x`.
    #[fusion(dtype = x, shape = x)]
    fn frelu(
        x: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed_forward::<Self>(x, pos, neg)
    }

    /// Gradients of FReLU given the upstream gradient `dy`: `(dx, dpos, dneg)` with
    /// `dx = dy · (x > 0 ? pos[c] : neg[c])`, `dpos[c] = Σ dy · max(x, 0)`,
    /// `dneg[c] = Σ dy · min(x, 0)` (sums over every dimension but 1).
    #[fusion(meta = |x, pos, neg, _dy| (x.clone(), pos.clone(), neg.clone()))]
    fn frelu_backward(
        x: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed_backward::<Self>(x, pos, neg, dy)
    }
}

/// [`FReluBackend::frelu`] composed of ordinary backend operations.
pub fn composed_forward<B: Backend>(
    x: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let pos = B::float_reshape(pos, channel_shape_of(&shape));
    let neg = B::float_reshape(neg, channel_shape_of(&shape));
    let positive = B::relu(x.clone());
    let negative = B::float_sub(x, positive.clone());
    B::float_add(B::float_mul(positive, pos), B::float_mul(negative, neg))
}

/// [`FReluBackend::frelu_backward`] composed of ordinary backend operations.
pub fn composed_backward<B: Backend>(
    x: FloatTensor<B>,
    pos: FloatTensor<B>,
    neg: FloatTensor<B>,
    dy: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = x.shape();
    let channels = shape[1];
    let pos = B::float_reshape(pos, channel_shape_of(&shape));
    let neg = B::float_reshape(neg, channel_shape_of(&shape));
    let positive = B::relu(x.clone());
    let negative = B::float_sub(x, positive.clone());
    let reduce_dims: Vec<usize> = (0..shape.num_dims()).filter(|&d| d != 1).collect();
    let sum = |t: FloatTensor<B>| {
        B::float_reshape(B::float_sum_dims(t, &reduce_dims), Shape::new([channels]))
    };
    let dpos = sum(B::float_mul(dy.clone(), positive.clone()));
    let dneg = sum(B::float_mul(dy.clone(), negative));
    // dx = dy·neg + [x > 0]·dy·(pos − neg)
    let gated = B::relu_backward(positive, dy.clone());
    let dx = B::float_add(
        B::float_mul(dy, neg.clone()),
        B::float_mul(gated, B::float_sub(pos, neg)),
    );
    (dx, dpos, dneg)
}
