//! Folded inference in Burn: the graph the ONNX exporter builds (batch norm folded, FReLU at
//! PReLU cost), executed with Burn's tensor operations — PReLU through FReLU's fused operation
//! with `pos = 1` — so that inference here costs what a PReLU network costs.

use std::collections::HashMap;

use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::PadMode;
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData, s};
use frelu::fastpath::{conv2d_with, max_pool2d_with};

use super::graph::{Graph, Result};
use super::onnx_pb::{NodeProto, TensorProto};
use crate::models::Net;

/// A value while the graph runs.
#[derive(Clone)]
enum Val {
    Four(Tensor<4>),
    Two(Tensor<2>),
    /// A weight of any rank, kept flat with its shape.
    Weight(Vec<usize>, Tensor<1>),
    Ints(Vec<i64>),
}

/// A network folded for inference (see the module docs).
pub struct FoldedNet {
    nodes: Vec<NodeProto>,
    weights: HashMap<String, Val>,
}

fn attr(node: &NodeProto, name: &str) -> Vec<i64> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| {
            if a.ints.is_empty() {
                vec![a.i]
            } else {
                a.ints.clone()
            }
        })
        .unwrap_or_default()
}

fn pair(v: &[i64]) -> [usize; 2] {
    [v[0] as usize, v[1] as usize]
}

impl FoldedNet {
    /// Folds `net` for inputs `[channels, height, width]`, on `device`.
    pub fn new(net: &Net, input: [usize; 3], device: &Device) -> Result<Self> {
        let mut graph = Graph::default();
        super::onnx::build(&mut graph, net, input)?;
        let weights = graph
            .initializers
            .iter()
            .map(|t: &TensorProto| {
                let value = if t.data_type == 7 {
                    Val::Ints(t.int64_data.clone())
                } else {
                    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
                    let data = TensorData::new(t.float_data.clone(), [t.float_data.len()]);
                    Val::Weight(shape, Tensor::from_data(data, device))
                };
                (t.name.clone(), value)
            })
            .collect();
        Ok(Self {
            nodes: graph.nodes,
            weights,
        })
    }

    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut values: HashMap<&str, Val> = HashMap::new();
        values.insert("input", Val::Four(x));
        let mut last = None;
        for node in &self.nodes {
            let get = |i: usize| -> Val {
                let name = node.input[i].as_str();
                values
                    .get(name)
                    .or_else(|| self.weights.get(name))
                    .cloned()
                    .expect("the graph is built in order")
            };
            let out = run(node, &get);
            last = Some(node.output[0].as_str());
            values.insert(node.output[0].as_str(), out);
        }
        match last.and_then(|name| values.remove(name)) {
            Some(Val::Two(y)) => y,
            _ => panic!("a classification graph ends with logits"),
        }
    }
}

fn four(v: Val) -> Tensor<4> {
    match v {
        Val::Four(t) => t,
        _ => panic!("expected an image tensor"),
    }
}

/// A weight reshaped to rank `D`, or `[1, C, 1, 1]` for a per-channel `[C, 1, 1]` one.
fn weight<const D: usize>(v: Val) -> Tensor<D> {
    match v {
        Val::Weight(shape, t) => {
            let mut dims = [1usize; D];
            if shape.len() == 3 && D == 4 {
                dims[1] = shape[0];
            } else {
                dims[D - shape.len()..].copy_from_slice(&shape);
            }
            t.reshape(dims)
        }
        _ => panic!("expected a weight"),
    }
}

fn ints(v: Val) -> Vec<i64> {
    match v {
        Val::Ints(v) => v,
        _ => panic!("expected integers"),
    }
}

/// Multiplies an image or a flat value by a per-channel weight (the `Mul` of the graph).
fn mul(x: Val, w: Val) -> Val {
    match x {
        Val::Four(t) => Val::Four(t * weight::<4>(w)),
        Val::Two(t) => Val::Two(t * weight::<2>(w)),
        other => other,
    }
}

