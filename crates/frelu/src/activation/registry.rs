//! The activation registry: one string → one activation, for every model.
//!
//! Models never name a concrete activation. They take an [`ActivationConfig`] and call
//! [`ActivationConfig::init`] with the channel count of each place that needs one, so that
//! per-channel activations (PReLU, FReLU) get their own slopes at every layer.
//!
//! Grammar: `NAME[:OPTION]...`, where an option is a number (the activation's main value),
//! `key=value`, or a flag word. Examples: `relu`, `lrelu:0.01`, `prelu`, `prelu:0.1:shared`,
//! `elu:1.0`, `selu`, `swish`, `silu`, `mish`, `gelu`, `frelu`, `frelu:0.25`,
//! `frelu:neg=0.25:pos=1:shared`, `frelu:composed`.

use core::fmt;
use core::str::FromStr;

use burn::module::Module;
use burn::nn::activation::{Mish, SiLU};
use burn::nn::{Elu, EluConfig, Gelu, Identity, Relu, Selu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{FRelu, FReluConfig, SlopeSharing};

/// Which activation a model uses; parse it from a string with [`str::parse`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
}

impl ActivationConfig {
    /// FReLU with its defaults (starts as ReLU, learns both slopes per channel, fused).
    pub fn frelu() -> Self {
        Self::FRelu {
            pos_init: 1.0,
            neg_init: 0.0,
            shared: false,
            fused: true,
        }
    }

    /// The [`FReluConfig`] behind `lrelu`, `prelu` and `frelu`; `None` for the others.
    pub fn frelu_config(&self, channels: usize) -> Option<FReluConfig> {
        let sharing = |shared: bool| {
            if shared {
                SlopeSharing::Layer
            } else {
                SlopeSharing::Channel
            }
        };
        match *self {
            Self::LeakyRelu { slope, fused } => Some(
                FReluConfig::new(channels)
                    .with_neg_init(slope)
                    .with_learn_pos(false)
                    .with_learn_neg(false)
                    .with_fused(fused),
            ),
            Self::PRelu {
                init,
                shared,
                fused,
            } => Some(
                FReluConfig::new(channels)
                    .with_neg_init(init)
                    .with_learn_pos(false)
                    .with_sharing(sharing(shared))
                    .with_fused(fused),
            ),
            Self::FRelu {
                pos_init,
                neg_init,
                shared,
                fused,
            } => Some(
                FReluConfig::new(channels)
                    .with_pos_init(pos_init)
                    .with_neg_init(neg_init)
                    .with_sharing(sharing(shared))
                    .with_fused(fused),
            ),
            _ => None,
        }
    }

    /// Build the activation for a place with `channels` channels (dimension 1 of its input).
    pub fn init(&self, channels: usize, device: &Device) -> Activation {
        if let Some(config) = self.frelu_config(channels) {
            return Activation::FRelu(config.init(device));
        }
        match *self {
            Self::Relu => Activation::Relu(Relu::new()),
            Self::Elu { alpha } => Activation::Elu(EluConfig::new().with_alpha(alpha).init()),
            Self::Selu => Activation::Selu(Selu::new()),
            Self::Swish => Activation::Swish(SiLU::new()),
            Self::Mish => Activation::Mish(Mish::new()),
            Self::Gelu => Activation::Gelu(Gelu::new()),
            Self::Identity => Activation::Identity(Identity::new()),
            Self::LeakyRelu { .. } | Self::PRelu { .. } | Self::FRelu { .. } => unreachable!(),
        }
    }

    /// Learned scalars one layer of `channels` channels adds over ReLU.
    pub fn learned_per_layer(&self, channels: usize) -> usize {
        match *self {
            Self::PRelu { shared, .. } => {
                if shared {
                    1
                } else {
                    channels
                }
            }
            Self::FRelu { shared, .. } => {
                if shared {
                    2
                } else {
                    2 * channels
                }
            }
            _ => 0,
        }
    }

