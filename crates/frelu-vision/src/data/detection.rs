//! Detection data: a generated benchmark made of Fashion-MNIST items on canvases (written as
//! COCO json + PNG, so the same reader serves it and real COCO), the dataset that letterboxes
//! and flips images with their boxes, and the batcher that builds CenterNet targets.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{GrayImage, Luma, RgbImage};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::coco::{CocoAnnotation, CocoCategory, CocoDataset, CocoFile, CocoImage};
use super::error::DataError;
use super::{ImageSet, fashion_mnist};

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
    std::fs::create_dir_all(image_dir).map_err(|e| DataError::io(image_dir, e))?;
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
    std::fs::create_dir_all(&annotations).map_err(|e| DataError::io(&annotations, e))?;
    for (split, train, count, first_id) in [
        ("train", true, config.train_images, 1u64),
        ("val", false, config.val_images, 1_000_000u64),
    ] {
        let items = fashion_mnist::load(source, train)?;
        let file = generate_split(&items, count, config, &mut rng, &out.join(split), first_id)?;
        let path = annotations.join(format!("instances_{split}.json"));
        let text = serde_json::to_string(&file).expect("serialisable");
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
    }
    let path = out.join("benchmark.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(config).expect("serialisable"),
    )
    .map_err(|e| DataError::io(&path, e))?;
    Ok(())
}

/// The annotations file and image folder of a split of a COCO-layout root
/// (`ROOT/annotations/instances_SPLIT.json`, `ROOT/SPLIT/` — also COCO 2017's
/// `instances_val2017.json` / `val2017/` when `split` is `val2017`).
pub fn split_paths(root: &Path, split: &str) -> (PathBuf, PathBuf) {
    (
        root.join("annotations")
            .join(format!("instances_{split}.json")),
        root.join(split),
    )
}

/// One letterboxed image with its boxes.
#[derive(Clone, Debug)]
pub struct DetItem {
    /// `3 × size × size` bytes.
    pub pixels: Vec<u8>,
    /// Side of the letterboxed image.
    pub size: usize,
    /// Boxes `[x1, y1, x2, y2]` in letterboxed pixels.
    pub boxes: Vec<[f32; 4]>,
    /// Contiguous labels.
    pub labels: Vec<usize>,
    /// Index of the image in the dataset.
    pub index: usize,
    /// Letterbox scale: letterboxed = original × scale.
    pub scale: f32,
}

/// Letterboxing: scale the longer side to `size`, pad the right and bottom with black.
pub fn letterbox(image: &RgbImage, size: usize) -> (RgbImage, f32) {
    let (w, h) = image.dimensions();
    let scale = size as f32 / w.max(h) as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).clamp(1, size as u32),
        ((h as f32 * scale).round() as u32).clamp(1, size as u32),
    );
    let resized = if (nw, nh) == (w, h) {
        image.clone()
    } else {
        image::imageops::resize(image, nw, nh, FilterType::Triangle)
    };
    let mut out = RgbImage::new(size as u32, size as u32);
    image::imageops::replace(&mut out, &resized, 0, 0);
    (out, scale)
}

/// Flips an image and its boxes horizontally.
pub fn flip(image: &RgbImage, boxes: &mut [[f32; 4]]) -> RgbImage {
    let w = image.width() as f32;
    for b in boxes.iter_mut() {
        *b = [w - b[2], b[1], w - b[0], b[3]];
    }
    image::imageops::flip_horizontal(image)
}

/// A Burn dataset over a [`CocoDataset`].
pub struct DetectionDataset {
    coco: Arc<CocoDataset>,
    size: usize,
    train: bool,
    rng: Mutex<StdRng>,
}

