//! The activation registry: one string → one activation, for every model.
//!
//! Models never name a concrete activation. They take an [`ActivationConfig`] and call
//! [`ActivationConfig::init`] with the channel count of each place that needs one, so that
//! per-channel activations (PReLU, FReLU, PELU, ...) get their own parameters at every layer.
//!
//! Grammar: `NAME[:OPTION]...`, where an option is a number (the activation's main value),
//! `key=value`, or a flag word. Examples: `relu`, `lrelu:0.01`, `prelu`, `prelu:0.1:shared`,
//! `elu:1.0`, `selu`, `swish`, `mish`, `gelu`, `frelu`, `frelu:0.25`,
//! `frelu:neg=0.25:pos=1:shared`, `frelu:composed`, `rrelu`, `erelu:0.2`, `eprelu`, `pelu`,
//! `mpelu:alpha=1`, `prenu:0.5`, `apl:5`, `acon_c`, `pau`, `pwlu:16`.
//!
//! Maxout is not in the registry: it maps `k·C` input channels to `C` outputs, so every model
//! would have to widen the layer before each activation by a factor the registry dictates — a
//! change to every architecture (and to the weight layouts `--init-from` reads) for one
//! activation. The other activations keep the shape, which is what lets one string swap them.

use burn::module::Module;
use burn::nn::activation::{Mish, SiLU};
use burn::nn::{Elu, EluConfig, Gelu, Identity, Relu, Selu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    APL_HINGES, AconC, AconCConfig, Apl, AplConfig, Constraint, ERELU_ALPHA, ERelu, EReluConfig,
    FRELU_NEG_INIT, FRELU_POS_INIT, FRelu, FReluConfig, MPELU_ALPHA, MPELU_BETA, Mpelu,
    MpeluConfig, PRENU_ALPHA, PWLU_INTERVALS, ParamProjection, Pau, PauConfig, PauVersion, Pelu,
    PeluConfig, Prenu, PrenuConfig, Pwlu, PwluConfig, RRelu, RReluConfig, RReluForm, SlopeSharing,
    pelu_projections, prenu_projections,
};

/// The default negative slope of `lrelu`.
pub const LRELU_SLOPE: f64 = 0.01;
/// The default initial negative slope of `prelu` (He et al.'s).
pub const PRELU_INIT: f64 = 0.25;
/// The default `alpha` of `elu`.
pub const ELU_ALPHA: f64 = 1.0;

