//! The fast path under autodiff: each operation is one node whose backward calls the inner
//! backend's gradient operations, computing only the gradients some parent needs (the first
//! convolution of a network, whose input needs none, skips its input gradient).
//!
//! Nodes are compute-bound and keep their inputs as state, as the fused FReLU op does.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend};
use burn::tensor::ops::ConvOptions;

use super::backend::FastPathBackend;

#[derive(Debug)]
struct ConvBackward;

impl<B: FastPathBackend> Backward<B, 2> for ConvBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, options) = ops.state;
        if let Some(node) = node_x {
            let dx = B::fast_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), options.clone());
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::fast_conv2d_weight_backward(x, w, dy, options));
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl<B: FastPathBackend> Backward<B, 1> for MaxPoolBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 2], ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, y, kernel, options) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(
                node.id,
                B::fast_max_pool2d_backward(x, y, dy, kernel, options),
            );
        }
    }
}

#[derive(Debug)]
struct BatchNormActBackward;

type BatchNormActState<B> = (
    [FloatTensor<B>; 7], // x, gamma, beta, pos, neg, mean, variance
    f64,
);

impl<B: FastPathBackend> Backward<B, 5> for BatchNormActBackward {
    type State = BatchNormActState<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let ([x, gamma, beta, pos, neg, mean, variance], epsilon) = ops.state;
        let (dx, dgamma, dbeta, dpos, dneg) =
            B::fast_batch_norm_act_backward(x, gamma, beta, pos, neg, mean, variance, epsilon, dy);
        // Each tracked parent gets its gradient.
        for (parent, gradient) in ops.parents.into_iter().zip([dx, dgamma, dbeta, dpos, dneg]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

#[derive(Debug)]
struct AffineActBackward;

impl<B: FastPathBackend> Backward<B, 5> for AffineActBackward {
    type State = [FloatTensor<B>; 5]; // x, scale, shift, pos, neg

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let [x, scale, shift, pos, neg] = ops.state;
        let (dx, dscale, dshift, dpos, dneg) =
            B::fast_affine_act_backward(x, scale, shift, pos, neg, dy);
        for (parent, gradient) in ops
            .parents
            .into_iter()
            .zip([dx, dscale, dshift, dpos, dneg])
        {
            if let Some(node) = parent {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

impl<B: FastPathBackend, C: CheckpointStrategy> FastPathBackend for Autodiff<B, C> {
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), weight.into_primitive());
                let y = B::fast_conv2d(x.clone(), w.clone(), options.clone());
                prep.finish((x, w, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }

    fn fast_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let y = B::fast_max_pool2d(x.clone(), kernel, options.clone());
                prep.finish((x, y.clone(), kernel, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fast_max_pool2d(x.into_primitive(), kernel, options))
            }
        }
    }

    fn fast_batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prepared = BatchNormActBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node(), pos.node(), neg.node()])
            .compute_bound()
            .stateful();
        let inputs = [x, gamma, beta, pos, neg].map(|t| t.into_primitive());
        let [x, gamma, beta, pos, neg] = inputs.clone();
        let (y, mean, variance) = B::fast_batch_norm_act(x, gamma, beta, pos, neg, epsilon);
        let y = match prepared {
            OpsKind::Tracked(prep) => {
                let [x, gamma, beta, pos, neg] = inputs;
                let state = [x, gamma, beta, pos, neg, mean.clone(), variance.clone()];
                prep.finish((state, epsilon), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, Self::from_inner(mean), Self::from_inner(variance))
    }

    fn fast_affine_act(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        pos: FloatTensor<Self>,
        neg: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prepared = AffineActBackward
            .prepare::<C>([x.node(), scale.node(), shift.node(), pos.node(), neg.node()])
            .compute_bound()
            .stateful();
        let inputs = [x, scale, shift, pos, neg].map(|t| t.into_primitive());
        let [x, scale, shift, pos, neg] = inputs.clone();
        let y = B::fast_affine_act(x, scale, shift, pos, neg);
        match prepared {
            OpsKind::Tracked(prep) => prep.finish(inputs, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
