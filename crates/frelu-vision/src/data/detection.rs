//! Detection data: a generated benchmark made of Fashion-MNIST items on canvases (written as
//! COCO json + PNG, so the same reader serves it and real COCO), the dataset that letterboxes
//! and flips images with their boxes, and the batcher that builds CenterNet targets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use image::imageops::FilterType;
use rand::RngExt;

use super::coco::CocoDataset;
use super::epochs::{EpochClock, item_rng};
use super::error::DataError;

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
    /// Seed of the detector's samplers for this image, drawn from (seed, epoch, index) so that
    /// a resumed run samples as the uninterrupted one.
    pub seed: u64,
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
    seed: u64,
    clock: EpochClock,
}

impl DetectionDataset {
    /// Images letterboxed to `size`, flipped at random when `train`.
    pub fn new(coco: Arc<CocoDataset>, size: usize, train: bool, seed: u64) -> Self {
        Self {
            coco,
            size,
            train,
            seed,
            clock: EpochClock::default(),
        }
    }

    /// Draws the training flips from `(seed, epoch of clock, index)`.
    pub fn with_clock(mut self, clock: EpochClock) -> Self {
        self.clock = clock;
        self
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
        let mut rng = item_rng(self.seed, self.clock.get(), index);
        if self.train {
            let flip_it = rng.random_bool(0.5);
            if flip_it {
                image = flip(&image, &mut boxes);
            }
        }
        let seed = rng.random::<u64>();
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
            seed,
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
    /// Ground-truth boxes per image, `[x1, y1, x2, y2]` in letterboxed pixels (any count).
    pub boxes: Vec<Vec<[f32; 4]>>,
    /// Their contiguous labels.
    pub labels: Vec<Vec<usize>>,
    /// Sampler seed per image ([`DetItem::seed`]).
    pub seeds: Vec<u64>,
}

/// Per-channel normalisation of pixels in [0, 1]: `(p − mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PixelNorm {
    /// Mean per channel (RGB).
    pub mean: [f32; 3],
    /// Standard deviation per channel.
    pub std: [f32; 3],
}

impl Default for PixelNorm {
    /// Mean 0.5, std 0.5: pixels to [−1, 1], what this tool's detectors train with.
    fn default() -> Self {
        Self {
            mean: [0.5; 3],
            std: [0.5; 3],
        }
    }
}

impl PixelNorm {
    /// ImageNet's statistics, which torchvision's detectors expect.
    pub const IMAGENET: Self = Self {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Whether every std is positive and every value finite.
    pub fn is_valid(&self) -> bool {
        self.mean.iter().all(|m| m.is_finite())
            && self.std.iter().all(|s| s.is_finite() && *s > 0.0)
    }
}

/// Builds [`DetBatch`]es.
#[derive(Clone, Debug)]
pub struct DetBatcher {
    /// Number of classes.
    pub num_classes: usize,
    /// Output stride of the detector.
    pub stride: usize,
    /// Pixel normalisation.
    pub normalize: PixelNorm,
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
            if self.normalize == PixelNorm::default() {
                // The same arithmetic as before the option existed, bit for bit.
                images.extend(item.pixels.iter().map(|&p| p as f32 / 127.5 - 1.0));
            } else {
                for (c, plane) in item.pixels.chunks(s * s).enumerate() {
                    let (mean, std) = (self.normalize.mean[c], self.normalize.std[c]);
                    images.extend(plane.iter().map(|&p| (p as f32 / 255.0 - mean) / std));
                }
            }
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
            boxes: items.iter().map(|i| i.boxes.clone()).collect(),
            labels: items.iter().map(|i| i.labels.clone()).collect(),
            seeds: items.iter().map(|i| i.seed).collect(),
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
    let dataset = CocoDataset::load(&annotations, &images)?;
    dataset.check_images()?;
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            seed: 0,
        };
        let batch = DetBatcher {
            num_classes: 3,
            stride: 4,
            normalize: PixelNorm::default(),
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
