//! Using a trained detector: detections over a dataset (COCO results format), re-evaluation
//! of a run, and drawn predictions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Context;
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;

use super::DetectConfig;
use crate::analysis::coco_eval::{CocoMetrics, evaluate};
use crate::data::coco::{CocoDataset, CocoDetection};
use crate::data::detection::load_split;
use crate::data::detection::{DetBatcher, DetectionDataset};
use crate::device::parse_device;
use crate::error::ensure;
use crate::fsio::{read_json, write_json};
use crate::models::detection::{Detector, PeakDecoding};
use crate::run_files::{CONFIG, MODEL};

/// The COCO-format detections of the evaluation split, in a detection run.
pub const DETECTIONS: &str = "detections.json";
/// The COCO metrics of those detections.
pub const COCO_METRICS: &str = "coco_metrics.json";
/// Drawn predictions (`frelu detect predict`).
pub const PREDICTIONS_DIR: &str = "predictions";
/// The files a detection run writes beside every run's (removed with them on overwrite).
pub const TASK_FILES: [&str; 3] = [DETECTIONS, COCO_METRICS, PREDICTIONS_DIR];

/// The training and evaluation splits of `config` (limited as asked; both with images and the
/// same categories).
pub(super) fn load(config: &DetectConfig) -> crate::Result<(CocoDataset, CocoDataset)> {
    let mut train = load_split(&config.data, &config.train_split)?;
    let mut val = load_split(&config.data, &config.val_split)?;
    ensure!(
        train.file.categories == val.file.categories,
        "the {} and {} splits have different categories",
        config.train_split,
        config.val_split
    );
    if let Some(n) = config.limit_train {
        train = train.take(n);
    }
    if let Some(n) = config.limit_val {
        val = val.take(n);
    }
    ensure!(
        !train.file.images.is_empty(),
        "the training split has no images"
    );
    ensure!(
        !val.file.images.is_empty(),
        "the evaluation split has no images"
    );
    Ok((train, val))
}

/// One line of the main COCO numbers.
pub fn metrics_line(m: &CocoMetrics) -> String {
    format!(
        "AP {}  AP50 {}  AP75 {}  APs {}  APm {}  APl {}  AR100 {}",
        ap_text(m.ap),
        ap_text(m.ap50),
        ap_text(m.ap75),
        ap_text(m.ap_small),
        ap_text(m.ap_medium),
        ap_text(m.ap_large),
        ap_text(m.ar100)
    )
}

/// Runs the detector over a dataset and returns COCO-format detections in original pixels.
pub fn detect_all(
    model: &Detector,
    data: &Arc<CocoDataset>,
    config: &DetectConfig,
) -> crate::Result<Vec<CocoDetection>> {
    let batcher = DetBatcher {
        num_classes: data.num_classes(),
        stride: Detector::HEATMAP_STRIDE,
        normalize: config.pixel_norm,
    };
    let device = model
        .devices()
        .first()
        .cloned()
        .ok_or_else(|| crate::Error::Invalid("the model has no device".into()))?;
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(config.batch_size)
        .num_workers(config.workers)
        .set_device(device)
        .build(DetectionDataset::new(
            data.clone(),
            config.image_size,
            false,
            0,
        ));
    let mut out = Vec::new();
    for batch in loader.iter() {
        let batch = batch.map_err(|e| crate::Error::Invalid(format!("evaluation data: {e}")))?;
        let peaks = PeakDecoding {
            min_score: config.min_score,
            nms_iou: config.nms_iou,
        };
        let decoded = model.detect(batch.images.clone(), peaks);
        for ((index, scale), dets) in batch.meta.iter().zip(decoded) {
            let image = &data.file.images[*index];
            let (w, h) = (image.width as f64, image.height as f64);
            for d in dets {
                let s = *scale as f64;
                let x1 = (d.bbox[0] as f64 / s).clamp(0.0, w);
                let y1 = (d.bbox[1] as f64 / s).clamp(0.0, h);
                let x2 = (d.bbox[2] as f64 / s).clamp(0.0, w);
                let y2 = (d.bbox[3] as f64 / s).clamp(0.0, h);
                if x2 - x1 <= 0.0 || y2 - y1 <= 0.0 {
                    continue;
                }
                out.push(CocoDetection {
                    image_id: image.id,
                    category_id: data.category_id(d.label),
                    bbox: [x1, y1, x2 - x1, y2 - y1],
                    score: d.score as f64,
                });
            }
        }
    }
    Ok(out)
}

/// Loads a trained run (its `config.json` and `model.bpk`) on the flex device.
pub fn load_run(run: &Path) -> crate::Result<(DetectConfig, Detector, Arc<CocoDataset>)> {
    let config: DetectConfig = read_json(&run.join(CONFIG))
        .with_context(|| format!("{} is not a detection run", run.display()))?;
    let (_, val) = load(&config)?;
    let model = config
        .model_config(val.num_classes())
        .init(&parse_device(&config.device)?)?
        .try_load_file(run.join(MODEL))
        .with_context(|| format!("cannot load {}", run.join(MODEL).display()))?;
    Ok((config, model, Arc::new(val)))
}

/// Re-evaluates a trained run: writes `detections.json` and `coco_metrics.json` again.
pub fn eval_run(run: &Path) -> crate::Result<CocoMetrics> {
    let (config, model, val) = load_run(run)?;
    let detections = detect_all(&model, &val, &config)?;
    write_json(&run.join(DETECTIONS), &detections)?;
    let metrics = evaluate(&val.file, &detections);
    write_json(&run.join(COCO_METRICS), &metrics)?;
    Ok(metrics)
}

/// Draws the predictions (red, with class and score) and the ground truth (green) of the first
/// `count` evaluation images into `RUN/predictions/*.png`.
pub fn predict_run(run: &Path, count: usize, min_score: f32) -> crate::Result<Vec<PathBuf>> {
    let (config, model, val) = load_run(run)?;
    let limited = Arc::new(val.take(count));
    let detections = detect_all(&model, &limited, &config)?;
    let dir = run.join(PREDICTIONS_DIR);
    crate::fsio::create_dir(&dir)?;
    let names: Vec<String> = limited
        .file
        .categories
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut files = Vec::new();
    let dataset = DetectionDataset::new(limited.clone(), config.image_size, false, 0);
    for (i, image) in limited.file.images.iter().enumerate() {
        let picture = dataset.read_image(i)?;
        let (gt_boxes, gt_labels) = limited.targets(i);
        let predictions: Vec<([f32; 4], usize, f32)> = detections
            .iter()
            .filter(|d| d.image_id == image.id && d.score as f32 >= min_score)
            .map(|d| {
                let b = d.bbox;
                (
                    [
                        b[0] as f32,
                        b[1] as f32,
                        (b[0] + b[2]) as f32,
                        (b[1] + b[3]) as f32,
                    ],
                    limited.labels[&d.category_id],
                    d.score as f32,
                )
            })
            .collect();
        let path = dir.join(format!("{:06}.png", image.id));
        crate::analysis::plots::draw_detections(
            &path,
            &picture,
            &gt_boxes.iter().copied().zip(gt_labels).collect::<Vec<_>>(),
            &predictions,
            &names,
        )?;
        files.push(path);
    }
    Ok(files)
}

/// An AP or AR value with three decimals, or "—" where COCO reports −1 (no ground truth in
/// that area range) or the value is undefined.
pub fn ap_text(v: f64) -> String {
    if v.is_finite() && v >= 0.0 {
        format!("{v:.3}")
    } else {
        "—".into()
    }
}