/// The `pads` attribute `[top, left, bottom, right]` as Burn's `[(top, bottom), (left, right)]`.
fn pads(node: &NodeProto) -> [(usize, usize); 2] {
    let [t, l, b, r]: [i64; 4] = attr(node, "pads").try_into().unwrap_or([0; 4]);
    [(t as usize, b as usize), (l as usize, r as usize)]
}

fn conv(node: &NodeProto, get: &dyn Fn(usize) -> Val) -> Val {
    let options = ConvOptions::new_with_padding(
        pair(&attr(node, "strides")),
        pads(node),
        pair(&attr(node, "dilations")),
        attr(node, "group")[0] as usize,
    );
    let bias = weight::<1>(get(2));
    Val::Four(conv2d_with(
        four(get(0)),
        weight::<4>(get(1)),
        Some(bias),
        options,
    ))
}

/// PReLU through FReLU's fused operation with `pos = 1`.
fn prelu(get: &dyn Fn(usize) -> Val) -> Val {
    let slope = match get(1) {
        Val::Weight(_, t) => t,
        _ => panic!("expected slopes"),
    };
    let ones = slope.ones_like();
    match get(0) {
        Val::Four(t) => Val::Four(frelu::ops::frelu(t, ones, slope)),
        Val::Two(t) => Val::Two(frelu::ops::frelu(t, ones, slope)),
        other => other,
    }
}

fn run(node: &NodeProto, get: &dyn Fn(usize) -> Val) -> Val {
    match node.op_type.as_str() {
        "Conv" => conv(node, get),
        "Relu" => match get(0) {
            Val::Four(t) => Val::Four(burn::tensor::activation::relu(t)),
            Val::Two(t) => Val::Two(burn::tensor::activation::relu(t)),
            other => other,
        },
        "PRelu" => prelu(get),
        "Mul" => mul(get(0), get(1)),
        "Add" => match (get(0), get(1)) {
            (Val::Four(a), Val::Four(b)) => Val::Four(a + b),
            (Val::Two(a), Val::Two(b)) => Val::Two(a + b),
            _ => panic!("Add of mismatched values"),
        },
        "MaxPool" => {
            let options = MaxPoolOptions::new(pair(&attr(node, "kernel_shape")))
                .with_stride(pair(&attr(node, "strides")))
                .with_padding_pairs(pads(node));
            Val::Four(max_pool2d_with(four(get(0)), options))
        }
        "AveragePool" => {
            let options = AvgPoolOptions::new(pair(&attr(node, "kernel_shape")))
                .with_stride(pair(&attr(node, "strides")));
            Val::Four(avg_pool2d(four(get(0)), options))
        }
        "GlobalAveragePool" => Val::Four(four(get(0)).mean_dim(2).mean_dim(3)),
        "Expand" => {
            let shape = ints(get(1));
            let x = four(get(0));
            let n = x.dims()[0];
            Val::Four(x.expand([n, shape[1] as usize, shape[2] as usize, shape[3] as usize]))
        }
        "Flatten" => Val::Two(four(get(0)).flatten(1, 3)),
        "Gemm" => {
            let x = match get(0) {
                Val::Two(t) => t,
                _ => panic!("Gemm on a flat value"),
            };
            let y = x.matmul(weight::<2>(get(1)));
            Val::Two(if node.input.len() > 2 {
                y + weight::<2>(get(2))
            } else {
                y
            })
        }
        "Slice" => {
            let step = ints(get(4))[0] as isize;
            Val::Four(four(get(0)).slice(s![.., .., ..;step, ..;step]))
        }
        "Pad" => {
            let p = ints(get(1))[1] as usize;
            Val::Four(four(get(0)).pad([(0, 0), (p, p), (0, 0), (0, 0)], PadMode::Constant(0.0)))
        }
        other => panic!("folded inference has no {other} (the exporter never emits it)"),
    }
}
