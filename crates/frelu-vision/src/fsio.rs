//! Files that are never half-written: every result file goes through a temporary file and a
//! rename, so a crash or a kill leaves the old version or the new one, never a mix.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::error::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A temporary file [`write_text`] writes `path` through: `.NAME.PID-N.tmp` beside it, unique
/// to this process and call, so that two workers writing the same file at once (the summary of
/// a grid they both finish) each rename a whole file of their own into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Whether `file` is a temporary file [`write_text`] left behind (killed mid-write) for `name`.
pub fn is_tmp_of(file: &str, name: &str) -> bool {
    file.strip_prefix('.')
        .and_then(|f| f.strip_prefix(name))
        .and_then(|f| f.strip_prefix('.'))
        .is_some_and(|f| f.ends_with(".tmp"))
}

/// Writes `text` to `path` through a temporary file beside it.
pub fn write_text(path: &Path, text: &str) -> crate::Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, text).map_err(|e| Error::file("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file("write", path, e))
}

/// Writes `value` as pretty JSON through a temporary file.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    write_text(path, &text)
}

/// The length and CRC-32 of the file `path`, as `LENGTH CRC` (decimal, hex): what a checksum
/// file ([`crate::run_files::checksum_file`]) holds.
pub fn digest(path: &Path) -> crate::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::file("read", path, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut length = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::file("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        length += n as u64;
    }
    Ok(format!("{length} {:08x}", hasher.finalize()))
}

/// Checks the file `path` against its checksum file `sum` (see [`digest`]): `Err` says what is
/// wrong (unreadable, another length, another CRC) in words.
pub fn verify(path: &Path, sum: &Path) -> Result<(), String> {
    let expected = read_text(sum).map_err(|e| crate::error::report(&e))?;
    let actual = digest(path).map_err(|e| crate::error::report(&e))?;
    let (expected, actual) = (expected.trim(), actual.trim());
    if expected == actual {
        return Ok(());
    }
    let length = |d: &str| d.split_whitespace().next().unwrap_or("?").to_string();
    Err(if length(expected) != length(actual) {
        format!(
            "{} has {} bytes where {} were written",
            path.display(),
            length(actual),
            length(expected)
        )
    } else {
        format!(
            "{} is not what was written (its CRC-32 differs)",
            path.display()
        )
    })
}

/// Reads a text file; the error names the file.
pub fn read_text(path: &Path) -> crate::Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::file("read", path, e))
}

/// Reads a JSON file; the error names the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> crate::Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

/// Creates `dir` and its parents where missing; the error names the folder.
pub fn create_dir(dir: &Path) -> crate::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::file("create", dir, e))
}

/// Removes the file or folder `path` (a folder with everything in it) if it is there; any
/// failure but its absence is an error naming it.
pub fn remove_if_exists(path: &Path) -> crate::Result<()> {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::file("remove", path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_reads_back_with_the_file_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_json(&path, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), vec![1, 2, 3]);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let tmp = tmp_path(&path);
        let tmp = tmp.file_name().unwrap().to_str().unwrap();
        assert!(is_tmp_of(tmp, "a.json") && !is_tmp_of(tmp, "a.js"), "{tmp}");
        assert_ne!(tmp_path(&path), tmp_path(&path));
        std::fs::write(&path, "{").unwrap();
        let err = crate::error::report(&read_json::<Vec<i32>>(&path).unwrap_err());
        assert!(err.contains("a.json"), "{err}");
        let missing = format!(
            "{:#}",
            read_json::<Vec<i32>>(&dir.path().join("b")).unwrap_err()
        );
        assert!(missing.contains("cannot read"), "{missing}");
    }

    #[test]
    fn a_changed_byte_or_length_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (file, sum) = (dir.path().join("m.bpk"), dir.path().join("m.bpk.sum"));
        std::fs::write(&file, vec![7u8; 100_000]).unwrap();
        write_text(&sum, &digest(&file).unwrap()).unwrap();
        assert_eq!(verify(&file, &sum), Ok(()));
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[50_000] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert!(verify(&file, &sum).unwrap_err().contains("CRC-32 differs"));
        std::fs::write(&file, &bytes[..10]).unwrap();
        let err = verify(&file, &sum).unwrap_err();
        assert!(
            err.contains("has 10 bytes where 100000 were written"),
            "{err}"
        );
        std::fs::remove_file(&sum).unwrap();
        assert!(verify(&file, &sum).unwrap_err().contains("m.bpk.sum"));
    }

    #[test]
    fn removal_ignores_only_absence_and_keeps_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("d");
        create_dir(&inner.join("e")).unwrap();
        std::fs::write(inner.join("e/f"), "x").unwrap();
        remove_if_exists(&inner).unwrap();
        assert!(!inner.exists());
        remove_if_exists(&inner).unwrap();
        // A path through a file cannot be created: the OS error stays the cause.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = create_dir(&file.join("sub")).unwrap_err();
        assert!(err.to_string().starts_with("cannot create"), "{err}");
        let source = std::error::Error::source(&err).expect("a cause");
        assert!(source.is::<std::io::Error>(), "{source}");
    }
}
