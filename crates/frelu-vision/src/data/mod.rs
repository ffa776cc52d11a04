//! Data: files → loaders (which validate) → [`ImageSet`] → [`ImageDataset`] → [`ImageBatcher`].

pub mod cifar;
pub mod coco;
pub mod datasets;
pub mod detection;
pub mod epochs;
mod error;
pub mod fashion_mnist;
pub mod idx;
pub mod image_folder;
pub mod preprocess;
pub mod synth;
pub mod transforms;
pub mod video;

use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use error::{DataError, ParseError};
pub use transforms::{Augment, Normalize};

/// Images of one size with class labels, held in memory as bytes (channel-major).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// `len × channels × height × width` bytes.
    pub pixels: Vec<u8>,
    /// One label per image, `< num_classes`.
    pub labels: Vec<u16>,
    /// Channels per image.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Number of classes.
    pub num_classes: usize,
}

impl ImageSet {
    /// A set from its parts; `pixels.len()` must be `labels.len() × c × h × w`.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u16>,
        channels: usize,
        height: usize,
        width: usize,
        num_classes: usize,
    ) -> Self {
        assert_eq!(
            pixels.len(),
            labels.len() * channels * height * width,
            "pixel buffer does not match the image count and size"
        );
        Self {
            pixels,
            labels,
            channels,
            height,
            width,
            num_classes,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The bytes of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.image_size();
        &self.pixels[index * size..(index + 1) * size]
    }

    /// The first `n` images (all if there are fewer).
    pub fn take(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.image_size());
        self.labels.truncate(n);
        self
    }

    /// Concatenates sets of the same image size.
    pub fn concat(sets: Vec<ImageSet>) -> Self {
        let mut iter = sets.into_iter();
        let mut first = iter.next().expect("at least one set");
        for set in iter {
            assert_eq!(
                (set.channels, set.height, set.width),
                (first.channels, first.height, first.width)
            );
            first.pixels.extend_from_slice(&set.pixels);
            first.labels.extend_from_slice(&set.labels);
        }
        first
    }

    /// Per-class counts.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// One image and its label, as the data loader passes it to the batcher.
#[derive(Clone, Debug)]
pub struct ImageItem {
    /// `channels × height × width` bytes.
    pub pixels: Vec<u8>,
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Class index.
    pub label: usize,
}

/// A Burn [`Dataset`] over an [`ImageSet`].
#[derive(Clone, Debug)]
pub struct ImageDataset {
    set: Arc<ImageSet>,
}

impl ImageDataset {
    /// Wraps a set.
    pub fn new(set: ImageSet) -> Self {
        Self { set: Arc::new(set) }
    }

    /// Only the first `n` images.
    pub fn limit(self, n: usize) -> Self {
        let set = Arc::try_unwrap(self.set).unwrap_or_else(|set| (*set).clone());
        Self::new(set.take(n))
    }

    /// The underlying set.
    pub fn set(&self) -> &ImageSet {
        &self.set
    }
}

impl Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        Ok(ImageItem {
            pixels: self.set.image(index).to_vec(),
            channels: self.set.channels,
            height: self.set.height,
            width: self.set.width,
            label: self.set.labels[index] as usize,
        })
    }

    fn len(&self) -> usize {
        self.set.len()
    }
}

/// An in-memory set or an image folder, behind one type for the data loader.
#[allow(clippy::large_enum_variant)]
pub enum AnyImageDataset {
    /// Decoded in memory (IDX, CIFAR).
    Memory(ImageDataset),
    /// Decoded on demand from files.
    Folder(image_folder::ImageFolderDataset),
}

impl AnyImageDataset {
    /// Only the first `n` images.
    pub fn limit(self, n: usize) -> Self {
        match self {
            Self::Memory(d) => Self::Memory(d.limit(n)),
            Self::Folder(d) => Self::Folder(d.limit(n)),
        }
    }

    /// The same images as evaluation sees them (an image folder's resize + centre crop instead
    /// of its random crops; in-memory sets are augmented by the batcher, so they are shared).
    pub fn eval_view(&self) -> Self {
        match self {
            Self::Memory(d) => Self::Memory(d.clone()),
            Self::Folder(d) => Self::Folder(d.eval_view()),
        }
    }