/// Which activation a model uses; parse it from a string with [`str::parse`].
///
/// Stored run configurations keep their meaning: a field added by issue 30 that an older
/// `config.json` lacks reads as the layer those runs had (see [`super::legacy`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum ActivationConfig {
    /// `relu`: max(x, 0).
    #[default]
    Relu,
    /// `lrelu[:slope]`: leaky ReLU with a fixed negative slope (default 0.01).
    LeakyRelu {
        /// The negative-side slope.
        slope: f64,
        /// Use the fused FReLU operation (default) rather than the composed one.
        fused: bool,
    },
    /// `prelu[:init]`: PReLU, a learned negative slope per channel (default start 0.25).
    PRelu {
        /// Initial negative-side slope.
        init: f64,
        /// One slope per layer instead of per channel.
        shared: bool,
        /// Use the fused FReLU operation (default) rather than the composed one.
        fused: bool,
    },
    /// `frelu[:neg_init]`: FReLU, learned positive and negative slopes per channel.
    FRelu {
        /// Initial positive-side slope (default 1).
        pos_init: f64,
        /// Initial negative-side slope (default 0: the layer starts as ReLU).
        neg_init: f64,
        /// One slope pair per layer instead of per channel.
        shared: bool,
        /// Use the fused operation (default) rather than the composed one.
        fused: bool,
    },
    /// `elu[:alpha]`: exponential linear unit (default alpha 1).
    Elu {
        /// Saturation value for negative inputs.
        alpha: f64,
    },
    /// `selu`: scaled ELU.
    Selu,
    /// `swish` or `silu`: x·sigmoid(x).
    Swish,
    /// `mish`: x·tanh(softplus(x)).
    Mish,
    /// `gelu`: Gaussian error linear unit (exact, erf form).
    Gelu,
    /// `identity`: no activation (a linear network; for checks).
    Identity,
    /// `rrelu[:form=div|mul:lower=L:upper=U]`: randomised leaky ReLU ([`RRelu`]).
    RRelu {
        /// Lower end of the draw's range (default: the paper's 3; `form=mul`: 1/8).
        lower: f64,
        /// Upper end (default: the paper's 8; `form=mul`: 1/3).
        upper: f64,
        /// `x / a` (the paper's) or `a·x` (PyTorch's).
        #[serde(default = "super::legacy::rrelu_form")]
        form: RReluForm,
    },
    /// `erelu[:alpha]`: elastic ReLU; `eprelu[:alpha]`: with a learned PReLU slope ([`ERelu`]).
    ERelu {
        /// Half-width of the positive slope's range (default 0.2).
        alpha: f64,
        /// EPReLU: learn a negative slope per channel.
        prelu: bool,
    },
    /// `pelu[:per=layer|channel:bound=project|clamp]`: parametric ELU ([`Pelu`]).
    Pelu {
        /// One `(a, b)` per layer (the authors') or per channel.
        #[serde(default = "super::legacy::pelu_sharing")]
        per: SlopeSharing,
        /// Projection after the step (the authors') or a forward clamp.
        #[serde(default = "super::legacy::clamp")]
        bound: Constraint,
    },
    /// `mpelu[:alpha=…:beta=…:clamp]`: multiple parametric ELU ([`Mpelu`]).
    Mpelu {
        /// Initial α (default 0.25).
        alpha: f64,
        /// Initial β (default 1).
        beta: f64,
        /// Read β as `max(β, 0)` (the project's; the authors leave it free).
        #[serde(default = "super::legacy::yes")]
        clamp: bool,
    },
    /// `prenu[:alpha:bound=project|clamp]`: parametric rectified nonlinear unit ([`Prenu`]).
    Prenu {
        /// Initial α (default 0.5).
        alpha: f64,
        /// Projection after the step (default) or a forward clamp.
        #[serde(default = "super::legacy::clamp")]
        bound: Constraint,
    },
    /// `apl[:S:a_range=R]`: adaptive piecewise linear unit with S hinges ([`Apl`], default 5).
    Apl {
        /// Number of hinges.
        hinges: usize,
        /// Half-width of the slopes' draw (`None`: the authors' `0.5/S`).
        #[serde(default = "super::legacy::apl_a_range")]
        a_range: Option<f64>,
    },
    /// `acon_c`: ACON-C ([`AconC`]).
    AconC,
    /// `pau[:version=a|b]`: safe Padé activation unit, degrees (5, 4) ([`Pau`]).
    Pau {
        /// The denominator's form (the authors' default: A).
        #[serde(default = "super::legacy::pau_version")]
        version: PauVersion,
    },
    /// `pwlu[:N]`: piecewise linear unit with N intervals ([`Pwlu`], default 16).
    Pwlu {
        /// Number of intervals.
        intervals: usize,
    },
}

/// An activation layer built by [`ActivationConfig::init`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Activation {
    /// ReLU.
    Relu(Relu),
    /// Leaky ReLU, PReLU and FReLU: all run through [`FRelu`].
    FRelu(FRelu),
    /// ELU.
    Elu(Elu),
    /// SELU.
    Selu(Selu),
    /// Swish / SiLU.
    Swish(SiLU),
    /// Mish.
    Mish(Mish),
    /// GELU.
    Gelu(Gelu),
    /// Identity.
    Identity(Identity),
    /// RReLU.
    RRelu(RRelu),
    /// EReLU and EPReLU.
    ERelu(ERelu),
    /// PELU.
    Pelu(Pelu),
    /// MPELU.
    Mpelu(Mpelu),
    /// PRenu.
    Prenu(Prenu),
    /// APL.
    Apl(Apl),
    /// ACON-C.
    AconC(AconC),
    /// PAU.
    Pau(Pau),
    /// PWLU.
    Pwlu(Pwlu),
}

