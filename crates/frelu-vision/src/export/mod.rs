//! Networks out: ONNX graphs of the classification models, with batch norm folded and FReLU
//! exported at PReLU cost; the same folded graph run by Burn ([`folded::FoldedNet`]).

pub mod folded;
mod graph;
pub mod onnx;
mod onnx_pb;
