//! Reading the learned slopes of every FReLU layer of any module (for analyses and logs).

use burn::module::Module;
use serde::{Deserialize, Serialize};

/// The learned slopes of one [`crate::FRelu`] layer at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSlopes {
    /// Where the layer sits in the module, e.g. `blocks.3.act`.
    pub path: String,
    /// Positive-side slopes (`None` when fixed, e.g. PReLU). One value per channel, or a single
    /// value for a layer with shared slopes.
    pub pos: Option<Vec<f32>>,
    /// Negative-side slopes (`None` when fixed, e.g. leaky ReLU).
    pub neg: Option<Vec<f32>>,
}

/// The learned slopes of every FReLU layer (lrelu/prelu/frelu activations) of `module`, in
/// visiting order: the FReLU layers of [`crate::learned::snapshot`]. Layers with no learned
/// slope (leaky ReLU) do not appear.
pub fn snapshot<M: Module>(module: &M) -> Vec<LayerSlopes> {
    crate::learned::snapshot(module)
        .into_iter()
        .filter(|layer| layer.kind == "FRelu")
        .map(|layer| LayerSlopes {
            pos: layer.param("pos").map(|p| p.values.clone()),
            neg: layer.param("neg").map(|p| p.values.clone()),
            path: layer.path,
        })
        .collect()
}

impl LayerSlopes {
    /// The layer as a [`crate::learned`] snapshot (kind `FRelu`, parameters `pos` and `neg`),
    /// for records written before every activation had one; `None` unless both slopes are
    /// learned (the snapshot of a layer with a fixed side has no value for it).
    pub fn to_learned(&self) -> Option<crate::learned::LearnedLayer> {
        let param = |name: &str, values: &Vec<f32>| crate::learned::LearnedParam {
            name: name.into(),
            shape: vec![values.len()],
            values: values.clone(),
        };
        Some(crate::learned::LearnedLayer {
            path: self.path.clone(),
            kind: "FRelu".into(),
            params: vec![
                param("pos", self.pos.as_ref()?),
                param("neg", self.neg.as_ref()?),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActivationConfig;
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Net {
        first: crate::Activation,
        blocks: Vec<crate::Activation>,
    }

    #[test]
    fn snapshots_every_learned_layer_with_its_path() {
        let device = Device::flex();
        let frelu: ActivationConfig = "frelu:0.1".parse().unwrap();
        let prelu: ActivationConfig = "prelu".parse().unwrap();
        let lrelu: ActivationConfig = "lrelu".parse().unwrap();
        let net = Net {
            first: frelu.init(3, &device),
            blocks: vec![
                prelu.init(2, &device),
                lrelu.init(2, &device),
                frelu.init(1, &device),
            ],
        };
        let layers = snapshot(&net);
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[0].path, "first");
        assert_eq!(layers[0].pos, Some(vec![1.0; 3]));
        assert_eq!(layers[0].neg, Some(vec![0.1; 3]));
        assert_eq!(layers[1].path, "blocks.0");
        assert_eq!(layers[1].pos, None);
        assert_eq!(layers[1].neg, Some(vec![0.25; 2]));
        assert_eq!(layers[2].path, "blocks.2");
    }
}
