//! Generated benchmarks, apart from the loaders that read them: they are written in the same
//! formats as real data (COCO json + PNG, frame folders + list files, image folders), so the
//! loaders never know the difference.

pub mod detection;
pub mod imagefolder;
pub mod motion;

use std::path::Path;

use super::DataError;

/// Writes the generator's settings beside what it generated (`benchmark.json`), so a data
/// folder says how it was made.
fn write_settings<T: serde::Serialize>(out: &Path, settings: &T) -> Result<(), DataError> {
    let path = out.join("benchmark.json");
    let text = serde_json::to_string_pretty(settings)
        .map_err(|e| DataError::format(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| DataError::io_during("write", &path, e))
}

pub use detection::{BenchmarkConfig, make_benchmark};
pub use imagefolder::write_synthetic;
pub use motion::{MOTIONS, MotionConfig, make_motion_benchmark};
