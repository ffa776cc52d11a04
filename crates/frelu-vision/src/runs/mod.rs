//! The run layer, below every task: a run folder (name, atomic files, config check, model and
//! slopes, slope history), the per-epoch report, and the one resumable comparison grid with its
//! summary writer. Tasks give it what is theirs; it imports nothing from `tasks`.

pub mod claim;
pub mod folder;
pub mod grid;
pub mod history;
pub mod log;
pub mod records;
pub mod report;
pub mod settings;
pub mod shard;
pub mod spec;
pub mod status;
pub mod summary;

pub use folder::{run_name, save_trained};
pub use grid::{GridOutcome, GridTask, Worker};
pub use report::EpochRow;
pub use settings::RunSettings;
pub use spec::{GridRow, GridSpec, Metric, RunSummary};
pub use summary::GridSummary;
