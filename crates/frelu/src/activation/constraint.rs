//! How an activation keeps a parameter in its range: by reading a clamped value in the forward
//! pass (the project's older layers), or by projecting the stored value after each optimiser
//! step (what PELU's authors do). The projection itself is here, as a map on a tensor; the
//! optimiser that applies it is `schedule::Projected`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Where a bounded parameter is kept in its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Constraint {
    /// The stored value is projected back into the range after each optimiser step, and the
    /// forward pass reads it as it is: a value at a bound keeps its gradient and can move back.
    Project,
    /// The stored value is free and the forward pass reads it clamped to the range (the
    /// project's layers before issue 30). Below the lower bound the gradient is zero, so a
    /// parameter that gets there never comes back. Kept so that older runs mean what they ran.
    Clamp,
}

impl Constraint {
    /// The word of the activation strings (`bound=project`, `bound=clamp`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Clamp => "clamp",
        }
    }

    /// Parses [`Constraint::word`].
    pub fn from_word(word: &str) -> Option<Self> {
        [Self::Project, Self::Clamp]
            .into_iter()
            .find(|c| c.word() == word)
    }
}

/// An element-wise map of a parameter's stored value, applied after each optimiser step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Projection {
    /// PELU's rule (`ConstrainedMul`/`ConstrainedDiv` of the authors' Torch code): a value at or
    /// below `low` is reset to `low_reset`, and, where `high` is given as `(bound, reset)`, a
    /// value at or above `bound` is reset to `reset`.
    Reset {
        /// The lower bound.
        low: f64,
        /// What a value at or below `low` becomes.
        low_reset: f64,
        /// The upper bound and what a value at or above it becomes.
        high: Option<(f64, f64)>,
    },
    /// Clamp into `[low, high]`.
    Clamp {
        /// The lower bound.
        low: f64,
        /// The upper bound.
        high: f64,
    },
}

impl Projection {
    /// The projected tensor.
    pub fn apply<const D: usize>(&self, tensor: Tensor<D>) -> Tensor<D> {
        match *self {
            Self::Reset {
                low,
                low_reset,
                high,
            } => {
                let below = tensor.clone().lower_equal_elem(low);
                let mut out = tensor.mask_fill(below, low_reset);
                if let Some((bound, reset)) = high {
                    let above = out.clone().greater_equal_elem(bound);
                    out = out.mask_fill(above, reset);
                }
                out
            }
            Self::Clamp { low, high } => tensor.clamp(low, high),
        }
    }
}

/// A projection of one field of one activation layer type.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamProjection {
    /// The layer type that owns the parameter (`Pelu`, `Prenu`), as
    /// [`crate::params::ParamInfo::owner`] names it.
    pub owner: &'static str,
    /// The parameter's field name (`a`, `b`, `alpha`).
    pub field: &'static str,
    /// The map applied after each step.
    pub projection: Projection,
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn applied(projection: Projection, values: &[f32]) -> Vec<f32> {
        let device = Device::flex();
        let t = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device);
        projection.apply(t).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn pelu_reset_rule_matches_the_authors_code() {
        let a = Projection::Reset {
            low: 0.1,
            low_reset: 0.11,
            high: Some((2.0, 1.99)),
        };
        assert_eq!(
            applied(a, &[2.5, 2.0, 0.05, 0.1, 1.3]),
            [1.99, 1.99, 0.11, 0.11, 1.3]
        );
        let b = Projection::Reset {
            low: 0.1,
            low_reset: 0.11,
            high: None,
        };
        assert_eq!(applied(b, &[0.05, 7.0]), [0.11, 7.0]);
        let unit = Projection::Clamp {
            low: 0.0,
            high: 1.0,
        };
        assert_eq!(applied(unit, &[1.3, -0.2, 0.4]), [1.0, 0.0, 0.4]);
    }

    #[test]
    fn words_round_trip() {
        for c in [Constraint::Project, Constraint::Clamp] {
            assert_eq!(Constraint::from_word(c.word()), Some(c));
        }
        assert_eq!(Constraint::from_word("free"), None);
    }
}