/// The `sharing` of a `shared` flag.
fn sharing(shared: bool) -> SlopeSharing {
    if shared {
        SlopeSharing::Layer
    } else {
        SlopeSharing::Channel
    }
}

/// Leaky ReLU as an FReLU layer with both slopes fixed.
fn leaky_layer(channels: usize, slope: f64, fused: bool) -> FReluConfig {
    FReluConfig::new(channels)
        .with_neg_init(slope)
        .with_learn_pos(false)
        .with_learn_neg(false)
        .with_fused(fused)
}

/// PReLU as an FReLU layer whose positive slope is fixed at 1.
fn prelu_layer(channels: usize, init: f64, shared: bool, fused: bool) -> FReluConfig {
    FReluConfig::new(channels)
        .with_neg_init(init)
        .with_learn_pos(false)
        .with_sharing(sharing(shared))
        .with_fused(fused)
}

/// FReLU starting from the slopes `(pos, neg)`.
fn frelu_layer(channels: usize, (pos, neg): (f64, f64), shared: bool, fused: bool) -> FReluConfig {
    FReluConfig::new(channels)
        .with_pos_init(pos)
        .with_neg_init(neg)
        .with_sharing(sharing(shared))
        .with_fused(fused)
}

impl ActivationConfig {
    /// FReLU with its defaults (starts as ReLU, learns both slopes per channel, fused).
    pub fn frelu() -> Self {
        Self::FRelu {
            pos_init: FRELU_POS_INIT,
            neg_init: FRELU_NEG_INIT,
            shared: false,
            fused: true,
        }
    }

    /// RReLU in `form` with that form's default range.
    pub fn rrelu(form: RReluForm) -> Self {
        let (lower, upper) = form.default_range();
        Self::RRelu { lower, upper, form }
    }

    /// The projections applied to this activation's parameters after each optimiser step
    /// (PELU's and PReNU's bounds); empty for the others.
    pub fn projections(&self) -> Vec<ParamProjection> {
        match self {
            Self::Pelu {
                bound: Constraint::Project,
                ..
            } => pelu_projections(),
            Self::Prenu {
                bound: Constraint::Project,
                ..
            } => prenu_projections(),
            _ => Vec::new(),
        }
    }

    /// Every activation of the registry with its defaults (what its bare name parses to), in
    /// the order help texts and errors list them. The activations after `identity` are FReLU's
    /// learnable peers ([`peers`]).
    pub fn all() -> [Self; 20] {
        let erelu = |prelu| Self::ERelu {
            alpha: ERELU_ALPHA,
            prelu,
        };
        [
            Self::Relu,
            Self::LeakyRelu {
                slope: LRELU_SLOPE,
                fused: true,
            },
            Self::PRelu {
                init: PRELU_INIT,
                shared: false,
                fused: true,
            },
            Self::Elu { alpha: ELU_ALPHA },
            Self::Selu,
            Self::Swish,
            Self::Mish,
            Self::Gelu,
            Self::frelu(),
            Self::Identity,
            Self::rrelu(RReluForm::Divide),
            erelu(false),
            erelu(true),
            Self::Pelu {
                per: SlopeSharing::Layer,
                bound: Constraint::Project,
            },
            Self::Mpelu {
                alpha: MPELU_ALPHA,
                beta: MPELU_BETA,
                clamp: false,
            },
            Self::Prenu {
                alpha: PRENU_ALPHA,
                bound: Constraint::Project,
            },
            Self::Apl {
                hinges: APL_HINGES,
                a_range: None,
            },
            Self::AconC,
            Self::Pau {
                version: PauVersion::A,
            },
            Self::Pwlu {
                intervals: PWLU_INTERVALS,
            },
        ]
    }

