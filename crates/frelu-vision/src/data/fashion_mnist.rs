//! Fashion-MNIST: where it is found, and loading it.
//!
//! Looked for, in order: the folder given (`--data DIR`), `$FRELU_DATA`, the Debian package
//! `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`), then the subset bundled in this
//! repository (`data/fashion-mnist-subset`: the first 10,000 training and 2,000 test images,
//! compiled into the binary), so that the demo runs on a fresh machine with nothing installed.
//! Nothing is ever downloaded.

use std::path::{Path, PathBuf};

use super::ImageSet;
use super::error::DataError;
use super::idx::{idx_pair, parse_idx_bytes, read_idx_pair};

/// Class names, by label.
pub const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Mean of the training pixels (scaled to [0, 1]).
pub const MEAN: f32 = 0.2860;
/// Standard deviation of the training pixels (scaled to [0, 1]).
pub const STD: f32 = 0.3530;

/// Where the Debian package puts the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

const BUNDLED: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../../data/fashion-mnist-subset/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../../data/fashion-mnist-subset/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../../data/fashion-mnist-subset/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../../data/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// Where the data came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder holding the four IDX files, and how it was found.
    Dir(PathBuf, &'static str),
    /// The subset compiled into the binary.
    Bundled,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Source::Dir(dir, how) => write!(f, "{} ({how})", dir.display()),
            Source::Bundled => f.write_str(
                "bundled subset (10,000 train / 2,000 test; install dataset-fashion-mnist or pass \
                 --data for the full set)",
            ),
        }
    }
}

fn split_files(train: bool) -> (&'static str, &'static str) {
    if train {
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    } else {
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }
}

/// The path of `name` in `dir`, raw or `.gz`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether `dir` holds the four files.
fn complete(dir: &Path) -> bool {
    [true, false].iter().all(|&train| {
        let (images, labels) = split_files(train);
        find(dir, images).is_some() && find(dir, labels).is_some()
    })
}

/// Finds Fashion-MNIST: `explicit` if given (an error if the files are not there), else
/// `$FRELU_DATA` (or its `fashion-mnist` subfolder), else the Debian folder, else the bundled
/// subset.
pub fn locate(explicit: Option<&Path>) -> Result<Source, DataError> {
    if let Some(dir) = explicit {
        for candidate in [dir.to_path_buf(), dir.join("fashion-mnist")] {
            if complete(&candidate) {
                return Ok(Source::Dir(candidate, "--data"));
            }
        }
        return Err(DataError::NotFound(format!(
            "Fashion-MNIST not found in {}: expected train-images-idx3-ubyte, \
             train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte \
             (each raw or .gz)",
            dir.display()
        )));
    }
    if let Some(env) = std::env::var_os("FRELU_DATA") {
        let env = PathBuf::from(env);
        if !env.is_dir() {
            return Err(DataError::NotFound(format!(
                "FRELU_DATA is set to {}, which is not a folder; fix or unset it",
                env.display()
            )));
        }
        for candidate in [env.join("fashion-mnist"), env.clone()] {
            if complete(&candidate) {
                return Ok(Source::Dir(candidate, "$FRELU_DATA"));
            }
        }
    }
    let debian = Path::new(DEBIAN_DIR);
    if complete(debian) {
        return Ok(Source::Dir(
            debian.to_path_buf(),
            "Debian dataset-fashion-mnist",
        ));
    }
    Ok(Source::Bundled)
}

/// Loads the training (`train = true`) or test split.
pub fn load(source: &Source, train: bool) -> Result<ImageSet, DataError> {
    let (images, labels) = split_files(train);
    match source {
        Source::Dir(dir, _) => {
            let missing = |name: &str| {
                DataError::NotFound(format!("{name}(.gz) not found in {}", dir.display()))
            };
            let images = find(dir, images).ok_or_else(|| missing(images))?;
            let labels = find(dir, labels).ok_or_else(|| missing(labels))?;
            read_idx_pair(&images, &labels, CLASSES.len())
        }
        Source::Bundled => {
            let bundled = |name: &str| {
                let file = format!("{name}.gz");
                let bytes = BUNDLED
                    .iter()
                    .find(|(n, _)| *n == file)
                    .map(|(_, b)| b.to_vec())
                    .expect("bundled file");
                let path = PathBuf::from(format!("<bundled>/{file}"));
                parse_idx_bytes(bytes, &path).map(|parsed| (parsed, path))
            };
            let (image_data, image_path) = bundled(images)?;
            let (label_data, label_path) = bundled(labels)?;
            idx_pair(
                image_data,
                &image_path,
                label_data,
                &label_path,
                CLASSES.len(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::write_idx;

    #[test]
    fn bundled_subset_loads_with_all_classes() {
        let train = load(&Source::Bundled, true).unwrap();
        let test = load(&Source::Bundled, false).unwrap();
        assert_eq!((train.len(), test.len()), (10_000, 2_000));
        assert_eq!((train.height, train.width, train.channels), (28, 28, 1));
        assert!(
            train.class_counts().iter().all(|&n| n > 800),
            "{:?}",
            train.class_counts()
        );
        // The pixel statistics match the published normalisation constants.
        let mean =
            train.pixels.iter().map(|&p| p as f64).sum::<f64>() / train.pixels.len() as f64 / 255.0;
        assert!((mean - MEAN as f64).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn explicit_folder_is_used_or_reported() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("Fashion-MNIST not found in"), "{err}");
        for (train, n) in [(true, 5), (false, 3)] {
            let (images, labels) = split_files(train);
            write_idx(
                &dir.path().join(images),
                &[n, 28, 28],
                &vec![7; n * 784],
                false,
            )
            .unwrap();
            write_idx(
                &dir.path().join(format!("{labels}.gz")),
                &[n],
                &vec![2; n],
                true,
            )
            .unwrap();
        }
        let source = locate(Some(dir.path())).unwrap();
        assert_eq!(source, Source::Dir(dir.path().to_path_buf(), "--data"));
        assert_eq!(load(&source, true).unwrap().len(), 5);
        assert_eq!(load(&source, false).unwrap().labels, vec![2, 2, 2]);
    }
}
