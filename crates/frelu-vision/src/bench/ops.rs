//! The FReLU op alone: forward and forward + backward of each variant on one shape, and the
//! machine's copy bandwidth to read them against.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};

use super::config::{BenchConfig, OpResult, Variant, median, sync};

/// Host memory copy bandwidth: bytes read + written per second copying a 256 MiB buffer.
pub fn copy_bandwidth() -> f64 {
    let n = 64 << 20; // f32s
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        dst.copy_from_slice(&src);
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&dst);
    }
    (2 * n * 4) as f64 / median(times) / 1e9
}

/// Runs the op benchmark for one shape.
pub fn bench_op(shape: [usize; 4], config: &BenchConfig, device: &Device) -> Vec<OpResult> {
    let ad = device.clone().autodiff();
    let c = shape[1];
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let g = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let pos = Tensor::<1>::random([c], Distribution::Uniform(0.5, 1.5), device);
    let neg = Tensor::<1>::random([c], Distribution::Uniform(-0.5, 0.5), device);
    let (x_ad, g_ad) = (
        Tensor::<4>::from_data(x.to_data(), &ad),
        Tensor::<4>::from_data(g.to_data(), &ad),
    );
    let (pos_ad, neg_ad) = (
        Tensor::<1>::from_data(pos.to_data(), &ad),
        Tensor::<1>::from_data(neg.to_data(), &ad),
    );
    let mut forward = vec![Vec::new(); Variant::ALL.len()];
    let mut both = vec![Vec::new(); Variant::ALL.len()];
    for repeat in 0..config.warmup + config.repeats {
        for (i, variant) in Variant::ALL.iter().enumerate() {
            sync(device);
            let t = Instant::now();
            let y = variant.apply(x.clone(), &pos, &neg);
            sync(device);
            let forward_time = t.elapsed().as_secs_f64();
            drop(y);

            let (xg, pg, ng) = (
                x_ad.clone().require_grad(),
                pos_ad.clone().require_grad(),
                neg_ad.clone().require_grad(),
            );
            sync(device);
            let t = Instant::now();
            let y = variant.apply(xg.clone(), &pg, &ng);
            // The upstream gradient is `g`: d(sum(y·g))/dy.
            let grads = (y * g_ad.clone()).sum().backward();
            let dx = xg.grad(&grads);
            sync(device);
            let both_time = t.elapsed().as_secs_f64();
            drop((dx, grads));
            if repeat >= config.warmup {
                forward[i].push(forward_time * 1e3);
                both[i].push(both_time * 1e3);
            }
        }
    }
    let bytes = 2.0 * shape.iter().product::<usize>() as f64 * 4.0;
    let relu_both = median(both[0].clone());
    Variant::ALL
        .iter()
        .enumerate()
        .map(|(i, &variant)| {
            let forward_ms = median(forward[i].clone());
            let forward_backward_ms = median(both[i].clone());
            OpResult {
                shape,
                variant,
                forward_ms,
                forward_backward_ms,
                forward_gbps: bytes / (forward_ms / 1e3) / 1e9,
                forward_backward_vs_relu: forward_backward_ms / relu_both,
            }
        })
        .collect()
}
