use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig, momentum::MomentumConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use frelu_vision::data::ImageBatch;
use frelu_vision::models::{Architecture, ModelConfig};
use frelu_vision::tasks::classify::classification_output;
use std::time::Instant;

fn main() {
    let act: frelu::ActivationConfig = std::env::args()
        .nth(1)
        .unwrap_or("relu".into())
        .parse()
        .unwrap();
    let arch: Architecture = std::env::args()
        .nth(2)
        .unwrap_or("simple-cnn".into())
        .parse()
        .unwrap();
    let device = Device::flex().autodiff();
    let mut net = ModelConfig::new(arch, 1, 10, act).init(&device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new()))
        .init();
    let mut times = vec![];
    for i in 0..12 {
        let images = Tensor::<4>::random([128, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new((0..128).map(|i| (i % 10) as i64).collect::<Vec<_>>(), [128]),
            &device,
        );
        let t = Instant::now();
        let out = classification_output(&net, ImageBatch { images, targets });
        let _ = out.loss.clone().into_scalar::<f32>();
        let tf = t.elapsed().as_secs_f64() * 1000.0;
        let g = out.loss.backward();
        let tb = t.elapsed().as_secs_f64() * 1000.0;
        let grads = GradientsParams::from_grads(g, &net);
        net = optim.step(0.01, net, grads);
        let _ = net.clone().valid();
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            println!(
                "fwd {tf:.0} bwd {:.0} opt {:.0}",
                tb - tf,
                t.elapsed().as_secs_f64() * 1000.0 - tb
            );
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("median step {:.1} ms", times[times.len() / 2]);
}
