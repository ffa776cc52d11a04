//! Generated benchmarks, apart from the loaders that read them: they are written in the same
//! formats as real data (COCO json + PNG, frame folders + list files, image folders), so the
//! loaders never know the difference.

pub mod detection;
pub mod imagefolder;
pub mod motion;

pub use detection::{BenchmarkConfig, make_benchmark};
pub use imagefolder::write_synthetic;
pub use motion::{MOTIONS, MotionConfig, make_motion_benchmark};
