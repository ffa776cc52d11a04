//! ImageNet-style folders: `ROOT/train/<class>/*.{jpg,jpeg,png}` and `ROOT/val/<class>/...`.
//!
//! Images are decoded with the `image` crate when the data loader asks for them, on its worker
//! threads (`--workers`), so decoding overlaps training. Training images get torchvision's
//! `RandomResizedCrop` (scale 0.08–1, aspect ratio 3/4–4/3) and a horizontal flip; evaluation
//! images are resized (short side `resolution × 256/224`) and centre-cropped. A file that cannot
//! be read or decoded is skipped (the next image takes its place), counted and reported — it
//! never stops training.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::data::dataset::{Dataset, DatasetError};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ImageItem;
use super::epochs::{EpochClock, item_rng};
use super::error::DataError;

/// ImageNet channel means (RGB, pixels scaled to [0, 1]).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The file list of one split.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// The split folder.
    pub root: PathBuf,
    /// Class names, sorted; a label is an index into this list.
    pub classes: Vec<String>,
    /// `(file, label)`, sorted by class then file name.
    pub samples: Vec<(PathBuf, u16)>,
}

impl ImageFolder {
    /// Lists `root/<class>/*.{jpg,jpeg,png}`. With `classes`, the class folders must be among
    /// them (a validation split must not have classes the training split lacks).
    pub fn scan(root: &Path, classes: Option<&[String]>) -> Result<Self, DataError> {
        let entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
        let mut found: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(DataError::format(
                root,
                "no class folders (expected ROOT/<split>/<class>/<image files>)",
            ));
        }
        let training = classes.is_none();
        let classes: Vec<String> = match classes {
            Some(known) => {
                if let Some(unknown) = found.iter().find(|c| !known.contains(c)) {
                    return Err(DataError::format(
                        root,
                        format!("class '{unknown}' is not in the training split"),
                    ));
                }
                known.to_vec()
            }
            None => found.clone(),
        };
        if classes.len() > u16::MAX as usize {
            return Err(DataError::format(root, "more than 65,535 classes"));
        }
        let mut samples = Vec::new();
        for class in &found {
            let label = classes.iter().position(|c| c == class).expect("checked") as u16;
            let dir = root.join(class);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| DataError::io(&dir, e))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            files.sort();
            if files.is_empty() && training {
                return Err(DataError::format(
                    &dir,
                    format!(
                        "class '{class}' has no .jpg, .jpeg or .png files: it would be a class \
                         with no training data; add images or remove the folder"
                    ),
                ));
            }
            samples.extend(files.into_iter().map(|f| (f, label)));
        }
        if samples.is_empty() {
            return Err(DataError::format(
                root,
                "no .jpg, .jpeg or .png files found",
            ));
        }
        Ok(Self {
            root: root.to_path_buf(),
            classes,
            samples,
        })
    }
}

impl ImageFolder {
    /// Checks that every image's header can be read (format and size), without decoding the
    /// pixels: for a validation split, whose unreadable files would otherwise be found only
    /// after a training epoch. The error names the first unreadable files.
    pub fn check_readable(&self) -> Result<(), DataError> {
        let bad: Vec<String> = self
            .samples
            .iter()
            .filter_map(|(path, _)| {
                let dims = image::ImageReader::open(path)
                    .and_then(|r| r.with_guessed_format())
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()));
                match dims {
                    Ok((w, h)) if w > 0 && h > 0 => None,
                    Ok(_) => Some(format!("{} (empty image)", path.display())),
                    Err(e) => Some(format!("{} ({e})", path.display())),
                }
            })
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        Err(DataError::format(
            &self.root,
            format!(
                "{} unreadable image(s): {}{}",
                bad.len(),
                bad.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if bad.len() > 5 { ", ..." } else { "" }
            ),
        ))
    }
}

/// Counters of a folder dataset's loading, shared by its worker threads.
#[derive(Debug, Default)]
pub struct LoaderStats {
    images: AtomicUsize,
    nanos: AtomicU64,
    skipped: Mutex<Vec<(PathBuf, String)>>,
}

/// A snapshot of [`LoaderStats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoaderReport {
    /// Images decoded and transformed.
    pub images: usize,
    /// Seconds spent doing it, summed over worker threads.
    pub busy_seconds: f64,
    /// Images per second of one worker.
    pub images_per_sec_per_worker: f64,
    /// Files skipped because they could not be read or decoded.
    pub skipped: usize,
    /// The first skipped files and why.
    pub skipped_files: Vec<String>,
}

impl LoaderStats {
    /// The counters now.
    pub fn report(&self) -> LoaderReport {
        let images = self.images.load(Ordering::Relaxed);
        let busy = self.nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        LoaderReport {
            images,
            busy_seconds: busy,
            images_per_sec_per_worker: if busy > 0.0 {
                images as f64 / busy
            } else {
                0.0
            },
            skipped: skipped.len(),
            skipped_files: skipped
                .iter()
                .take(20)
                .map(|(p, e)| format!("{}: {e}", p.display()))
                .collect(),
        }
    }
}

