//! Parsing an activation string (`NAME[:OPTION]...`) into an [`ActivationConfig`], and writing
//! the canonical string back.

use core::fmt;
use core::str::FromStr;

use super::{
    ActivationConfig, Constraint, FRELU_POS_INIT, PauVersion, RReluForm, SlopeSharing,
    activation_names,
};

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
    words: Vec<(&'a str, &'a str)>,
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
            words: Vec::new(),
            flags: Vec::new(),
        };
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                return Err(bad("empty option".into()));
            }
            if let Some((key, value)) = part.split_once('=') {
                let (key, value) = (key.trim(), value.trim());
                if value.starts_with(|c: char| c.is_ascii_alphabetic()) && value != "inf" {
                    options.words.push((key, value));
                } else {
                    options.pairs.push((key, number(value)?));
                }
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

    /// A positive whole number: the main value or `key=value`.
    fn count(&mut self, key: &str, default: usize) -> Result<usize, ParseActivationError> {
        let value = self.value(key, default as f64)?;
        if value >= 1.0 && value.fract() == 0.0 && value <= 1e6 {
            Ok(value as usize)
        } else {
            Err(self.error(format!("{key} must be a whole number >= 1 (got {value})")))
        }
    }

    fn pair(&mut self, key: &str, default: f64) -> f64 {
        self.take_pair(key).unwrap_or(default)
    }

    fn take_pair(&mut self, key: &str) -> Option<f64> {
        let index = self.pairs.iter().position(|(k, _)| *k == key)?;
        Some(self.pairs.remove(index).1)
    }

    /// `key=WORD` where WORD is one of `allowed`, or `None` when the key is not given.
    fn word(
        &mut self,
        key: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ParseActivationError> {
        let Some(index) = self.words.iter().position(|(k, _)| *k == key) else {
            return Ok(None);
        };
        let (_, value) = self.words.remove(index);
        let lower = value.to_ascii_lowercase();
        match allowed.iter().find(|a| **a == lower) {
            Some(word) => Ok(Some(word)),
            None => Err(self.error(format!(
                "{key} must be one of {} (got '{value}')",
                allowed.join(", ")
            ))),
        }
    }

    /// `bound=project` (default) or `bound=clamp`.
    fn bound(&mut self) -> Result<Constraint, ParseActivationError> {
        let word = self.word("bound", &["project", "clamp"])?;
        Ok(word
            .and_then(Constraint::from_word)
            .unwrap_or(Constraint::Project))
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
        if let Some((key, value)) = self.words.first() {
            return Err(self.error(format!(
                "unknown option '{key}=' or '{value}' is not a number"
            )));
        }
        if let Some(flag) = self.flags.first() {
            return Err(self.error(format!("unknown option '{flag}'")));
        }
        Ok(())
    }
}

/// Other spellings the parser accepts, with the canonical name each stands for.
const ALIASES: [(&str, &str); 7] = [
    ("leaky_relu", "lrelu"),
    ("leakyrelu", "lrelu"),
    ("silu", "swish"),
    ("linear", "identity"),
    ("none", "identity"),
    ("aconc", "acon_c"),
    ("acon-c", "acon_c"),
];

/// `default` (an activation of [`ActivationConfig::all`]) with the user's `options` read
/// over its defaults.
/// `rrelu`'s options: the form (`div`, the paper's y = x/a; `mul`, PyTorch's y = a·x) and the
/// range of the draw, which the divide form keeps clear of 0.
fn rrelu(options: &mut Options) -> Result<ActivationConfig, ParseActivationError> {
    let form = match options.word("form", &["div", "mul"])? {
        Some("mul") => RReluForm::Multiply,
        _ => RReluForm::Divide,
    };
    let (lower, upper) = form.default_range();
    let low = options.pair("lower", lower);
    let high = options.pair("upper", upper);
    // The divide form divides by the draw: its range must stay clear of 0.
    let floor = match form {
        RReluForm::Divide => f64::MIN_POSITIVE,
        RReluForm::Multiply => 0.0,
    };
    if !(floor..=high).contains(&low) {
        return Err(options.error(format!(
            "needs {} lower <= upper (got lower={low}, upper={high})",
            if floor > 0.0 { "0 <" } else { "0 <=" }
        )));
    }
    Ok(ActivationConfig::RRelu {
        lower: low,
        upper: high,
        form,
    })
}

/// `apl`'s options: the hinge count and the range of the hinges' initial draw.
fn apl(options: &mut Options, hinges: usize) -> Result<ActivationConfig, ParseActivationError> {
    let hinges = options.count("hinges", hinges)?;
    let a_range = options.take_pair("a_range");
    if a_range.is_some_and(|r| r < 0.0) {
        return Err(options.error("a_range must be >= 0".into()));
    }
    Ok(ActivationConfig::Apl { hinges, a_range })
}

fn with_options(
    default: ActivationConfig,
    options: &mut Options,
) -> Result<ActivationConfig, ParseActivationError> {
    use ActivationConfig as A;
    Ok(match default {
        A::LeakyRelu { slope, .. } => A::LeakyRelu {
            slope: options.value("slope", slope)?,
            fused: options.fused()?,
        },
        A::PRelu { init, .. } => A::PRelu {
            init: options.value("init", init)?,
            shared: options.flag("shared"),
            fused: options.fused()?,
        },
        A::FRelu {
            pos_init, neg_init, ..
        } => {
            let neg_init = options.value("neg", neg_init)?;
            A::FRelu {
                pos_init: options.pair("pos", pos_init),
                neg_init,
                shared: options.flag("shared"),
                fused: options.fused()?,
            }
        }
        A::Elu { alpha } => A::Elu {
            alpha: options.value("alpha", alpha)?,
        },
        A::RRelu { .. } => rrelu(options)?,
        A::Pelu { per, .. } => A::Pelu {
            per: match options.word("per", &["layer", "channel"])? {
                Some("channel") => SlopeSharing::Channel,
                Some(_) => SlopeSharing::Layer,
                None => per,
            },
            bound: options.bound()?,
        },
        A::Pau { .. } => A::Pau {
            version: match options.word("version", &["a", "b"])? {
                Some("b") => PauVersion::B,
                _ => PauVersion::A,
            },
        },
        A::ERelu { alpha, prelu } => {
            let alpha = options.value("alpha", alpha)?;
            if !(0.0..1.0).contains(&alpha) {
                return Err(options.error(format!("alpha must be in [0, 1) (got {alpha})")));
            }
            A::ERelu { alpha, prelu }
        }
        A::Mpelu { alpha, beta, .. } => A::Mpelu {
            alpha: options.pair("alpha", alpha),
            beta: options.pair("beta", beta),
            clamp: options.flag("clamp"),
        },
        A::Prenu { alpha, .. } => A::Prenu {
            alpha: options.value("alpha", alpha)?,
            bound: options.bound()?,
        },
        A::Apl { hinges, .. } => apl(options, hinges)?,
        A::Pwlu { intervals } => A::Pwlu {
            intervals: options.count("intervals", intervals)?,
        },
        other => other,
    })
}

impl FromStr for ActivationConfig {
    type Err = ParseActivationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let lower = name.to_ascii_lowercase();
        let mut options = Options::parse(name, parts)?;
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| *alias == lower)
            .map_or(lower.as_str(), |(_, name)| name);
        let default = Self::all()
            .into_iter()
            .find(|c| c.name() == canonical)
            .ok_or_else(|| ParseActivationError::UnknownName(text.to_string()))?;
        let config = with_options(default, &mut options)?;
        options.finish()?;
        Ok(config)
    }
}

