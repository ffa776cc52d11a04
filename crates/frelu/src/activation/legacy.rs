//! Reading stored activation configurations written before issue 30 (the peers in their
//! authors' form): every field added then, when absent, gives the layer those runs trained,
//! so that `--resume`, `frelu compare --aggregate-only` and `analyze` never reinterpret an
//! older run. New configurations write every field.
//!
//! | stored as                          | reads as                               |
//! |------------------------------------|----------------------------------------|
//! | `"Pelu"`                           | `pelu:per=channel:bound=clamp`         |
//! | `"Pau"`                            | `pau:version=b`                        |
//! | `{"RRelu":{lower, upper}}`         | `rrelu:form=mul:lower=…:upper=…`       |
//! | `{"Mpelu":{alpha, beta}}`          | `mpelu:alpha=…:beta=…:clamp`           |
//! | `{"Prenu":{alpha}}`                | `prenu:…:bound=clamp`                  |
//! | `{"Apl":{hinges}}`                 | `apl:…:a_range=0.2`                    |
//!
//! The defaults are here; `stored.rs` reads the unit variants (`"Pelu"`, `"Pau"`) that became
//! struct variants.

use super::{APL_LEGACY_A_RANGE, Constraint, PauVersion, RReluForm, SlopeSharing};

/// RReLU: PyTorch's multiply form.
pub(crate) fn rrelu_form() -> RReluForm {
    RReluForm::Multiply
}

/// PELU: per channel.
pub(crate) fn pelu_sharing() -> SlopeSharing {
    SlopeSharing::Channel
}

/// PELU, PReNU: the forward clamp.
pub(crate) fn clamp() -> Constraint {
    Constraint::Clamp
}

/// MPELU: β clamped at 0.
pub(crate) fn yes() -> bool {
    true
}

/// APL: slopes drawn from U(±0.2).
pub(crate) fn apl_a_range() -> Option<f64> {
    Some(APL_LEGACY_A_RANGE)
}

/// PAU: version B.
pub(crate) fn pau_version() -> PauVersion {
    PauVersion::B
}
