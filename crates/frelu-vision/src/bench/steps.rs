//! Training-step and inference timings of whole models, the variants and paths interleaved in
//! a rotating order so that a noisy machine slows them alike, ratios paired within a repeat.

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

/// Step times of every variant, one row per timed repeat (ms).
struct Timings(Vec<Vec<f64>>);

impl Timings {
    /// Median step time of variant `i`.
    fn median(&self, i: usize) -> f64 {
        median(self.0.iter().map(|row| row[i]).collect())
    }

    /// Median over repeats of `t[i] / t[reference]` within one repeat: paired, so that a drift
    /// of the machine's speed between repeats cancels out of the ratio.
    fn ratio(&self, i: usize, reference: usize) -> f64 {
        median(self.0.iter().map(|row| row[i] / row[reference]).collect())
    }
}

/// The order variants run in at `repeat`: all of them, starting one further on each repeat, so
/// that no variant always follows the same other one (a variant that allocates much, such as
/// the composed FReLU, leaves the allocator and caches in a state that the next one pays for).
fn rotated(variants: usize, repeat: usize) -> impl Iterator<Item = usize> {
    (0..variants).map(move |k| (k + repeat) % variants)
}

/// Training-step times of `arch` for each `(activation, path)`, steps interleaved, the order
/// rotated every repeat.
fn time_steps(
    arch: Architecture,
    runs: &[(ActivationConfig, Path)],
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Timings> {
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
    let mut rows = Vec::with_capacity(config.repeats);
    let mut last_path = None;
    for repeat in 0..config.warmup + config.repeats {
        let mut row = vec![f64::NAN; runs.len()];
        for i in rotated(runs.len(), repeat) {
            // The first step after a switch of path is slower (measured: ~20 % on oneDNN, whose
            // threads and buffers are cold): an untimed step first.
            let switched = last_path != Some(runs[i].1);
            last_path = Some(runs[i].1);
            runs[i].1.select();
            let slot = &mut models[i];
            row[i] = timed_after_switch(switched, device, || {
                let (net, optim) = (slot.0.clone(), &mut slot.1);
                let output = classification_output(&net, batch.clone());
                let grads = GradientsParams::from_grads(output.loss.backward(), &net);
                slot.0 = optim.step(0.01, net, grads);
            });
        }
        if repeat >= config.warmup {
            rows.push(row);
        }
    }
    restore.select();
    Ok(Timings(rows))
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
    let index = |path: Path, variant: Variant| cells.iter().position(|&c| c == (path, variant));
    Ok(cells
        .iter()
        .enumerate()
        .map(|(i, &(path, variant))| {
            let step_ms = times.median(i);
            StepResult {
                model: arch.to_string(),
                path,
                variant,
                step_ms,
                images_per_sec: config.batch as f64 / (step_ms / 1e3),
                vs_relu: index(path, Variant::Relu).map_or(f64::NAN, |r| times.ratio(i, r)),
                speedup_vs_flex: (path != Path::Flex)
                    .then(|| index(Path::Flex, variant).map(|flex| times.ratio(flex, i)))
                    .flatten(),
                pytorch_ms: None,
            }
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
    Ok(runs
        .iter()
        .enumerate()
        .map(|(i, (act, _))| PeerResult {
            activation: act.to_string(),
            step_ms: times.median(i),
            vs_relu: times.ratio(i, 0),
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
    let mut rows = Vec::with_capacity(config.repeats);
    let mut last_path = None;
    for repeat in 0..config.warmup + config.repeats {
        let mut row = vec![f64::NAN; cells.len()];
        for cell in rotated(cells.len(), repeat) {
            // An untimed pass after a switch of path, as for the training steps.
            let (path, i) = cells[cell];
            let switched = last_path != Some(path);
            last_path = Some(path);
            path.select();
            row[cell] = timed_after_switch(switched, device, || {
                let _ = forwards[i].1(batch.images.clone()).into_data();
            });
        }
        if repeat >= config.warmup {
            rows.push(row);
        }
    }
    restore.select();
    let times = Timings(rows);
    Ok(cells
        .iter()
        .enumerate()
        .map(|(cell, &(path, i))| {
            let relu = cells.iter().position(|&c| c == (path, 0));
            InferenceResult {
                model: arch.to_string(),
                path,
                variant: forwards[i].0.to_string(),
                ms: times.median(cell),
                vs_relu: relu.map_or(f64::NAN, |r| times.ratio(cell, r)),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_runs_once_per_repeat_and_leads_in_turn() {
        for repeat in 0..7 {
            let mut order: Vec<usize> = rotated(4, repeat).collect();
            assert_eq!(order[0], repeat % 4);
            order.sort_unstable();
            assert_eq!(order, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn ratios_are_paired_within_a_repeat() {
        // Per-repeat ratios 2.0, 0.5 and 1.1: their median is 1.1, while the ratio of the
        // medians (2.0 / 2.0) would be 1.0.
        let t = Timings(vec![vec![1.0, 2.0], vec![2.0, 1.0], vec![3.0, 3.3]]);
        assert!((t.ratio(1, 0) - 1.1).abs() < 1e-12);
        assert!((t.median(0) - 2.0).abs() < 1e-12 && (t.median(1) - 2.0).abs() < 1e-12);
        assert!((t.ratio(0, 0) - 1.0).abs() < 1e-12);
    }
}
