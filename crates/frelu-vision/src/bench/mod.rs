//! `frelu bench`: what FReLU costs compared with ReLU, measured in one run with the variants
//! interleaved (so that a noisy machine slows them alike), as medians of repeats.

use std::time::Instant;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData, activation};
use frelu::ActivationConfig;
use frelu::ops::{frelu, frelu_composed};
use serde::{Deserialize, Serialize};

use crate::data::ImageBatch;
use crate::models::{Architecture, ModelConfig, Net};
use crate::tasks::classify::classification_output;

/// The activation variants compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// ReLU (Burn's own op).
    Relu,
    /// PReLU through the fused FReLU op (pos fixed to 1).
    PRelu,
    /// FReLU composed of ordinary tensor ops.
    FReluComposed,
    /// FReLU through the fused op.
    FReluFused,
}

impl Variant {
    /// All variants, ReLU first.
    pub const ALL: [Variant; 4] = [
        Variant::Relu,
        Variant::PRelu,
        Variant::FReluComposed,
        Variant::FReluFused,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Relu => "relu",
            Variant::PRelu => "prelu (fused)",
            Variant::FReluComposed => "frelu (composed)",
            Variant::FReluFused => "frelu (fused)",
        }
    }

    fn activation(self) -> ActivationConfig {
        match self {
            Variant::Relu => ActivationConfig::Relu,
            Variant::PRelu => "prelu".parse().expect("valid"),
            Variant::FReluComposed => "frelu:composed".parse().expect("valid"),
            Variant::FReluFused => ActivationConfig::frelu(),
        }
    }

    fn apply(self, x: Tensor<4>, pos: &Tensor<1>, neg: &Tensor<1>) -> Tensor<4> {
        match self {
            Variant::Relu => activation::relu(x),
            Variant::PRelu => {
                let ones = Tensor::<1>::ones(pos.dims(), &pos.device());
                frelu(x, ones, neg.clone())
            }
            Variant::FReluComposed => frelu_composed(x, pos.clone(), neg.clone()),
            Variant::FReluFused => frelu(x, pos.clone(), neg.clone()),
        }
    }
}

/// Options of a benchmark run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Device string.
    pub device: String,
    /// Timed repeats per measurement (after warm-up).
    pub repeats: usize,
    /// Warm-up repeats, not timed.
    pub warmup: usize,
    /// Batch size of the training-step benchmark.
    pub batch: usize,
    /// Skip the training-step part.
    pub ops_only: bool,
    /// Shapes of the op benchmark.
    pub op_shapes: Vec<[usize; 4]>,
    /// Models of the step benchmark.
    pub models: Vec<Architecture>,
    /// Also time a `simple-cnn` training step with each of FReLU's learnable peers.
    #[serde(default)]
    pub peers: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            device: "flex".into(),
            repeats: 15,
            warmup: 3,
            batch: 128,
            ops_only: false,
            op_shapes: vec![[128, 64, 28, 28], [256, 256, 14, 14]],
            models: vec![
                Architecture::SimpleCnn,
                Architecture::CifarResNet { depth: 20 },
            ],
            peers: true,
        }
    }
}

/// One op measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpResult {
    /// Input shape.
    pub shape: [usize; 4],
    /// Variant.
    pub variant: Variant,
    /// Median forward time, ms.
    pub forward_ms: f64,
    /// Median forward + backward time, ms.
    pub forward_backward_ms: f64,
    /// Forward bandwidth: (read x + write y) / time, GB/s.
    pub forward_gbps: f64,
    /// Forward+backward time relative to ReLU's.
    pub forward_backward_vs_relu: f64,
}

/// One training-step measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepResult {
    /// Model.
    pub model: String,
    /// Variant.
    pub variant: Variant,
    /// Median time of one step (forward, backward, optimiser), ms.
    pub step_ms: f64,
    /// Images per second.
    pub images_per_sec: f64,
    /// Step time relative to ReLU's.
    pub vs_relu: f64,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The options.
    pub config: BenchConfig,
    /// Measured memory copy bandwidth of this machine (one large buffer, host memory), GB/s.
    pub copy_gbps: f64,
    /// Logical CPUs.
    pub cpus: usize,
    /// Op results.
    pub ops: Vec<OpResult>,
    /// Training-step results.
    pub steps: Vec<StepResult>,
    /// Training-step results of the learnable peers (`simple-cnn`).
    #[serde(default)]
    pub peers: Vec<PeerResult>,
    /// Inference results, as trained and folded.
    #[serde(default)]
    pub inference: Vec<InferenceResult>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn sync(device: &Device) {
    let _ = device.sync();
}

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