/// How a split's images are turned into fixed-size items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FolderTransform {
    /// RandomResizedCrop + horizontal flip.
    Train,
    /// Resize + centre crop.
    Eval,
}

/// A Burn [`Dataset`] over an [`ImageFolder`].
pub struct ImageFolderDataset {
    folder: Arc<ImageFolder>,
    transform: FolderTransform,
    resolution: usize,
    len: usize,
    seed: u64,
    clock: EpochClock,
    stats: Arc<LoaderStats>,
}

impl ImageFolderDataset {
    /// A dataset yielding `resolution × resolution` RGB images.
    pub fn new(
        folder: ImageFolder,
        transform: FolderTransform,
        resolution: usize,
        seed: u64,
    ) -> Self {
        let len = folder.samples.len();
        Self {
            folder: Arc::new(folder),
            transform,
            resolution,
            len,
            seed,
            clock: EpochClock::default(),
            stats: Arc::new(LoaderStats::default()),
        }
    }

    /// Draws the training augmentation of each item from `(seed, epoch of clock, index)`.
    pub fn with_clock(mut self, clock: EpochClock) -> Self {
        self.clock = clock;
        self
    }

    /// Only the first `n` images.
    pub fn limit(mut self, n: usize) -> Self {
        self.len = self.len.min(n);
        self
    }

    /// The same images with the evaluation transform (resize + centre crop), sharing the
    /// decoded folder: a training split seen as the network sees test images.
    pub fn eval_view(&self) -> Self {
        Self {
            folder: self.folder.clone(),
            transform: FolderTransform::Eval,
            resolution: self.resolution,
            len: self.len,
            seed: self.seed,
            clock: EpochClock::default(),
            stats: Arc::new(LoaderStats::default()),
        }
    }

    /// The loading counters.
    pub fn stats(&self) -> Arc<LoaderStats> {
        self.stats.clone()
    }

    /// Class names.
    pub fn classes(&self) -> &[String] {
        &self.folder.classes
    }

    fn load(&self, index: usize) -> Result<ImageItem, String> {
        let (path, label) = &self.folder.samples[index];
        let image = image::ImageReader::open(path)
            .map_err(|e| e.to_string())?
            .with_guessed_format()
            .map_err(|e| e.to_string())?
            .decode()
            .map_err(|e| e.to_string())?;
        let res = self.resolution;
        let rgb = match self.transform {
            FolderTransform::Train => {
                let mut rng = item_rng(self.seed, self.clock.get(), index);
                let crop = random_resized_crop(&image, res, &mut rng);
                if rng.random_bool(0.5) {
                    image::imageops::flip_horizontal(&crop)
                } else {
                    crop
                }
            }
            FolderTransform::Eval => resize_center_crop(&image, res),
        };
        Ok(ImageItem {
            pixels: to_chw(&rgb),
            channels: 3,
            height: res,
            width: res,
            label: *label as usize,
        })
    }
}

impl Dataset<ImageItem> for ImageFolderDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        let started = Instant::now();
        // A broken file is replaced by the next readable one, so a batch stays full.
        for attempt in 0..self.len {
            let i = (index + attempt) % self.len;
            match self.load(i) {
                Ok(item) => {
                    self.stats.images.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .nanos
                        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    return Ok(item);
                }
                Err(error) => {
                    let path = self.folder.samples[i].0.clone();
                    let mut skipped = self.stats.skipped.lock().unwrap_or_else(|e| e.into_inner());
                    if !skipped.iter().any(|(p, _)| *p == path) {
                        skipped.push((path, error));
                    }
                }
            }
        }
        Err(DatasetError::new(std::io::Error::other(format!(
            "no image of {} could be decoded",
            self.folder.root.display()
        ))))
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// Channel-major bytes of an RGB image.
pub(crate) fn to_chw(image: &RgbImage) -> Vec<u8> {
    let (w, h) = image.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel.0[c];
        }
    }
    out
}

