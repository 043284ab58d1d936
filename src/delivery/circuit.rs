//! The circuit breaker and the manual pause of a destination (SPEC section 10), as pure
//! functions of its [`DestinationState`], its `circuit` config and the time passed in.
//!
//! - **Closed**: deliveries are attempted. Each failed attempt counts; `failures` in a row open
//!   the circuit for `cooldown`.
//! - **Open**: nothing is attempted until `next_probe_at`. Then one delivery is let through as
//!   the probe, and the circuit is **half-open** while it is in flight.
//! - **Half-open**: nothing else is attempted. The probe's success closes the circuit; its
//!   failure opens it again for twice the last cooldown, at most [`MAX_COOLDOWN`] (or the
//!   configured cooldown, if longer). A probe that never reports (its worker died) lapses at
//!   `next_probe_at`, and another may be sent.
//! - **Paused** (by an operator) overrides all three: nothing is attempted. Resume closes the
//!   circuit and forgets its failures.
//!
//! What counts: an attempt the destination did not answer in time, or answered with a transient
//! failure (5xx, 408/409/425/429, a timeout, a refused connection: [`Outcome::Retry`]) is a
//! failure. An answer that dead-letters the event at once (most 4xx, a rejected recipient:
//! [`Outcome::Dead`]) is the destination's verdict on that event, not a failure of the
//! destination: like a success, it shows the destination is up, so it resets the count and a
//! probe that gets it closes the circuit. Outcomes of attempts that started before the circuit
//! opened (stragglers) change nothing.
//!
//! Nothing here reads a clock, a store or a config file: `delivery::control` does, and saves
//! what these functions decide.

use std::time::Duration;

use super::Outcome;
use crate::config::Circuit;
use crate::store::{CircuitState, DestinationState};

/// The longest cooldown doubling reaches (unless the configured one is longer).
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// What a worker may do with a claimed delivery of this destination now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Attempt it.
    Attempt,
    /// Attempt it as the probe, if it can take the probe first ([`take_probe`]).
    Probe,
    /// Give it back unattempted: paused, or the circuit is open (or its probe is in flight).
    GiveBack,
}

/// What one attempt tells the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// The destination answered: delivered, or refused this event for good.
    Answered,
    /// A transient failure of the destination.
    Failed,
    /// The destination was not called (its event is gone, or it is no longer configured).
    NotMade,
}

impl Attempted {
    pub fn of(outcome: &Outcome) -> Attempted {
        match outcome {
            Outcome::Delivered | Outcome::Dead { .. } => Attempted::Answered,
            Outcome::Retry { .. } => Attempted::Failed,
        }
    }
}

/// The state the admin API and the `hookwall_destination_state` gauge show: `paused`, or the
/// circuit's.
pub fn shown(state: &DestinationState) -> &'static str {
    if state.paused {
        "paused"
    } else {
        state.circuit.as_str()
    }
}

/// Every value [`shown`] can take.
pub const SHOWN: [&str; 4] = ["closed", "open", "half_open", "paused"];

/// Whether a delivery of this destination may be attempted at `now_ms`; `circuit` is the
/// destination's config (`None`: `circuit = false`, only the pause holds).
pub fn admit(state: &DestinationState, circuit: Option<&Circuit>, now_ms: i64) -> Admission {
    if state.paused {
        return Admission::GiveBack;
    }
    if circuit.is_none() {
        return Admission::Attempt;
    }
    match state.circuit {
        CircuitState::Closed => Admission::Attempt,
        CircuitState::Open | CircuitState::HalfOpen => {
            if state.next_probe_at_ms.is_some_and(|due| now_ms >= due) {
                Admission::Probe
            } else {
                Admission::GiveBack
            }
        }
    }
}

/// Makes `probe` the one probe of an open circuit whose cooldown is over (or whose last probe
/// lapsed), until `lapse_ms`. False, changing nothing, when there is no probe to take.
pub fn take_probe(state: &mut DestinationState, probe: &str, now_ms: i64, lapse_ms: i64) -> bool {
    let due = matches!(state.circuit, CircuitState::Open | CircuitState::HalfOpen)
        && state.next_probe_at_ms.is_some_and(|due| now_ms >= due);
    if !due || state.paused {
        return false;
    }
    state.circuit = CircuitState::HalfOpen;
    state.probe = Some(probe.to_owned());
    state.next_probe_at_ms = Some(lapse_ms);
    true
}