    /// The options a user may add to the name, as help texts show them (`[:slope]`, ...).
    pub fn options_hint(&self) -> &'static str {
        match self {
            Self::LeakyRelu { .. } => "[:slope]",
            Self::PRelu { .. } => "[:init]",
            Self::Elu { .. } | Self::ERelu { .. } => "[:alpha]",
            Self::Prenu { .. } => "[:alpha:bound=project|clamp]",
            Self::FRelu { .. } => "[:neg_init]",
            Self::RRelu { .. } => "[:form=div|mul:lower=L:upper=U]",
            Self::Pelu { .. } => "[:per=layer|channel:bound=project|clamp]",
            Self::Mpelu { .. } => "[:alpha=A:beta=B:clamp]",
            Self::Apl { .. } => "[:hinges:a_range=R]",
            Self::Pau { .. } => "[:version=a|b]",
            Self::Pwlu { .. } => "[:intervals]",
            _ => "",
        }
    }

    /// The [`FReluConfig`] behind `lrelu`, `prelu` and `frelu`; `None` for the others.
    pub fn frelu_config(&self, channels: usize) -> Option<FReluConfig> {
        match *self {
            Self::LeakyRelu { slope, fused } => Some(leaky_layer(channels, slope, fused)),
            Self::PRelu {
                init,
                shared,
                fused,
            } => Some(prelu_layer(channels, init, shared, fused)),
            Self::FRelu {
                pos_init,
                neg_init,
                shared,
                fused,
            } => Some(frelu_layer(channels, (pos_init, neg_init), shared, fused)),
            _ => None,
        }
    }

    /// Build the activation for a place with `channels` channels (dimension 1 of its input).
    pub fn init(&self, channels: usize, device: &Device) -> Activation {
        let frelu = |config: FReluConfig| Activation::FRelu(config.init(device));
        match *self {
            Self::Relu => Activation::Relu(Relu::new()),
            Self::LeakyRelu { slope, fused } => frelu(leaky_layer(channels, slope, fused)),
            Self::PRelu {
                init,
                shared,
                fused,
            } => frelu(prelu_layer(channels, init, shared, fused)),
            Self::FRelu {
                pos_init,
                neg_init,
                shared,
                fused,
            } => frelu(frelu_layer(channels, (pos_init, neg_init), shared, fused)),
            Self::Elu { alpha } => Activation::Elu(EluConfig::new().with_alpha(alpha).init()),
            Self::Selu => Activation::Selu(Selu::new()),
            Self::Swish => Activation::Swish(SiLU::new()),
            Self::Mish => Activation::Mish(Mish::new()),
            Self::Gelu => Activation::Gelu(Gelu::new()),
            Self::Identity => Activation::Identity(Identity::new()),
            Self::RRelu { lower, upper, form } => Activation::RRelu(
                RReluConfig::new()
                    .with_form(form)
                    .with_lower(lower)
                    .with_upper(upper)
                    .init(),
            ),
            Self::ERelu { alpha, prelu } => Activation::ERelu(
                EReluConfig::new(channels)
                    .with_alpha(alpha)
                    .with_learn_neg(prelu)
                    .init(device),
            ),
            Self::Pelu { per, bound } => Activation::Pelu(
                PeluConfig::new(channels)
                    .with_sharing(per)
                    .with_constraint(bound)
                    .init(device),
            ),
            Self::Mpelu { alpha, beta, clamp } => Activation::Mpelu(
                MpeluConfig::new(channels)
                    .with_alpha_init(alpha)
                    .with_beta_init(beta)
                    .with_clamp_beta(clamp)
                    .init(device),
            ),
            Self::Prenu { alpha, bound } => Activation::Prenu(
                PrenuConfig::new(channels)
                    .with_alpha_init(alpha)
                    .with_constraint(bound)
                    .init(device),
            ),
            Self::Apl { hinges, a_range } => Activation::Apl(
                AplConfig::new(channels)
                    .with_hinges(hinges)
                    .with_a_range(a_range)
                    .init(device),
            ),
            Self::AconC => Activation::AconC(AconCConfig::new(channels).init(device)),
            Self::Pau { version } => {
                Activation::Pau(PauConfig::new().with_version(version).init(device))
            }
            Self::Pwlu { intervals } => Activation::Pwlu(
                PwluConfig::new(channels)
                    .with_intervals(intervals)
                    .init(device),
            ),
        }
    }

    /// Learned scalars one layer of `channels` channels adds over ReLU.
    pub fn learned_per_layer(&self, channels: usize) -> usize {
        let shared_or = |shared: bool, per_layer: usize, per_channel: usize| {
            if shared { per_layer } else { per_channel }
        };
        match *self {
            Self::PRelu { shared, .. } => shared_or(shared, 1, channels),
            Self::FRelu { shared, .. } => shared_or(shared, 2, 2 * channels),
            Self::ERelu { prelu, .. } => shared_or(!prelu, 0, channels),
            Self::Pelu { per, .. } => shared_or(per == SlopeSharing::Layer, 2, 2 * channels),
            Self::Mpelu { .. } => 2 * channels,
            Self::Prenu { .. } => channels,
            Self::Apl { hinges, .. } => 2 * hinges * channels,
            Self::AconC => 3 * channels,
            Self::Pau { .. } => 10,
            Self::Pwlu { intervals } => (intervals + 5) * channels,
            _ => 0,
        }
    }

    /// Whether this activation has learnable parameters, which form the second parameter group
    /// of the schedules (alternate optimisation, `frozen`, the slope learning-rate multiplier).
    pub fn is_learnable(&self) -> bool {
        self.learned_per_layer(1) > 0
    }

    /// Whether every channel has its own parameters (curves per channel); false for activations
    /// with one set per layer (PAU, shared PReLU/FReLU) or none.
    pub fn per_channel(&self) -> bool {
        self.learned_per_layer(2) == 2 * self.learned_per_layer(1) && self.is_learnable()
    }

    /// The canonical family name (`relu`, `lrelu`, `prelu`, `frelu`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::LeakyRelu { .. } => "lrelu",
            Self::PRelu { .. } => "prelu",
            Self::FRelu { .. } => "frelu",
            Self::Elu { .. } => "elu",
            Self::Selu => "selu",
            Self::Swish => "swish",
            Self::Mish => "mish",
            Self::Gelu => "gelu",
            Self::Identity => "identity",
            Self::RRelu { .. } => "rrelu",
            Self::ERelu { prelu: false, .. } => "erelu",
            Self::ERelu { prelu: true, .. } => "eprelu",
            Self::Pelu { .. } => "pelu",
            Self::Mpelu { .. } => "mpelu",
            Self::Prenu { .. } => "prenu",
            Self::Apl { .. } => "apl",
            Self::AconC => "acon_c",
            Self::Pau { .. } => "pau",
            Self::Pwlu { .. } => "pwlu",
        }
    }
}

