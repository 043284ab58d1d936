//! What the store keeps of a destination besides its deliveries: its control state (paused by an
//! operator, and its circuit breaker), shared by every instance of one store, and saved by
//! compare-and-set on a version so that two writers never undo each other.
//!
//! The store only keeps these values; what they mean and how they change is the delivery
//! side's (`delivery::circuit`). This module must never decide a transition.

use std::fmt;
use std::str::FromStr;

use super::Corrupt;

/// Where a destination's circuit breaker stands (SPEC section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CircuitState {
    /// Deliveries are attempted.
    #[default]
    Closed,
    /// Nothing is attempted until `next_probe_at`.
    Open,
    /// One probe delivery is in flight; nothing else is attempted.
    HalfOpen,
}

impl CircuitState {
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    /// The text stored in `destination_states.circuit`, and shown by the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CircuitState {
    type Err = Corrupt;

    fn from_str(text: &str) -> Result<CircuitState, Corrupt> {
        CircuitState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Corrupt::Status(text.to_owned()))
    }
}

/// One destination's control state. A destination never saved is [`DestinationState::new`]:
/// closed, not paused, no failures, version 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationState {
    /// The destination's name (unique across the config file).
    pub name: String,
    /// Paused by an operator: its deliveries wait, none is claimed.
    pub paused: bool,
    pub circuit: CircuitState,
    /// Failed attempts in a row since the last answer.
    pub consecutive_failures: u32,
    /// When the circuit opened (unix ms), while it is open or half-open.
    pub opened_at_ms: Option<i64>,
    /// Open: when the probe may be sent. Half-open: when the probe in flight lapses and another
    /// may be sent.
    pub next_probe_at_ms: Option<i64>,
    /// The current opening's cooldown in ms; 0 before the first.
    pub cooldown_ms: i64,
    /// Half-open: who holds the probe (a worker and the delivery it probes with).
    pub probe: Option<String>,
    /// Saves so far; a save must name the version it read ([`super::Store::save_destination_state`]).
    pub version: i64,
}

impl DestinationState {
    /// The state of a destination never saved.
    pub fn new(name: &str) -> DestinationState {
        DestinationState {
            name: name.to_owned(),
            paused: false,
            circuit: CircuitState::Closed,
            consecutive_failures: 0,
            opened_at_ms: None,
            next_probe_at_ms: None,
            cooldown_ms: 0,
            probe: None,
            version: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_circuit_state_reads_back_from_its_stored_spelling() {
        for state in CircuitState::ALL {
            assert_eq!(state.as_str().parse::<CircuitState>().ok(), Some(state));
        }
        assert!("halfopen".parse::<CircuitState>().is_err());
        // The spellings the migrations' CHECK constraints allow.
        for migration in [
            include_str!("../../migrations/sqlite/0012_destination_state.sql"),
            include_str!("../../migrations/postgres/0009_destination_state.sql"),
        ] {
            assert!(migration.contains("CHECK (circuit IN ('closed', 'open', 'half_open'))"));
        }
    }
}
