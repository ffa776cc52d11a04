//! Classification datasets by name: where each is found, how both splits are read, and the
//! normalisation and usual augmentation that go with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cifar::{Cifar, read_cifar};
use super::image_folder::{
    FolderTransform, IMAGENET_MEAN, IMAGENET_STD, ImageFolder, ImageFolderDataset, LoaderStats,
};
use super::preprocess::{CIFAR10_CLASSES, Fit, Preprocess};
use super::{
    AnyImageDataset, Augment, DataError, ImageDataset, ImageSet, Normalize, fashion_mnist,
};

/// A classification dataset the tool knows how to find and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatasetKind {
    /// Fashion-MNIST (28×28 grey, 10 classes).
    FashionMnist,
    /// CIFAR-10 binary version.
    Cifar10,
    /// CIFAR-100 binary version.
    Cifar100,
    /// An ImageNet-style folder: `DIR/train/<class>/*.jpg|png`, `DIR/val/<class>/...`.
    ImageFolder,
}

impl DatasetKind {
    /// Every dataset, in the order help texts list them.
    pub const ALL: [DatasetKind; 4] = [
        Self::FashionMnist,
        Self::Cifar10,
        Self::Cifar100,
        Self::ImageFolder,
    ];

    /// The names, comma-separated (for help texts and errors).
    pub fn names() -> String {
        Self::ALL.map(|d| d.to_string()).join(", ")
    }
}

impl core::str::FromStr for DatasetKind {
    type Err = super::ParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fashion-mnist" | "fmnist" | "fashionmnist" => Ok(Self::FashionMnist),
            "cifar10" | "cifar-10" => Ok(Self::Cifar10),
            "cifar100" | "cifar-100" => Ok(Self::Cifar100),
            "imagefolder" | "image-folder" | "folder" | "imagenet" => Ok(Self::ImageFolder),
            other => Err(super::ParseError(format!(
                "unknown dataset '{other}'; known: {}",
                Self::names()
            ))),
        }
    }
}

impl core::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::ImageFolder => "imagefolder",
        })
    }
}

/// A dataset ready for training.
pub struct LoadedData {
    /// Training split.
    pub train: AnyImageDataset,
    /// Test split.
    pub test: AnyImageDataset,
    /// Channels of the images.
    pub channels: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Height × width of the items.
    pub image_size: (usize, usize),
    /// Loading counters of a folder dataset's training split.
    pub loader_stats: Option<Arc<LoaderStats>>,
    /// Normalisation constants.
    pub normalize: Normalize,
    /// The usual training augmentation for this dataset.
    pub default_augment: Augment,
    /// Where it came from, for the record.
    pub source: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// How an image of another size is brought to the input size.
    pub fit: Fit,
}

impl LoadedData {
    /// What `frelu predict` needs to feed an image file to a network trained on this data.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess {
            channels: self.channels,
            height: self.image_size.0,
            width: self.image_size.1,
            normalize: self.normalize.clone(),
            fit: self.fit,
            classes: self.classes.clone(),
        }
    }

    fn in_memory(
        train: ImageSet,
        test: ImageSet,
        normalize: Normalize,
        default_augment: Augment,
        source: String,
        classes: Vec<String>,
    ) -> Result<Self, DataError> {
        let shape = |s: &ImageSet| (s.channels, s.height, s.width);
        if shape(&train) != shape(&test) {
            let (c, h, w) = shape(&train);
            let (tc, th, tw) = shape(&test);
            return Err(DataError::InvalidOption(format!(
                "{source}: the training images are {c}×{h}×{w} but the test images are \
                 {tc}×{th}×{tw}; both splits must have the same size"
            )));
        }
        if train.num_classes != test.num_classes {
            return Err(DataError::InvalidOption(format!(
                "{source}: the training split has {} classes, the test split {}",
                train.num_classes, test.num_classes
            )));
        }
        Ok(Self {
            channels: train.channels,
            num_classes: train.num_classes,
            image_size: (train.height, train.width),
            train: AnyImageDataset::Memory(ImageDataset::new(train)),
            test: AnyImageDataset::Memory(ImageDataset::new(test)),
            loader_stats: None,
            normalize,
            default_augment,
            source,
            classes,
            fit: Fit::Resize,
        })
    }
}

/// `0`, `1`, ... as names, for a dataset that ships none.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

impl DatasetKind {
    /// Finds and reads both splits. `dir` is `--data`; CIFAR needs it (or
    /// `$FRELU_DATA/cifar-10-batches-bin`, `$FRELU_DATA/cifar-100-binary`), and so does an
    /// image folder. `resolution` and `seed` apply to image folders.
    pub fn load(
        self,
        dir: Option<&Path>,
        resolution: usize,
        seed: u64,
    ) -> Result<LoadedData, DataError> {
        match self {
            Self::FashionMnist => {
                let source = fashion_mnist::locate(dir)?;
                Ok(LoadedData::in_memory(
                    fashion_mnist::load(&source, true)?,
                    fashion_mnist::load(&source, false)?,
                    Normalize::new(vec![fashion_mnist::MEAN], vec![fashion_mnist::STD]),
                    Augment::none(),
                    source.to_string(),
                    fashion_mnist::CLASSES.map(String::from).to_vec(),
                )?)
            }
            Self::ImageFolder => load_folder(dir, resolution, seed),
            Self::Cifar10 | Self::Cifar100 => self.load_cifar(dir),
        }
    }