/// Applies what an attempt told: `probe` is the probe the attempt held, if it was one.
pub fn record(
    state: &mut DestinationState,
    circuit: &Circuit,
    attempted: Attempted,
    probe: Option<&str>,
    now_ms: i64,
) {
    let probing = probe.is_some()
        && state.circuit == CircuitState::HalfOpen
        && state.probe.as_deref() == probe;
    match (state.circuit, attempted) {
        (CircuitState::Closed, Attempted::Answered) => state.consecutive_failures = 0,
        (CircuitState::Closed, Attempted::Failed) => {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            if state.consecutive_failures >= circuit.failures.max(1) {
                open(state, millis(circuit.cooldown), now_ms);
                state.opened_at_ms = Some(now_ms);
            }
        }
        (CircuitState::HalfOpen, Attempted::Answered) if probing => close(state),
        (CircuitState::HalfOpen, Attempted::Failed) if probing => {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            let cap = millis(MAX_COOLDOWN).max(millis(circuit.cooldown));
            let cooldown = state
                .cooldown_ms
                .max(millis(circuit.cooldown))
                .saturating_mul(2)
                .min(cap);
            open(state, cooldown, now_ms);
        }
        // The probe never reached the destination: another may be sent at once.
        (CircuitState::HalfOpen, Attempted::NotMade) if probing => {
            state.probe = None;
            state.next_probe_at_ms = Some(now_ms);
        }
        // Not made, or an attempt that started before the circuit opened.
        _ => {}
    }
}

/// Pauses the destination: nothing is attempted until [`resume`].
pub fn pause(state: &mut DestinationState) {
    state.paused = true;
}

/// Resumes a paused destination, its circuit closed and its failures forgotten.
pub fn resume(state: &mut DestinationState) {
    state.paused = false;
    close(state);
}

fn open(state: &mut DestinationState, cooldown_ms: i64, now_ms: i64) {
    state.circuit = CircuitState::Open;
    state.cooldown_ms = cooldown_ms;
    state.next_probe_at_ms = Some(now_ms.saturating_add(cooldown_ms));
    state.probe = None;
}

