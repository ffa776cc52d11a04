//! The shape that broadcasts a per-channel `[C]` vector over dimension 1 of a tensor, in both
//! APIs that need it (tensor ranks known at compile time, backend shapes known at run time), and
//! the size of one `(n, c)` plane, which every per-channel kernel walks.

use burn::tensor::Shape;

/// `[1, C, 1, ...]` of rank `D`.
pub(crate) fn channel_shape<const D: usize>(channels: usize) -> [usize; D] {
    let mut shape = [1; D];
    shape[1] = channels;
    shape
}

/// Elements per `(n, c)` plane of a tensor `[N, C, ...]` (1 for rank 2).
pub(crate) fn plane_size(shape: &Shape) -> usize {
    shape.iter().skip(2).product::<usize>()
}

/// `[1, C, 1, ...]` for a tensor of shape `shape`.
pub(crate) fn channel_shape_of(shape: &Shape) -> Shape {
    let mut dims = vec![1; shape.num_dims()];
    dims[1] = shape[1];
    Shape::from(dims)
}