/// Median training-step time (ms) of `arch` with each of `activations`, steps interleaved.
fn time_steps(
    arch: Architecture,
    activations: &[ActivationConfig],
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<f64>> {
    let ad = device.clone().autodiff();
    let (channels, batch) = synthetic_batch(arch, config.batch, &ad);
    let mut models: Vec<(Net, ModuleOptimizer)> = activations
        .iter()
        .map(|act| {
            let net = ModelConfig::new(arch, channels, 10, act.clone()).init(&ad)?;
            let optim = SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new()))
                .init();
            Ok((net, optim))
        })
        .collect::<crate::Result<_>>()?;
    let mut times = vec![Vec::new(); activations.len()];
    for repeat in 0..config.warmup + config.repeats {
        for (i, slot) in models.iter_mut().enumerate() {
            let (net, optim) = (slot.0.clone(), &mut slot.1);
            sync(device);
            let t = Instant::now();
            let output = classification_output(&net, batch.clone());
            let grads = GradientsParams::from_grads(output.loss.backward(), &net);
            let net = optim.step(0.01, net, grads);
            sync(device);
            let elapsed = t.elapsed().as_secs_f64();
            slot.0 = net;
            if repeat >= config.warmup {
                times[i].push(elapsed * 1e3);
            }
        }
    }
    Ok(times.into_iter().map(median).collect())
}

/// Runs the training-step benchmark for one model.
pub fn bench_step(
    arch: Architecture,
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<StepResult>> {
    let activations: Vec<ActivationConfig> = Variant::ALL.iter().map(|v| v.activation()).collect();
    let times = time_steps(arch, &activations, config, device)?;
    let relu = times[0];
    Ok(Variant::ALL
        .iter()
        .zip(times)
        .map(|(&variant, step_ms)| StepResult {
            model: arch.to_string(),
            variant,
            step_ms,
            images_per_sec: config.batch as f64 / (step_ms / 1e3),
            vs_relu: step_ms / relu,
        })
        .collect())
}

/// One training-step measurement of an activation of the registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerResult {
    /// The activation, as the registry writes it.
    pub activation: String,
    /// Median time of one step, ms.
    pub step_ms: f64,
    /// Step time relative to ReLU's.
    pub vs_relu: f64,
}

/// The training-step cost of ReLU, FReLU and each of FReLU's learnable peers on `simple-cnn`,
/// interleaved in one run.
pub fn bench_peers(config: &BenchConfig, device: &Device) -> crate::Result<Vec<PeerResult>> {
    let names = ["relu", "frelu"]
        .into_iter()
        .chain(frelu::activation::PEERS);
    let activations: Vec<ActivationConfig> = names
        .map(|n| n.parse().expect("the registry's own names parse"))
        .collect();
    let times = time_steps(Architecture::SimpleCnn, &activations, config, device)?;
    let relu = times[0];
    Ok(activations
        .iter()
        .zip(times)
        .map(|(act, step_ms)| PeerResult {
            activation: act.to_string(),
            step_ms,
            vs_relu: step_ms / relu,
        })
        .collect())
}

/// One inference measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferenceResult {
    /// Model.
    pub model: String,
    /// What ran: `relu`, `frelu` (Burn's model as trained), `relu folded`, `frelu folded`
    /// (batch norm folded, FReLU at PReLU cost: [`crate::export::folded::FoldedNet`]).
    pub variant: String,
    /// Median time of one forward pass, ms.
    pub ms: f64,
    /// Time relative to ReLU's (unfolded).
    pub vs_relu: f64,
}

/// A forward pass to time.
type Forward<'a> = Box<dyn Fn(Tensor<4>) -> Tensor<2> + 'a>;

