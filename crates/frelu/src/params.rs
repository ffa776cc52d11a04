//! Finding parameters in any module: the one visitor that the slope schedule, the slope
//! snapshots and the parameter counts share.
//!
//! An activation's learnable parameters are recognised by the **type** of the module that owns
//! them (any type of [`crate::activation::learnable_markers`]): Burn's derive announces every struct it enters as `Struct:<TypeName>`, and the marker
//! compared against is derived from the Rust type itself ([`owner_marker`]), so renaming the
//! layer type cannot silently break the match.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

pub use crate::activation::owner_marker;

/// One float parameter as the visitor sees it.
pub struct ParamInfo<'a> {
    /// Field names from the root module down to the parameter (the last one is the field).
    pub path: &'a [String],
    /// Whether a learnable activation layer owns the parameter directly.
    pub activation: bool,
    /// The type that owns the parameter directly (`FRelu`, `Pelu`, `Linear`, ...).
    pub owner: &'a str,
    /// The parameter's id (what optimiser groups are built from).
    pub id: ParamId,
    /// Number of elements.
    pub numel: usize,
    /// Its shape.
    pub shape: &'a [usize],
}

/// The visitor: keeps the path and the owning types, hands each float parameter to `f` with a
/// reader of its values.
struct Walker<F> {
    path: Vec<String>,
    owners: Vec<String>,
    markers: Vec<String>,
    f: F,
}

impl<F> ModuleVisitor for Walker<F>
where
    F: FnMut(&ParamInfo<'_>, &dyn Fn() -> Vec<f32>),
{
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.owners.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.owners.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Burn enters each field as `enter_module(field, "Struct:<Owner>")`: the last entry
        // names the type that owns the parameter.
        let activation = self
            .owners
            .last()
            .is_some_and(|o| self.markers.iter().any(|m| m == o));
        let owner = self.owners.last().map(String::as_str).unwrap_or_default();
        let shape = param.shape().dims::<D>();
        let info = ParamInfo {
            path: &self.path,
            activation,
            owner: owner.strip_prefix("Struct:").unwrap_or(owner),
            id: param.id,
            numel: param.shape().num_elements(),
            shape: &shape,
        };
        let read = || {
            param
                .val()
                .try_into_vec_as::<f32>()
                .unwrap_or_else(|_| Vec::new())
        };
        (self.f)(&info, &read);
    }
}

/// Calls `f` for every float parameter of `module`, in visiting order, with a reader of its
/// values (read only when called).
pub fn for_each_param<M, F>(module: &M, f: F)
where
    M: Module,
    F: FnMut(&ParamInfo<'_>, &dyn Fn() -> Vec<f32>),
{
    let mut walker = Walker {
        path: Vec::new(),
        owners: Vec::new(),
        markers: crate::activation::learnable_markers(),
        f,
    };
    module.visit(&mut walker);
}

/// Ids of the learnable activation parameters of `module` (the second parameter group of
/// alternate optimisation).
pub fn activation_param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    let mut ids = Vec::new();
    for_each_param(module, |info, _| {
        if info.activation {
            ids.push(info.id);
        }
    });
    ids
}

/// Paths (`a.b.field`, as Burn's optimiser names them) of the learnable activation parameters
/// of `module`. Unlike ids, they survive loading a saved record into the module.
pub fn activation_param_paths<M: Module>(module: &M) -> Vec<String> {
    let mut paths = Vec::new();
    for_each_param(module, |info, _| {
        if info.activation {
            paths.push(info.path.join("."));
        }
    });
    paths
}

/// Number of learnable activation parameters of `module`.
pub fn activation_param_count<M: Module>(module: &M) -> usize {
    let mut count = 0;
    for_each_param(module, |info, _| {
        if info.activation {
            count += info.numel;
        }
    });
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActivationConfig;
    use burn::nn::LinearConfig;
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Net {
        fc: burn::nn::Linear,
        acts: Vec<crate::Activation>,
    }

    #[test]
    fn the_marker_is_what_the_derive_announces() {
        assert_eq!(owner_marker::<crate::FRelu>(), "Struct:FRelu");
        assert_eq!(owner_marker::<burn::nn::Linear>(), "Struct:Linear");
    }

    #[test]
    fn finds_activation_parameters_by_their_owner_type() {
        let device = Device::flex();
        let net = Net {
            fc: LinearConfig::new(3, 4).init(&device),
            acts: vec![
                "frelu"
                    .parse::<ActivationConfig>()
                    .unwrap()
                    .init(5, &device),
                "relu".parse::<ActivationConfig>().unwrap().init(5, &device),
                "prelu"
                    .parse::<ActivationConfig>()
                    .unwrap()
                    .init(2, &device),
            ],
        };
        // frelu: pos + neg of 5 channels; prelu: neg of 2. The linear layer's weight and bias
        // are not activation parameters.
        assert_eq!(activation_param_ids(&net).len(), 3);
        assert_eq!(activation_param_count(&net), 12);
        assert_eq!(
            activation_param_paths(&net),
            ["acts.0.FRelu.pos", "acts.0.FRelu.neg", "acts.2.FRelu.neg"]
        );
        let mut all = 0;
        let mut paths = Vec::new();
        for_each_param(&net, |info, read| {
            all += info.numel;
            if info.activation {
                paths.push(info.path.join("."));
                assert_eq!(read().len(), info.numel);
            }
        });
        assert_eq!(all, 12 + 3 * 4 + 4);
        assert!(
            paths[0].starts_with("acts.0") && paths[0].ends_with("pos"),
            "{paths:?}"
        );
    }
}
