//! Stops training, with a message naming the step, when the training loss stops being finite
//! or grows beyond [`DEFAULT_MAX_LOSS_GROWTH`] (or the run's own bound) times its start, and when
//! the test loss stops being finite. The finished epochs' metrics stay in the run folder.

use std::sync::{Arc, Mutex};

use burn::tensor::{Tensor, TensorReadError};
use burn::train::metric::Adaptor;
use burn::train::metric::{Metric, MetricMetadata, MetricName, SerializedEntry};
use burn::train::{ClassificationOutput, Interrupter};

/// The loss of one step, as the guard reads it.
pub struct LossValue(pub Tensor<1>);

impl Adaptor<LossValue> for ClassificationOutput {
    fn adapt(&self) -> LossValue {
        LossValue(self.loss.clone())
    }
}

/// The default bound on the training loss, relative to its first value: a run whose loss grows
/// past this many times its start is diverging (a cross-entropy starting near 2.3 would have
/// to pass 230). `--max-loss-growth 0` turns the check off.
pub const DEFAULT_MAX_LOSS_GROWTH: f64 = 100.0;

/// A training "metric" that watches the loss and stops the `Learner` (through its
/// [`Interrupter`]) at the first NaN or infinite value, recording where it happened.
#[derive(Clone)]
pub struct FiniteLossGuard {
    interrupter: Interrupter,
    /// Watching the test split (only finiteness is checked there).
    test: bool,
    /// Stop when the loss exceeds this many times `reference` (≤ 0 or infinite: never).
    max_growth: f64,
    /// The loss the growth is measured from: the first step's, or a resumed run's first epoch.
    reference: Option<f64>,
    name: MetricName,
    step: usize,
    epoch: usize,
    last_iteration: usize,
    failure: Arc<Mutex<Option<String>>>,
}

impl FiniteLossGuard {
    /// A guard that stops training through `interrupter`.
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter,
            test: false,
            max_growth: DEFAULT_MAX_LOSS_GROWTH,
            reference: None,
            name: Arc::new("Finite loss guard".to_string()),
            step: 0,
            epoch: 1,
            last_iteration: 0,
            failure: Arc::new(Mutex::new(None)),
        }
    }

    /// Stops when the training loss passes `max_growth` × `reference` (the first step's loss
    /// when `None`); a `max_growth` ≤ 0 or infinite turns the check off.
    pub fn with_growth_bound(mut self, max_growth: f64, reference: Option<f64>) -> Self {
        self.max_growth = max_growth;
        self.reference = reference;
        self
    }

    /// The same guard (sharing its failure) for the test split, counting epochs from `epoch`.
    pub fn for_test(&self) -> Self {
        Self {
            test: true,
            name: Arc::new("Finite test loss guard".to_string()),
            ..self.clone()
        }
    }

    /// Starts counting epochs after `epochs` finished ones (a resumed run).
    pub fn after_epochs(mut self, epochs: usize) -> Self {
        self.epoch = epochs + 1;
        self
    }

    fn stop(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            *failure = Some(message.clone());
            self.interrupter.stop(Some(&message));
        }
    }

    /// The message of the stop, if the guard stopped training.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Metric for FiniteLossGuard {
    type Input = LossValue;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(
        &mut self,
        item: &LossValue,
        metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let iteration = metadata.iteration.unwrap_or(self.last_iteration + 1);
        if iteration <= self.last_iteration {
            self.epoch += 1;
        }
        self.last_iteration = iteration;
        self.step += 1;
        let loss = item.0.clone().mean().try_into_scalar::<f64>()?;
        if self.test {
            if !loss.is_finite() {
                self.stop(format!(
                    "the test loss became {loss} in epoch {} (batch {iteration}); training \
                     stopped. The model no longer gives finite outputs: try a lower learning \
                     rate (--lr).",
                    self.epoch
                ));
            }
        } else if !loss.is_finite() {
            self.stop(format!(
                "the training loss became {loss} at step {} (epoch {}, iteration {iteration}); \
                 training stopped. Try a lower learning rate (--lr) or a smaller slope learning \
                 rate (--slope-lr-mult).",
                self.step, self.epoch
            ));
        } else {
            let reference = *self.reference.get_or_insert(loss);
            let bound = self.max_growth * reference.abs();
            if self.max_growth > 0.0 && bound.is_finite() && loss > bound {
                self.stop(format!(
                    "the training loss grew from {reference:.4} to {loss:.4e} (over {} times its \
                     start) at step {} (epoch {}): the run diverges; training stopped. Lower the \
                     learning rate (--lr), or raise the bound (--max-loss-growth, 0 = off).",
                    self.max_growth, self.step, self.epoch
                ));
            }
        }
        Ok(SerializedEntry::new(format!("{loss}"), format!("{loss}")))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(SerializedEntry::not_available(None))
    }

    fn clear(&mut self) {}
}

/// The trained model of a finished `Learner` run, or a clear error: the guard's NaN/inf
/// message (with `context` appended, e.g. where the finished epochs' metrics are), a
/// training error, or an interruption.
pub fn trained_model<M>(
    guard: &FiniteLossGuard,
    result: burn::train::LearningResult<M>,
    context: &str,
) -> crate::Result<M> {
    if let Some(message) = guard.failure() {
        crate::error::bail!("{message}{context}");
    }
    if let Some(error) = &result.error {
        crate::error::bail!("training failed: {error}{context}");
    }
    if let Some(interruption) = &result.interrupted {
        crate::error::bail!(
            "training was interrupted{}{context}",
            interruption
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(result.model)
}