/// torchvision's `RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))`.
pub fn random_resized_crop<R: Rng + ?Sized>(
    image: &DynamicImage,
    size: usize,
    rng: &mut R,
) -> RgbImage {
    let (w, h) = (image.width() as f64, image.height() as f64);
    let area = w * h;
    let (log_lo, log_hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(0.08..=1.0);
        let ratio = rng.random_range(log_lo..=log_hi).exp();
        let cw = (target * ratio).sqrt().round();
        let ch = (target / ratio).sqrt().round();
        if cw >= 1.0 && ch >= 1.0 && cw <= w && ch <= h {
            let x = rng.random_range(0..=(w - cw) as u32);
            let y = rng.random_range(0..=(h - ch) as u32);
            let crop = image.crop_imm(x, y, cw as u32, ch as u32);
            return crop
                .resize_exact(size as u32, size as u32, FilterType::Triangle)
                .to_rgb8();
        }
    }
    // Fallback: the central crop with the ratio clamped to the allowed range.
    let ratio = w / h;
    let (cw, ch) = if ratio < 3.0 / 4.0 {
        (w, (w / (3.0 / 4.0)).round())
    } else if ratio > 4.0 / 3.0 {
        ((h * 4.0 / 3.0).round(), h)
    } else {
        (w, h)
    };
    let crop = image.crop_imm(
        ((w - cw) / 2.0) as u32,
        ((h - ch) / 2.0) as u32,
        cw as u32,
        ch as u32,
    );
    crop.resize_exact(size as u32, size as u32, FilterType::Triangle)
        .to_rgb8()
}

/// Resize the short side to `size × 256 / 224`, then take the central `size × size`.
pub fn resize_center_crop(image: &DynamicImage, size: usize) -> RgbImage {
    let short = ((size as f64) * 256.0 / 224.0).round().max(size as f64) as u32;
    let (w, h) = (image.width(), image.height());
    let (nw, nh) = if w <= h {
        (short, ((h as f64) * short as f64 / w as f64).round() as u32)
    } else {
        (((w as f64) * short as f64 / h as f64).round() as u32, short)
    };
    let resized = image.resize_exact(
        nw.max(size as u32),
        nh.max(size as u32),
        FilterType::Triangle,
    );
    let s = size as u32;
    resized
        .crop_imm((resized.width() - s) / 2, (resized.height() - s) / 2, s, s)
        .to_rgb8()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn scans_decodes_and_skips_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::synth::write_synthetic(dir.path(), 3, 4, 40, true).unwrap();
        let train = ImageFolder::scan(&dir.path().join("train"), None).unwrap();
        assert_eq!(train.classes, vec!["class00", "class01", "class02"]);
        assert_eq!(train.samples.len(), 13);
        let val = ImageFolder::scan(&dir.path().join("val"), Some(&train.classes)).unwrap();
        assert_eq!(val.samples.len(), 12);

        let dataset = ImageFolderDataset::new(train, FolderTransform::Train, 24, 0);
        let stats = dataset.stats();
        let items: Vec<ImageItem> = (0..dataset.len())
            .map(|i| dataset.get(i).unwrap())
            .collect();
        assert!(
            items
                .iter()
                .all(|it| it.pixels.len() == 3 * 24 * 24 && it.height == 24)
        );
        let report = stats.report();
        assert_eq!(report.skipped, 1);
        assert!(report.skipped_files[0].contains("broken.jpg"), "{report:?}");
        assert_eq!(report.images, 13);
        assert!(report.images_per_sec_per_worker > 0.0);

        let eval = ImageFolderDataset::new(val, FolderTransform::Eval, 32, 0);
        let a = eval.get(5).unwrap();
        let b = eval.get(5).unwrap();
        assert_eq!(a.pixels, b.pixels, "evaluation transform is deterministic");
        assert_eq!(a.label, 1);
    }

    #[test]
    fn empty_training_classes_and_unreadable_validation_images_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::synth::write_synthetic(dir.path(), 2, 3, 16, false).unwrap();
        std::fs::create_dir_all(dir.path().join("train/class99")).unwrap();
        let err = ImageFolder::scan(&dir.path().join("train"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class 'class99' has no"), "{err}");
        std::fs::remove_dir(dir.path().join("train/class99")).unwrap();
        let train = ImageFolder::scan(&dir.path().join("train"), None).unwrap();
        let val = ImageFolder::scan(&dir.path().join("val"), Some(&train.classes)).unwrap();
        assert!(val.check_readable().is_ok());
        std::fs::write(dir.path().join("val/class01/img000.png"), b"not a png").unwrap();
        let err = val.check_readable().unwrap_err().to_string();
        assert!(
            err.contains("1 unreadable image(s)") && err.contains("img000.png"),
            "{err}"
        );
    }

    #[test]
    fn reports_bad_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let err = ImageFolder::scan(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("no class folders"), "{err}");
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/readme.txt"), "x").unwrap();
        let err = ImageFolder::scan(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("no .jpg"), "{err}");
        let err = ImageFolder::scan(dir.path(), Some(&["b".to_string()]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("class 'a' is not in the training split"),
            "{err}"
        );
        let err = ImageFolder::scan(&dir.path().join("missing"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn crops_have_the_requested_size() {
        let image = DynamicImage::ImageRgb8(RgbImage::new(50, 20));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(
                random_resized_crop(&image, 16, &mut rng).dimensions(),
                (16, 16)
            );
        }
        assert_eq!(resize_center_crop(&image, 16).dimensions(), (16, 16));
    }
}