impl DetectionDataset {
    /// Images letterboxed to `size`, flipped at random when `train`.
    pub fn new(coco: Arc<CocoDataset>, size: usize, train: bool, seed: u64) -> Self {
        Self {
            coco,
            size,
            train,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Reads image `index` as RGB.
    pub fn read_image(&self, index: usize) -> Result<RgbImage, DataError> {
        let path = self
            .coco
            .image_dir
            .join(&self.coco.file.images[index].file_name);
        Ok(image::open(&path)
            .map_err(|e| DataError::format(&path, format!("cannot decode: {e}")))?
            .to_rgb8())
    }
}

impl Dataset<DetItem> for DetectionDataset {
    fn get(&self, index: usize) -> Result<DetItem, DatasetError> {
        let image = self.read_image(index).map_err(DatasetError::new)?;
        let (mut boxes, labels) = self.coco.targets(index);
        let (mut image, scale) = letterbox(&image, self.size);
        for b in &mut boxes {
            for v in b.iter_mut() {
                *v *= scale;
            }
        }
        if self.train {
            let flip_it = self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random_bool(0.5);
            if flip_it {
                image = flip(&image, &mut boxes);
            }
        }
        let plane = self.size * self.size;
        let mut pixels = vec![0u8; 3 * plane];
        for (i, p) in image.pixels().enumerate() {
            for c in 0..3 {
                pixels[c * plane + i] = p.0[c];
            }
        }
        Ok(DetItem {
            pixels,
            size: self.size,
            boxes,
            labels,
            index,
            scale,
        })
    }

    fn len(&self) -> usize {
        self.coco.file.images.len()
    }
}

/// CenterNet's radius: the largest shift of a box corner that keeps IoU ≥ `min_overlap`.
pub fn gaussian_radius(height: f32, width: f32, min_overlap: f32) -> f32 {
    let (h, w, o) = (height, width, min_overlap);
    let r1 = {
        let b = h + w;
        let c = w * h * (1.0 - o) / (1.0 + o);
        (b + (b * b - 4.0 * c).sqrt()) / 2.0
    };
    let r2 = {
        let b = 2.0 * (h + w);
        let c = (1.0 - o) * w * h;
        (b + (b * b - 16.0 * c).sqrt()) / 2.0
    };
    let r3 = {
        let a = 4.0 * o;
        let b = -2.0 * o * (h + w);
        let c = (o - 1.0) * w * h;
        (b + (b * b - 4.0 * a * c).sqrt()) / 2.0
    };
    r1.min(r2).min(r3)
}

/// A batch of images with CenterNet targets at `stride`.
#[derive(Clone, Debug)]
pub struct DetBatch {
    /// `[N, 3, S, S]`, normalised.
    pub images: Tensor<4>,
    /// `[N, K, S/stride, S/stride]` Gaussian peaks (1 at object centres).
    pub heatmap: Tensor<4>,
    /// `[N, 2, H, W]`: box width and height, in output cells, at centres.
    pub size: Tensor<4>,
    /// `[N, 2, H, W]`: sub-cell offset of the centre.
    pub offset: Tensor<4>,
    /// `[N, 1, H, W]`: 1 at object centres.
    pub mask: Tensor<4>,
    /// Objects in the batch.
    pub num_objects: usize,
    /// Dataset indices and letterbox scales of the images (for evaluation).
    pub meta: Vec<(usize, f32)>,
}

/// Builds [`DetBatch`]es.
#[derive(Clone, Debug)]
pub struct DetBatcher {
    /// Number of classes.
    pub num_classes: usize,
    /// Output stride of the detector.
    pub stride: usize,
}

impl Batcher<DetItem, DetBatch> for DetBatcher {
    fn batch(&self, items: Vec<DetItem>, device: &Device) -> DetBatch {
        let n = items.len();
        let s = items[0].size;
        let (h, w) = (s / self.stride, s / self.stride);
        let k = self.num_classes;
        let mut images = Vec::with_capacity(n * 3 * s * s);
        let mut heat = vec![0f32; n * k * h * w];
        let mut size = vec![0f32; n * 2 * h * w];
        let mut offset = vec![0f32; n * 2 * h * w];
        let mut mask = vec![0f32; n * h * w];
        let mut num_objects = 0;
        for (b, item) in items.iter().enumerate() {
            assert_eq!(
                item.size, s,
                "all images of a batch must have the same size"
            );
            // Pixels to [-1, 1].
            images.extend(item.pixels.iter().map(|&p| p as f32 / 127.5 - 1.0));
            for (bx, &label) in item.boxes.iter().zip(&item.labels) {
                let stride = self.stride as f32;
                let (bw, bh) = ((bx[2] - bx[0]) / stride, (bx[3] - bx[1]) / stride);
                if bw <= 0.0 || bh <= 0.0 {
                    continue;
                }
                let (cx, cy) = (
                    (bx[0] + bx[2]) / 2.0 / stride,
                    (bx[1] + bx[3]) / 2.0 / stride,
                );
                let (ix, iy) = (
                    (cx.floor() as usize).min(w - 1),
                    (cy.floor() as usize).min(h - 1),
                );
                let radius = gaussian_radius(bh.ceil(), bw.ceil(), 0.7).floor().max(0.0) as i64;
                let sigma = (2 * radius + 1) as f32 / 6.0;
                let plane = &mut heat[(b * k + label) * h * w..(b * k + label + 1) * h * w];
                for dy in -radius..=radius {
                    for dx in -radius..=radius {
                        let (x, y) = (ix as i64 + dx, iy as i64 + dy);
                        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
                            continue;
                        }
                        let g = (-((dx * dx + dy * dy) as f32) / (2.0 * sigma * sigma)).exp();
                        let cell = &mut plane[y as usize * w + x as usize];
                        *cell = cell.max(g);
                    }
                }
                let at = iy * w + ix;
                let base = b * 2 * h * w;
                size[base + at] = bw;
                size[base + h * w + at] = bh;
                offset[base + at] = cx - ix as f32;
                offset[base + h * w + at] = cy - iy as f32;
                mask[b * h * w + at] = 1.0;
                num_objects += 1;
            }
        }
        DetBatch {
            images: Tensor::from_data(TensorData::new(images, [n, 3, s, s]), device),
            heatmap: Tensor::from_data(TensorData::new(heat, [n, k, h, w]), device),
            size: Tensor::from_data(TensorData::new(size, [n, 2, h, w]), device),
            offset: Tensor::from_data(TensorData::new(offset, [n, 2, h, w]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, 1, h, w]), device),
            num_objects,
            meta: items.iter().map(|i| (i.index, i.scale)).collect(),
        }
    }
}

