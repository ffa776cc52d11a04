//! Training-step and inference timings of whole models, the variants and paths interleaved so
//! that a noisy machine slows them alike.

use std::time::Instant;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use frelu::ActivationConfig;

use super::config::{
    BenchConfig, InferenceResult, Path, PeerResult, StepResult, Variant, median, sync,
};
use crate::data::ImageBatch;
use crate::models::{Architecture, ModelConfig, Net};
use crate::tasks::classify::classification_output;

fn synthetic_batch(arch: Architecture, batch: usize, device: &Device) -> (usize, ImageBatch) {
    let (channels, size) = match arch {
        Architecture::SimpleCnn => (1, 28),
        _ => (3, 32),
    };
    let images = Tensor::<4>::random(
        [batch, channels, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..batch).map(|i| (i % 10) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), device);
    (channels, ImageBatch { images, targets })
}

/// The network `frelu bench` times for `arch` (MobileNets at the configured width).
fn model(
    arch: Architecture,
    channels: usize,
    act: ActivationConfig,
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Net> {
    let mut model = ModelConfig::new(arch, channels, 10, act);
    if matches!(
        arch,
        Architecture::MobileNetV1 | Architecture::MobileNetV1Cifar
    ) {
        model.width = config.mobilenet_width;
    }
    Ok(model.init(device)?)
}

/// Milliseconds one call of `work` takes, after an untimed call where the path was just
/// `switched` (the first call on a path after another is slower: its threads and buffers are
/// cold).
fn timed_after_switch(switched: bool, device: &Device, mut work: impl FnMut()) -> f64 {
    if switched {
        work();
    }
    sync(device);
    let t = Instant::now();
    work();
    sync(device);
    t.elapsed().as_secs_f64() * 1e3
}

/// Median training-step time (ms) of `arch` for each `(activation, path)`, steps interleaved.
fn time_steps(
    arch: Architecture,
    runs: &[(ActivationConfig, Path)],
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<f64>> {
    let ad = device.clone().autodiff();
    let (channels, batch) = synthetic_batch(arch, config.batch, &ad);
    let mut models: Vec<(Net, ModuleOptimizer)> = runs
        .iter()
        .map(|(act, _)| {
            let net = model(arch, channels, act.clone(), config, &ad)?;
            let optim = SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new()))
                .init();
            Ok((net, optim))
        })
        .collect::<crate::Result<_>>()?;
    let restore = Path::current();
    let mut times = vec![Vec::new(); runs.len()];
    for repeat in 0..config.warmup + config.repeats {
        for (i, slot) in models.iter_mut().enumerate() {
            // The first step after a switch of path is slower (measured: ~20 % on oneDNN, whose
            // threads and buffers are cold) and would fall on the same variant every repeat:
            // an untimed step first.
            let switched = i == 0 || runs[i - 1].1 != runs[i].1;
            runs[i].1.select();
            let ms = timed_after_switch(switched, device, || {
                let (net, optim) = (slot.0.clone(), &mut slot.1);
                let output = classification_output(&net, batch.clone());
                let grads = GradientsParams::from_grads(output.loss.backward(), &net);
                slot.0 = optim.step(0.01, net, grads);
            });
            if repeat >= config.warmup {
                times[i].push(ms);
            }
        }
    }
    restore.select();
    Ok(times.into_iter().map(median).collect())
}

