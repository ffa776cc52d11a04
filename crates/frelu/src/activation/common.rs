//! What the activation layers share: per-channel parameters, broadcasting them over dimension 1
//! of an input, the channel check, and the training-or-evaluation test of stochastic layers.

use burn::module::{Flag, Param};
use burn::tensor::{Device, Distribution, Tensor};

use crate::ops::channel_shape;

/// A learnable `[len]` vector filled with `value`.
pub(crate) fn filled(len: usize, value: f64, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::full([len], value, device))
}

/// A learnable tensor drawn from `distribution` (with the device's seeded generator).
pub(crate) fn drawn<const D: usize>(
    shape: [usize; D],
    distribution: Distribution,
    device: &Device,
) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::random(shape, distribution, device))
}

/// `[C]` → `[1, C, 1, ...]`, which broadcasts over an input `[batch, C, ...]`.
pub(crate) fn on_channels<const D: usize>(values: Tensor<1>) -> Tensor<D> {
    let channels = values.dims()[0];
    values.reshape(channel_shape::<D>(channels))
}

/// Element `i` of a vector as a tensor of rank `D` with every dimension 1 (broadcasts anywhere).
pub(crate) fn scalar<const D: usize>(values: &Tensor<1>, i: usize) -> Tensor<D> {
    values.clone().slice(i..i + 1).reshape([1; D])
}

/// Panics with a clear message when the input is not `[batch, channels, ...]` with the layer's
/// channel count (the same contract as every Burn layer: a shape bug is a programming error).
pub(crate) fn check_input(layer: &str, channels: usize, dims: &[usize]) {
    assert!(
        dims.len() >= 2,
        "{layer} expects an input of rank >= 2 ([batch, channels, ...]), got rank {}",
        dims.len()
    );
    assert_eq!(
        dims[1], channels,
        "{layer} was built for {channels} channels but the input has {} on dimension 1",
        dims[1]
    );
}

