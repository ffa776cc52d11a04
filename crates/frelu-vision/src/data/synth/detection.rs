//! The generated detection benchmark: Fashion-MNIST items on canvases, written as COCO json +
//! PNG so that the same reader serves it and real COCO.

use std::path::Path;

use image::imageops::FilterType;
use image::{GrayImage, Luma};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::coco::{CocoAnnotation, CocoCategory, CocoFile, CocoImage};
use crate::data::{DataError, ImageSet, fashion_mnist};

/// Options of the generated benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkConfig {
    /// Canvas side in pixels.
    pub canvas: u32,
    /// Items per canvas, at least.
    pub min_items: usize,
    /// Items per canvas, at most.
    pub max_items: usize,
    /// Smallest item side in pixels (items are resized squares).
    pub min_size: u32,
    /// Largest item side.
    pub max_size: u32,
    /// Largest IoU allowed between two items' boxes ("light overlap").
    pub max_overlap: f64,
    /// Draw faint background clutter (strokes and speckles) under the items.
    pub clutter: bool,
    /// Training canvases (items from Fashion-MNIST's training split).
    pub train_images: usize,
    /// Validation canvases (items from its test split).
    pub val_images: usize,
    /// Seed: the same seed gives the same files.
    pub seed: u64,
}

impl Default for BenchmarkConfig {
    fn default() -> Self {
        Self {
            canvas: 128,
            min_items: 1,
            max_items: 6,
            min_size: 20,
            max_size: 64,
            max_overlap: 0.3,
            clutter: false,
            train_images: 4000,
            val_images: 500,
            seed: 0,
        }
    }
}

fn box_iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let ih = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

/// The tight box `[x, y, w, h]` of the pixels above `threshold`, in the patch's frame.
fn tight_box(patch: &GrayImage, threshold: u8) -> Option<[f64; 4]> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in patch.enumerate_pixels() {
        if p.0[0] > threshold {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x0 != u32::MAX).then(|| {
        [
            x0 as f64,
            y0 as f64,
            (x1 - x0 + 1) as f64,
            (y1 - y0 + 1) as f64,
        ]
    })
}

fn draw_clutter(canvas: &mut GrayImage, rng: &mut StdRng) {
    let (w, h) = canvas.dimensions();
    for _ in 0..rng.random_range(3..8) {
        // A faint straight stroke.
        let (mut x, mut y) = (rng.random_range(0..w) as f64, rng.random_range(0..h) as f64);
        let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        let len = rng.random_range(10..40);
        let value = rng.random_range(30u8..90);
        for _ in 0..len {
            if x >= 0.0 && y >= 0.0 && (x as u32) < w && (y as u32) < h {
                canvas.put_pixel(x as u32, y as u32, Luma([value]));
            }
            x += angle.cos();
            y += angle.sin();
        }
    }
    for _ in 0..rng.random_range(20..60) {
        let (x, y) = (rng.random_range(0..w), rng.random_range(0..h));
        canvas.put_pixel(x, y, Luma([rng.random_range(20u8..70)]));
    }
}

/// Generates one split: canvases with their annotations.
fn generate_split(
    items: &ImageSet,
    count: usize,
    config: &BenchmarkConfig,
    rng: &mut StdRng,
    image_dir: &Path,
    first_id: u64,
) -> Result<CocoFile, DataError> {
    std::fs::create_dir_all(image_dir).map_err(|e| DataError::io_during("create", image_dir, e))?;
    let mut file = CocoFile {
        categories: fashion_mnist::CLASSES
            .iter()
            .enumerate()
            .map(|(i, name)| CocoCategory {
                id: i as u64 + 1,
                name: name.to_string(),
            })
            .collect(),
        ..CocoFile::default()
    };
    let side = config.canvas;
    for n in 0..count {
        let id = first_id + n as u64;
        let mut canvas = GrayImage::new(side, side);
        if config.clutter {
            draw_clutter(&mut canvas, rng);
        }
        let wanted = rng.random_range(config.min_items..=config.max_items);
        let mut placed: Vec<[f64; 4]> = Vec::new();
        for _ in 0..wanted {
            let index = rng.random_range(0..items.len());
            let size = rng.random_range(config.min_size..=config.max_size.min(side));
            let source = GrayImage::from_raw(28, 28, items.image(index).to_vec())
                .expect("28×28 Fashion-MNIST image");
            let patch = image::imageops::resize(&source, size, size, FilterType::Triangle);
            let Some(tight) = tight_box(&patch, 20) else {
                continue;
            };
            // A few tries to find a place that overlaps the others only lightly.
            for _ in 0..20 {
                let (x, y) = (
                    rng.random_range(0..=side - size),
                    rng.random_range(0..=side - size),
                );
                let bbox = [x as f64 + tight[0], y as f64 + tight[1], tight[2], tight[3]];
                if placed
                    .iter()
                    .all(|p| box_iou(p, &bbox) <= config.max_overlap)
                {
                    for (px, py, p) in patch.enumerate_pixels() {
                        let target = canvas.get_pixel_mut(x + px, y + py);
                        target.0[0] = target.0[0].max(p.0[0]);
                    }
                    placed.push(bbox);
                    file.annotations.push(CocoAnnotation {
                        id: file.annotations.len() as u64 + 1 + first_id * 16,
                        image_id: id,
                        category_id: items.labels[index] as u64 + 1,
                        bbox,
                        area: Some(bbox[2] * bbox[3]),
                        iscrowd: 0,
                    });
                    break;
                }
            }
        }
        let name = format!("{id:06}.png");
        let path = image_dir.join(&name);
        canvas
            .save(&path)
            .map_err(|e| DataError::format(&path, e.to_string()))?;
        file.images.push(CocoImage {
            id,
            file_name: name,
            width: side,
            height: side,
        });
    }
    Ok(file)
}

