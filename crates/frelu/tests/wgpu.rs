//! The CubeCL kernels on a real GPU runtime: `cargo test --release -p frelu --features wgpu`.
//!
//! Runs wherever wgpu finds an adapter — a GPU, or Mesa's software Vulkan driver (lavapipe,
//! Debian package `mesa-vulkan-drivers`), which is how CI runs it. The fused op is compared with
//! the composed one (itself checked against finite differences in the unit tests) on the same
//! device, and with the Flex kernel on the CPU.
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, DeviceKind, Distribution, Tensor, TensorData};
use frelu::ops::{frelu, frelu_composed, has_fused_kernel};
use frelu::{FReluConfig, SlopeSharing};

fn gpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

fn values(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn assert_close(a: TensorData, b: TensorData, tol: f32, what: &str) {
    let (a, b) = (values(a), values(b));
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// y, dx, dpos, dneg of `sum(op(x) * w)` for data made on the CPU and moved to `device`.
fn run<const D: usize>(
    op: fn(Tensor<D>, Tensor<1>, Tensor<1>) -> Tensor<D>,
    device: &Device,
    inputs: &[TensorData; 4],
) -> [TensorData; 4] {
    let x = Tensor::<D>::from_data(inputs[0].clone(), device).require_grad();
    let pos = Tensor::<1>::from_data(inputs[1].clone(), device).require_grad();
    let neg = Tensor::<1>::from_data(inputs[2].clone(), device).require_grad();
    let w = Tensor::<D>::from_data(inputs[3].clone(), device);
    let y = op(x.clone(), pos.clone(), neg.clone());
    let grads = (y.clone() * w).sum().backward();
    [
        y.into_data(),
        x.grad(&grads).unwrap().into_data(),
        pos.grad(&grads).unwrap().into_data(),
        neg.grad(&grads).unwrap().into_data(),
    ]
}

fn inputs<const D: usize>(shape: [usize; D]) -> [TensorData; 4] {
    let cpu = Device::flex();
    let c = shape[1];
    [
        Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &cpu).into_data(),
        Tensor::<1>::random([c], Distribution::Uniform(0.5, 1.5), &cpu).into_data(),
        Tensor::<1>::random([c], Distribution::Uniform(-0.5, 0.5), &cpu).into_data(),
        Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &cpu).into_data(),
    ]
}

fn check<const D: usize>(shape: [usize; D]) {
    let gpu = gpu().autodiff();
    let data = inputs(shape);
    let fused = run::<D>(frelu, &gpu, &data);
    let composed = run::<D>(frelu_composed, &gpu, &data);
    let cpu = run::<D>(frelu, &Device::flex().autodiff(), &data);
    let names = ["y", "dx", "dpos", "dneg"];
    for i in 0..4 {
        let tol = if i < 2 { 1e-6 } else { 1e-4 };
        assert_close(
            fused[i].clone(),
            composed[i].clone(),
            tol,
            &format!("{} {shape:?} gpu fused vs composed", names[i]),
        );
        assert_close(
            fused[i].clone(),
            cpu[i].clone(),
            tol,
            &format!("{} {shape:?} gpu vs cpu", names[i]),
        );
    }
}

#[test]
fn cube_kernels_match_the_composed_op_and_the_cpu() {
    assert!(has_fused_kernel(&gpu().autodiff()));
    check([5, 7]);
    check([3, 4, 33]);
    check([4, 6, 9, 11]);
    check([2, 3, 4, 5, 6]);
    // More (n, c) planes than one grid dimension holds, and planes larger than a cube.
    check([300, 256, 1, 1]);
    check([2, 3, 40, 40]);
}

#[test]
fn cube_forward_without_autodiff_and_non_contiguous_inputs() {
    let gpu = gpu();
    let data = inputs([2, 5, 3, 4]);
    let x = Tensor::<4>::from_data(data[0].clone(), &gpu).swap_dims(2, 3);
    let pos = Tensor::<1>::from_data(data[1].clone(), &gpu);
    let neg = Tensor::<1>::from_data(data[2].clone(), &gpu);
    assert_close(
        frelu(x.clone(), pos.clone(), neg.clone()).into_data(),
        frelu_composed(x, pos, neg).into_data(),
        1e-6,
        "non-contiguous forward",
    );
}

#[test]
fn shared_slope_layer_trains_on_the_gpu() {
    let gpu = gpu().autodiff();
    let layer = FReluConfig::new(4)
        .with_sharing(SlopeSharing::Layer)
        .with_neg_init(0.25)
        .init(&gpu);
    let x = Tensor::<4>::random([2, 4, 3, 3], Distribution::Normal(0.0, 1.0), &gpu);
    let grads = layer.forward(x.clone()).sum().backward();
    let dneg = layer.neg.as_ref().unwrap().grad(&grads).unwrap();
    // d/dneg Σ f(x) = Σ min(x, 0) over everything (one shared slope).
    let expected = x.clamp_max(0.0).sum().into_data();
    assert_close(dneg.into_data(), expected, 1e-4, "shared dneg");
}