/// Inference (forward, no autodiff) of `arch` with ReLU and FReLU, as trained and folded,
/// interleaved. FReLU's slopes are set away from 1 and 0 so that folding has work to do.
pub fn bench_inference(
    arch: Architecture,
    config: &BenchConfig,
    device: &Device,
) -> crate::Result<Vec<InferenceResult>> {
    use crate::export::folded::FoldedNet;
    let (channels, batch) = synthetic_batch(arch, config.batch, device);
    let [_, _, h, w] = batch.images.dims();
    let net = |act: ActivationConfig| ModelConfig::new(arch, channels, 10, act).init(device);
    let (relu, frelu) = (
        net(ActivationConfig::Relu)?,
        net("frelu:0.1:pos=1.2".parse()?)?,
    );
    let fold = |n: &Net| FoldedNet::new(n, [channels, h, w], device).map_err(crate::Error::Invalid);
    let (relu_folded, frelu_folded) = (fold(&relu)?, fold(&frelu)?);
    let runs: [(&str, Forward<'_>); 4] = [
        ("relu", Box::new(|x| relu.forward(x))),
        ("frelu", Box::new(|x| frelu.forward(x))),
        ("relu folded", Box::new(|x| relu_folded.forward(x))),
        ("frelu folded", Box::new(|x| frelu_folded.forward(x))),
    ];
    let mut times = vec![Vec::new(); runs.len()];
    for repeat in 0..config.warmup + config.repeats {
        for (i, (_, run)) in runs.iter().enumerate() {
            sync(device);
            let t = Instant::now();
            let _ = run(batch.images.clone()).into_data();
            if repeat >= config.warmup {
                times[i].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    Ok(runs
        .iter()
        .zip(&medians)
        .map(|((name, _), &ms)| InferenceResult {
            model: arch.to_string(),
            variant: name.to_string(),
            ms,
            vs_relu: ms / medians[0],
        })
        .collect())
}

/// Runs everything `config` asks for, printing progress lines through `log`.
pub fn run(config: &BenchConfig, log: &mut dyn FnMut(&str)) -> crate::Result<BenchReport> {
    let device = crate::device::parse_device(&config.device)?;
    log(&format!(
        "device {}; {} timed repeats after {} warm-up, variants interleaved",
        config.device, config.repeats, config.warmup
    ));
    let copy_gbps = copy_bandwidth();
    let mut ops = Vec::new();
    for &shape in &config.op_shapes {
        log(&format!("op {shape:?} ..."));
        ops.extend(bench_op(shape, config, &device));
    }
    let mut steps = Vec::new();
    if !config.ops_only {
        for &arch in &config.models {
            log(&format!("train step {arch}, batch {} ...", config.batch));
            steps.extend(bench_step(arch, config, &device)?);
        }
    }
    let mut inference = Vec::new();
    if !config.ops_only {
        for &arch in &config.models {
            log(&format!("inference {arch}, batch {} ...", config.batch));
            inference.extend(bench_inference(arch, config, &device)?);
        }
    }
    let mut peers = Vec::new();
    if config.peers && !config.ops_only {
        log(&format!(
            "train step simple-cnn with each learnable peer, batch {} ...",
            config.batch
        ));
        peers = bench_peers(config, &device)?;
    }
    Ok(BenchReport {
        config: config.clone(),
        copy_gbps,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ops,
        steps,
        peers,
        inference,
    })
}

impl BenchReport {
    /// The report as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Machine: {} logical CPUs, measured copy bandwidth {:.1} GB/s; device {}.\n\n",
            self.cpus, self.copy_gbps, self.config.device
        ));
        out.push_str(
            "| op shape | activation | forward ms | fwd GB/s | fwd+bwd ms | fwd+bwd vs ReLU |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|\n");
        for r in &self.ops {
            out.push_str(&format!(
                "| {:?} | {} | {:.2} | {:.1} | {:.2} | {:.2}× |\n",
                r.shape,
                r.variant.name(),
                r.forward_ms,
                r.forward_gbps,
                r.forward_backward_ms,
                r.forward_backward_vs_relu
            ));
        }
        if !self.steps.is_empty() {
            out.push_str(&format!(
                "\n| model (batch {}) | activation | ms/step | images/s | vs ReLU |\n",
                self.config.batch
            ));
            out.push_str("|---|---|---:|---:|---:|\n");
            for r in &self.steps {
                out.push_str(&format!(
                    "| {} | {} | {:.1} | {:.0} | {:.3}× |\n",
                    r.model,
                    r.variant.name(),
                    r.step_ms,
                    r.images_per_sec,
                    r.vs_relu
                ));
            }
        }
        if !self.inference.is_empty() {
            out.push_str(&format!(
                "\n| inference (batch {}) | ms | vs ReLU |\n|---|---:|---:|\n",
                self.config.batch
            ));
            for r in &self.inference {
                out.push_str(&format!(
                    "| {} {} | {:.1} | {:.3}× |\n",
                    r.model, r.variant, r.ms, r.vs_relu
                ));
            }
        }
        if !self.peers.is_empty() {
            out.push_str(&format!(
                "\n| simple-cnn (batch {}) | ms/step | vs ReLU |\n|---|---:|---:|\n",
                self.config.batch
            ));
            for r in &self.peers {
                out.push_str(&format!(
                    "| {} | {:.1} | {:.3}× |\n",
                    r.activation, r.step_ms, r.vs_relu
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn a_tiny_run_measures_every_variant() {
        let config = BenchConfig {
            repeats: 1,
            warmup: 0,
            batch: 4,
            op_shapes: vec![[2, 3, 4, 4]],
            models: vec![Architecture::SimpleCnn],
            ..BenchConfig::default()
        };
        let report = run(&config, &mut |_| {}).unwrap();
        assert_eq!(report.ops.len(), 4);
        assert_eq!(report.steps.len(), 4);
        assert!(
            report
                .ops
                .iter()
                .all(|r| r.forward_ms > 0.0 && r.forward_backward_ms > 0.0)
        );
        assert!((report.steps[0].vs_relu - 1.0).abs() < 1e-12);
        assert!(report.copy_gbps > 0.0);
        assert!(report.markdown().contains("frelu (fused)"));
        // ReLU, FReLU and the ten peers, each timed.
        assert_eq!(report.peers.len(), 12);
        let variants: Vec<&str> = report
            .inference
            .iter()
            .map(|r| r.variant.as_str())
            .collect();
        assert_eq!(variants, ["relu", "frelu", "relu folded", "frelu folded"]);
        assert!(report.inference.iter().all(|r| r.ms > 0.0));
        assert!(report.peers.iter().all(|r| r.step_ms > 0.0));
        assert_eq!(report.peers[0].vs_relu, 1.0);
        assert!(report.markdown().contains("| pwlu:16 |"));
    }
}