/// Runs the training-step benchmark for one model: every variant on every configured path.
pub fn bench_step(
    arch: Architecture,
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<StepResult>> {
    let cells: Vec<(Path, Variant)> = config
        .paths
        .iter()
        .flat_map(|&path| Variant::ALL.iter().map(move |&variant| (path, variant)))
        .collect();
    let runs: Vec<(ActivationConfig, Path)> = cells
        .iter()
        .map(|&(path, variant)| (variant.activation(), path))
        .collect();
    let times = time_steps(arch, &runs, config, device)?;
    let time_of = |path: Path, variant: Variant| {
        cells
            .iter()
            .position(|&cell| cell == (path, variant))
            .map(|i| times[i])
    };
    Ok(cells
        .iter()
        .zip(&times)
        .map(|(&(path, variant), &step_ms)| StepResult {
            model: arch.to_string(),
            path,
            variant,
            step_ms,
            images_per_sec: config.batch as f64 / (step_ms / 1e3),
            vs_relu: step_ms / time_of(path, Variant::Relu).unwrap_or(f64::NAN),
            speedup_vs_flex: (path != Path::Flex)
                .then(|| time_of(Path::Flex, variant).map(|flex| flex / step_ms))
                .flatten(),
            pytorch_ms: None,
        })
        .collect())
}

/// The training-step cost of ReLU, FReLU and each of FReLU's learnable peers on `simple-cnn`,
/// interleaved in one run, on the last configured path (the fast path by default).
pub fn bench_peers(config: &BenchConfig, device: &Device) -> crate::Result<Vec<PeerResult>> {
    let path = config.paths.last().copied().unwrap_or_default();
    let names = ["relu", "frelu"]
        .into_iter()
        .chain(frelu::activation::peers());
    let runs: Vec<(ActivationConfig, Path)> = names
        .map(|n| (n.parse().expect("the registry's own names parse"), path))
        .collect();
    let times = time_steps(Architecture::SimpleCnn, &runs, config, device)?;
    let relu = times[0];
    Ok(runs
        .iter()
        .zip(times)
        .map(|((act, _), step_ms)| PeerResult {
            activation: act.to_string(),
            step_ms,
            vs_relu: step_ms / relu,
        })
        .collect())
}

/// A forward pass to time.
type Forward<'a> = Box<dyn Fn(Tensor<4>) -> Tensor<2> + 'a>;

/// Inference (forward, no autodiff) of `arch` with ReLU and FReLU, as trained and folded, on
/// every configured path, interleaved. FReLU's slopes are set away from 1 and 0 so that folding
/// has work to do.
pub fn bench_inference(
    arch: Architecture,
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<InferenceResult>> {
    use crate::export::folded::FoldedNet;
    let (channels, batch) = synthetic_batch(arch, config.batch, device);
    let [_, _, h, w] = batch.images.dims();
    let net = |act: ActivationConfig| model(arch, channels, act, config, device);
    let (relu, frelu) = (
        net(ActivationConfig::Relu)?,
        net("frelu:0.1:pos=1.2".parse()?)?,
    );
    let fold = |n: &Net| FoldedNet::new(n, [channels, h, w], device).map_err(crate::Error::Invalid);
    let (relu_folded, frelu_folded) = (fold(&relu)?, fold(&frelu)?);
    let forwards: [(&str, Forward<'_>); 4] = [
        ("relu", Box::new(|x| relu.forward(x))),
        ("frelu", Box::new(|x| frelu.forward(x))),
        ("relu folded", Box::new(|x| relu_folded.forward(x))),
        ("frelu folded", Box::new(|x| frelu_folded.forward(x))),
    ];
    let cells: Vec<(Path, usize)> = config
        .paths
        .iter()
        .flat_map(|&path| (0..forwards.len()).map(move |i| (path, i)))
        .collect();
    let restore = Path::current();
    let mut times = vec![Vec::new(); cells.len()];
    for repeat in 0..config.warmup + config.repeats {
        for (cell, &(path, i)) in cells.iter().enumerate() {
            // An untimed pass after a switch of path, as for the training steps.
            let switched = cell == 0 || cells[cell - 1].0 != path;
            path.select();
            let ms = timed_after_switch(switched, device, || {
                let _ = forwards[i].1(batch.images.clone()).into_data();
            });
            if repeat >= config.warmup {
                times[cell].push(ms);
            }
        }
    }
    restore.select();
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    Ok(cells
        .iter()
        .zip(&medians)
        .map(|(&(path, i), &ms)| {
            let relu = cells
                .iter()
                .position(|&c| c == (path, 0))
                .map_or(f64::NAN, |k| medians[k]);
            InferenceResult {
                model: arch.to_string(),
                path,
                variant: forwards[i].0.to_string(),
                ms,
                vs_relu: ms / relu,
            }
        })
        .collect())
}
