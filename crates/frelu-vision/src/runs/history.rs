//! The slope history of a run (`slopes_history.jsonl`: one snapshot at initialisation and one
//! per epoch) and the checkpointers that write it and the burn-train checkpoints.

use std::path::{Path, PathBuf};

use crate::error::Context;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError, FileCheckpointer};

use crate::analysis::slopes::SlopeSnapshot;

/// The history file of a run folder.
pub fn history_path(run: &Path) -> PathBuf {
    run.join(crate::run_files::SLOPE_HISTORY)
}

/// Appends the slopes of `model` at `epoch` to the history file `path`.
pub fn append<M: Module>(path: &Path, epoch: usize, model: &M) -> crate::Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(&SlopeSnapshot {
        epoch,
        layers: frelu::slopes::snapshot(model),
        learned: frelu::learned::snapshot(model),
    })?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Keeps the snapshots of epochs `0..=k` of the history of `run` (when resuming after `k`).
pub fn truncate(run: &Path, k: usize) -> crate::Result<()> {
    let path = history_path(run);
    if !path.exists() {
        return Ok(());
    }
    let kept: Vec<String> = crate::analysis::slopes::read_snapshots(run)?
        .into_iter()
        .filter(|s| s.epoch <= k)
        .map(|s| serde_json::to_string(&s))
        .collect::<Result<_, _>>()?;
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    crate::fsio::write_text(&path, &text)
}

/// A checkpointer writing files, or none (`--no-checkpoints`). Files are written into
/// `checkpoint/.partial/` and renamed into `checkpoint/` once complete, so a run killed while
/// saving never leaves a truncated checkpoint that `--resume` would take for a whole one; each
/// gets a checksum file first (`NAME-EPOCH.bpk.sum`), so that a checkpoint damaged later is
/// found before burn-train reads it.
pub enum MaybeFile {
    /// burn-train's file checkpointer, through a partial folder.
    File {
        /// Writes into the partial folder.
        partial: FileCheckpointer,
        /// Reads and deletes finished files.
        done: FileCheckpointer,
        /// The partial folder.
        partial_dir: PathBuf,
        /// The checkpoint folder.
        dir: PathBuf,
        /// The record's name (`model`, `optim`, `scheduler`).
        name: String,
    },
    /// Nothing is saved.
    Null,
}

impl MaybeFile {
    /// A file checkpointer of `name` in `dir` when `enabled`, else none.
    pub fn new(enabled: bool, dir: &Path, name: &str) -> Self {
        if !enabled {
            return Self::Null;
        }
        let partial_dir = dir.join(".partial");
        Self::File {
            partial: FileCheckpointer::new(&partial_dir, name),
            done: FileCheckpointer::new(dir, name),
            partial_dir,
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }
}

impl<R: Checkpoint> Checkpointer<R> for MaybeFile {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        match self {
            MaybeFile::File {
                partial,
                partial_dir,
                dir,
                name,
                ..
            } => {
                partial.save(epoch, record)?;
                let file = crate::run_files::checkpoint_file(name, epoch);
                let written = partial_dir.join(&file);
                // Its checksum first: a checkpoint in place always has one to be checked by.
                let sum = dir.join(crate::run_files::checksum_file(&file));
                crate::fsio::digest(&written)
                    .and_then(|digest| crate::fsio::write_text(&sum, &digest))
                    .map_err(|e| CheckpointerError::Unknown(crate::error::report(&e)))?;
                std::fs::rename(&written, dir.join(&file))
                    .map_err(|e| CheckpointerError::Unknown(format!("checkpoint {file}: {e}")))
            }
            MaybeFile::Null => Ok(()),
        }
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match self {
            MaybeFile::File { done, .. } => Checkpointer::<R>::delete(done, epoch),
            MaybeFile::Null => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        match self {
            MaybeFile::File { done, .. } => done.restore(epoch),
            MaybeFile::Null => Err(CheckpointerError::Unknown(
                "this run was trained without checkpoints".into(),
            )),
        }
    }
}

/// What a task does with each epoch's model record after the slopes are recorded: e.g.
/// classification's score of the training set in evaluation mode (`--eval-train`). Called with
/// the 1-based epoch and the record the `Learner` saves.
pub type EpochProbe = Box<dyn Fn(usize, &ModuleRecord) -> crate::Result<()> + Send + Sync>;

/// The model checkpointer: records the slopes of every epoch's model in the history file, then
/// hands the record to the file checkpointer. It sees the model the `Learner` saves at the end
/// of each epoch, on every training strategy.
pub struct SlopeRecorder<M> {
    inner: MaybeFile,
    template: Option<M>,
    history: PathBuf,
    probe: Option<EpochProbe>,
}

impl<M: Module> SlopeRecorder<M> {
    /// Starts the history of the run in `run` with the slopes of `model` at initialisation
    /// (epoch 0) when it has any, or keeps the history of a run resumed after `resumed` epochs;
    /// `template` (the model on its inference backend) reads each saved record back.
    pub fn start(
        run: &Path,
        inner: MaybeFile,
        model: &impl Module,
        template: M,
        resumed: Option<usize>,
    ) -> crate::Result<Self> {
        let history = history_path(run);
        let learns = !frelu::params::activation_param_ids(model).is_empty();
        if resumed.is_none() {
            crate::fsio::remove_if_exists(&history)?;
            if learns {
                append(&history, 0, model)?;
            }
        }
        Ok(Self {
            inner,
            template: learns.then_some(template),
            history,
            probe: None,
        })
    }

    /// Runs `probe` on every epoch's record too.
    pub fn with_probe(mut self, probe: Option<EpochProbe>) -> Self {
        self.probe = probe;
        self
    }
}

impl<M: Module + Clone + Send + Sync> Checkpointer<ModuleRecord> for SlopeRecorder<M> {
    fn save(&self, epoch: usize, record: ModuleRecord) -> Result<(), CheckpointerError> {
        if let Some(template) = &self.template {
            let model = template
                .clone()
                .try_load_record(record.clone())
                .map_err(CheckpointerError::Record)?;
            append(&self.history, epoch, &model)
                .map_err(|e| CheckpointerError::Unknown(crate::error::report(&e)))?;
        }
        if let Some(probe) = &self.probe {
            probe(epoch, &record)
                .map_err(|e| CheckpointerError::Unknown(crate::error::report(&e)))?;
        }
        self.inner.save(epoch, record)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        Checkpointer::<ModuleRecord>::delete(&self.inner, epoch)
    }

    fn restore(&self, epoch: usize) -> Result<ModuleRecord, CheckpointerError> {
        self.inner.restore(epoch)
    }
}
