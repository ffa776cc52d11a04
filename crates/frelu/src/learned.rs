//! The learned parameters of every learnable activation of a module, whatever its kind (FReLU's
//! slopes, PELU's `a` and `b`, PAU's coefficients, ...), and the curves they define.
//!
//! [`snapshot`] reads them through the parameter visitor; [`curves`] rebuilds a layer from a
//! snapshot and evaluates it on a grid of inputs, one curve per channel (or one per layer for
//! activations with one set of parameters per layer), so that analyses need not know any
//! activation's formula.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::ActivationConfig;

/// One learned parameter tensor of an activation layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnedParam {
    /// The field name (`pos`, `a`, `heights`, ...).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// The learned parameters of one activation layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnedLayer {
    /// Where the layer sits in the module, e.g. `blocks.3.act`.
    pub path: String,
    /// The layer's type (`FRelu`, `Pelu`, `Pau`, ...).
    pub kind: String,
    /// Its learned parameters, in declaration order.
    pub params: Vec<LearnedParam>,
}

impl LearnedLayer {
    /// The parameter called `name`, if the layer has one.
    pub fn param(&self, name: &str) -> Option<&LearnedParam> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// The learned parameters of every learnable activation layer of `module`, in visiting order.
pub fn snapshot<M: Module>(module: &M) -> Vec<LearnedLayer> {
    let mut layers: Vec<LearnedLayer> = Vec::new();
    crate::params::for_each_param(module, |info, read| {
        if !info.activation {
            return;
        }
        let Some((field, parent)) = info.path.split_last() else {
            return;
        };
        // Inside the registry's `Activation` enum the variant name is a path component too.
        let parent = match parent.split_last() {
            Some((last, rest)) if last == info.owner && !rest.is_empty() => rest,
            _ => parent,
        };
        let path = parent.join(".");
        if layers.last().is_none_or(|l| l.path != path) {
            layers.push(LearnedLayer {
                path: path.clone(),
                kind: info.owner.to_string(),
                params: Vec::new(),
            });
        }
        if let Some(layer) = layers.last_mut() {
            layer.params.push(LearnedParam {
                name: field.clone(),
                shape: info.shape.to_vec(),
                values: read(),
            });
        }
    });
    layers
}

/// Replaces each float parameter whose field name is in the snapshot by the snapshot's values.
struct Restore<'a> {
    layer: &'a LearnedLayer,
    field: Vec<String>,
    device: Device,
    missing: Vec<String>,
}

impl ModuleMapper for Restore<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.field.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.field.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.field.last().cloned().unwrap_or_default();
        match self.layer.param(&name) {
            Some(p) if p.shape == param.shape().dims::<D>() => {
                let data = TensorData::new(p.values.clone(), p.shape.clone());
                let device = self.device.clone();
                param.map(|_| Tensor::from_data(data, &device))
            }
            _ => {
                self.missing.push(name);
                param
            }
        }
    }
}

/// The number of channels a snapshot of a per-channel activation of kind `config` describes.
fn channels_of(config: &ActivationConfig, layer: &LearnedLayer) -> Option<usize> {
    let per_channel = config.learned_per_layer(1);
    let total: usize = layer.params.iter().map(|p| p.values.len()).sum();
    if !config.per_channel() {
        return Some(1);
    }
    (per_channel > 0 && total.is_multiple_of(per_channel)).then(|| total / per_channel)
}

/// The curves of a layer of activation `config` with the learned parameters `layer`, at the
/// inputs `xs`: one curve per channel (`result[c][i] = f_c(xs[i])`), or a single curve when the
/// activation has one set of parameters per layer. Stochastic activations give their evaluation
/// function. An error says why the snapshot does not fit the activation.
pub fn curves(
    config: &ActivationConfig,
    layer: &LearnedLayer,
    xs: &[f32],
) -> Result<Vec<Vec<f32>>, String> {
    let device = Device::flex();
    let channels = channels_of(config, layer)
        .ok_or_else(|| format!("{}: parameters do not fit {config}", layer.path))?;
    let mut restore = Restore {
        layer,
        field: Vec::new(),
        device: device.clone(),
        missing: Vec::new(),
    };
    let activation = config.init(channels, &device).map(&mut restore);
    if !restore.missing.is_empty() {
        return Err(format!(
            "{}: {config} has parameters {:?} that the snapshot lacks or shapes differently",
            layer.path, restore.missing
        ));
    }
    // `[points, channels]`: every column is the grid, so column c is channel c's curve.
    let grid = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), &device);
    let input: Tensor<2> = grid.reshape([xs.len(), 1]).expand([xs.len(), channels]);
    let output = activation.valid().forward(input).swap_dims(0, 1);
    let values = output
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok(values.chunks(xs.len()).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;

    #[derive(Module, Debug)]
    struct Net {
        fc: burn::nn::Linear,
        acts: Vec<Activation>,
    }

    fn parse(text: &str) -> ActivationConfig {
        text.parse().unwrap()
    }

    #[test]
    fn snapshots_every_learnable_kind_with_its_path() {
        let device = Device::flex();
        let net = Net {
            fc: burn::nn::LinearConfig::new(2, 2).init(&device),
            acts: vec![
                parse("pelu").init(3, &device),
                parse("relu").init(3, &device),
                parse("pau").init(3, &device),
                parse("frelu").init(2, &device),
            ],
        };
        let layers = snapshot(&net);
        let summary: Vec<(&str, &str, Vec<&str>)> = layers
            .iter()
            .map(|l| {
                let names = l.params.iter().map(|p| p.name.as_str()).collect();
                (l.path.as_str(), l.kind.as_str(), names)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("acts.0", "Pelu", vec!["a", "b"]),
                ("acts.2", "Pau", vec!["numerator", "denominator"]),
                ("acts.3", "FRelu", vec!["pos", "neg"]),
            ]
        );
        assert_eq!(layers[1].param("numerator").unwrap().shape, [6]);
    }

    #[test]
    fn curves_rebuild_the_layer_from_its_snapshot() {
        let device = Device::flex();
        let xs = [-2.0f32, -0.5, 0.5, 2.0];
        // FReLU with edited slopes: the curves follow the snapshot, not the initial layer.
        let config = parse("frelu");
        let mut layer = snapshot(&config.init(2, &device)).remove(0);
        layer.params[0].values = vec![2.0, 1.0];
        layer.params[1].values = vec![0.0, -1.0];
        let c = curves(&config, &layer, &xs).unwrap();
        assert_eq!(c, [vec![0.0, 0.0, 1.0, 4.0], vec![2.0, 0.5, 0.5, 2.0]]);
        // One curve per layer for PAU, close to leaky ReLU at start.
        let config = parse("pau");
        let layer = snapshot(&config.init(5, &device)).remove(0);
        let c = curves(&config, &layer, &xs).unwrap();
        assert_eq!(c.len(), 1);
        assert!((c[0][3] - 2.0).abs() < 0.05, "{:?}", c[0]);
        // A snapshot of another activation is refused, with the reason.
        let err = curves(&parse("pelu"), &layer, &xs).unwrap_err();
        assert!(err.contains("lacks"), "{err}");
    }
}