    /// Whether this activation has learnable slopes (so that a slope schedule applies).
    pub fn has_slopes(&self) -> bool {
        matches!(self, Self::PRelu { .. } | Self::FRelu { .. })
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

/// Every activation of the registry as a user writes it (name and its main option), in the
/// order help texts and errors list them. A test checks that each one parses.
pub const ACTIVATIONS: [&str; 10] = [
    "relu",
    "lrelu[:slope]",
    "prelu[:init]",
    "elu[:alpha]",
    "selu",
    "swish",
    "mish",
    "gelu",
    "frelu[:neg_init]",
    "identity",
];

/// [`ACTIVATIONS`], comma-separated.
pub fn activation_names() -> String {
    ACTIVATIONS.join(", ")
}

/// A string that names no activation, or an option it does not take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseActivationError {
    /// The name is not in the registry.
    #[error("unknown activation '{0}'; known: {known}", known = activation_names())]
    UnknownName(String),
    /// An option the activation does not take, or a value that is not a number.
    #[error("activation '{name}': {message}")]
    BadOption {
        /// The activation's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Options of one activation string, consumed as the variant reads them.
struct Options<'a> {
    name: &'a str,
    value: Option<f64>,
    pairs: Vec<(&'a str, f64)>,
    flags: Vec<&'a str>,
}

impl<'a> Options<'a> {
    fn parse(
        name: &'a str,
        parts: impl Iterator<Item = &'a str>,
    ) -> Result<Self, ParseActivationError> {
        let bad = |message: String| ParseActivationError::BadOption {
            name: name.to_string(),
            message,
        };
        let number = |text: &str| -> Result<f64, ParseActivationError> {
            let value: f64 = text
                .parse()
                .map_err(|_| bad(format!("'{text}' is not a number")))?;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(bad(format!("'{text}' is not a finite number")))
            }
        };
        let mut options = Options {
            name,
            value: None,
            pairs: Vec::new(),
            flags: Vec::new(),
        };
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                return Err(bad("empty option".into()));
            }
            if let Some((key, value)) = part.split_once('=') {
                options.pairs.push((key.trim(), number(value.trim())?));
            } else if part.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
                if options.value.is_some() {
                    return Err(bad(format!("more than one value given ('{part}')")));
                }
                options.value = Some(number(part)?);
            } else {
                options.flags.push(part);
            }
        }
        Ok(options)
    }

    fn error(&self, message: String) -> ParseActivationError {
        ParseActivationError::BadOption {
            name: self.name.to_string(),
            message,
        }
    }

    /// The main value, or `key=value`, or the default.
    fn value(&mut self, key: &str, default: f64) -> Result<f64, ParseActivationError> {
        let keyed = self.take_pair(key);
        match (self.value.take(), keyed) {
            (Some(_), Some(_)) => Err(self.error(format!("'{key}' given twice"))),
            (Some(value), None) | (None, Some(value)) => Ok(value),
            (None, None) => Ok(default),
        }
    }

    fn pair(&mut self, key: &str, default: f64) -> f64 {
        self.take_pair(key).unwrap_or(default)
    }

    fn take_pair(&mut self, key: &str) -> Option<f64> {
        let index = self.pairs.iter().position(|(k, _)| *k == key)?;
        Some(self.pairs.remove(index).1)
    }

    fn flag(&mut self, flag: &str) -> bool {
        let before = self.flags.len();
        self.flags.retain(|f| *f != flag);
        before != self.flags.len()
    }

    /// `fused` (default) or `composed`.
    fn fused(&mut self) -> Result<bool, ParseActivationError> {
        let composed = self.flag("composed");
        let fused = self.flag("fused");
        if composed && fused {
            return Err(self.error("'fused' and 'composed' exclude each other".into()));
        }
        Ok(!composed)
    }

    /// Fail on anything not consumed.
    fn finish(self) -> Result<(), ParseActivationError> {
        if let Some(value) = self.value {
            return Err(self.error(format!("takes no value (got {value})")));
        }
        if let Some((key, _)) = self.pairs.first() {
            return Err(self.error(format!("unknown option '{key}='")));
        }
        if let Some(flag) = self.flags.first() {
            return Err(self.error(format!("unknown option '{flag}'")));
        }
        Ok(())
    }
}

impl FromStr for ActivationConfig {
    type Err = ParseActivationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let lower = name.to_ascii_lowercase();
        let mut options = Options::parse(name, parts)?;
        let config = match lower.as_str() {
            "relu" => Self::Relu,
            "lrelu" | "leaky_relu" | "leakyrelu" => Self::LeakyRelu {
                slope: options.value("slope", 0.01)?,
                fused: options.fused()?,
            },
            "prelu" => Self::PRelu {
                init: options.value("init", 0.25)?,
                shared: options.flag("shared"),
                fused: options.fused()?,
            },
            "frelu" => {
                let neg_init = options.value("neg", 0.0)?;
                Self::FRelu {
                    pos_init: options.pair("pos", 1.0),
                    neg_init,
                    shared: options.flag("shared"),
                    fused: options.fused()?,
                }
            }
            "elu" => Self::Elu {
                alpha: options.value("alpha", 1.0)?,
            },
            "selu" => Self::Selu,
            "swish" | "silu" => Self::Swish,
            "mish" => Self::Mish,
            "gelu" => Self::Gelu,
            "identity" | "linear" | "none" => Self::Identity,
            _ => return Err(ParseActivationError::UnknownName(text.to_string())),
        };
        options.finish()?;
        Ok(config)
    }
}

