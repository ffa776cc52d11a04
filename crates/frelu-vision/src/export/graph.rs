//! An ONNX graph under construction, and the layer primitives the models are made of: a
//! convolution with its batch norm folded in, FReLU folded into the convolution before it
//! (PReLU cost), pooling, a linear layer.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, MaxPool2d};
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use frelu::Activation;

use super::onnx_pb::{AttributeProto, NodeProto, TensorProto};

/// `TensorProto.DataType` values.
const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// A failure to export, with what could not be exported.
pub type Result<T> = std::result::Result<T, String>;

/// A value of the graph: its name and its shape `[channels, height, width]` (batch aside; a
/// flattened value has height = width = 1).
///
/// `scale` is a pending positive per-channel factor: the network's value is `scale ⊙ (the
/// graph's value)`. FReLU with `pos > 0` is `pos ⊙ PReLU(x, neg/pos)`, and a positive factor
/// passes through ReLU, PReLU, pooling, padding and additions unchanged, so the factor is
/// carried to the next linear layer and folded into its weights instead of costing a node.
#[derive(Clone, Debug)]
pub struct Value {
    /// Name in the graph.
    pub name: String,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Rank of the value with its batch dimension (4 for images, 2 after flattening).
    pub rank: usize,
    /// Pending per-channel factor (`None`: 1).
    pub scale: Option<Vec<f32>>,
}

impl Value {
    /// The graph's input.
    pub fn input(shape: [usize; 3]) -> Self {
        Self {
            name: "input".into(),
            shape,
            rank: 4,
            scale: None,
        }
    }

    fn with(&self, name: String) -> Self {
        Self {
            name,
            ..self.clone()
        }
    }
}

/// Nodes and initialisers, in order.
#[derive(Default)]
pub struct Graph {
    /// The nodes.
    pub nodes: Vec<NodeProto>,
    /// The weights.
    pub initializers: Vec<TensorProto>,
    counter: usize,
}

/// An attribute of a node.
pub enum Attr {
    /// A whole number.
    Int(i64),
    /// Whole numbers.
    Ints(Vec<i64>),
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

impl Graph {
    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    /// A float initialiser; returns its name.
    pub fn floats(&mut self, stem: &str, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            float_data: data,
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    /// An int64 initialiser; returns its name.
    pub fn ints(&mut self, stem: &str, data: Vec<i64>) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: INT64,
            int64_data: data,
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    /// Adds a node; returns the name of its output.
    pub fn node(&mut self, op: &str, inputs: Vec<String>, attrs: Vec<(&str, Attr)>) -> String {
        let output = self.fresh(&op.to_ascii_lowercase());
        let attribute = attrs
            .into_iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: name.into(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => (p.i, p.r#type) = (i, 2),
                    Attr::Ints(v) => (p.ints, p.r#type) = (v, 7),
                }
                p
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute,
        });
        output
    }
}

/// A convolution's weights with the batch norm that follows folded in:
/// `W' = W·γ/√(σ² + ε)`, `b' = (b − μ)·γ/√(σ² + ε) + β`.
pub struct FoldedConv<'a> {
    conv: &'a Conv2d,
    weight: Vec<f32>,
    bias: Vec<f32>,
    out: usize,
}

impl<'a> FoldedConv<'a> {
    /// Folds `bn` (if any) into `conv`.
    pub fn new(conv: &'a Conv2d, bn: Option<&BatchNorm>) -> Self {
        let mut weight = param(&conv.weight);
        let out = conv.weight.val().dims()[0];
        let mut bias = conv.bias.as_ref().map_or(vec![0.0; out], param);
        if let Some(bn) = bn {
            let (gamma, beta) = (param(&bn.gamma), param(&bn.beta));
            let (mean, var) = (
                values(bn.running_mean.value()),
                values(bn.running_var.value()),
            );
            let per = weight.len() / out;
            for c in 0..out {
                let scale = gamma[c] / (var[c] + bn.epsilon as f32).sqrt();
                weight[c * per..(c + 1) * per]
                    .iter_mut()
                    .for_each(|w| *w *= scale);
                bias[c] = (bias[c] - mean[c]) * scale + beta[c];
            }
        }
        Self {
            conv,
            weight,
            bias,
            out,
        }
    }

