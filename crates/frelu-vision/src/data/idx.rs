//! The IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).
//!
//! An IDX file is a big-endian header — two zero bytes, a type code (0x08 = unsigned byte), the
//! number of dimensions — then one u32 size per dimension, then the data.

use std::path::Path;

use super::ImageSet;
use super::error::{DataError, decode_maybe_gz, read_maybe_gz};

/// Reads an IDX file of unsigned bytes and returns its dimensions and data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    parse_idx(read_maybe_gz(path)?, path)
}

/// Parses the bytes of an IDX file (raw or gzip); `path` names it in errors.
pub fn parse_idx_bytes(raw: Vec<u8>, path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    parse_idx(decode_maybe_gz(raw, path)?, path)
}

fn parse_idx(bytes: Vec<u8>, path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    if bytes.len() < 4 {
        return Err(DataError::format(path, "file too short for an IDX header"));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            format!(
                "bad IDX magic number {:02x}{:02x}{:02x}{:02x} (expected 0000 08 0N)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 || rank > 4 {
        return Err(DataError::format(
            path,
            format!("IDX rank {rank} is not 1 to 4"),
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            "file truncated inside the IDX header",
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let at = 4 + 4 * i;
            u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(expected) = expected else {
        return Err(DataError::format(
            path,
            format!("IDX dimensions {dims:?} overflow"),
        ));
    };
    let actual = bytes.len() - header;
    if actual != expected {
        return Err(DataError::format(
            path,
            format!(
                "IDX header promises {dims:?} = {expected} bytes of data but the file holds \
                 {actual} (truncated or corrupt)"
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Reads an images file (`[count, rows, cols]`) and its labels file into an [`ImageSet`],
/// checking that the counts agree and every label is below `num_classes`.
pub fn read_idx_pair(
    images: &Path,
    labels: &Path,
    num_classes: usize,
) -> Result<ImageSet, DataError> {
    idx_pair(
        read_idx(images)?,
        images,
        read_idx(labels)?,
        labels,
        num_classes,
    )
}

/// [`read_idx_pair`] on already parsed files.
pub(crate) fn idx_pair(
    (dims, pixels): (Vec<usize>, Vec<u8>),
    images: &Path,
    (label_dims, label_bytes): (Vec<usize>, Vec<u8>),
    labels: &Path,
    num_classes: usize,
) -> Result<ImageSet, DataError> {
    let [count, rows, cols] = dims[..] else {
        return Err(DataError::format(
            images,
            format!("expected 3 dimensions [count, rows, cols], found {dims:?}"),
        ));
    };
    if count == 0 || rows == 0 || cols == 0 {
        return Err(DataError::format(
            images,
            format!("holds {count} images of {rows}×{cols} pixels: nothing to train on"),
        ));
    }
    if label_dims.len() != 1 {
        return Err(DataError::format(
            labels,
            format!("expected 1 dimension [count], found {label_dims:?}"),
        ));
    }
    if label_dims[0] != count {
        return Err(DataError::format(
            labels,
            format!(
                "{} labels for {count} images in {}",
                label_dims[0],
                images.display()
            ),
        ));
    }
    let labels_vec = check_labels(labels, label_bytes.iter().map(|&l| l as usize), num_classes)?;
    Ok(ImageSet::new(
        pixels,
        labels_vec,
        1,
        rows,
        cols,
        num_classes,
    ))
}

/// Checks every label is `< num_classes`, naming the first that is not.
pub(crate) fn check_labels(
    path: &Path,
    labels: impl Iterator<Item = usize>,
    num_classes: usize,
) -> Result<Vec<u16>, DataError> {
    labels
        .enumerate()
        .map(|(i, label)| {
            if label < num_classes {
                Ok(label as u16)
            } else {
                Err(DataError::format(
                    path,
                    format!("label {label} of item {i} is out of range (0..{num_classes})"),
                ))
            }
        })
        .collect()
}

/// Writes `[count, rows, cols]` images or `[count]` labels as IDX (gzip-compressed when
/// `gzip`). Used by the tests and by the script that makes the bundled subset.
pub fn write_idx(path: &Path, dims: &[usize], data: &[u8], gzip: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut bytes = vec![0u8, 0, 0x08, dims.len() as u8];
    for &d in dims {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    let file = std::fs::File::create(path)?;
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        encoder.write_all(&bytes)?;
        encoder.finish()?;
    } else {
        let mut file = file;
        file.write_all(&bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(
        dir: &Path,
        count: usize,
        labels: &[u8],
        gzip: bool,
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let images = dir.join("images.idx");
        let label_path = dir.join("labels.idx");
        let pixels: Vec<u8> = (0..count * 4 * 3).map(|i| i as u8).collect();
        write_idx(&images, &[count, 4, 3], &pixels, gzip).unwrap();
        write_idx(&label_path, &[labels.len()], labels, gzip).unwrap();
        (images, label_path)
    }

    #[test]
    fn reads_raw_and_gzipped_files() {
        for gzip in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (images, labels) = write_pair(dir.path(), 3, &[0, 9, 4], gzip);
            let set = read_idx_pair(&images, &labels, 10).unwrap();
            assert_eq!(set.len(), 3);
            assert_eq!((set.channels, set.height, set.width), (1, 4, 3));
            assert_eq!(set.labels, vec![0, 9, 4]);
            assert_eq!(set.image(1), &(12u8..24).collect::<Vec<_>>()[..]);
        }
    }

    #[test]
    fn rejects_bad_magic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.idx");
        std::fs::write(&path, [0x12, 0x34, 0x08, 0x03, 0, 0, 0, 0]).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("bad IDX magic"), "{err}");
        std::fs::write(&path, [0, 0, 0x0d, 0x01, 0, 0, 0, 0]).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("element type 0x0d"), "{err}");
    }

    #[test]
    fn rejects_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = write_pair(dir.path(), 3, &[1, 2, 3], false);
        let bytes = std::fs::read(&images).unwrap();
        std::fs::write(&images, &bytes[..bytes.len() - 5]).unwrap();
        let err = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
        assert!(err.contains("truncated or corrupt"), "{err}");
        std::fs::write(&images, &bytes[..6]).unwrap();
        let err = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
        assert!(err.contains("inside the IDX header"), "{err}");
        // A truncated gzip stream.
        let (images, labels) = write_pair(dir.path(), 3, &[1, 2, 3], true);
        let bytes = std::fs::read(&images).unwrap();
        std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
    }

    #[test]
    fn rejects_labels_out_of_range_and_count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = write_pair(dir.path(), 3, &[1, 10, 3], false);
        let err = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
        assert!(err.contains("label 10 of item 1 is out of range"), "{err}");
        let (images, labels) = write_pair(dir.path(), 3, &[1, 2], false);
        let err = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
        assert!(err.contains("2 labels for 3 images"), "{err}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = read_idx(Path::new("/nonexistent/x.idx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/x.idx"), "{err}");
    }
}