/// `:bound=clamp` where the constraint is not the default projection.
fn write_bound(f: &mut fmt::Formatter<'_>, bound: Constraint) -> fmt::Result {
    match bound {
        Constraint::Project => Ok(()),
        Constraint::Clamp => f.write_str(":bound=clamp"),
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
                if pos_init != FRELU_POS_INIT {
                    write!(f, ":pos={pos_init}")?;
                }
                write!(f, "{}", suffix(shared, fused))
            }
            Self::Elu { alpha } => write!(f, "elu:{alpha}"),
            Self::RRelu { lower, upper, form } => {
                f.write_str("rrelu")?;
                if form != RReluForm::Divide {
                    write!(f, ":form={}", form.word())?;
                }
                write!(f, ":lower={lower}:upper={upper}")
            }
            Self::ERelu { alpha, .. } => write!(f, "{}:{alpha}", self.name()),
            Self::Pelu { per, bound } => {
                f.write_str("pelu")?;
                if per == SlopeSharing::Channel {
                    f.write_str(":per=channel")?;
                }
                write_bound(f, bound)
            }
            Self::Mpelu { alpha, beta, clamp } => {
                write!(f, "mpelu:alpha={alpha}:beta={beta}")?;
                if clamp {
                    f.write_str(":clamp")?;
                }
                Ok(())
            }
            Self::Prenu { alpha, bound } => {
                write!(f, "prenu:{alpha}")?;
                write_bound(f, bound)
            }
            Self::Apl { hinges, a_range } => {
                write!(f, "apl:{hinges}")?;
                match a_range {
                    Some(r) => write!(f, ":a_range={r}"),
                    None => Ok(()),
                }
            }
            Self::Pau { version } => write!(f, "pau:version={}", version.word()),
            Self::Pwlu { intervals } => write!(f, "pwlu:{intervals}"),
            _ => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ActivationConfig {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
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
    fn peers_default_to_their_authors_form_and_keep_the_projects_as_options() {
        use crate::activation::{Constraint, PauVersion, RReluForm, SlopeSharing};
        assert_eq!(
            parse("pelu"),
            ActivationConfig::Pelu {
                per: SlopeSharing::Layer,
                bound: Constraint::Project
            }
        );
        assert_eq!(
            parse("pelu:per=channel:bound=clamp"),
            ActivationConfig::Pelu {
                per: SlopeSharing::Channel,
                bound: Constraint::Clamp
            }
        );
        assert_eq!(
            parse("pau"),
            ActivationConfig::Pau {
                version: PauVersion::A
            }
        );
        assert_eq!(
            parse("PAU:version=B"),
            ActivationConfig::Pau {
                version: PauVersion::B
            }
        );
        assert_eq!(parse("rrelu"), ActivationConfig::rrelu(RReluForm::Divide));
        assert_eq!(
            parse("rrelu:form=mul"),
            ActivationConfig::RRelu {
                lower: 0.125,
                upper: 1.0 / 3.0,
                form: RReluForm::Multiply
            }
        );
        assert_eq!(
            parse("rrelu"),
            ActivationConfig::RRelu {
                lower: 3.0,
                upper: 8.0,
                form: RReluForm::Divide
            }
        );
        assert!(matches!(
            parse("mpelu"),
            ActivationConfig::Mpelu { clamp: false, .. }
        ));
        assert!(matches!(
            parse("prenu"),
            ActivationConfig::Prenu {
                bound: Constraint::Project,
                ..
            }
        ));
        assert_eq!(
            parse("apl:a_range=0.5"),
            ActivationConfig::Apl {
                hinges: 5,
                a_range: Some(0.5)
            }
        );
        // The canonical string names the variant, so a table row says what it ran.
        assert_eq!(parse("pau").to_string(), "pau:version=a");
        assert_eq!(
            parse("pelu:per=channel:bound=clamp").to_string(),
            "pelu:per=channel:bound=clamp"
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
            "rrelu",
            "rrelu:lower=0.1:upper=0.2",
            "rrelu:form=mul",
            "rrelu:form=mul:lower=0.1:upper=0.2",
            "pelu:per=channel",
            "pelu:per=channel:bound=clamp",
            "pau:version=b",
            "mpelu:clamp",
            "prenu:0.3:bound=clamp",
            "apl:3:a_range=0.2",
            "erelu:0.3",
            "eprelu",
            "pelu",
            "mpelu:alpha=1",
            "prenu:0.25",
            "apl:2",
            "acon_c",
            "pau",
            "pwlu:8",
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
        for (text, message) in [
            ("apl:0", "whole number >= 1"),
            ("pwlu:2.5", "whole number >= 1"),
            ("rrelu:lower=0.5:upper=0.1", "lower <= upper"),
            ("rrelu:0.1:0.2", "more than one value"),
            ("erelu:1.5", "alpha must be in [0, 1)"),
            ("pau:3", "takes no value"),
            (
                "pelu:per=neuron",
                "per must be one of layer, channel (got 'neuron')",
            ),
            ("pau:version=c", "version must be one of a, b"),
            ("rrelu:lower=0", "0 < lower <= upper"),
            ("frelu:neg=abc", "'abc' is not a number"),
            ("apl:a_range=-1", "a_range must be >= 0"),
        ] {
            let err = text.parse::<ActivationConfig>().unwrap_err().to_string();
            assert!(err.contains(message), "{text}: {err}");
        }
        let err = "gelu:shared".parse::<ActivationConfig>().unwrap_err();
        assert!(err.to_string().contains("unknown option 'shared'"), "{err}");
    }
}
