//! A process-wide on/off switch read from an environment variable at its first use, which a
//! program may also set (overriding the variable).

use std::sync::atomic::{AtomicU8, Ordering};

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// A switch that is on unless its environment variable says off (see [`switch_value`]).
pub struct Switch {
    variable: &'static str,
    state: AtomicU8,
}

impl Switch {
    /// A switch read from `variable`.
    pub const fn new(variable: &'static str) -> Self {
        Self {
            variable,
            state: AtomicU8::new(UNSET),
        }
    }

    /// Whether the switch is on.
    pub fn on(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => {
                let on = switch_value(std::env::var(self.variable).ok().as_deref());
                // A concurrent `set` wins over the environment.
                let _ = self.state.compare_exchange(
                    UNSET,
                    if on { ON } else { OFF },
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                self.state.load(Ordering::Relaxed) == ON
            }
        }
    }

    /// Turns the switch on or off for the whole process.
    pub fn set(&self, on: bool) {
        self.state
            .store(if on { ON } else { OFF }, Ordering::Relaxed);
    }
}

/// What a switch's variable means: off for `0`, `off`, `false`, `no` (any case), on for
/// anything else and when unset.
pub fn switch_value(value: Option<&str>) -> bool {
    value.is_none_or(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        )
    })
}
