//! The FReLU operation `y = x · (x > 0 ? pos[c] : neg[c])`, channel `c` on dimension 1.
//!
//! - [`frelu`]: the entry point the layer uses.
//! - [`frelu_composed`]: the same function written with ordinary tensor operations; autodiff
//!   differentiates it like any other graph. Kept as the reference for checks and benchmarks.

use burn::tensor::{Tensor, activation};

/// FReLU on an input of rank `D ≥ 2` with channel slopes `pos`, `neg` of shape `[C]`,
/// `C = input.dims()[1]`.
///
/// # Shapes
/// - input: `[N, C, ...]`
/// - pos, neg: `[C]`
/// - output: `[N, C, ...]`
pub fn frelu<const D: usize>(input: Tensor<D>, pos: Tensor<1>, neg: Tensor<1>) -> Tensor<D> {
    frelu_composed(input, pos, neg)
}

/// FReLU composed from tensor operations: `pos·relu(x) + neg·(x − relu(x))`.
///
/// The gradient with respect to `x` at exactly `x = 0` is `neg` (ReLU's derivative at 0 is 0).
pub fn frelu_composed<const D: usize>(
    input: Tensor<D>,
    pos: Tensor<1>,
    neg: Tensor<1>,
) -> Tensor<D> {
    let shape = channel_shape::<D>(pos.dims()[0]);
    let pos = pos.reshape(shape);
    let neg = neg.reshape(shape);
    let positive = activation::relu(input.clone());
    let negative = input - positive.clone();
    positive * pos + negative * neg
}

/// `[1, C, 1, ...]`: the shape that broadcasts a `[C]` vector over dimension 1.
pub(crate) fn channel_shape<const D: usize>(channels: usize) -> [usize; D] {
    let mut shape = [1; D];
    shape[1] = channels;
    shape
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    /// Inputs for gradient checks: uniform in ±[0.1, 2] so that a finite-difference step of
    /// `EPS` never crosses the kink at 0, where the central difference of a piecewise-linear
    /// function is exact.
    pub(crate) fn away_from_zero<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        let magnitude = Tensor::<D>::random(shape, Distribution::Uniform(0.1, 2.0), device);
        let sign = Tensor::<D>::random(shape, Distribution::Bernoulli(0.5), device) * 2.0 - 1.0;
        magnitude * sign
    }

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
