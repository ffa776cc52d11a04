//! Files that are never half-written: every result file goes through a temporary file and a
//! rename, so a crash or a kill leaves the old version or the new one, never a mix.

use std::path::Path;

use crate::error::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Writes `text` to `path` through a temporary file beside it.
pub fn write_text(path: &Path, text: &str) -> crate::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `value` as pretty JSON through a temporary file.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    write_text(path, &text)
}

/// Reads a JSON file; the error names the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> crate::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
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
        std::fs::write(&path, "{").unwrap();
        let err = format!("{:#}", read_json::<Vec<i32>>(&path).unwrap_err());
        assert!(err.contains("a.json"), "{err}");
        let missing = format!(
            "{:#}",
            read_json::<Vec<i32>>(&dir.path().join("b")).unwrap_err()
        );
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
