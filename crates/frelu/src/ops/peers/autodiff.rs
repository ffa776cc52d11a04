//! The peers' ops under autodiff: the inner backend's forward, and a backward that calls the
//! inner backend's fused backward once for the gradients of the input and every parameter tensor.
//!
//! Each op keeps its inputs as state and is registered as compute-bound, so checkpointing
//! strategies never recompute it.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

use super::backend::PeerBackend;

#[derive(Debug)]
struct PauBackward {
    version_a: bool,
}

#[derive(Debug)]
struct AplBackward;

#[derive(Debug)]
struct PointwiseBackward {
    kind: u8,
}

#[derive(Debug)]
struct RandomSlopeBackward {
    seed: u64,
    side: u8,
    range: [f32; 2],
}

type Three<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);
/// A tensor of the inner backend `B` as autodiff holds it.
type Wrapped<B> = FloatTensor<Autodiff<B>>;

/// Registers the gradients `[d_parent; N]` with those of the op's parents that track one.
macro_rules! register {
    ($ops:expr, $grads:expr, $result:expr) => {{
        for (node, grad) in $ops.parents.into_iter().zip($result) {
            if let Some(node) = node {
                $grads.register::<B>(node.id, grad);
            }
        }
    }};
}

impl<B: PeerBackend> Backward<B, 3> for PauBackward {
    type State = Three<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, numerator, denominator) = ops.state;
        let (dx, dnumerator, ddenominator) =
            B::pau_backward(x, numerator, denominator, dy, self.version_a);
        register!(ops, grads, [dx, dnumerator, ddenominator]);
    }
}

impl<B: PeerBackend> Backward<B, 2> for PointwiseBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, params) = ops.state;
        let (dx, dparams) = B::pointwise_backward(x, params, dy, self.kind);
        register!(ops, grads, [dx, dparams]);
    }
}

impl<B: PeerBackend> Backward<B, 2> for RandomSlopeBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, neg) = ops.state;
        let (dx, dneg) = B::random_slope_backward(x, neg, dy, self.seed, self.side, self.range);
        register!(ops, grads, [dx, dneg]);
    }
}

impl<B: PeerBackend> Backward<B, 3> for AplBackward {
    type State = Three<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, a, b) = ops.state;
        let (dx, da, db) = B::apl_backward(x, a, b, dy);
        register!(ops, grads, [dx, da, db]);
    }
}

/// Inner tensors as untracked autodiff tensors.
fn constants<B: PeerBackend>((d0, d1, d2): Three<B>) -> Three<Autodiff<B>> {
    (
        Wrapped::<B>::new(d0),
        Wrapped::<B>::new(d1),
        Wrapped::<B>::new(d2),
    )
}

impl<B: PeerBackend, C: CheckpointStrategy> PeerBackend for Autodiff<B, C> {
    fn pau(
        x: FloatTensor<Self>,
        numerator: FloatTensor<Self>,
        denominator: FloatTensor<Self>,
        version_a: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), numerator.node(), denominator.node()];
        let inner = (
            x.into_primitive(),
            numerator.into_primitive(),
            denominator.into_primitive(),
        );
        let op = PauBackward { version_a };
        match op.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::pau(inner.0.clone(), inner.1.clone(), inner.2.clone(), version_a);
                prep.finish(inner, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::pau(inner.0, inner.1, inner.2, version_a)),
        }
    }

    /// The inner backend's gradients, as constants (no second derivative).
    fn pau_backward(
        x: FloatTensor<Self>,
        numerator: FloatTensor<Self>,
        denominator: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        version_a: bool,
    ) -> Three<Self> {
        let (dx, dnumerator, ddenominator) = B::pau_backward(
            x.into_primitive(),
            numerator.into_primitive(),
            denominator.into_primitive(),
            dy.into_primitive(),
            version_a,
        );
        constants::<B>((dx, dnumerator, ddenominator))
    }

    fn apl(x: FloatTensor<Self>, a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node(), a.node(), b.node()];
        let inner = (x.into_primitive(), a.into_primitive(), b.into_primitive());
        match AplBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::apl(inner.0.clone(), inner.1.clone(), inner.2.clone());
                prep.finish(inner, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::apl(inner.0, inner.1, inner.2)),
        }
    }

    /// The inner backend's gradients, as constants (no second derivative).
    fn apl_backward(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> Three<Self> {
        constants::<B>(B::apl_backward(
            x.into_primitive(),
            a.into_primitive(),
            b.into_primitive(),
            dy.into_primitive(),
        ))
    }

    fn pointwise(x: FloatTensor<Self>, params: FloatTensor<Self>, kind: u8) -> FloatTensor<Self> {
        let nodes = [x.node(), params.node()];
        let inner = (x.into_primitive(), params.into_primitive());
        let op = PointwiseBackward { kind };
        match op.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::pointwise(inner.0.clone(), inner.1.clone(), kind);
                prep.finish(inner, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::pointwise(inner.0, inner.1, kind)),
        }
    }

    /// The inner backend's gradients, as constants (no second derivative).
    fn pointwise_backward(
        x: FloatTensor<Self>,
        params: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kind: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dparams) = B::pointwise_backward(
            x.into_primitive(),
            params.into_primitive(),
            dy.into_primitive(),
            kind,
        );
        (Wrapped::<B>::new(dx), Wrapped::<B>::new(dparams))
    }

    fn random_slope(
        x: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), neg.node()];
        let inner = (x.into_primitive(), neg.into_primitive());
        let op = RandomSlopeBackward { seed, side, range };
        match op.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::random_slope(inner.0.clone(), inner.1.clone(), seed, side, range);
                prep.finish(inner, output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::random_slope(inner.0, inner.1, seed, side, range))
            }
        }
    }

    /// The inner backend's gradients, as constants (no second derivative).
    fn random_slope_backward(
        x: FloatTensor<Self>,
        neg: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        seed: u64,
        side: u8,
        range: [f32; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dneg) = B::random_slope_backward(
            x.into_primitive(),
            neg.into_primitive(),
            dy.into_primitive(),
            seed,
            side,
            range,
        );
        (Wrapped::<B>::new(dx), Wrapped::<B>::new(dneg))
    }
}