fn close(state: &mut DestinationState) {
    state.circuit = CircuitState::Closed;
    state.consecutive_failures = 0;
    state.opened_at_ms = None;
    state.next_probe_at_ms = None;
    state.cooldown_ms = 0;
    state.probe = None;
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn circuit(failures: u32, cooldown_secs: u64) -> Circuit {
        Circuit {
            failures,
            cooldown: Duration::from_secs(cooldown_secs),
        }
    }

    /// A state after `failures` failed attempts in a row, the last at `now`.
    fn failed(times: u32, policy: &Circuit, now: i64) -> DestinationState {
        let mut state = DestinationState::new("d");
        for _ in 0..times {
            record(&mut state, policy, Attempted::Failed, None, now);
        }
        state
    }

    #[test]
    fn the_circuit_opens_after_its_failures_in_a_row_and_lets_nothing_through_for_the_cooldown() {
        let policy = circuit(3, 30);
        let state = failed(2, &policy, 100 * S);
        assert_eq!(state.circuit, CircuitState::Closed);
        assert_eq!(state.consecutive_failures, 2);
        assert_eq!(admit(&state, Some(&policy), 100 * S), Admission::Attempt);

        let state = failed(3, &policy, 100 * S);

        assert_eq!(state.circuit, CircuitState::Open);
        assert_eq!(state.opened_at_ms, Some(100 * S));
        assert_eq!(state.next_probe_at_ms, Some(130 * S));
        assert_eq!(shown(&state), "open");
        assert_eq!(admit(&state, Some(&policy), 100 * S), Admission::GiveBack);
        assert_eq!(
            admit(&state, Some(&policy), 130 * S - 1),
            Admission::GiveBack
        );
        assert_eq!(admit(&state, Some(&policy), 130 * S), Admission::Probe);
    }

    #[test]
    fn an_answer_resets_the_count_so_only_failures_in_a_row_open_it() {
        let policy = circuit(3, 30);
        let mut state = failed(2, &policy, 0);
        record(&mut state, &policy, Attempted::Answered, None, 0);
        assert_eq!(state.consecutive_failures, 0);
        record(&mut state, &policy, Attempted::Failed, None, 0);
        record(&mut state, &policy, Attempted::Failed, None, 0);
        assert_eq!(state.circuit, CircuitState::Closed);
        // Not made (the event is gone) neither counts nor resets.
        record(&mut state, &policy, Attempted::NotMade, None, 0);
        record(&mut state, &policy, Attempted::Failed, None, 0);
        assert_eq!(state.circuit, CircuitState::Open);
    }

    #[test]
    fn a_dead_lettering_answer_is_no_failure_of_the_destination() {
        let dead = Outcome::Dead {
            error: "HTTP 422".into(),
        };
        let retry = Outcome::Retry {
            error: "HTTP 503".into(),
            retry_after: None,
        };
        assert_eq!(Attempted::of(&dead), Attempted::Answered);
        assert_eq!(Attempted::of(&Outcome::Delivered), Attempted::Answered);
        assert_eq!(Attempted::of(&retry), Attempted::Failed);
    }

    #[test]
    fn after_the_cooldown_exactly_one_probe_is_taken_and_its_success_closes_the_circuit() {
        let policy = circuit(1, 30);
        let mut state = failed(1, &policy, 0);

        assert!(
            !take_probe(&mut state, "w1/e1", 29 * S, 329 * S),
            "still cooling down"
        );
        assert!(take_probe(&mut state, "w1/e1", 30 * S, 330 * S));
        assert_eq!(state.circuit, CircuitState::HalfOpen);
        assert_eq!(shown(&state), "half_open");
        assert_eq!(state.next_probe_at_ms, Some(330 * S));
        // Anyone else is turned away while the probe is in flight.
        assert_eq!(admit(&state, Some(&policy), 31 * S), Admission::GiveBack);
        assert!(!take_probe(&mut state, "w2/e2", 31 * S, 331 * S));
        // A straggler's success is not the probe's.
        record(&mut state, &policy, Attempted::Answered, None, 31 * S);
        record(
            &mut state,
            &policy,
            Attempted::Answered,
            Some("w2/e2"),
            31 * S,
        );
        assert_eq!(state.circuit, CircuitState::HalfOpen);

        record(
            &mut state,
            &policy,
            Attempted::Answered,
            Some("w1/e1"),
            32 * S,
        );

        assert_eq!(state, DestinationState::new("d"));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again_for_twice_the_cooldown_up_to_ten_minutes() {
        let policy = circuit(1, 60);
        let mut state = failed(1, &policy, 0);
        let mut now = 0;
        let mut cooldowns = Vec::new();
        for _ in 0..6 {
            now = state.next_probe_at_ms.expect("open");
            assert!(take_probe(&mut state, "p", now, now + 300 * S));
            record(&mut state, &policy, Attempted::Failed, Some("p"), now);
            assert_eq!(state.circuit, CircuitState::Open);
            cooldowns.push((state.next_probe_at_ms.expect("open") - now) / S);
        }
        assert_eq!(cooldowns, [120, 240, 480, 600, 600, 600]);
        assert_eq!(state.opened_at_ms, Some(0), "open since the first failure");
        assert!(now > 0);
        // A cooldown configured beyond the cap is kept, not shortened.
        let long = circuit(1, 900);
        let mut state = failed(1, &long, 0);
        assert!(take_probe(&mut state, "p", 900 * S, 1200 * S));
        record(&mut state, &long, Attempted::Failed, Some("p"), 900 * S);
        assert_eq!(state.next_probe_at_ms, Some(1800 * S));
    }

    #[test]
    fn a_probe_that_never_reports_lapses_and_another_is_taken() {
        let policy = circuit(1, 1);
        let mut state = failed(1, &policy, 0);
        assert!(take_probe(&mut state, "dead-worker", S, 11 * S));
        assert!(!take_probe(&mut state, "w2", 10 * S, 20 * S));
        assert_eq!(admit(&state, Some(&policy), 11 * S), Admission::Probe);
        assert!(take_probe(&mut state, "w2", 11 * S, 21 * S));
        // The first probe's late answer is not the probe's any more.
        record(
            &mut state,
            &policy,
            Attempted::Answered,
            Some("dead-worker"),
            12 * S,
        );
        assert_eq!(state.circuit, CircuitState::HalfOpen);
        // A probe that could not be made gives its turn back at once.
        record(&mut state, &policy, Attempted::NotMade, Some("w2"), 12 * S);
        assert_eq!(admit(&state, Some(&policy), 12 * S), Admission::Probe);
    }

    #[test]
    fn stragglers_of_an_open_circuit_change_nothing() {
        let policy = circuit(2, 30);
        let opened = failed(2, &policy, 0);
        let mut state = opened.clone();
        record(&mut state, &policy, Attempted::Failed, None, S);
        record(&mut state, &policy, Attempted::Answered, None, S);
        assert_eq!(state, opened);
    }

    #[test]
    fn a_paused_destination_lets_nothing_through_and_resume_closes_it() {
        let policy = circuit(1, 30);
        let mut state = failed(1, &policy, 0);
        pause(&mut state);
        assert_eq!(shown(&state), "paused");
        assert_eq!(admit(&state, Some(&policy), 100 * S), Admission::GiveBack);
        assert_eq!(admit(&state, None, 100 * S), Admission::GiveBack);
        assert!(!take_probe(&mut state, "p", 100 * S, 400 * S));

        resume(&mut state);

        assert_eq!(state, DestinationState::new("d"));
        assert_eq!(shown(&state), "closed");
    }

    #[test]
    fn without_a_circuit_only_the_pause_holds() {
        let policy = circuit(1, 30);
        let state = failed(1, &policy, 0);
        assert_eq!(admit(&state, None, 0), Admission::Attempt);
    }
}
