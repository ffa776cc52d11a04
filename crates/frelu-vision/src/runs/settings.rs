//! What a run folder's stored settings (`config.json`) are compared on: every setting but those
//! that cannot change what the run trains.

use frelu::{ActivationConfig, ScheduleConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The settings of one run, as its folder stores them.
pub trait RunSettings: Serialize + DeserializeOwned {
    /// Top-level settings that change nothing this run trains, given its other settings: two
    /// runs that differ only there train the same bits, so a stored run is reused for them.
    /// (Settings that never change what is trained, whatever the rest, are the run folder's
    /// bookkeeping settings.)
    fn inert_settings(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// `["schedule"]` where the slope schedule changes nothing: the activation has no learnable
/// parameters (its weights learn at every step whatever the schedule says,
/// `frelu::schedule::build`), and the schedule is not `matched:K:M`, which lays the epochs out
/// differently. A ReLU run trained under alternation is then the ReLU run of a joint grid.
pub fn inert_schedule(
    activation: &ActivationConfig,
    schedule: &ScheduleConfig,
) -> Vec<&'static str> {
    if activation.is_learnable() || schedule.schedule.matched().is_some() {
        Vec::new()
    } else {
        vec!["schedule"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(text: &str) -> ScheduleConfig {
        ScheduleConfig::new(text.parse().unwrap())
    }

    #[test]
    fn only_a_schedule_without_slopes_and_without_its_own_epochs_is_inert() {
        let relu: ActivationConfig = "relu".parse().unwrap();
        let frelu: ActivationConfig = "frelu".parse().unwrap();
        assert_eq!(inert_schedule(&relu, &schedule("joint")), ["schedule"]);
        assert_eq!(
            inert_schedule(&relu, &schedule("alternate:4:1:iter")),
            ["schedule"]
        );
        assert!(inert_schedule(&relu, &schedule("matched:4:1")).is_empty());
        assert!(inert_schedule(&frelu, &schedule("joint")).is_empty());
    }
}