    /// Draws per-item augmentations (image folders) from the epoch of `clock`.
    pub fn with_clock(self, clock: epochs::EpochClock) -> Self {
        match self {
            Self::Memory(d) => Self::Memory(d),
            Self::Folder(d) => Self::Folder(d.with_clock(clock)),
        }
    }
}

impl Dataset<ImageItem> for AnyImageDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        match self {
            Self::Memory(d) => d.get(index),
            Self::Folder(d) => d.get(index),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Memory(d) => d.len(),
            Self::Folder(d) => d.len(),
        }
    }
}

/// A batch of images and their labels.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// `[batch, channels, height, width]`, normalised.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Turns [`ImageItem`]s into an [`ImageBatch`]: augmentation (training only), then
/// normalisation. The random draws come from a seeded generator.
pub struct ImageBatcher {
    normalize: Normalize,
    augment: Augment,
    seed: u64,
    clock: Option<epochs::EpochClock>,
    /// The generator and the epoch it was seeded for.
    rng: Mutex<(u64, StdRng)>,
}

impl ImageBatcher {
    /// A batcher that augments with `augment` (use [`Augment::none`] for evaluation).
    pub fn new(normalize: Normalize, augment: Augment, seed: u64) -> Self {
        Self {
            normalize,
            augment,
            seed,
            clock: None,
            rng: Mutex::new((0, StdRng::seed_from_u64(epochs::epoch_seed(seed, 0)))),
        }
    }

    /// Reseeds the augmentation at the start of every epoch of `clock` (from `(seed, epoch)`),
    /// so that a resumed run augments as the uninterrupted one did.
    pub fn with_clock(mut self, clock: epochs::EpochClock) -> Self {
        self.clock = Some(clock);
        self
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let n = items.len();
        let (c, h, w) = (items[0].channels, items[0].height, items[0].width);
        let mut images = Vec::with_capacity(n * c * h * w);
        let mut targets = Vec::with_capacity(n);
        let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(clock) = &self.clock
            && clock.get() != state.0
        {
            let epoch = clock.get();
            *state = (
                epoch,
                StdRng::seed_from_u64(epochs::epoch_seed(self.seed, epoch)),
            );
        }
        let rng = &mut state.1;
        let mut scratch = Vec::new();
        for item in &items {
            assert_eq!(
                (item.channels, item.height, item.width),
                (c, h, w),
                "all images of a batch must have the same size"
            );
            let pixels = if self.augment.is_none() {
                &item.pixels
            } else {
                self.augment.apply(&item.pixels, c, h, w, rng, &mut scratch);
                &scratch
            };
            self.normalize.extend(pixels, c, &mut images);
            targets.push(item.label as i64);
        }
        ImageBatch {
            images: Tensor::from_data(TensorData::new(images, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_and_batcher_produce_normalised_tensors() {
        let set = ImageSet::new(vec![0, 255, 51, 102, 0, 0, 0, 0], vec![3, 1], 1, 2, 2, 4);
        let dataset = ImageDataset::new(set);
        assert_eq!(dataset.len(), 2);
        let items = vec![dataset.get(0).unwrap(), dataset.get(1).unwrap()];
        let batcher = ImageBatcher::new(Normalize::new(vec![0.5], vec![0.5]), Augment::none(), 0);
        let batch = batcher.batch(items, &Device::flex());
        assert_eq!(batch.images.dims(), [2, 1, 2, 2]);
        let values = batch.images.try_into_vec_as::<f32>().unwrap();
        let expected = [-1.0, 1.0, -0.6, -0.2, -1.0, -1.0, -1.0, -1.0];
        for (v, e) in values.iter().zip(expected) {
            assert!((v - e).abs() < 1e-6, "{values:?}");
        }
        assert_eq!(batch.targets.try_into_vec_as::<i64>().unwrap(), vec![3, 1]);
    }

    #[test]
    fn take_and_concat() {
        let a = ImageSet::new(vec![1, 2, 3], vec![0, 1, 2], 1, 1, 1, 3);
        let b = ImageSet::new(vec![4], vec![1], 1, 1, 1, 3);
        let both = ImageSet::concat(vec![a.clone(), b]);
        assert_eq!(both.pixels, vec![1, 2, 3, 4]);
        assert_eq!(both.class_counts(), vec![1, 2, 1]);
        assert_eq!(a.take(2).labels, vec![0, 1]);
    }
}