    fn load_cifar(self, dir: Option<&Path>) -> Result<LoadedData, DataError> {
        let (kind, folder, mean, std) = if self == Self::Cifar10 {
            (
                Cifar::Ten,
                "cifar-10-batches-bin",
                vec![0.4914, 0.4822, 0.4465],
                vec![0.2470, 0.2435, 0.2616],
            )
        } else {
            (
                Cifar::Hundred,
                "cifar-100-binary",
                vec![0.5071, 0.4865, 0.4409],
                vec![0.2673, 0.2564, 0.2762],
            )
        };
        let dir = match dir {
            Some(dir) if dir.join(folder).is_dir() => dir.join(folder),
            Some(dir) => dir.to_path_buf(),
            None => match std::env::var_os("FRELU_DATA") {
                Some(env) => PathBuf::from(env).join(folder),
                None => {
                    return Err(DataError::NotFound(format!(
                        "{self} needs its files: pass --data DIR (the folder holding the binary \
                         version, or its parent with {folder}/) or set FRELU_DATA. Nothing is \
                         downloaded."
                    )));
                }
            },
        };
        LoadedData::in_memory(
            read_cifar(&dir, kind, true)?,
            read_cifar(&dir, kind, false)?,
            Normalize::new(mean, std),
            Augment {
                crop_pad: 4,
                flip: true,
            },
            dir.display().to_string(),
            self.class_names(&dir),
        )
    }

    /// CIFAR-10's names; CIFAR-100's from the dataset's `fine_label_names.txt` when it is
    /// there (the binary version ships it), else numbers.
    fn class_names(self, dir: &Path) -> Vec<String> {
        if self == Self::Cifar10 {
            return CIFAR10_CLASSES.map(String::from).to_vec();
        }
        let names: Vec<String> = std::fs::read_to_string(dir.join("fine_label_names.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.len() == 100 {
            names
        } else {
            numbered(100)
        }
    }
}

fn load_folder(dir: Option<&Path>, resolution: usize, seed: u64) -> Result<LoadedData, DataError> {
    let Some(dir) = dir else {
        return Err(DataError::NotFound(
            "--dataset imagefolder needs --data DIR (DIR/train/<class>/..., DIR/val/<class>/...)"
                .into(),
        ));
    };
    let train = ImageFolder::scan(&dir.join("train"), None)?;
    let val = ImageFolder::scan(&dir.join("val"), Some(&train.classes))?;
    // Unreadable training files are skipped and reported; validation files are checked now,
    // so that a broken one is not found only after an epoch, nor silently replaced.
    val.check_readable()?;
    let num_classes = train.classes.len();
    let classes = train.classes.clone();
    let train = ImageFolderDataset::new(train, FolderTransform::Train, resolution, seed);
    let stats = train.stats();
    Ok(LoadedData {
        train: AnyImageDataset::Folder(train),
        test: AnyImageDataset::Folder(ImageFolderDataset::new(
            val,
            FolderTransform::Eval,
            resolution,
            seed,
        )),
        channels: 3,
        num_classes,
        image_size: (resolution, resolution),
        loader_stats: Some(stats),
        normalize: Normalize::new(IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
        default_augment: Augment::none(),
        source: dir.display().to_string(),
        classes,
        fit: Fit::ResizeCenterCrop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_of_different_image_sizes_are_refused() {
        use crate::data::idx::write_idx;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, dims: &[usize], data: &[u8]| {
            write_idx(&dir.path().join(name), dims, data, false).unwrap()
        };
        write("train-images-idx3-ubyte", &[2, 32, 32], &[1; 2 * 32 * 32]);
        write("train-labels-idx1-ubyte", &[2], &[0, 1]);
        write("t10k-images-idx3-ubyte", &[2, 28, 28], &[1; 2 * 28 * 28]);
        write("t10k-labels-idx1-ubyte", &[2], &[1, 0]);
        let err = DatasetKind::FashionMnist
            .load(Some(dir.path()), 224, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("1×32×32") && err.contains("1×28×28"), "{err}");
    }

    #[test]
    fn dataset_names() {
        assert_eq!(
            "fashion-mnist".parse::<DatasetKind>().unwrap(),
            DatasetKind::FashionMnist
        );
        assert_eq!(
            "CIFAR-10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        let err = "imagenet21k"
            .parse::<DatasetKind>()
            .unwrap_err()
            .to_string();
        // The list in the message is the enum's: every dataset is named, and parses back.
        for kind in DatasetKind::ALL {
            assert!(err.contains(&kind.to_string()), "{err}");
            assert_eq!(kind.to_string().parse::<DatasetKind>().unwrap(), kind);
        }
    }
}
