//! The destinations' metrics (SPEC section 10): the state each is in and the changes of state,
//! registered with the others by [`super`].

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::{counter, gauge_vec};

pub struct DestinationMetrics {
    /// `hookwall_destination_state{destination,state}`: 1 for the state a destination is in
    /// (`closed`, `open`, `half_open`, `paused`), 0 for the others. The state is shared through
    /// the store, so every instance of one store reports the same.
    pub state: IntGaugeVec,
    /// `hookwall_circuit_transitions_total{destination,to}`: the changes of state this instance
    /// made.
    pub transitions: IntCounterVec,
}

impl DestinationMetrics {
    pub(super) fn new(registry: &Registry) -> DestinationMetrics {
        DestinationMetrics {
            state: gauge_vec(
                registry,
                "destination_state",
                "1 for the state a destination is in (closed, open, half_open, paused), 0 for the others.",
                &["destination", "state"],
            ),
            transitions: counter(
                registry,
                "circuit_transitions_total",
                "Changes of a destination's state made by this instance, by the state changed to.",
                &["destination", "to"],
            ),
        }
    }

    /// Gives each metric one series, so that it shows in `gather()` (the drift tests).
    #[cfg(test)]
    pub(super) fn touch(&self) {
        self.state.with_label_values(&["d", "closed"]).set(1);
        self.transitions.with_label_values(&["d", "open"]).inc();
    }
}
