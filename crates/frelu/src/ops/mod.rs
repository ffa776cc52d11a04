//! The FReLU operation `y = x · (x > 0 ? pos[c] : neg[c])`, channel `c` on dimension 1.
//!
//! - [`frelu`]: the fused operation ([`FReluBackend`]): one kernel forward, one backward that
//!   gives `dx`, `dpos` and `dneg` together. Flex (CPU) and, with the `wgpu`/`cuda` features,
//!   Cube (GPU) have kernels; any other backend uses [`frelu_composed`].
//! - [`frelu_composed`]: the same function written with ordinary tensor operations; autodiff
//!   differentiates it like any other graph. Kept as the reference for checks and benchmarks.
//! - [`peers`]: fused PAU, APL, PELU, MPELU, PReNU and ACON-C for the layers of FReLU's peers.

mod autodiff;
mod backend;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cube;
mod flex;
pub mod peers;
mod shape;

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::{Device, Tensor};

pub use backend::{FReluBackend, composed_backward, composed_forward};
pub(crate) use shape::{channel_shape, channel_shape_of, plane_size};

/// Whether [`frelu`] has a fused kernel for tensors on `device` (else it composes).
pub fn has_fused_kernel(device: &Device) -> bool {
    fn inner(device: &DispatchDevice) -> bool {
        match device {
            DispatchDevice::Flex(_) => true,
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            DispatchDevice::Cube(_) => true,
            DispatchDevice::Autodiff(device) => inner(&device.clone().inner()),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
    inner(device.as_dispatch())
}

/// FReLU on an input of rank `D ≥ 2` with channel slopes `pos`, `neg` of shape `[C]`,
/// `C = input.dims()[1]`.
///
/// # Shapes
/// - input: `[N, C, ...]`
/// - pos, neg: `[C]`
/// - output: `[N, C, ...]`
pub fn frelu<const D: usize>(input: Tensor<D>, pos: Tensor<1>, neg: Tensor<1>) -> Tensor<D> {
    if !has_fused_kernel(&input.device()) {
        return frelu_composed(input, pos, neg);
    }
    Tensor::from_dispatch(<Dispatch as FReluBackend>::frelu(
        input.into_dispatch(),
        pos.into_dispatch(),
        neg.into_dispatch(),
    ))
}

/// FReLU composed from tensor operations: `pos·relu(x) + neg·(x − relu(x))` (the formula of
/// [`composed_forward`], on tensors; autodiff records each operation).
///
/// The gradient with respect to `x` at exactly `x = 0` is `neg` (ReLU's derivative at 0 is 0).
pub fn frelu_composed<const D: usize>(
    input: Tensor<D>,
    pos: Tensor<1>,
    neg: Tensor<1>,
) -> Tensor<D> {
    Tensor::from_dispatch(composed_forward::<Dispatch>(
        input.into_dispatch(),
        pos.into_dispatch(),
        neg.into_dispatch(),
    ))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers the tests of the ops, the activations and the fast path share.

    use burn::tensor::{Device, Distribution, Tensor};

    /// Inputs for gradient checks: uniform in ±[0.1, 2] so that a finite-difference step of
    /// `EPS` never crosses the kink at 0, where the central difference of a piecewise-linear
    /// function is exact.
    pub(crate) fn away_from_zero<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        let magnitude = Tensor::<D>::random(shape, Distribution::Uniform(0.1, 2.0), device);
        let sign = Tensor::<D>::random(shape, Distribution::Bernoulli(0.5), device) * 2.0 - 1.0;
        magnitude * sign
    }

    /// Asserts `a ≈ b` element by element: `|a − b| ≤ tol · (1 + max(|a|, |b|))`, naming
    /// `what` and the element that differs.
    #[track_caller]
    pub(crate) fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    use super::testing::away_from_zero;

    pub(crate) const EPS: f64 = 1e-2;

    fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .expect("float tensor")
    }

    /// Checks autodiff gradients of `sum(f(x, pos, neg) * w)` w.r.t. x, pos and neg against
    /// central differences.
    pub(crate) fn gradcheck<const D: usize>(
        f: impl Fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D>,
        shape: [usize; D],
        learn_pos: bool,
    ) {
        let device = Device::flex().autodiff();
        let c = shape[1];
        let x = away_from_zero(shape, &device);
        let pos = Tensor::<1>::random([c], Distribution::Uniform(0.5, 1.5), &device);
        let neg = Tensor::<1>::random([c], Distribution::Uniform(-0.5, 0.5), &device);
        let w = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let loss = |x: Tensor<D>, pos: Tensor<1>, neg: Tensor<1>| -> f64 {
            (f(x, pos, neg) * w.clone()).sum().into_scalar::<f64>()
        };

        let (xg, pg, ng) = (
            x.clone().require_grad(),
            pos.clone().require_grad(),
            neg.clone().require_grad(),
        );
        let grads = (f(xg.clone(), pg.clone(), ng.clone()) * w.clone())
            .sum()
            .backward();
        let dx = to_vec(xg.grad(&grads).expect("dx"));
        let dneg = to_vec(ng.grad(&grads).expect("dneg"));
        let dpos = pg.grad(&grads).map(to_vec);
        assert_eq!(dpos.is_some(), learn_pos, "pos gradient presence");

        let check = |analytic: &[f64], numeric: &[f64], what: &str| {
            assert_eq!(analytic.len(), numeric.len());
            for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
                let tol = 2e-2 * (1.0 + n.abs());
                assert!(
                    (a - n).abs() <= tol,
                    "{what}[{i}]: autodiff {a} vs finite difference {n} (shape {shape:?})"
                );
            }
        };

        // d/dx, elementwise: perturb one element at a time (few elements in these tests).
        let xs = to_vec(x.clone());
        let numeric_dx: Vec<f64> = (0..xs.len())
            .map(|i| {
                let shifted = |delta: f64| {
                    let mut v = xs.clone();
                    v[i] += delta;
                    Tensor::<D>::from_data(TensorData::new(v, shape).convert::<f32>(), &device)
                };
                (loss(shifted(EPS), pos.clone(), neg.clone())
                    - loss(shifted(-EPS), pos.clone(), neg.clone()))
                    / (2.0 * EPS)
            })
            .collect();
        check(&dx, &numeric_dx, "dx");

        let slope_numeric = |which: usize| -> Vec<f64> {
            let base = to_vec(if which == 0 { pos.clone() } else { neg.clone() });
            (0..c)
                .map(|i| {
                    let shifted = |delta: f64| {
                        let mut v = base.clone();
                        v[i] += delta;
                        Tensor::<1>::from_data(TensorData::new(v, [c]).convert::<f32>(), &device)
                    };
                    let (lp, lm) = if which == 0 {
                        (
                            loss(x.clone(), shifted(EPS), neg.clone()),
                            loss(x.clone(), shifted(-EPS), neg.clone()),
                        )
                    } else {
                        (
                            loss(x.clone(), pos.clone(), shifted(EPS)),
                            loss(x.clone(), pos.clone(), shifted(-EPS)),
                        )
                    };
                    (lp - lm) / (2.0 * EPS)
                })
                .collect()
        };
        check(&dneg, &slope_numeric(1), "dneg");
        if let Some(dpos) = dpos {
            check(&dpos, &slope_numeric(0), "dpos");
        }
    }

    /// FReLU: both slopes learned.
    fn frelu_fn<const D: usize>(
        op: fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D>,
    ) -> impl Fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D> {
        move |x, pos, neg| op(x, pos, neg)
    }

    /// PReLU through the same op: `pos` is a constant 1, only `neg` is learned.
    fn prelu_fn<const D: usize>(
        op: fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D>,
    ) -> impl Fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D> {
        move |x, pos, neg| {
            let ones = Tensor::<1>::ones(pos.dims(), &pos.device()).detach();
            op(x, ones, neg)
        }
    }

    #[test]
    fn composed_gradients_match_finite_differences() {
        gradcheck(frelu_fn::<2>(frelu_composed), [3, 4], true);
        gradcheck(frelu_fn::<4>(frelu_composed), [2, 3, 2, 3], true);
        gradcheck(prelu_fn::<2>(frelu_composed), [3, 4], false);
        gradcheck(prelu_fn::<4>(frelu_composed), [2, 3, 2, 3], false);
    }

    #[test]
    fn fused_gradients_match_finite_differences() {
        gradcheck(frelu_fn::<2>(frelu), [3, 4], true);
        gradcheck(frelu_fn::<4>(frelu), [2, 3, 2, 3], true);
        gradcheck(frelu_fn::<5>(frelu), [2, 2, 2, 1, 3], true);
        gradcheck(prelu_fn::<2>(frelu), [3, 4], false);
        gradcheck(prelu_fn::<4>(frelu), [2, 3, 2, 3], false);
    }

    /// Output and the three gradients of `sum(op(x, pos, neg) * w)`.
    fn run_op<const D: usize>(
        op: impl Fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D>,
        x: &Tensor<D>,
        pos: &Tensor<1>,
        neg: &Tensor<1>,
        w: &Tensor<D>,
    ) -> [TensorData; 4] {
        let (x, pos, neg) = (
            x.clone().require_grad(),
            pos.clone().require_grad(),
            neg.clone().require_grad(),
        );
        let y = op(x.clone(), pos.clone(), neg.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        [
            y.into_data(),
            x.grad(&grads).unwrap().into_data(),
            pos.grad(&grads).unwrap().into_data(),
            neg.grad(&grads).unwrap().into_data(),
        ]
    }

    fn assert_close(a: &TensorData, b: &TensorData, tol: f32, what: &str) {
        let values = |t: &TensorData| t.clone().convert::<f32>().try_into_vec::<f32>().unwrap();
        super::testing::assert_close(&values(a), &values(b), tol, what);
    }

    fn check_fused_against_composed<const D: usize>(device: &Device, x: Tensor<D>) {
        let c = x.dims()[1];
        let pos = Tensor::<1>::random([c], Distribution::Uniform(0.5, 1.5), device);
        let neg = Tensor::<1>::random([c], Distribution::Uniform(-0.5, 0.5), device);
        let w = Tensor::<D>::random(x.dims(), Distribution::Normal(0.0, 1.0), device);
        let fused = run_op(frelu, &x, &pos, &neg, &w);
        let composed = run_op(frelu_composed, &x, &pos, &neg, &w);
        let shape = x.dims();
        // Forward and dx are the same products; dpos/dneg differ only in summation order.
        assert_close(&fused[0], &composed[0], 0.0, &format!("y {shape:?}"));
        assert_close(&fused[1], &composed[1], 1e-6, &format!("dx {shape:?}"));
        assert_close(&fused[2], &composed[2], 1e-4, &format!("dpos {shape:?}"));
        assert_close(&fused[3], &composed[3], 1e-4, &format!("dneg {shape:?}"));
    }

    #[test]
    fn fused_matches_composed_on_many_shapes() {
        let device = Device::flex().autodiff();
        check_fused_against_composed(
            &device,
            Tensor::<2>::random([5, 7], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<2>::random([300, 129], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<3>::random([3, 4, 33], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<4>::random([3, 5, 7, 9], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<4>::random([16, 8, 17, 19], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<4>::random([1, 1, 1, 1], Distribution::Normal(0.0, 1.0), &device),
        );
        check_fused_against_composed(
            &device,
            Tensor::<5>::random([2, 3, 4, 5, 6], Distribution::Normal(0.0, 1.0), &device),
        );
    }

    #[test]
    fn fused_handles_non_contiguous_inputs() {
        let device = Device::flex().autodiff();
        // Transposed spatial dims, and a channel dimension that is not the second in memory.
        let x = Tensor::<4>::random([2, 5, 3, 4], Distribution::Normal(0.0, 1.0), &device)
            .swap_dims(2, 3);
        check_fused_against_composed(&device, x);
        let x =
            Tensor::<3>::random([2, 6, 5], Distribution::Normal(0.0, 1.0), &device).swap_dims(1, 2);
        check_fused_against_composed(&device, x);
        // A slice with an offset.
        let x = Tensor::<4>::random([4, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device)
            .narrow(0, 1, 2);
        check_fused_against_composed(&device, x);
    }

    #[test]
    fn fused_forward_without_autodiff_matches_composed() {
        let device = Device::flex();
        let x = Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(0.0, 1.0), &device);
        let pos = Tensor::<1>::random([4], Distribution::Uniform(0.5, 1.5), &device);
        let neg = Tensor::<1>::random([4], Distribution::Uniform(-0.5, 0.5), &device);
        let expected = frelu_composed(x.clone(), pos.clone(), neg.clone()).into_data();
        // The input is uniquely owned here, so the kernel runs in place.
        frelu(x, pos, neg).into_data().assert_eq(&expected, true);
    }

    #[test]
    fn shared_slopes_through_the_layer_match_composed() {
        use crate::{FReluConfig, SlopeSharing};
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random([2, 6, 3, 3], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let grads_of = |fused: bool| {
            let layer = FReluConfig::new(6)
                .with_sharing(SlopeSharing::Layer)
                .with_neg_init(0.2)
                .with_pos_init(0.9)
                .with_fused(fused)
                .init(&device);
            let grads = (layer.forward(x.clone()) * x.clone()).sum().backward();
            [
                layer
                    .pos
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .unwrap()
                    .into_data(),
                layer
                    .neg
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .unwrap()
                    .into_data(),
                x.grad(&grads).unwrap().into_data(),
            ]
        };
        let (fused, composed) = (grads_of(true), grads_of(false));
        assert_eq!(fused[0].shape().num_elements(), 1);
        for (f, c) in fused.iter().zip(&composed) {
            assert_close(f, c, 1e-4, "shared");
        }
    }

    #[test]
    fn gradients_are_the_same_under_gradient_checkpointing() {
        let data = away_from_zero([2, 3, 4, 4], &Device::flex()).into_data();
        let run = |device: Device, op: fn(Tensor<4>, Tensor<1>, Tensor<1>) -> Tensor<4>| {
            let x = Tensor::<4>::from_data(data.clone(), &device).require_grad();
            let pos = Tensor::<1>::from_data([1.0, 0.5, 2.0], &device).require_grad();
            let neg = Tensor::<1>::from_data([0.1, -0.2, 0.3], &device).require_grad();
            // A chain with memory-bound ops around FReLU, which checkpointing recomputes.
            let h = (x.clone() * 2.0).exp().log();
            let y = op(h, pos.clone(), neg.clone());
            let y = op(y.tanh(), pos.clone(), neg.clone());
            let grads = y.sum().backward();
            [
                x.grad(&grads).unwrap().into_data(),
                pos.grad(&grads).unwrap().into_data(),
                neg.grad(&grads).unwrap().into_data(),
            ]
        };
        let reference = run(Device::flex().autodiff(), frelu_composed);
        for (device, name) in [
            (Device::flex().autodiff(), "fused"),
            (
                Device::flex().autodiff().gradient_checkpointing(),
                "fused, checkpointed",
            ),
        ] {
            let result = run(device, frelu);
            for (r, c) in reference.iter().zip(&result) {
                assert_close(r, c, 1e-5, name);
            }
        }
        let composed = run(
            Device::flex().autodiff().gradient_checkpointing(),
            frelu_composed,
        );
        for (r, c) in reference.iter().zip(&composed) {
            assert_close(r, c, 1e-5, "composed, checkpointed");
        }
    }

    #[test]
    fn gradient_at_zero_is_the_negative_slope() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::zeros([1, 2], &device).require_grad();
        let pos = Tensor::<1>::from_data([2.0, 3.0], &device);
        let neg = Tensor::<1>::from_data([0.5, -0.25], &device);
        let grads = frelu(x.clone(), pos, neg).sum().backward();
        x.grad(&grads)
            .unwrap()
            .into_data()
            .assert_eq(&TensorData::from([[0.5f32, -0.25]]), true);
    }
}
