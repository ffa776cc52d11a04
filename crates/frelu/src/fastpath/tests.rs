//! The fast path against Burn's own modules (the reference) on a table of shapes, and its
//! gradients against finite differences.

use crate::ops::testing::assert_close;
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::{batch_norm_act, conv2d, max_pool2d};
use crate::activation::{Activation, ActivationConfig};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
}

/// `(input [n, c, h, w], out channels, kernel, stride, padding, groups)`: stride 1 and 2,
/// groups 1, 2 and depthwise, 1×1 (pointwise and strided), batch 1, odd sizes, channel counts
/// that are not multiples of 8 or 16.
const CONVS: [([usize; 4], usize, usize, usize, usize, usize); 9] = [
    ([2, 3, 9, 9], 5, 3, 1, 1, 1),
    ([1, 6, 11, 7], 10, 3, 2, 1, 1),
    ([3, 12, 5, 5], 7, 1, 1, 0, 1),
    ([2, 12, 9, 9], 20, 1, 2, 0, 1),
    ([2, 9, 8, 7], 9, 3, 1, 1, 9),
    ([1, 9, 9, 8], 9, 3, 2, 1, 9),
    ([2, 8, 6, 6], 6, 3, 1, 1, 2),
    ([4, 17, 13, 13], 33, 3, 1, 1, 1),
    ([2, 3, 15, 15], 4, 5, 2, 2, 1),
];

/// A convolution layer for one row of [`CONVS`] (input shape unused), with or without bias.
fn conv_layer(
    (shape, c_out, k, s, p, groups): ([usize; 4], usize, usize, usize, usize, usize),
    bias: bool,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([shape[1], c_out], [k, k])
        .with_stride([s, s])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(groups)
        .with_bias(bias)
        .init(device)
}

#[test]
fn convolution_passes_equal_burns_on_every_shape() {
    let device = Device::flex().autodiff();
    for (i, &(shape, c_out, k, s, p, groups)) in CONVS.iter().enumerate() {
        let conv = conv_layer((shape, c_out, k, s, p, groups), i % 3 == 0, &device);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        // A non-uniform upstream gradient: d(Σ y·r)/dy = r.
        let out = conv.forward(x.clone()).dims();
        let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &device);
        let run = |fast: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fast {
                conv2d(&conv, x.clone())
            } else {
                conv.forward(x.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            let dw = conv.weight.grad(&grads).expect("dw");
            let db = conv
                .bias
                .as_ref()
                .map(|b| values(b.grad(&grads).expect("db")));
            (
                values(y),
                values(x.grad(&grads).expect("dx")),
                values(dw),
                db,
            )
        };
        let (fast, reference) = (run(true), run(false));
        let what = format!("case {i} {shape:?} → {c_out}, k{k} s{s} p{p} g{groups}");
        assert_close(&fast.0, &reference.0, 1e-4, &format!("{what}: y"));
        assert_close(&fast.1, &reference.1, 1e-4, &format!("{what}: dx"));
        assert_close(&fast.2, &reference.2, 1e-3, &format!("{what}: dw"));
        if let (Some(a), Some(b)) = (fast.3, reference.3) {
            assert_close(&a, &b, 1e-3, &format!("{what}: db"));
        }
    }
}