    /// Multiplies input channel `c` by `scale[c]`: the pending factor of the input folded in.
    fn scale_inputs(&mut self, scale: &[f32]) {
        let dims = self.conv.weight.val().dims();
        let (per_group_in, k) = (dims[1], dims[2] * dims[3]);
        let out_per_group = self.out / self.conv.groups;
        for o in 0..self.out {
            let group = o / out_per_group;
            for i in 0..per_group_in {
                let s = scale[group * per_group_in + i];
                let start = (o * per_group_in + i) * k;
                self.weight[start..start + k]
                    .iter_mut()
                    .for_each(|w| *w *= s);
            }
        }
    }

    /// Multiplies output channel `c` by `scale[c]` (a positive slope folded in).
    pub fn scale(&mut self, scale: &[f32]) {
        let per = self.weight.len() / self.out;
        for (c, s) in scale.iter().enumerate() {
            self.weight[c * per..(c + 1) * per]
                .iter_mut()
                .for_each(|w| *w *= s);
            self.bias[c] *= s;
        }
    }

    /// Emits the convolution on `x` (folding in `x`'s pending factor).
    pub fn emit(mut self, g: &mut Graph, x: &Value) -> Result<Value> {
        if let Some(scale) = &x.scale {
            self.scale_inputs(scale);
        }
        let dims = self.conv.weight.val().dims();
        let [sh, sw] = self.conv.stride;
        let [kh, kw] = self.conv.kernel_size;
        let (t, l, b, r) = explicit(&self.conv.padding)?;
        let w = g.floats("w", &dims, self.weight.clone());
        let bias = g.floats("b", &[self.out], self.bias.clone());
        let [dh, dw] = self.conv.dilation;
        let name = g.node(
            "Conv",
            vec![x.name.clone(), w, bias],
            vec![
                ("kernel_shape", Attr::Ints(vec![kh as i64, kw as i64])),
                ("strides", Attr::Ints(vec![sh as i64, sw as i64])),
                (
                    "pads",
                    Attr::Ints(vec![t as i64, l as i64, b as i64, r as i64]),
                ),
                ("dilations", Attr::Ints(vec![dh as i64, dw as i64])),
                ("group", Attr::Int(self.conv.groups as i64)),
            ],
        );
        let out = |size: usize, pad: usize, k: usize, s: usize, d: usize| {
            (size + pad - d * (k - 1) - 1) / s + 1
        };
        Ok(Value {
            name,
            shape: [
                self.out,
                out(x.shape[1], t + b, kh, sh, dh),
                out(x.shape[2], l + r, kw, sw, dw),
            ],
            rank: 4,
            scale: None,
        })
    }

    /// The convolution with its output divided by `scale` and marked as carrying it: its value
    /// then has the pending factor of the branch it is added to.
    pub fn emit_scaled(
        mut self,
        g: &mut Graph,
        x: &Value,
        scale: &Option<Vec<f32>>,
    ) -> Result<Value> {
        let Some(scale) = scale else {
            return self.emit(g, x);
        };
        let inverse: Vec<f32> = scale.iter().map(|s| 1.0 / s).collect();
        self.scale(&inverse);
        let mut y = self.emit(g, x)?;
        y.scale = Some(scale.clone());
        Ok(y)
    }

