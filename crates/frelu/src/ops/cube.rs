//! The FReLU kernels of the CubeCL backend (wgpu, CUDA, ...), for every float dtype.
//!
//! - Forward: one thread per element.
//! - Backward: one cube per `(n, c)` plane; each of its `B` threads strides over the plane
//!   writing `dx` and accumulating its share of `Σ dy·max(x, 0)` and `Σ dy·min(x, 0)`. The
//!   `[N, C, B]` partial sums are then reduced over `B` and `N` by the backend's parallel
//!   reduction kernels (a fixed order, so the result is deterministic).
//!
//! With Burn's `fusion` feature (on by default for wgpu/cuda) the `#[backend_extension]` macro
//! wraps these in lazy Fusion operations.

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::Shape;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeCount, CubeDim, calculate_cube_count_elemwise};

use super::backend::FReluBackend;
use super::shape::plane_size;

/// Largest grid extent per dimension that every runtime accepts.
const MAX_GRID: usize = 65_535;

#[cube(launch)]
fn frelu_forward_kernel<F: Float>(
    x: &Tensor<F>,
    pos: &Tensor<F>,
    neg: &Tensor<F>,
    output: &mut Tensor<F>,
    plane: usize,
    channels: usize,
    #[define(F)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= output.len() {
        terminate!();
    }
    let c = (ABSOLUTE_POS / plane) % channels;
    let v = x[ABSOLUTE_POS];
    output[ABSOLUTE_POS] = v * select(v > F::new(0.0), pos[c], neg[c]);
}

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn frelu_backward_kernel<F: Float>(
    x: &Tensor<F>,
    pos: &Tensor<F>,
    neg: &Tensor<F>,
    dy: &Tensor<F>,
    dx: &mut Tensor<F>,
    partial_pos: &mut Tensor<F>,
    partial_neg: &mut Tensor<F>,
    plane: usize,
    channels: usize,
    planes: usize,
    #[comptime] block: usize,
    #[define(F)] _dtype: ElemType,
) {
    let index = CUBE_POS_Y as usize * CUBE_COUNT_X as usize + CUBE_POS_X as usize;
    if index >= planes {
        terminate!();
    }
    let c = index % channels;
    let base = index * plane;
    let p = pos[c];
    let n = neg[c];
    let zero = F::new(0.0);
    let unit = UNIT_POS_X as usize;

    let mut sum_pos = zero;
    let mut sum_neg = zero;
    let mut i = unit;
    while i < plane {
        let v = x[base + i];
        let g = dy[base + i];
        let positive = v > zero;
        let gv = g * v;
        sum_pos += select(positive, gv, zero);
        sum_neg += select(positive, zero, gv);
        dx[base + i] = g * select(positive, p, n);
        i += block;
    }

    // One partial sum per thread; the backend's (parallel) reduction adds them up.
    let slot = index * block + unit;
    partial_pos[slot] = sum_pos;
    partial_neg[slot] = sum_neg;
}

fn empty_like(t: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_contiguous_dtype(t.client.clone(), t.device.clone(), shape, t.dtype)
}

impl FReluBackend for CubeBackend {
    fn frelu(x: CubeTensor, pos: CubeTensor, neg: CubeTensor) -> CubeTensor {
        let (x, pos, neg) = (
            into_contiguous(x),
            into_contiguous(pos),
            into_contiguous(neg),
        );
        let shape = x.shape();
        let output = empty_like(&x, shape.clone());
        let elements = shape.num_elements();
        let cube_dim = CubeDim::new(&x.client, elements);
        let cube_count = calculate_cube_count_elemwise(&x.client, elements, cube_dim);
        let dtype = x.dtype;
        frelu_forward_kernel::launch(
            &output.client,
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            pos.into_tensor_arg(),
            neg.into_tensor_arg(),
            output.clone().into_tensor_arg(),
            plane_size(&shape).max(1),
            shape[1],
            dtype_to_storage_type(dtype),
        );
        output
    }

    fn frelu_backward(
        x: CubeTensor,
        pos: CubeTensor,
        neg: CubeTensor,
        dy: CubeTensor,
    ) -> (CubeTensor, CubeTensor, CubeTensor) {
        let (x, pos, neg, dy) = (
            into_contiguous(x),
            into_contiguous(pos),
            into_contiguous(neg),
            into_contiguous(dy),
        );
        let shape = x.shape();
        let (batch, channels, plane) = (shape[0], shape[1], plane_size(&shape).max(1));
        let planes = batch * channels;
        let dx = empty_like(&x, shape.clone());
        // A power of two between 32 and 256 threads per plane (every GPU runtime takes 256).
        let block = plane.next_power_of_two().clamp(32, 256);
        let partial_pos = empty_like(&x, Shape::new([batch, channels, block]));
        let partial_neg = empty_like(&x, Shape::new([batch, channels, block]));
        let grid_x = planes.min(MAX_GRID);
        let grid_y = planes.div_ceil(grid_x);
        let dtype = x.dtype;
        frelu_backward_kernel::launch(
            &dx.client,
            CubeCount::Static(grid_x as u32, grid_y as u32, 1),
            CubeDim::new_1d(block as u32),
            x.into_tensor_arg(),
            pos.into_tensor_arg(),
            neg.into_tensor_arg(),
            dy.into_tensor_arg(),
            dx.clone().into_tensor_arg(),
            partial_pos.clone().into_tensor_arg(),
            partial_neg.clone().into_tensor_arg(),
            plane,
            channels,
            planes,
            block,
            dtype_to_storage_type(dtype),
        );
        let reduce = |partial: CubeTensor| {
            let per_plane = Self::float_sum_dim(partial, 2);
            Self::float_reshape(Self::float_sum_dim(per_plane, 0), Shape::new([channels]))
        };
        (dx, reduce(partial_pos), reduce(partial_neg))
    }
}