/// A convolution is linear in its input and in its weight, so central differences are exact up
/// to rounding: each gradient entry checked against them.
#[test]
fn convolution_gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    for &(shape, c_out, k, s, p, groups) in &[CONVS[1], CONVS[4], CONVS[3]] {
        let conv = conv_layer((shape, c_out, k, s, p, groups), false, &device);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let w = conv.weight.val().detach();
        let out = conv.forward(x.clone()).dims();
        let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &device);
        let loss = |x: Tensor<4>, w: Tensor<4>| -> f64 {
            let mut layer = conv.clone();
            layer.weight = Param::from_tensor(w);
            (conv2d(&layer, x) * r.clone()).sum().into_scalar::<f64>()
        };
        let (xg, wg) = (x.clone().require_grad(), w.clone().require_grad());
        let mut layer = conv.clone();
        layer.weight = Param::from_tensor(wg.clone());
        let grads = (conv2d(&layer, xg.clone()) * r.clone()).sum().backward();
        let (dx, dw) = (
            values(xg.grad(&grads).unwrap()),
            values(wg.grad(&grads).unwrap()),
        );
        let eps = 0.5f32;
        let numeric = |t: &Tensor<4>, index: usize, as_x: bool| -> f64 {
            let base = values(t.clone());
            let shifted = |delta: f32| {
                let mut v = base.clone();
                v[index] += delta;
                Tensor::<4>::from_data(TensorData::new(v, t.dims()), &device)
            };
            let (plus, minus) = if as_x {
                (
                    loss(shifted(eps), w.clone()),
                    loss(shifted(-eps), w.clone()),
                )
            } else {
                (
                    loss(x.clone(), shifted(eps)),
                    loss(x.clone(), shifted(-eps)),
                )
            };
            (plus - minus) / (2.0 * eps as f64)
        };
        for index in [0, dx.len() / 3, dx.len() - 1] {
            let n = numeric(&x, index, true);
            assert!(
                (dx[index] as f64 - n).abs() < 1e-3 * (1.0 + n.abs()),
                "dx[{index}]: {} vs {n}",
                dx[index]
            );
        }
        for index in [0, dw.len() / 2, dw.len() - 1] {
            let n = numeric(&w, index, false);
            assert!(
                (dw[index] as f64 - n).abs() < 1e-3 * (1.0 + n.abs()),
                "dw[{index}]: {} vs {n}",
                dw[index]
            );
        }
    }
}

/// Activations fused with batch norm, one that runs after it, and none.
fn activations(channels: usize, device: &Device) -> Vec<(String, Option<Activation>)> {
    let jitter = |act: Activation| match act {
        Activation::FRelu(mut layer) => {
            let c = layer.channels;
            let set = |p: &mut Option<Param<Tensor<1>>>, lo: f64, hi: f64| {
                if let Some(param) = p.as_mut() {
                    *param = Param::from_tensor(Tensor::random(
                        [c],
                        Distribution::Uniform(lo, hi),
                        device,
                    ));
                }
            };
            set(&mut layer.pos, 0.5, 1.5);
            set(&mut layer.neg, -0.5, 0.5);
            Activation::FRelu(layer)
        }
        other => other,
    };
    ["relu", "lrelu:0.1", "prelu", "frelu", "swish", "identity"]
        .into_iter()
        .map(|name| {
            let config: ActivationConfig = name.parse().expect("registry name");
            (
                name.to_string(),
                Some(jitter(config.init(channels, device))),
            )
        })
        .chain(std::iter::once(("none".to_string(), None)))
        .collect()
}

fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(channels).init(device);
    bn.gamma = Param::from_tensor(Tensor::random(
        [channels],
        Distribution::Uniform(0.5, 1.5),
        device,
    ));
    bn.beta = Param::from_tensor(Tensor::random(
        [channels],
        Distribution::Uniform(-0.5, 0.5),
        device,
    ));
    bn
}

/// Two batch norms with the same parameters and fresh running statistics.
fn twins(channels: usize, device: &Device) -> (BatchNorm, BatchNorm) {
    let a = batch_norm(channels, device);
    let mut b = BatchNormConfig::new(channels).init(device);
    b.gamma = Param::from_tensor(a.gamma.val().detach());
    b.beta = Param::from_tensor(a.beta.val().detach());
    (a, b)
}

