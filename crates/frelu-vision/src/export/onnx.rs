//! The classification models as ONNX graphs (opset 13, standard operators only).
//!
//! - Batch norm is folded into the convolution before it.
//! - FReLU with every `pos > 0` costs one `PRelu` node, as PReLU does: after a convolution,
//!   `pos` is folded into its output channels ([`super::graph::FoldedConv::emit_with`]); after a
//!   residual addition, `pos` is carried as a pending factor to the next convolution or linear
//!   layer and folded into its input weights (a positive factor passes through ReLU, PReLU,
//!   pooling, padding and the next addition, whose convolution branch is divided by it).
//! - With `neg = 0` everywhere that node is a `Relu`.
//! - FReLU with some `pos ≤ 0` is exported exactly as `(pos − neg)·Relu(x) + neg·x`.

use crate::models::Net;
use crate::models::common::ConvBnAct;
use crate::models::mobilenet::MobileNetV1;
use crate::models::resnet::{BasicBlock, Bottleneck, CifarResNet, ResBlock, ResNet, Shortcut};
use crate::models::simple_cnn::SimpleCnn;
use crate::models::vgg::Vgg16;

use super::graph::{
    FoldedConv, Graph, Result, Value, activation, adaptive_avg_pool, add, flatten, linear, max_pool,
};
use super::onnx_pb::{
    Dimension, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto, encode,
};

/// The ONNX opset the graphs use.
pub const OPSET: i64 = 13;

fn conv_bn_act(g: &mut Graph, x: &Value, block: &ConvBnAct) -> Result<Value> {
    FoldedConv::new(&block.conv, Some(&block.bn)).emit_with(g, x, &block.act)
}

fn simple_cnn(g: &mut Graph, x: Value, net: &SimpleCnn) -> Result<Value> {
    let mut x = x;
    for (i, block) in net.blocks.iter().enumerate() {
        x = conv_bn_act(g, &x, block)?;
        if i % 2 == 0 {
            x = max_pool(g, &x, &net.pool)?;
        }
    }
    let x = adaptive_avg_pool(g, &x, &net.resize)?;
    let x = flatten(g, &x);
    Ok(linear(g, &x, &net.head))
}

fn shortcut(g: &mut Graph, x: &Value, shortcut: &Shortcut) -> Result<Value> {
    match shortcut {
        Shortcut::Identity(_) => Ok(x.clone()),
        Shortcut::Projection(p) => FoldedConv::new(&p.conv, Some(&p.bn)).emit(g, x),
        Shortcut::Pad(pad) => {
            let mut y = x.clone();
            if pad.stride > 1 {
                let s = pad.stride as i64;
                let starts = g.ints("starts", vec![0, 0]);
                let ends = g.ints("ends", vec![i64::MAX, i64::MAX]);
                let axes = g.ints("axes", vec![2, 3]);
                let steps = g.ints("steps", vec![s, s]);
                y.name = g.node("Slice", vec![y.name, starts, ends, axes, steps], vec![]);
                y.shape = [
                    y.shape[0],
                    y.shape[1].div_ceil(pad.stride),
                    y.shape[2].div_ceil(pad.stride),
                ];
            }
            let p = pad.pad as i64;
            let pads = g.ints("pads", vec![0, p, 0, 0, 0, p, 0, 0]);
            // Constant (zero) padding is `Pad`'s default mode.
            y.name = g.node("Pad", vec![y.name, pads], vec![]);
            y.shape[0] += 2 * pad.pad;
            // The zero channels take any factor: 1.
            y.scale = y.scale.map(|s| {
                let ones = std::iter::repeat_n(1.0, pad.pad);
                ones.clone().chain(s).chain(ones).collect()
            });
            Ok(y)
        }
    }
}

fn basic(g: &mut Graph, x: &Value, block: &BasicBlock) -> Result<Value> {
    let s = shortcut(g, x, &block.shortcut)?;
    let y = conv_bn_act(g, x, &block.first)?;
    let y = FoldedConv::new(&block.conv2, Some(&block.bn2)).emit_scaled(g, &y, &s.scale)?;
    let sum = add(g, &y, &s);
    activation(g, &sum, &block.act)
}

fn bottleneck(g: &mut Graph, x: &Value, block: &Bottleneck) -> Result<Value> {
    let s = shortcut(g, x, &block.shortcut)?;
    let y = conv_bn_act(g, x, &block.reduce)?;
    let y = conv_bn_act(g, &y, &block.spatial)?;
    let y = FoldedConv::new(&block.expand, Some(&block.bn)).emit_scaled(g, &y, &s.scale)?;
    let sum = add(g, &y, &s);
    activation(g, &sum, &block.act)
}

