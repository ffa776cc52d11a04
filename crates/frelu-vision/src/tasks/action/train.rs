//! Training one video classifier: frame folders → TSM / TSN → `tasks::launch` → run folder.

use std::path::Path;
use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::train::metric::AccuracyMetric;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use super::{ActionConfig, ActionSummary, VideoModel};
use crate::data::epochs::{EpochClock, eval_loader, training_loader};
use crate::data::video::{ClipBatch, ClipBatcher, VideoDataset, VideoList};
use crate::device::parse_device;
use crate::fsio::write_json;
use crate::models::trainable_params;
use crate::models::tsm::{VideoNet, VideoNetConfig};
use crate::runs::folder::{self, save_trained};
use crate::tasks::launch::{
    Fit, RunOptions, cosine_half_epoch_warmup, launch, loader_options, start_run,
};

impl TrainStep for VideoNet {
    type Input = ClipBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClipBatch) -> TrainOutput<ClassificationOutput> {
        let output = clip_output(self, batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for VideoNet {
    type Input = ClipBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClipBatch) -> ClassificationOutput {
        clip_output(self, batch)
    }
}

fn clip_output(net: &VideoNet, batch: ClipBatch) -> ClassificationOutput {
    let logits = net.forward(batch.clips);
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.clone(), batch.targets.clone());
    ClassificationOutput::new(loss, logits, batch.targets)
}

/// Both splits as datasets (limited as asked) and the number of classes.
fn datasets(config: &ActionConfig) -> crate::Result<(VideoDataset, VideoDataset, usize)> {
    let train_list = VideoList::load(&config.data, "train")?;
    let val_list = VideoList::load(&config.data, "val")?;
    let num_classes = train_list.classes.len();
    if let Some(video) = val_list.videos.iter().find(|v| v.label >= num_classes) {
        return Err(crate::Error::Invalid(format!(
            "{}: video {} has label {}, but the training list has only {num_classes} classes \
             (0–{}); add a classes.txt or fix the label",
            config.data.join("val.txt").display(),
            video.dir.display(),
            video.label,
            num_classes - 1
        )));
    }
    let mut train_set = VideoDataset::new(
        train_list,
        config.segments,
        config.frame_size,
        true,
        config.crop_pad,
        config.seed,
    );
    let mut val_set = VideoDataset::new(
        val_list,
        config.segments,
        config.frame_size,
        false,
        0,
        config.seed,
    );
    if let Some(n) = config.limit_train {
        train_set = train_set.limit(n);
    }
    if let Some(n) = config.limit_val {
        val_set = val_set.limit(n);
    }
    Ok((train_set, val_set, num_classes))
}

/// SGD with momentum 0.9 and weight decay `wd` (none when 0).
fn sgd(wd: f64) -> impl burn::optim::Optimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new()))
        .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
        .build()
}

/// What a run needs before its folder is opened: the clips and the model.
#[allow(clippy::type_complexity)]
fn prepare(config: &ActionConfig) -> crate::Result<(VideoDataset, VideoDataset, usize, VideoNet)> {
    let (train_set, val_set, num_classes) = datasets(config)?;
    let device = parse_device(&config.device)?;
    device.seed(config.seed);
    let model = VideoNetConfig::new(num_classes)
        .with_segments(config.segments)
        .with_shift(config.model == VideoModel::Tsm)
        .with_activation(config.activation.clone())
        .init(&device.autodiff());
    Ok((train_set, val_set, num_classes, model))
}

/// Trains TSM or TSN and writes `config.json`, `metrics.csv`, `model.bpk`, `slopes.json`,
/// `summary.json` into `out`.
pub fn train(
    config: &ActionConfig,
    out: &Path,
    options: &RunOptions,
) -> crate::Result<ActionSummary> {
    let started = Instant::now();
    config.validate()?;
    let folders = (out, Some(config.data.as_path()));
    let ((train_set, val_set, num_classes, model), resume, _claim) =
        start_run(folders, config, options.start, &[], || prepare(config))?;
    let first_epoch = resume.as_ref().map_or(0, |r| r.epochs);
    let (train_len, val_len) = (train_set.len(), val_set.len());
    let params = trainable_params(&model);
    options.reporter.info(&format!(
        "action: {train_len} train / {val_len} val clips of {} frames, {num_classes} classes; \
         {} with {} ({params} parameters); schedule {}",
        config.segments, config.model, config.activation, config.schedule.schedule
    ));
    let clock = EpochClock::default();
    let loaders = loader_options(
        (config.batch_size, config.workers),
        config.seed,
        &config.schedule,
        first_epoch,
    );
    let loader_train = training_loader(
        ClipBatcher,
        train_set.with_clock(clock.clone()),
        clock,
        &loaders,
    );
    let loader_val = eval_loader(ClipBatcher, val_set, &loaders);
    let iters = config
        .schedule
        .schedule
        .steps_per_epoch(train_len.div_ceil(config.batch_size) as u64);
    let fit = Fit {
        out,
        schedule: &config.schedule,
        projections: config.activation.projections(),
        optimizer: sgd,
        weight_decay: config.weight_decay,
        curve: cosine_half_epoch_warmup(config.lr, iters, config.epochs),
        iters_per_epoch: iters,
        epochs: config.epochs,
        label: config.model.to_string(),
        reporter: options.reporter.clone(),
        checkpoints: config.checkpoints,
        resume,
        max_loss_growth: config.max_loss_growth,
        probe: None,
    };
    let (model, epochs) = launch(model, loader_train, loader_val, fit, |training| {
        training
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AccuracyMetric::new())
    })?;
    save_trained(&model, out)?;
    let summary = ActionSummary {
        config: config.clone(),
        train_clips: train_len,
        val_clips: val_len,
        params,
        final_top1: epochs.last().map_or(f64::NAN, |r| r.test_acc),
        epochs,
        train_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&out.join(folder::SUMMARY), &summary)?;
    Ok(summary)
}