/// Whether a stochastic layer behaves as during training: the flag is on (not frozen) and the
/// input lives on an autodiff device (Burn's `valid()` model runs on the inner one) — the rule
/// Burn's `Dropout` follows.
pub(crate) fn training<const D: usize>(flag: &Param<Flag>, input: &Tensor<D>) -> bool {
    flag.is_enabled() && input.device().is_autodiff()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Checks every activation's tests share: a central-difference gradient check of every
    //! learnable parameter and of the input.

    use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    use crate::Activation;

    /// Asserts `actual ≈ expected` element by element within `tolerance` (absolute).
    pub(crate) fn assert_close<const D: usize>(
        actual: Tensor<D>,
        expected: Tensor<D>,
        tolerance: f64,
    ) {
        actual.into_data().assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(tolerance),
        );
    }

    /// Inputs in ±[0.125, 2.5]: a finite-difference step never crosses a kink at 0.
    pub(crate) fn away_from_zero(shape: [usize; 4], device: &Device) -> Tensor<4> {
        crate::ops::testing::away_from_zero(shape, device) * 1.25
    }

    struct Collect(Vec<(ParamId, Vec<f64>, Vec<usize>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let shape = value.dims().to_vec();
            let data = value
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap();
            self.0.push((param.id, data, shape));
        }
    }

    /// Adds `delta` to element `index` of the parameter `id`.
    struct Nudge {
        id: ParamId,
        index: usize,
        delta: f64,
    }
    impl ModuleMapper for Nudge {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if param.id != self.id {
                return param;
            }
            let (index, delta) = (self.index, self.delta);
            param.map(|t| {
                let device = t.device();
                let shape = t.shape();
                let mut bump = vec![0.0f64; shape.num_elements()];
                bump[index] = delta;
                t + Tensor::from_data(TensorData::new(bump, shape), &device)
            })
        }
    }

    /// Moves every parameter onto the autodiff device `.0`, requiring a gradient (ids kept).
    struct Track(Device);
    impl ModuleMapper for Track {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let device = self.0.clone();
            param.map(|t| Tensor::from_data(t.into_data(), &device).require_grad())
        }
    }

    fn grads_of(layer: &Activation, x: &Tensor<4>, w: &Tensor<4>) -> Vec<Vec<f64>> {
        let loss = (layer.forward(x.clone()) * w.clone()).sum();
        let grads = loss.backward();
        let mut ids = Collect(Vec::new());
        layer.visit(&mut ids);
        struct Grads<'a>(&'a burn::tensor::Gradients, Vec<Vec<f64>>);
        impl ModuleVisitor for Grads<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let grad = param
                    .val()
                    .grad(self.0)
                    .expect("every parameter has a gradient");
                self.1.push(
                    grad.into_data()
                        .convert::<f64>()
                        .try_to_vec::<f64>()
                        .unwrap(),
                );
            }
        }
        let mut out = Grads(&grads, Vec::new());
        layer.visit(&mut out);
        out.1
    }

    /// Compares autodiff gradients of `sum(layer(x)·w)` with central differences, for every
    /// element of every learnable parameter and for a sample of input elements.
    pub(crate) fn gradcheck(layer: Activation, x: Tensor<4>, eps: f64, tolerance: f64) {
        let device = Device::flex().autodiff();
        let layer = layer.map(&mut Track(device.clone()));
        let x = Tensor::<4>::from_data(x.into_data(), &device);
        let w = Tensor::<4>::random(x.shape(), Distribution::Normal(0.0, 1.0), &device);
        // Summed in f64 on the host: an f32 sum's rounding, divided by the step, would be
        // noise of the size of the tolerance (the test failed about once in 35 runs so).
        let loss = |layer: &Activation, x: Tensor<4>| -> f64 {
            (layer.valid().forward(x.inner()) * w.clone().inner())
                .into_data()
                .iter::<f32>()
                .map(f64::from)
                .sum()
        };
        let analytic = grads_of(&layer, &x.clone().require_grad(), &w);
        let mut params = Collect(Vec::new());
        layer.visit(&mut params);
        assert!(!params.0.is_empty(), "no learnable parameter to check");
        let compare = |what: String, a: f64, n: f64| {
            let scale = a.abs().max(n.abs()).max(1.0);
            assert!(
                (a - n).abs() <= tolerance * scale,
                "{what}: autodiff {a} vs finite difference {n}"
            );
        };
        for (p, (id, values, _)) in params.0.iter().enumerate() {
            for (index, &expected) in analytic[p].iter().enumerate().take(values.len()) {
                let shifted = |delta| {
                    let mut nudge = Nudge {
                        id: *id,
                        index,
                        delta,
                    };
                    loss(&layer.clone().map(&mut nudge), x.clone())
                };
                let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                compare(format!("param {p}[{index}]"), expected, numeric);
            }
        }
        // The input: the gradient flowing back to the previous layer.
        let xg = x.clone().require_grad();
        let grads = (layer.forward(xg.clone()) * w.clone()).sum().backward();
        let gx = xg.grad(&grads).unwrap().into_data().convert::<f64>();
        let gx = gx.try_to_vec::<f64>().unwrap();
        let n = gx.len();
        for index in (0..n).step_by(n.div_ceil(16)) {
            let mut bump = vec![0.0f64; n];
            bump[index] = eps;
            let bump = Tensor::<4>::from_data(TensorData::new(bump, x.shape()), &device);
            let numeric = (loss(&layer, x.clone() + bump.clone()) - loss(&layer, x.clone() - bump))
                / (2.0 * eps);
            compare(format!("input[{index}]"), gx[index], numeric);
        }
    }
}

