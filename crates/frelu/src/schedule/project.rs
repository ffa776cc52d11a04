//! [`Projected`]: an optimiser that applies an activation's [`Projection`] to the parameter it
//! has just stepped, as PELU's authors keep `a` and `b` in range.

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::activation::Projection;

/// Wraps an optimiser so that each step's result is projected. A frozen step (wrap this in
/// [`super::Freezable`]) does not reach it, so a frozen parameter stays bit-identical.
#[derive(Clone, Debug)]
pub struct Projected<O> {
    /// The optimiser of the step.
    pub inner: O,
    /// The map applied to its result.
    pub projection: Projection,
}

impl<O: Optimizer> Optimizer for Projected<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (tensor, state) = self.inner.step(lr, tensor, grad, state);
        (self.projection.apply(tensor), state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}
