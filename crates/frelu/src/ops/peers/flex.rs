//! The peers' operations on the Flex (CPU) backend: the kernels of `pau_kernel`, `apl_kernel`,
//! `pointwise_kernel` and `random_kernel`, for f32 tensors (the wrappers of [`super`] send
//! nothing else here).

use burn::backend::flex::{Flex, FlexTensor};

use super::backend::PeerBackend;
use super::{Pointwise, RandomSide, apl_kernel, pau_kernel, pointwise_kernel, random_kernel};
use crate::flex_tensor::all_f32;

fn assert_f32<const K: usize>(op: &str, tensors: [&FlexTensor; K]) {
    assert!(
        all_f32(tensors),
        "the fused {op} kernel takes f32 tensors; other dtypes use the composed layer"
    );
}

impl PeerBackend for Flex {
    fn pau(
        x: FlexTensor,
        numerator: FlexTensor,
        denominator: FlexTensor,
        version_a: bool,
    ) -> FlexTensor {
        assert_f32("PAU", [&x, &numerator, &denominator]);
        pau_kernel::forward(x, numerator, denominator, version_a)
    }

    fn pau_backward(
        x: FlexTensor,
        numerator: FlexTensor,
        denominator: FlexTensor,
        dy: FlexTensor,
        version_a: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        assert_f32("PAU", [&x, &numerator, &denominator, &dy]);
        pau_kernel::backward(x, numerator, denominator, dy, version_a)
    }

    fn apl(x: FlexTensor, a: FlexTensor, b: FlexTensor) -> FlexTensor {
        assert_f32("APL", [&x, &a, &b]);
        apl_kernel::forward(x, a, b)
    }

    fn apl_backward(
        x: FlexTensor,
        a: FlexTensor,
        b: FlexTensor,
        dy: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        assert_f32("APL", [&x, &a, &b, &dy]);
        apl_kernel::backward(x, a, b, dy)
    }

    fn pointwise(x: FlexTensor, params: FlexTensor, kind: u8) -> FlexTensor {
        assert_f32("pointwise", [&x, &params]);
        pointwise_kernel::forward(x, params, Pointwise::from_code(kind))
    }

    fn pointwise_backward(
        x: FlexTensor,
        params: FlexTensor,
        dy: FlexTensor,
        kind: u8,
    ) -> (FlexTensor, FlexTensor) {
        assert_f32("pointwise", [&x, &params, &dy]);
        pointwise_kernel::backward(x, params, dy, Pointwise::from_code(kind))
    }

    fn random_slope(
        x: FlexTensor,
        neg: FlexTensor,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> FlexTensor {
        assert_f32("random-slope", [&x, &neg]);
        random_kernel::forward(x, neg, (seed, RandomSide::from_code(side), range))
    }

    fn random_slope_backward(
        x: FlexTensor,
        neg: FlexTensor,
        dy: FlexTensor,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> (FlexTensor, FlexTensor) {
        assert_f32("random-slope", [&x, &neg, &dy]);
        random_kernel::backward(x, neg, dy, (seed, RandomSide::from_code(side), range))
    }
}