impl fmt::Display for ActivationConfig {
    /// The canonical string, which parses back to the same config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = |shared: bool, fused: bool| {
            let mut s = String::new();
            if shared {
                s.push_str(":shared");
            }
            if !fused {
                s.push_str(":composed");
            }
            s
        };
        match *self {
            Self::LeakyRelu { slope, fused } => {
                write!(f, "lrelu:{slope}{}", suffix(false, fused))
            }
            Self::PRelu {
                init,
                shared,
                fused,
            } => write!(f, "prelu:{init}{}", suffix(shared, fused)),
            Self::FRelu {
                pos_init,
                neg_init,
                shared,
                fused,
            } => {
                write!(f, "frelu:neg={neg_init}")?;
                if pos_init != 1.0 {
                    write!(f, ":pos={pos_init}")?;
                }
                write!(f, "{}", suffix(shared, fused))
            }
            Self::Elu { alpha } => write!(f, "elu:{alpha}"),
            _ => f.write_str(self.name()),
        }
    }
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
        for entry in ACTIVATIONS {
            let name = entry.split('[').next().unwrap();
            let config: ActivationConfig = name.parse().unwrap();
            assert_eq!(config.name(), name.split(':').next().unwrap(), "{entry}");
        }
        let err = "relux".parse::<ActivationConfig>().unwrap_err().to_string();
        assert!(err.contains(&activation_names()), "{err}");
    }

    #[test]
    fn parses_every_name_with_defaults() {
        assert_eq!(parse("relu"), ActivationConfig::Relu);
        assert_eq!(
            parse("lrelu"),
            ActivationConfig::LeakyRelu {
                slope: 0.01,
                fused: true
            }
        );
        assert_eq!(
            parse("prelu"),
            ActivationConfig::PRelu {
                init: 0.25,
                shared: false,
                fused: true
            }
        );
        assert_eq!(parse("frelu"), ActivationConfig::frelu());
        assert_eq!(parse("elu"), ActivationConfig::Elu { alpha: 1.0 });
        assert_eq!(parse("selu"), ActivationConfig::Selu);
        assert_eq!(parse("swish"), ActivationConfig::Swish);
        assert_eq!(parse("silu"), ActivationConfig::Swish);
        assert_eq!(parse("mish"), ActivationConfig::Mish);
        assert_eq!(parse("gelu"), ActivationConfig::Gelu);
        assert_eq!(parse("GELU"), ActivationConfig::Gelu);
    }

    #[test]
    fn parses_values_keys_and_flags() {
        assert_eq!(
            parse("lrelu:0.2"),
            ActivationConfig::LeakyRelu {
                slope: 0.2,
                fused: true
            }
        );
        assert_eq!(
            parse("frelu:0.25"),
            ActivationConfig::FRelu {
                pos_init: 1.0,
                neg_init: 0.25,
                shared: false,
                fused: true
            }
        );
        assert_eq!(
            parse("frelu:neg=-0.1:pos=0.5:shared:composed"),
            ActivationConfig::FRelu {
                pos_init: 0.5,
                neg_init: -0.1,
                shared: true,
                fused: false
            }
        );
        assert_eq!(
            parse("prelu:0.1:shared"),
            ActivationConfig::PRelu {
                init: 0.1,
                shared: true,
                fused: true
            }
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "relu",
            "lrelu",
            "lrelu:0.3:composed",
            "prelu",
            "prelu:0.1:shared",
            "frelu",
            "frelu:0.25",
            "frelu:neg=-0.5:pos=2:shared:composed",
            "elu:0.5",
            "selu",
            "swish",
            "mish",
            "gelu",
            "identity",
        ] {
            let config = parse(text);
            assert_eq!(parse(&config.to_string()), config, "{text} -> {config}");
        }
    }

    #[test]
    fn rejects_bad_strings_with_clear_errors() {
        let err = "relux".parse::<ActivationConfig>().unwrap_err();
        assert!(
            err.to_string().contains("unknown activation 'relux'"),
            "{err}"
        );
        let err = "lrelu:abc".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("unknown option 'abc'"), "{err}");
        let err = "lrelu:1e".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
        let err = "relu:0.1".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("takes no value"), "{err}");
        let err = "frelu:0.1:neg=0.2".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
        let err = "frelu:nan".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("unknown option 'nan'"), "{err}");
        let err = "frelu:fused:composed"
            .parse::<ActivationConfig>()
            .unwrap_err();
        assert!(err.to_string().contains("exclude"), "{err}");
        let err = "gelu:shared".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("unknown option 'shared'"), "{err}");
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
        ] {
            let config = parse(text);
            assert_eq!(config.learned_per_layer(8), expected, "{text}");
            assert_eq!(config.init(8, &device).num_params(), expected, "{text}");
        }
    }
}
