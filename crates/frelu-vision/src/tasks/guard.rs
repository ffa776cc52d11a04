//! Stops training, with a message naming the step, when the loss stops being finite.

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

/// A training "metric" that watches the loss and stops the `Learner` (through its
/// [`Interrupter`]) at the first NaN or infinite value, recording where it happened.
#[derive(Clone)]
pub struct FiniteLossGuard {
    interrupter: Interrupter,
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
            name: Arc::new("Finite loss guard".to_string()),
            step: 0,
            epoch: 1,
            last_iteration: 0,
            failure: Arc::new(Mutex::new(None)),
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
        if !loss.is_finite() {
            let message = format!(
                "the training loss became {loss} at step {} (epoch {}, iteration {iteration}); \
                 training stopped. Try a lower learning rate (--lr) or a smaller slope learning \
                 rate (--slope-lr-mult).",
                self.step, self.epoch
            );
            let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if failure.is_none() {
                *failure = Some(message.clone());
                self.interrupter.stop(Some(&message));
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
