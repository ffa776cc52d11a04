//! Which module types hold learnable activation parameters: the markers Burn's `Module` derive
//! announces for them, which `crate::params` looks for while it walks a model.

use super::{AconC, Apl, ERelu, FRelu, Mpelu, Pau, Pelu, Prenu, Pwlu};

/// What Burn's `Module` derive passes to `ModuleVisitor::enter_module` for a struct of type
/// `T`: `Struct:` followed by the type's name without its module path.
pub fn owner_marker<T: ?Sized>() -> String {
    let full = core::any::type_name::<T>();
    // `a::b::Name<Generic>` → `Name`.
    let base = full.split('<').next().unwrap_or(full);
    let name = base.rsplit("::").next().unwrap_or(base);
    format!("Struct:{name}")
}

/// The module types whose float parameters are learnable activation parameters, as Burn's
/// derive announces them (see [`owner_marker`]). A test checks that every learnable activation
/// of the registry is covered.
pub fn learnable_markers() -> Vec<String> {
    vec![
        owner_marker::<FRelu>(),
        owner_marker::<ERelu>(),
        owner_marker::<Pelu>(),
        owner_marker::<Mpelu>(),
        owner_marker::<Prenu>(),
        owner_marker::<Apl>(),
        owner_marker::<AconC>(),
        owner_marker::<Pau>(),
        owner_marker::<Pwlu>(),
    ]
}