impl Activation {
    /// Applies the activation.
    ///
    /// # Shapes
    /// - input: `[batch, channels, ...]`
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu(layer) => layer.forward(input),
            Self::FRelu(layer) => layer.forward(input),
            Self::Elu(layer) => layer.forward(input),
            Self::Selu(layer) => layer.forward(input),
            Self::Swish(layer) => layer.forward(input),
            Self::Mish(layer) => layer.forward(input),
            Self::Gelu(layer) => layer.forward(input),
            Self::Identity(layer) => layer.forward(input),
            Self::RRelu(layer) => layer.forward(input),
            Self::ERelu(layer) => layer.forward(input),
            Self::Pelu(layer) => layer.forward(input),
            Self::Mpelu(layer) => layer.forward(input),
            Self::Prenu(layer) => layer.forward(input),
            Self::Apl(layer) => layer.forward(input),
            Self::AconC(layer) => layer.forward(input),
            Self::Pau(layer) => layer.forward(input),
            Self::Pwlu(layer) => layer.forward(input),
        }
    }

    /// `(pos, neg)` of shape `[channels]` when this activation is `z · (z > 0 ? pos : neg)`
    /// and runs through the fused op: ReLU `(1, 0)`, leaky ReLU, PReLU and FReLU (their
    /// slopes, tracked where learned), identity `(1, 1)`. The fast path fuses these with batch
    /// norm; every other activation (and FReLU's composed variant, kept for comparisons) runs
    /// its own op.
    pub fn piecewise_linear(
        &self,
        channels: usize,
        device: &Device,
    ) -> Option<(Tensor<1>, Tensor<1>)> {
        let constant = |value: f32| Tensor::<1>::full([channels], value, device);
        match self {
            Self::Relu(_) => Some((constant(1.0), constant(0.0))),
            Self::Identity(_) => Some((constant(1.0), constant(1.0))),
            Self::FRelu(layer) if layer.fused && layer.channels == channels => {
                Some(layer.slopes(device))
            }
            _ => None,
        }
    }

    /// The FReLU layer behind this activation, if it is one (lrelu, prelu, frelu).
    pub fn as_frelu(&self) -> Option<&FRelu> {
        match self {
            Self::FRelu(layer) => Some(layer),
            _ => None,
        }
    }
}

