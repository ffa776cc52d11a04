//! FReLU under autodiff: the forward pass of the inner backend, and a custom backward that
//! calls the inner backend's fused [`FReluBackend::frelu_backward`] once for all three
//! gradients.
//!
//! The op is registered as compute-bound and keeps `(x, pos, neg)` as its state, so gradient
//! checkpointing strategies never need to recompute it: they see an op whose inputs are saved.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

use super::backend::FReluBackend;

#[derive(Debug)]
struct FReluBackward;

impl<B: FReluBackend> Backward<B, 3> for FReluBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_pos, node_neg] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, pos, neg) = ops.state;
        let (dx, dpos, dneg) = B::frelu_backward(x, pos, neg, dy);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_pos {
            grads.register::<B>(node.id, dpos);
        }
        if let Some(node) = node_neg {
            grads.register::<B>(node.id, dneg);
        }
    }
}

impl<B: FReluBackend, C: CheckpointStrategy> FReluBackend for Autodiff<B, C> {
    fn frelu(
        x: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match FReluBackward
            .prepare::<C>([x.node(), pos.node(), neg.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, pos, neg) = (
                    x.into_primitive(),
                    pos.into_primitive(),
                    neg.into_primitive(),
                );
                let output = B::frelu(x.clone(), pos.clone(), neg.clone());
                prep.finish((x, pos, neg), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::frelu(
                x.into_primitive(),
                pos.into_primitive(),
                neg.into_primitive(),
            )),
        }
    }
}