fn cifar_resnet(g: &mut Graph, x: Value, net: &CifarResNet) -> Result<Value> {
    let mut x = conv_bn_act(g, &x, &net.stem)?;
    for block in &net.blocks {
        x = basic(g, &x, block)?;
    }
    let x = adaptive_avg_pool(g, &x, &net.pool)?;
    let x = flatten(g, &x);
    Ok(linear(g, &x, &net.head))
}

fn resnet(g: &mut Graph, x: Value, net: &ResNet) -> Result<Value> {
    let x = conv_bn_act(g, &x, &net.stem)?;
    let mut x = max_pool(g, &x, &net.pool)?;
    for block in &net.blocks {
        x = match block {
            ResBlock::Basic(b) => basic(g, &x, b)?,
            ResBlock::Bottleneck(b) => bottleneck(g, &x, b)?,
        };
    }
    let x = adaptive_avg_pool(g, &x, &net.avg)?;
    let x = flatten(g, &x);
    Ok(linear(g, &x, &net.head))
}

fn mobilenet(g: &mut Graph, x: Value, net: &MobileNetV1) -> Result<Value> {
    let mut x = conv_bn_act(g, &x, &net.stem)?;
    for block in &net.blocks {
        x = conv_bn_act(g, &x, &block.depthwise)?;
        x = conv_bn_act(g, &x, &block.pointwise)?;
    }
    // Dropout is the identity at inference.
    let x = adaptive_avg_pool(g, &x, &net.pool)?;
    let x = flatten(g, &x);
    Ok(linear(g, &x, &net.head))
}

fn vgg(g: &mut Graph, x: Value, net: &Vgg16) -> Result<Value> {
    let mut x = x;
    let mut index = 0;
    for stage in crate::models::vgg::STAGES {
        for _ in stage.iter() {
            let layer = &net.convs[index];
            x = FoldedConv::new(&layer.conv, Some(&layer.bn)).emit_with(g, &x, &layer.act)?;
            index += 1;
        }
        x = max_pool(g, &x, &net.pool)?;
    }
    let c = &net.classifier;
    if let Some(pool) = &c.pool {
        x = adaptive_avg_pool(g, &x, pool)?;
    }
    let mut x = flatten(g, &x);
    let last = c.linears.len() - 1;
    for (i, layer) in c.linears.iter().enumerate() {
        x = linear(g, &x, layer);
        if i < last {
            x = activation(g, &x, &c.acts[i])?;
        }
    }
    Ok(x)
}

fn value_info(name: &str, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: 1,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            }),
        }),
    }
}

fn dim(value: usize) -> Dimension {
    Dimension {
        dim_value: Some(value as i64),
        dim_param: None,
    }
}

/// Adds the nodes of `net` on inputs `[channels, height, width]` to `g`; returns the logits.
pub(crate) fn build(g: &mut Graph, net: &Net, input: [usize; 3]) -> Result<Value> {
    let x = Value::input(input);
    match net {
        Net::SimpleCnn(n) => simple_cnn(g, x, n),
        Net::CifarResNet(n) => cifar_resnet(g, x, n),
        Net::ResNet(n) => resnet(g, x, n),
        Net::MobileNetV1(n) => mobilenet(g, x, n),
        Net::Vgg16Bn(n) => vgg(g, x, n),
    }
}

/// The number of nodes of a serialised ONNX model (`None` if the bytes are not one).
pub fn node_count(bytes: &[u8]) -> Option<usize> {
    use prost::Message;
    let model = ModelProto::decode(bytes).ok()?;
    Some(model.graph?.node.len())
}

/// The ONNX model of `net` for inputs `[batch, channels, height, width]` (the batch is left
/// symbolic), serialised; an error names what has no export (an activation, a padding mode).
pub fn export(net: &Net, input: [usize; 3]) -> Result<Vec<u8>> {
    let mut g = Graph::default();
    let y = build(&mut g, net, input)?;
    let batch = Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    };
    let [c, h, w] = input;
    let mut nodes = g.nodes;
    // The last node writes the graph's output, named `logits`.
    if let Some(last) = nodes.last_mut() {
        last.output = vec!["logits".into()];
    }
    let graph = GraphProto {
        node: nodes,
        name: "frelu".into(),
        initializer: g.initializers,
        input: vec![value_info(
            "input",
            &[batch.clone(), dim(c), dim(h), dim(w)],
        )],
        output: vec![value_info("logits", &[batch, dim(y.shape[0])])],
    };
    Ok(encode(&ModelProto {
        ir_version: 8,
        producer_name: "frelu".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: String::new(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    }))
}
