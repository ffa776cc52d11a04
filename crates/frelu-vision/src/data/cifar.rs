//! CIFAR-10 and CIFAR-100 in their binary versions.
//!
//! CIFAR-10: `data_batch_{1..5}.bin` and `test_batch.bin`, records of 1 label byte + 3072 pixel
//! bytes (32×32, channel-major R, G, B). CIFAR-100: `train.bin` and `test.bin`, records of a
//! coarse and a fine label byte + 3072 pixel bytes; the fine label (100 classes) is used.

use std::path::Path;

use super::ImageSet;
use super::error::{DataError, read_maybe_gz};
use super::idx::check_labels;

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes.
    Ten,
    /// 100 (fine) classes.
    Hundred,
}

impl Cifar {
    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    /// Number of classes.
    pub fn num_classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// The files of a split, relative to the dataset folder.
    pub fn files(self, train: bool) -> Vec<String> {
        match (self, train) {
            (Cifar::Ten, true) => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            (Cifar::Ten, false) => vec!["test_batch.bin".into()],
            (Cifar::Hundred, true) => vec!["train.bin".into()],
            (Cifar::Hundred, false) => vec!["test.bin".into()],
        }
    }
}

/// Reads one CIFAR binary file.
pub fn read_cifar_file(path: &Path, kind: Cifar) -> Result<ImageSet, DataError> {
    let bytes = read_maybe_gz(path)?;
    let record = kind.label_bytes() + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::format(
            path,
            format!(
                "size {} is not a positive multiple of the {record}-byte CIFAR-{} record \
                 (truncated, or the wrong CIFAR)",
                bytes.len(),
                kind.num_classes()
            ),
        ));
    }
    let count = bytes.len() / record;
    let mut pixels = Vec::with_capacity(count * PIXELS);
    let mut labels = Vec::with_capacity(count);
    for chunk in bytes.chunks_exact(record) {
        // CIFAR-100: [coarse, fine]; the fine label is the last label byte.
        labels.push(chunk[kind.label_bytes() - 1] as usize);
        pixels.extend_from_slice(&chunk[kind.label_bytes()..]);
    }
    let labels = check_labels(path, labels.into_iter(), kind.num_classes())?;
    Ok(ImageSet::new(pixels, labels, 3, 32, 32, kind.num_classes()))
}

/// Reads a split (train or test) from a CIFAR folder.
pub fn read_cifar(dir: &Path, kind: Cifar, train: bool) -> Result<ImageSet, DataError> {
    let mut sets = Vec::new();
    for file in kind.files(train) {
        let path = dir.join(&file);
        if !path.exists() {
            return Err(DataError::NotFound(format!(
                "CIFAR-{} file {} not found in {} (expected the binary version: {})",
                kind.num_classes(),
                file,
                dir.display(),
                kind.files(train).join(", ")
            )));
        }
        sets.push(read_cifar_file(&path, kind)?);
    }
    Ok(ImageSet::concat(sets))
}

/// Writes a CIFAR binary file (for tests).
pub fn write_cifar_file(
    path: &Path,
    kind: Cifar,
    images: &[u8],
    labels: &[u8],
) -> std::io::Result<()> {
    let mut out = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        if kind == Cifar::Hundred {
            out.push(label / 5);
        }
        out.push(label);
        out.extend_from_slice(&images[i * PIXELS..(i + 1) * PIXELS]);
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: usize) -> Vec<u8> {
        (0..count * PIXELS).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn reads_cifar10_and_cifar100() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_batch.bin");
        write_cifar_file(&path, Cifar::Ten, &images(3), &[3, 0, 9]).unwrap();
        let set = read_cifar(dir.path(), Cifar::Ten, false).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.labels, vec![3, 0, 9]);
        assert_eq!((set.channels, set.height, set.width), (3, 32, 32));
        assert_eq!(set.image(2), &images(3)[2 * PIXELS..]);

        let path = dir.path().join("test.bin");
        write_cifar_file(&path, Cifar::Hundred, &images(2), &[99, 42]).unwrap();
        let set = read_cifar(dir.path(), Cifar::Hundred, false).unwrap();
        assert_eq!(set.labels, vec![99, 42]);
        assert_eq!(set.num_classes, 100);
    }

    #[test]
    fn reads_all_training_batches() {
        let dir = tempfile::tempdir().unwrap();
        for i in 1..=5 {
            let path = dir.path().join(format!("data_batch_{i}.bin"));
            write_cifar_file(&path, Cifar::Ten, &images(2), &[i as u8, 0]).unwrap();
        }
        let set = read_cifar(dir.path(), Cifar::Ten, true).unwrap();
        assert_eq!(set.len(), 10);
        assert_eq!(set.labels[..4], [1, 0, 2, 0]);
    }

    #[test]
    fn rejects_truncated_wrong_kind_and_bad_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_batch.bin");
        write_cifar_file(&path, Cifar::Ten, &images(2), &[1, 2]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = read_cifar_file(&path, Cifar::Ten).unwrap_err().to_string();
        assert!(err.contains("not a positive multiple"), "{err}");
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        std::fs::write(&path, &bytes).unwrap();
        let err = read_cifar_file(&path, Cifar::Hundred)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CIFAR-100 record"), "{err}");
        write_cifar_file(&path, Cifar::Ten, &images(2), &[1, 12]).unwrap();
        let err = read_cifar_file(&path, Cifar::Ten).unwrap_err().to_string();
        assert!(err.contains("label 12 of item 1 is out of range"), "{err}");
        let err = read_cifar(&dir.path().join("nope"), Cifar::Ten, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_batch_1.bin not found"), "{err}");
    }
}