/// Writes the benchmark into `out`: `train/`, `val/` (PNG canvases) and
/// `annotations/instances_{train,val}.json`, plus `benchmark.json` (the options).
pub fn make_benchmark(
    out: &Path,
    config: &BenchmarkConfig,
    source: &fashion_mnist::Source,
) -> Result<(), DataError> {
    if config.min_items == 0 || config.min_items > config.max_items {
        return Err(DataError::InvalidOption(
            "items per canvas: need 1 ≤ min_items ≤ max_items".into(),
        ));
    }
    if config.min_size < 8 || config.min_size > config.max_size || config.max_size > config.canvas {
        return Err(DataError::InvalidOption(
            "item sizes: need 8 ≤ min_size ≤ max_size ≤ canvas".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let annotations = out.join("annotations");
    std::fs::create_dir_all(&annotations)
        .map_err(|e| DataError::io_during("create", &annotations, e))?;
    for (split, train, count, first_id) in [
        ("train", true, config.train_images, 1u64),
        ("val", false, config.val_images, 1_000_000u64),
    ] {
        let items = fashion_mnist::load(source, train)?;
        let file = generate_split(&items, count, config, &mut rng, &out.join(split), first_id)?;
        let path = annotations.join(format!("instances_{split}.json"));
        let text = serde_json::to_string(&file).expect("serialisable");
        std::fs::write(&path, text).map_err(|e| DataError::io_during("write", &path, e))?;
    }
    super::write_settings(out, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::detection::load_split;

    fn small_config(seed: u64) -> BenchmarkConfig {
        BenchmarkConfig {
            canvas: 64,
            min_size: 16,
            max_size: 32,
            train_images: 6,
            val_images: 3,
            clutter: true,
            seed,
            ..BenchmarkConfig::default()
        }
    }

    #[test]
    fn images_that_disagree_with_their_annotations_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        make_benchmark(
            dir.path(),
            &small_config(1),
            &fashion_mnist::Source::Bundled,
        )
        .unwrap();
        assert!(load_split(dir.path(), "val").is_ok());
        // A width the real image does not have.
        let path = dir.path().join("annotations/instances_val.json");
        let mut file: CocoFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        file.images[0].width += 10;
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let err = load_split(dir.path(), "val").unwrap_err().to_string();
        assert!(err.contains("but the annotations give image"), "{err}");
        // A missing image file, named.
        file.images[0].width -= 10;
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let missing = dir.path().join("val").join(&file.images[1].file_name);
        std::fs::remove_file(&missing).unwrap();
        let err = load_split(dir.path(), "val").unwrap_err().to_string();
        assert!(err.contains(&file.images[1].file_name), "{err}");
    }

    #[test]
    fn the_benchmark_is_deterministic_valid_coco() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = fashion_mnist::Source::Bundled;
        make_benchmark(a.path(), &small_config(3), &source).unwrap();
        make_benchmark(b.path(), &small_config(3), &source).unwrap();
        for file in [
            "annotations/instances_train.json",
            "annotations/instances_val.json",
            "train/000001.png",
            "val/1000002.png",
        ] {
            assert_eq!(
                std::fs::read(a.path().join(file)).unwrap(),
                std::fs::read(b.path().join(file)).unwrap(),
                "{file} differs between two runs with the same seed"
            );
        }
        let train = load_split(a.path(), "train").unwrap();
        assert_eq!(train.file.images.len(), 6);
        assert_eq!(train.num_classes(), 10);
        let per_image: Vec<usize> = train.per_image.iter().map(Vec::len).collect();
        assert!(
            per_image.iter().all(|&n| (1..=6).contains(&n)),
            "{per_image:?}"
        );
        for ann in &train.file.annotations {
            let [x, y, w, h] = ann.bbox;
            assert!(x >= 0.0 && y >= 0.0 && x + w <= 64.0 && y + h <= 64.0);
            assert!(w >= 1.0 && h >= 1.0);
        }
        let other = tempfile::tempdir().unwrap();
        make_benchmark(other.path(), &small_config(4), &source).unwrap();
        assert_ne!(
            std::fs::read(a.path().join("annotations/instances_train.json")).unwrap(),
            std::fs::read(other.path().join("annotations/instances_train.json")).unwrap()
        );
    }
}
