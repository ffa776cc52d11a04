//! How an [`ActivationConfig`] is stored in a run's `config.json`: serde's derived form, read
//! back so that configurations written before issue 30 keep their meaning (the defaults of the
//! fields added then are in `legacy.rs`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ActivationConfig;
use super::legacy::{clamp, pau_version, pelu_sharing};

impl Serialize for ActivationConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The derived (remote = "Self") serialisation.
        ActivationConfig::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for ActivationConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        match value.as_str() {
            Some("Pelu") => Ok(Self::Pelu {
                per: pelu_sharing(),
                bound: clamp(),
            }),
            Some("Pau") => Ok(Self::Pau {
                version: pau_version(),
            }),
            _ => ActivationConfig::deserialize(value).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> ActivationConfig {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn stored_configs_of_older_runs_read_as_the_layers_they_trained() {
        // Exactly what docs/runs/fmnist-quick-peers/runs/*/config.json hold.
        for (json, text) in [
            (r#""Pelu""#, "pelu:per=channel:bound=clamp"),
            (r#""Pau""#, "pau:version=b"),
            (
                r#"{"RRelu":{"lower":0.125,"upper":0.3333333333333333}}"#,
                "rrelu:form=mul",
            ),
            (r#"{"Mpelu":{"alpha":0.25,"beta":1.0}}"#, "mpelu:clamp"),
            (r#"{"Prenu":{"alpha":0.5}}"#, "prenu:bound=clamp"),
            (r#"{"Apl":{"hinges":5}}"#, "apl:a_range=0.2"),
            (r#""Relu""#, "relu"),
            (r#""AconC""#, "acon_c"),
            (
                r#"{"FRelu":{"pos_init":1.0,"neg_init":0.0,"shared":false,"fused":true}}"#,
                "frelu",
            ),
        ] {
            assert_eq!(read(json), text.parse().unwrap(), "{json}");
        }
    }

    #[test]
    fn every_activation_round_trips_through_json() {
        for config in ActivationConfig::all() {
            let json = serde_json::to_string(&config).unwrap();
            assert_eq!(read(&json), config, "{json}");
        }
        for text in [
            "pelu:per=channel",
            "pau:version=b",
            "rrelu:form=mul",
            "mpelu:clamp",
        ] {
            let config: ActivationConfig = text.parse().unwrap();
            let json = serde_json::to_string(&config).unwrap();
            assert_eq!(read(&json), config, "{json}");
        }
        let err = serde_json::from_str::<ActivationConfig>(r#""Pelux""#).unwrap_err();
        assert!(err.to_string().contains("Pelux"), "{err}");
    }
}