/// Loads a split of a COCO-layout root.
pub fn load_split(root: &Path, split: &str) -> Result<CocoDataset, DataError> {
    let (annotations, images) = split_paths(root, split);
    if !annotations.is_file() {
        return Err(DataError::NotFound(format!(
            "{} not found: expected ROOT/annotations/instances_{split}.json and ROOT/{split}/ \
             (make one with `frelu detect make-data --out ROOT`)",
            annotations.display()
        )));
    }
    CocoDataset::load(&annotations, &images)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn letterbox_and_flip_move_boxes_with_the_pixels() {
        // A 40×20 image with one bright pixel at (30, 5).
        let mut image = RgbImage::new(40, 20);
        image.put_pixel(30, 5, image::Rgb([255, 255, 255]));
        let (boxed, scale) = letterbox(&image, 80);
        assert_eq!((boxed.width(), boxed.height(), scale), (80, 80, 2.0));
        let mut boxes = vec![[60.0f32, 10.0, 62.0, 12.0]];
        let flipped = flip(&boxed, &mut boxes);
        assert_eq!(boxes[0], [18.0, 10.0, 20.0, 12.0]);
        // The bright pixel followed its box.
        assert!(flipped.get_pixel(19, 11).0[0] > 100);
        assert!(flipped.get_pixel(60, 11).0[0] < 50);
    }

    #[test]
    fn targets_peak_at_object_centres() {
        let item = DetItem {
            pixels: vec![0; 3 * 32 * 32],
            size: 32,
            boxes: vec![[4.0, 8.0, 20.0, 24.0]],
            labels: vec![2],
            index: 0,
            scale: 1.0,
        };
        let batch = DetBatcher {
            num_classes: 3,
            stride: 4,
        }
        .batch(vec![item], &Device::flex());
        assert_eq!(batch.heatmap.dims(), [1, 3, 8, 8]);
        assert_eq!(batch.num_objects, 1);
        let heat = batch.heatmap.try_into_vec_as::<f32>().unwrap();
        // Centre (12, 16) px → cell (3, 4) of class 2.
        assert_eq!(heat[2 * 64 + 4 * 8 + 3], 1.0);
        assert!(heat[..2 * 64].iter().all(|&v| v == 0.0));
        let size = batch.size.try_into_vec_as::<f32>().unwrap();
        assert_eq!((size[4 * 8 + 3], size[64 + 4 * 8 + 3]), (4.0, 4.0));
        assert!(gaussian_radius(4.0, 4.0, 0.7) > 0.5);
    }
}
