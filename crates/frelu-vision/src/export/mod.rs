//! Networks out: ONNX graphs of the classification models, with batch norm folded and FReLU
//! exported at PReLU cost.

mod graph;
pub mod onnx;
mod onnx_pb;