/// Every activation of the registry as a user writes it (name and its options), in the order
/// help texts and errors list them: [`ActivationConfig::all`]'s names with their
/// [`ActivationConfig::options_hint`].
pub fn activations() -> Vec<String> {
    ActivationConfig::all()
        .iter()
        .map(|c| format!("{}{}", c.name(), c.options_hint()))
        .collect()
}

/// The learnable activations added for the comparison with FReLU's peers (issue 16), in the
/// order tables list them: those after `identity` in [`ActivationConfig::all`].
pub fn peers() -> Vec<&'static str> {
    let all = ActivationConfig::all();
    let after = all.iter().position(|c| *c == ActivationConfig::Identity);
    all[after.map_or(all.len(), |i| i + 1)..]
        .iter()
        .map(|c| c.name())
        .collect()
}

/// [`activations`], comma-separated.
pub fn activation_names() -> String {
    activations().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance, activation};

    fn parse(text: &str) -> ActivationConfig {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_listed_activation_parses() {
        for entry in activations() {
            let name = entry.split('[').next().unwrap();
            let config: ActivationConfig = name.parse().unwrap();
            assert_eq!(config.name(), name.split(':').next().unwrap(), "{entry}");
        }
        let err = "relux".parse::<ActivationConfig>().unwrap_err().to_string();
        assert!(err.contains(&activation_names()), "{err}");
    }

    #[test]
    fn every_name_round_trips_to_its_defaults() {
        let all = ActivationConfig::all();
        for config in &all {
            // The bare name gives the registry's defaults, the canonical string the same
            // config, and no two activations share a name.
            assert_eq!(&parse(config.name()), config, "{}", config.name());
            assert_eq!(&parse(&config.to_string()), config, "{config}");
            assert_eq!(all.iter().filter(|c| c.name() == config.name()).count(), 1);
        }
        assert_eq!(peers().first(), Some(&"rrelu"));
        assert_eq!(peers().len(), 10);
        assert_eq!(activations()[1], "lrelu[:slope]");
        for (alias, name) in [
            ("leaky_relu", "lrelu"),
            ("SiLU", "swish"),
            ("acon-c", "acon_c"),
        ] {
            assert_eq!(parse(alias).name(), name, "{alias}");
        }
    }

    #[test]
    fn layers_compute_their_functions() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 2.0), &device);
        let check = |text: &str, expected: Tensor<4>| {
            parse(text)
                .init(3, &device)
                .forward(x.clone())
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
        };
        check("relu", activation::relu(x.clone()));
        check("lrelu:0.2", activation::leaky_relu(x.clone(), 0.2));
        // PReLU starts at its init slope.
        check("prelu:0.25", activation::leaky_relu(x.clone(), 0.25));
        check("frelu", activation::relu(x.clone()));
        check("frelu:0.3", activation::leaky_relu(x.clone(), 0.3));
        check("elu", activation::elu(x.clone(), 1.0));
        check("selu", activation::selu(x.clone()));
        check("swish", activation::silu(x.clone()));
        check("mish", activation::mish(x.clone()));
        check("gelu", activation::gelu(x.clone()));
        check("identity", x.clone());
        // The peers' initial functions.
        check("rrelu", activation::leaky_relu(x.clone(), 2.0 / 11.0));
        check(
            "rrelu:form=mul",
            activation::leaky_relu(x.clone(), (0.125 + 1.0 / 3.0) / 2.0),
        );
        check("erelu", activation::relu(x.clone()));
        check("eprelu", activation::leaky_relu(x.clone(), 0.25));
        check("pelu", activation::elu(x.clone(), 1.0));
        check("mpelu:alpha=1", activation::elu(x.clone(), 1.0));
        check("prenu:0", activation::relu(x.clone()));
        check("pwlu", activation::relu(x.clone()));
    }

    #[test]
    fn every_learnable_activation_is_found_by_the_parameter_visitor() {
        let device = Device::flex();
        for entry in activations() {
            let config = parse(entry.split('[').next().unwrap());
            let layer = config.init(4, &device);
            // Every float parameter of an activation is an activation parameter, and the
            // counts agree with `learned_per_layer`.
            assert_eq!(
                crate::params::activation_param_count(&layer),
                layer.num_params(),
                "{entry}: a parameter the visitor does not recognise"
            );
            assert_eq!(layer.num_params(), config.learned_per_layer(4), "{entry}");
            assert_eq!(config.is_learnable(), layer.num_params() > 0, "{entry}");
        }
    }

    #[test]
    fn every_activation_trains_and_evaluates_on_every_rank() {
        let device = Device::flex().autodiff();
        for entry in activations() {
            let config = parse(entry.split('[').next().unwrap());
            let layer = config.init(3, &device);
            let x4 = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let y = layer.forward(x4.clone());
            assert_eq!(y.dims(), [2, 3, 4, 4], "{entry}");
            let grads = y.sum().backward();
            assert!(
                x4.grad(&grads).is_some(),
                "{entry}: no gradient reaches the input"
            );
            let x2 = Tensor::<2>::random([5, 3], Distribution::Normal(0.0, 1.0), &device);
            let y2 = layer
                .valid()
                .forward(x2.inner())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(y2.iter().all(|v| v.is_finite()), "{entry}");
        }
    }

    #[test]
    fn learned_parameter_counts() {
        let device = Device::flex();
        for (text, expected) in [
            ("relu", 0),
            ("lrelu", 0),
            ("prelu", 8),
            ("prelu:shared", 1),
            ("frelu", 16),
            ("frelu:shared", 2),
            ("gelu", 0),
            ("rrelu", 0),
            ("erelu", 0),
            ("eprelu", 8),
            ("pelu", 2),
            ("pelu:per=channel", 16),
            ("mpelu", 16),
            ("prenu", 8),
            ("apl", 80),
            ("apl:2", 32),
            ("acon_c", 24),
            ("pau", 10),
            ("pwlu", 168),
            ("pwlu:4", 72),
        ] {
            let config = parse(text);
            assert_eq!(config.learned_per_layer(8), expected, "{text}");
            assert_eq!(config.init(8, &device).num_params(), expected, "{text}");
        }
    }
}