#[test]
fn batch_norm_with_activation_equals_burns_in_training_mode() {
    let device = Device::flex().autodiff();
    for shape in [[4, 6, 5, 5], [1, 3, 7, 9], [8, 17, 4, 4]] {
        let channels = shape[1];
        for (name, act) in activations(channels, &device) {
            let (fast_bn, reference_bn) = twins(channels, &device);
            // A mean far from 0 tests the statistics' numerics too.
            let x = Tensor::<4>::random(shape, Distribution::Normal(3.0, 2.0), &device);
            let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let run = |bn: &BatchNorm, fast: bool| {
                let x = x.clone().detach().require_grad();
                let y = if fast {
                    batch_norm_act(bn, x.clone(), act.as_ref())
                } else {
                    let y = bn.forward(x.clone());
                    match &act {
                        Some(a) => a.forward(y),
                        None => y,
                    }
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                let mut out = vec![
                    values(y),
                    values(x.grad(&grads).expect("dx")),
                    values(bn.gamma.grad(&grads).expect("dgamma")),
                    values(bn.beta.grad(&grads).expect("dbeta")),
                ];
                if let Some(Activation::FRelu(layer)) = &act {
                    for p in [&layer.pos, &layer.neg].into_iter().flatten() {
                        out.push(values(p.grad(&grads).expect("slope gradient")));
                    }
                }
                out.push(values(bn.running_mean.value()));
                out.push(values(bn.running_var.value()));
                out
            };
            let fast = run(&fast_bn, true);
            let reference = run(&reference_bn, false);
            let parts = ["y", "dx", "dgamma", "dbeta", "slope 1", "slope 2"];
            for (k, (a, b)) in fast.iter().zip(&reference).enumerate() {
                let label = if k >= fast.len() - 2 {
                    "running stats"
                } else {
                    parts[k]
                };
                assert_close(a, b, 2e-4, &format!("{name} {shape:?}: {label}"));
            }
        }
    }
}

#[test]
fn batch_norm_with_activation_equals_burns_in_evaluation_mode() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        let shape = [3, 5, 6, 7];
        for (name, act) in activations(5, &device) {
            let mut bn = batch_norm(5, &device);
            // Non-trivial running statistics, then evaluation mode.
            bn.running_mean = burn::module::RunningState::new(Tensor::random(
                [5],
                Distribution::Normal(0.5, 1.0),
                &device,
            ));
            bn.running_var = burn::module::RunningState::new(Tensor::random(
                [5],
                Distribution::Uniform(0.5, 2.0),
                &device,
            ));
            bn.training = Param::from_bool(false);
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), &device);
            let fast = batch_norm_act(&bn, x.clone(), act.as_ref());
            let y = bn.forward(x.clone());
            let reference = match &act {
                Some(a) => a.forward(y),
                None => y,
            };
            assert_close(
                &values(fast),
                &values(reference),
                1e-5,
                &format!("{name} eval"),
            );
        }
    }
    // Gradients in evaluation mode (slopes-only phases keep batch norm frozen this way).
    let device = Device::flex().autodiff();
    let act: Activation = ActivationConfig::frelu().init(4, &device);
    let mut bn = batch_norm(4, &device);
    bn.training = Param::from_bool(false);
    let x = Tensor::<4>::random([2, 4, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let r = Tensor::<4>::random([2, 4, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let grad_of = |fast: bool| {
        let x = x.clone().require_grad();
        let y = if fast {
            batch_norm_act(&bn, x.clone(), Some(&act))
        } else {
            act.forward(bn.forward(x.clone()))
        };
        let grads = (y * r.clone()).sum().backward();
        let slopes = act.as_frelu().expect("frelu");
        [
            values(x.grad(&grads).unwrap()),
            values(bn.gamma.grad(&grads).unwrap()),
            values(bn.beta.grad(&grads).unwrap()),
            values(slopes.pos.as_ref().unwrap().grad(&grads).unwrap()),
            values(slopes.neg.as_ref().unwrap().grad(&grads).unwrap()),
        ]
    };
    for (a, b) in grad_of(true).iter().zip(&grad_of(false)) {
        assert_close(a, b, 1e-4, "eval-mode gradients");
    }
}

/// Finite differences of the fused batch norm + FReLU in training mode, with inputs whose
/// normalised values stay away from the kink at 0 (two clusters per channel around ±1).
#[test]
fn batch_norm_gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    let shape = [3, 2, 2, 2];
    let len: usize = shape.iter().product();
    let magnitude = Tensor::<4>::random(shape, Distribution::Uniform(0.8, 1.2), &device);
    let sign: Vec<f32> = (0..len)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let x = magnitude * Tensor::<4>::from_data(TensorData::new(sign, shape), &device);
    let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let bn = BatchNormConfig::new(2).init(&device);
    let act: Activation = "frelu:0.2:pos=1.3"
        .parse::<ActivationConfig>()
        .unwrap()
        .init(2, &device);
    let loss = |x: Tensor<4>| -> f64 {
        let bn = BatchNormConfig::new(2).init(&device);
        (batch_norm_act(&bn, x, Some(&act)) * r.clone())
            .sum()
            .into_scalar::<f64>()
    };
    let xg = x.clone().require_grad();
    let grads = (batch_norm_act(&bn, xg.clone(), Some(&act)) * r.clone())
        .sum()
        .backward();
    let dx = values(xg.grad(&grads).unwrap());
    let base = values(x.clone());
    let eps = 1e-2f32;
    for index in 0..len {
        let shifted = |delta: f32| {
            let mut v = base.clone();
            v[index] += delta;
            Tensor::<4>::from_data(TensorData::new(v, shape), &device)
        };
        let numeric = (loss(shifted(eps)) - loss(shifted(-eps))) / (2.0 * eps as f64);
        assert!(
            (dx[index] as f64 - numeric).abs() < 2e-2 * (1.0 + numeric.abs()),
            "dx[{index}]: {} vs finite difference {numeric}",
            dx[index]
        );
    }
}

#[test]
fn max_pooling_equals_burns_forward_and_backward() {
    let device = Device::flex().autodiff();
    // (input, kernel, stride, padding): 2×2/2 tiling, odd sizes with a remainder, overlapping
    // padded 3×3/2 (ResNet's stem), and a ceil-mode pool that falls back to Burn's own.
    let cases = [
        ([2, 3, 8, 8], 2, 2, 0, false),
        ([1, 4, 7, 9], 2, 2, 0, false),
        ([2, 2, 9, 9], 3, 2, 1, false),
        ([1, 2, 7, 7], 3, 3, 0, false),
        ([1, 2, 7, 7], 2, 2, 0, true),
    ];
    for (shape, k, s, p, ceil) in cases {
        let pool = MaxPool2dConfig::new([k, k])
            .with_strides([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_ceil_mode(ceil)
            .init();
        // Rounded values: ties inside windows.
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), &device).round();
        let out = pool.forward(x.clone()).dims();
        let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &device);
        let run = |fast: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fast {
                max_pool2d(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            (values(y), values(x.grad(&grads).expect("dx")))
        };
        let (fast, reference) = (run(true), run(false));
        let what = format!("{shape:?} k{k} s{s} p{p} ceil {ceil}");
        assert_eq!(fast.0, reference.0, "{what}: y");
        // Overlapping windows add two gradients into one input, maybe in another order.
        assert_close(&fast.1, &reference.1, 1e-6, &format!("{what}: dx"));
    }
}

#[test]
fn the_environment_switch_reads_as_documented() {
    for off in ["0", "off", "OFF", " false ", "no"] {
        assert!(
            !super::switch::switch_value(Some(off)),
            "{off:?} turns it off"
        );
    }
    for on in [None, Some("1"), Some("on"), Some("yes"), Some("")] {
        assert!(super::switch::switch_value(on), "{on:?} leaves it on");
    }
}