#[cfg(test)]
pub(crate) mod two_forms {
    //! A check for layers with a fused kernel: their fused and composed forms are one function,
    //! values and gradients.

    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Device, Distribution, Tensor};

    /// A layer with a fused kernel and its composed reference.
    pub(crate) trait TwoForms: Module {
        fn fused<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>;
        fn composed<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>;
    }

    /// [`TwoForms`] for layers whose `forward` takes the fused kernel where there is one and
    /// whose `forward_composed` never does.
    macro_rules! impl_two_forms {
        ($($layer:ty),+) => {$(
            impl $crate::activation::common::two_forms::TwoForms for $layer {
                fn fused<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
                    self.forward(x)
                }
                fn composed<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
                    self.forward_composed(x)
                }
            }
        )+};
    }
    pub(crate) use impl_two_forms;

    /// The output of one form on `x` and the gradients of `sum(output·w)` with respect to `x`
    /// and to every parameter of `layer`, flattened.
    fn outputs<M: TwoForms, const D: usize>(
        layer: &M,
        x: &Tensor<D>,
        w: &Tensor<D>,
        fused: bool,
    ) -> Vec<(String, Vec<f32>)> {
        let x = x.clone().require_grad();
        let y = if fused {
            layer.fused(x.clone())
        } else {
            layer.composed(x.clone())
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        let mut out = vec![
            ("output".to_string(), flat(y)),
            ("input gradient".to_string(), flat(x.grad(&grads).unwrap())),
        ];
        struct Grads<'a>(&'a burn::tensor::Gradients, Vec<(String, Vec<f32>)>);
        impl ModuleVisitor for Grads<'_> {
            fn visit_float<const K: usize>(&mut self, param: &Param<Tensor<K>>) {
                let grad = param.val().grad(self.0).expect("a gradient");
                let name = format!("gradient of parameter {}", self.1.len());
                self.1.push((name, flat(grad)));
            }
        }
        let mut params = Grads(&grads, Vec::new());
        layer.visit(&mut params);
        out.extend(params.1);
        out
    }

    fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn assert_all_close(what: &str, fused: &[f32], composed: &[f32], tolerance: f32) {
        assert_eq!(fused.len(), composed.len(), "{what}: lengths");
        for (i, (f, c)) in fused.iter().zip(composed).enumerate() {
            let scale = 1.0 + f.abs().max(c.abs());
            assert!(
                (f - c).abs() <= tolerance * scale,
                "{what}[{i}]: fused {f} vs composed {c}"
            );
        }
    }

    /// Asserts that both forms agree on `x` (on the autodiff Flex device, where the fused kernel
    /// runs), output and every gradient, to `tolerance` relative to `1 + |value|`.
    pub(crate) fn assert_same_function<M: TwoForms, const D: usize>(
        layer: &M,
        x: Tensor<D>,
        tolerance: f32,
    ) {
        let device = Device::flex().autodiff();
        assert_eq!(
            x.device(),
            device,
            "the check runs on the autodiff Flex device"
        );
        assert!(crate::ops::peers::has_fused_kernel(&x));
        let w = Tensor::<D>::random(x.shape(), Distribution::Normal(0.0, 1.0), &device);
        // The input as drawn, and with its smaller elements set to exactly 0: the kink of every
        // ReLU-like activation, where each form must take autodiff's derivative.
        let near_zero = x.clone().abs().lower_elem(0.3);
        for x in [x.clone(), x.mask_fill(near_zero, 0.0)] {
            let a = outputs(layer, &x, &w, true);
            let b = outputs(layer, &x, &w, false);
            assert_eq!(a.len(), b.len());
            for ((what, fused), (_, composed)) in a.iter().zip(&b) {
                assert_all_close(what, fused, composed, tolerance);
            }
        }
    }

    /// [`assert_same_function`] (tolerance 1e-4) on inputs `N(0, 2)` of `channels` channels:
    /// `[3, C, 9, 7]`, the same transposed (not contiguous), `[2, C, 13, 11]` (planes of several
    /// blocks of the kernels' loops, and a partial one), and `[16, C]` (a fully connected
    /// layer's, planes of one element).
    pub(crate) fn assert_same_on_every_layout<M: TwoForms>(layer: &M, channels: usize) {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 2.0);
        let x = Tensor::<4>::random([3, channels, 9, 7], normal, &device);
        assert_same_function(layer, x.clone(), 1e-4);
        assert_same_function(layer, x.swap_dims(2, 3), 1e-4);
        let x = Tensor::<4>::random([2, channels, 13, 11], normal, &device);
        assert_same_function(layer, x, 1e-4);
        let x = Tensor::<2>::random([16, channels], normal, &device);
        assert_same_function(layer, x, 1e-4);
    }

    /// Asserts that both forms agree in inference (Flex, no autodiff) on an input the fused
    /// kernel may write over (owned by the call alone) and on one it must not (`x`, kept).
    pub(crate) fn assert_same_in_inference<M: TwoForms>(layer: &M, x: Tensor<4>) {
        let before = flat(x.clone());
        let expected = flat(layer.composed(x.clone()));
        let in_place = flat(layer.fused(x.clone() * 1.0));
        assert_all_close("in place", &in_place, &expected, 1e-5);
        let kept = flat(layer.fused(x.clone()));
        assert_all_close("into a new buffer", &kept, &expected, 1e-5);
        assert_eq!(flat(x), before, "the kernel wrote over an input it shares");
    }
}