    /// The convolution followed by `act`, with FReLU's positive slopes folded into the
    /// convolution where they are all positive: one `PRelu` (slope `neg/pos`) after it — the
    /// cost of PReLU. Otherwise the convolution and [`activation`].
    pub fn emit_with(mut self, g: &mut Graph, x: &Value, act: &Activation) -> Result<Value> {
        if let Activation::FRelu(layer) = act {
            let (pos, neg) = (layer.pos_values(), layer.neg_values());
            if pos.iter().all(|&p| p > 0.0) {
                self.scale(&pos);
                let y = self.emit(g, x)?;
                let slope: Vec<f32> = neg.iter().zip(&pos).map(|(n, p)| n / p).collect();
                return Ok(prelu(g, &y, &slope));
            }
        }
        let y = self.emit(g, x)?;
        activation(g, &y, act)
    }
}

fn explicit(padding: &PaddingConfig2d) -> Result<(usize, usize, usize, usize)> {
    match *padding {
        PaddingConfig2d::Explicit(t, l, b, r) => Ok((t, l, b, r)),
        PaddingConfig2d::Valid => Ok((0, 0, 0, 0)),
        PaddingConfig2d::Same => Err("'same' padding is not exported".into()),
    }
}

/// A per-channel vector shaped to broadcast over `x` (`[C, 1, 1]` for images, `[C]` after
/// flattening).
fn channel_param(g: &mut Graph, stem: &str, x: &Value, data: Vec<f32>) -> String {
    if x.rank == 4 {
        g.floats(stem, &[data.len(), 1, 1], data)
    } else {
        g.floats(stem, &[data.len()], data)
    }
}

/// `PRelu` with per-channel slopes (`Relu` when every slope is 0).
fn prelu(g: &mut Graph, x: &Value, slope: &[f32]) -> Value {
    let name = if slope.iter().all(|&s| s == 0.0) {
        g.node("Relu", vec![x.name.clone()], vec![])
    } else {
        let s = channel_param(g, "slope", x, slope.to_vec());
        g.node("PRelu", vec![x.name.clone(), s], vec![])
    };
    x.with(name)
}

/// The graph's value with its pending factor applied (a `Mul`), for the exact composed form.
fn settle(g: &mut Graph, x: &Value) -> Value {
    match &x.scale {
        None => x.clone(),
        Some(scale) => {
            let s = channel_param(g, "scale", x, scale.clone());
            let name = g.node("Mul", vec![x.name.clone(), s], vec![]);
            Value {
                scale: None,
                ..x.with(name)
            }
        }
    }
}

/// `act` on `x` in its cheapest exact form: `Relu`; FReLU with every `pos > 0` as one `PRelu`
/// (slope `neg/pos`) with `pos` carried on as a pending factor; otherwise
/// `(pos − neg)·Relu(x) + neg·x`.
pub fn activation(g: &mut Graph, x: &Value, act: &Activation) -> Result<Value> {
    match act {
        Activation::Relu(_) => {
            let name = g.node("Relu", vec![x.name.clone()], vec![]);
            Ok(x.with(name))
        }
        Activation::Identity(_) => Ok(x.clone()),
        Activation::FRelu(layer) => {
            let (pos, neg) = (layer.pos_values(), layer.neg_values());
            if pos.iter().all(|&p| p > 0.0) {
                let slope: Vec<f32> = neg.iter().zip(&pos).map(|(n, p)| n / p).collect();
                let mut y = prelu(g, x, &slope);
                let pending = match &x.scale {
                    Some(s) => s.iter().zip(&pos).map(|(a, b)| a * b).collect(),
                    None => pos,
                };
                y.scale = pending.iter().any(|&p| p != 1.0).then_some(pending);
                return Ok(y);
            }
            let x = settle(g, x);
            let diff = pos.iter().zip(&neg).map(|(p, n)| p - n).collect();
            let relu = g.node("Relu", vec![x.name.clone()], vec![]);
            let d = channel_param(g, "diff", &x, diff);
            let a = g.node("Mul", vec![relu, d], vec![]);
            let n = channel_param(g, "neg", &x, neg);
            let b = g.node("Mul", vec![x.name.clone(), n], vec![]);
            let name = g.node("Add", vec![a, b], vec![]);
            Ok(x.with(name))
        }
        other => Err(format!(
            "activation {} has no ONNX export yet (relu, lrelu, prelu and frelu have)",
            activation_name(other)
        )),
    }
}

fn activation_name(act: &Activation) -> String {
    format!("{act:?}")
        .split('(')
        .next()
        .unwrap_or("?")
        .to_string()
}

/// Max pooling.
pub fn max_pool(g: &mut Graph, x: &Value, pool: &MaxPool2d) -> Result<Value> {
    let [kh, kw] = pool.kernel_size;
    let [sh, sw] = pool.stride;
    let (t, l, b, r) = explicit(&pool.padding)?;
    if pool.ceil_mode || pool.dilation != [1, 1] {
        return Err("max pooling with ceil mode or dilation is not exported".into());
    }
    let name = g.node(
        "MaxPool",
        vec![x.name.clone()],
        vec![
            ("kernel_shape", Attr::Ints(vec![kh as i64, kw as i64])),
            ("strides", Attr::Ints(vec![sh as i64, sw as i64])),
            (
                "pads",
                Attr::Ints(vec![t as i64, l as i64, b as i64, r as i64]),
            ),
        ],
    );
    let out = |size: usize, pad: usize, k: usize, s: usize| (size + pad - k) / s + 1;
    Ok(Value {
        name,
        shape: [
            x.shape[0],
            out(x.shape[1], t + b, kh, sh),
            out(x.shape[2], l + r, kw, sw),
        ],
        ..x.clone()
    })
}

/// Adaptive average pooling, exported exactly where it is an ordinary one: output 1×1
/// (`GlobalAveragePool`), the input size (nothing), an input a whole multiple of the output
/// (`AveragePool`), or a 1×1 input repeated (`Expand`).
pub fn adaptive_avg_pool(g: &mut Graph, x: &Value, pool: &AdaptiveAvgPool2d) -> Result<Value> {
    let [oh, ow] = pool.output_size;
    let [c, h, w] = x.shape;
    let shape = [c, oh, ow];
    let name = if [oh, ow] == [1, 1] {
        g.node("GlobalAveragePool", vec![x.name.clone()], vec![])
    } else if [h, w] == [oh, ow] {
        return Ok(x.clone());
    } else if h % oh == 0 && w % ow == 0 {
        let k = vec![(h / oh) as i64, (w / ow) as i64];
        g.node(
            "AveragePool",
            vec![x.name.clone()],
            vec![
                ("kernel_shape", Attr::Ints(k.clone())),
                ("strides", Attr::Ints(k)),
            ],
        )
    } else if [h, w] == [1, 1] {
        let target = g.ints("shape", vec![1, c as i64, oh as i64, ow as i64]);
        g.node("Expand", vec![x.name.clone(), target], vec![])
    } else {
        return Err(format!(
            "adaptive average pooling from {h}×{w} to {oh}×{ow} is not exported"
        ));
    };
    Ok(Value {
        name,
        shape,
        ..x.clone()
    })
}

/// `[N, C, H, W]` → `[N, C·H·W]` (a pending factor per channel becomes one per feature).
pub fn flatten(g: &mut Graph, x: &Value) -> Value {
    let name = g.node(
        "Flatten",
        vec![x.name.clone()],
        vec![("axis", Attr::Int(1))],
    );
    let plane = x.shape[1] * x.shape[2];
    Value {
        name,
        shape: [x.shape.iter().product(), 1, 1],
        rank: 2,
        scale: x.scale.as_ref().map(|s| {
            s.iter()
                .flat_map(|&v| std::iter::repeat_n(v, plane))
                .collect()
        }),
    }
}

/// A linear layer (`Gemm`; Burn stores the weight `[in, out]`, ONNX's `B` without transpose),
/// with the input's pending factor folded into its rows.
pub fn linear(g: &mut Graph, x: &Value, layer: &Linear) -> Value {
    let dims = layer.weight.val().dims();
    let mut weight = param(&layer.weight);
    if let Some(scale) = &x.scale {
        for (row, s) in weight.chunks_mut(dims[1]).zip(scale) {
            row.iter_mut().for_each(|w| *w *= s);
        }
    }
    let w = g.floats("fc_w", &dims, weight);
    let mut inputs = vec![x.name.clone(), w];
    if let Some(b) = &layer.bias {
        inputs.push(g.floats("fc_b", &[dims[1]], param(b)));
    }
    let name = g.node("Gemm", inputs, vec![]);
    Value {
        name,
        shape: [dims[1], 1, 1],
        rank: 2,
        scale: None,
    }
}

/// `a + b`, for values with the same pending factor (see [`FoldedConv::emit_scaled`]).
pub fn add(g: &mut Graph, a: &Value, b: &Value) -> Value {
    let name = g.node("Add", vec![a.name.clone(), b.name.clone()], vec![]);
    a.with(name)
}
