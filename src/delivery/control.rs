//! The control state of every destination as this instance sees it: paused or not, and its
//! circuit breaker ([`super::circuit`] decides, the store keeps).
//!
//! The store is the one truth, shared by every instance of one store. Each instance keeps a
//! view of it in memory, so that the hot path (a delivery to a closed destination, answered)
//! costs no store round trip, and refreshes the whole view every [`REFRESH`]: a pause or an
//! opening made by another instance holds here within that time. Changes are made here with a
//! compare-and-set on the state's version ([`crate::store::Store::save_destination_state`]),
//! retried on the stored state when another writer got there first, one at a time per
//! destination within this instance; the view takes each change at once.
//!
//! A pause is stronger than the view: the store claims nothing of a paused destination from the
//! pause's commit on, on every instance. The view only makes the claims an instance already held
//! be given back (within [`REFRESH`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::circuit::{self, Admission, Attempted};
use crate::config::Circuit;
use crate::store::{DestinationState, NewAudit, Store, StoreError};

/// How often each instance reads every destination's state from the store.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Compare-and-set attempts before a change gives up (only other instances' saves of the same
/// destination in between can make one fail).
const MAX_TRIES: usize = 8;

pub struct Control {
    store: Arc<dyn Store>,
    /// The last state read or saved, by destination name; a name absent is in the default state.
    view: Mutex<HashMap<String, DestinationState>>,
    /// One change at a time per destination within this instance.
    changing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Control {
    pub fn new(store: Arc<dyn Store>) -> Control {
        Control {
            store,
            view: Mutex::default(),
            changing: Mutex::default(),
        }
    }

    /// The destination's state as this instance last saw it.
    pub fn state(&self, name: &str) -> DestinationState {
        self.view
            .lock()
            .ok()
            .and_then(|view| view.get(name).cloned())
            .unwrap_or_else(|| DestinationState::new(name))
    }

    /// [`circuit::admit`] on the view.
    pub fn admit(&self, name: &str, circuit: Option<&Circuit>, now_ms: i64) -> Admission {
        let Ok(view) = self.view.lock() else {
            // Poisoned only if a holder panicked; attempt nothing rather than too much.
            return Admission::GiveBack;
        };
        match view.get(name) {
            Some(state) => circuit::admit(state, circuit, now_ms),
            None => Admission::Attempt,
        }
    }

    /// Reads every state from the store into the view (keeping what this instance saved since,
    /// if newer: states are never deleted and their versions only grow), and sets the state
    /// gauges of `names` (the configured destinations).
    pub async fn refresh<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
    ) -> Result<(), StoreError> {
        let states = self.store.destination_states().await?;
        let Ok(mut view) = self.view.lock() else {
            return Ok(());
        };
        for state in states {
            // A change this instance saved after the read began is newer than what was read.
            let newer = view
                .get(&state.name)
                .is_some_and(|seen| seen.version > state.version);
            if !newer {
                view.insert(state.name.clone(), state);
            }
        }
        for name in names {
            match view.get(name) {
                Some(state) => gauge(state),
                None => gauge(&DestinationState::new(name)),
            }
        }
        Ok(())
    }

    /// Takes the probe of an open circuit for `probe` (a worker and its delivery) until
    /// `lapse_ms`. False when another took it first, or there is none to take.
    pub async fn take_probe(&self, name: &str, probe: &str, now_ms: i64, lapse_ms: i64) -> bool {
        let taken = self
            .change(name, None, |state| {
                circuit::take_probe(state, probe, now_ms, lapse_ms)
            })
            .await;
        match taken {
            Ok(Some(after)) => after.probe.as_deref() == Some(probe),
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(error = %err, destination = name, "cannot take the circuit's probe; trying later");
                false
            }
        }
    }

    /// Tells the breaker what an attempt did. Costs nothing when it changes nothing the view
    /// shows (an answer from a closed destination with no failures counted; a straggler of an
    /// open circuit).
    pub async fn record(
        &self,
        name: &str,
        circuit: &Circuit,
        attempted: Attempted,
        probe: Option<&str>,
        now_ms: i64,
    ) {
        let mut seen = self.state(name);
        circuit::record(&mut seen, circuit, attempted, probe, now_ms);
        if seen == self.state(name) {
            return;
        }
        let changed = self
            .change(name, None, |state| {
                let before = state.clone();
                circuit::record(state, circuit, attempted, probe, now_ms);
                *state != before
            })
            .await;
        if let Err(err) = changed {
            tracing::warn!(error = %err, destination = name, "cannot save the circuit's state");
        }
    }

    /// Pauses the destination on every instance of this store; `audit` is appended with the
    /// saved state, or on its own with ` unchanged` after its outcome when it was paused already.
    pub async fn pause(&self, name: &str, audit: &NewAudit) -> Result<(), StoreError> {
        let changed = self
            .change(name, Some(audit), |state| {
                let was = state.paused;
                circuit::pause(state);
                !was
            })
            .await?;
        self.audit_unchanged(changed, audit).await
    }

    /// Resumes the destination on every instance of this store, its circuit closed; audited as
    /// [`Control::pause`] is.
    pub async fn resume(&self, name: &str, audit: &NewAudit) -> Result<(), StoreError> {
        let changed = self
            .change(name, Some(audit), |state| {
                let before = state.clone();
                circuit::resume(state);
                *state != before
            })
            .await?;
        self.audit_unchanged(changed, audit).await
    }

    /// An operator's request that found nothing to change still reached the store's state and
    /// answered 204: it is recorded, saying so.
    async fn audit_unchanged(
        &self,
        changed: Option<DestinationState>,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        if changed.is_none() {
            let outcome = format!("{} unchanged", audit.outcome());
            self.store
                .append_audit(&audit.clone().with_outcome(&outcome))
                .await?;
        }
        Ok(())
    }

    /// Applies `change` (which says whether it changed anything) to the stored state and saves
    /// it by compare-and-set, on the view's copy first and on a fresh read after a conflict,
    /// with `audit` appended in the transaction of the save that lands.
    /// `Ok(Some(state))` with the state saved; `Ok(None)` when there was nothing to change.
    async fn change(
        &self,
        name: &str,
        audit: Option<&NewAudit>,
        change: impl Fn(&mut DestinationState) -> bool,
    ) -> Result<Option<DestinationState>, StoreError> {
        let lock = self.lock(name);
        let _one_at_a_time = lock.lock().await;
        let mut current = self.state(name);
        for _ in 0..MAX_TRIES {
            let before = current.clone();
            let mut after = current.clone();
            if !change(&mut after) {
                return Ok(None);
            }
            if self.store.save_destination_state(&after, audit).await? {
                after.version = before.version.saturating_add(1);
                self.seen(after.clone());
                transition(&before, &after);
                return Ok(Some(after));
            }
            current = self
                .store
                .destination_states()
                .await?
                .into_iter()
                .find(|state| state.name == name)
                .unwrap_or_else(|| DestinationState::new(name));
            self.seen(current.clone());
        }
        Err(StoreError::Busy)
    }

    fn seen(&self, state: DestinationState) {
        if let Ok(mut view) = self.view.lock() {
            view.insert(state.name.clone(), state);
        }
    }

    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.changing.lock() {
            Ok(mut locks) => locks.entry(name.to_owned()).or_default().clone(),
            // Poisoned only if a holder panicked: a lock of its own still serialises nothing
            // wrongly (the compare-and-set keeps the store right).
            Err(_) => Arc::default(),
        }
    }
}

/// Counts, logs and shows a change of what the destination shows (paused, or its circuit).
fn transition(before: &DestinationState, after: &DestinationState) {
    let (from, to) = (circuit::shown(before), circuit::shown(after));
    gauge(after);
    if from == to {
        return;
    }
    crate::telemetry::metrics::metrics()
        .destinations
        .transitions
        .with_label_values(&[&after.name, to])
        .inc();
    let next_probe_in_ms = after
        .next_probe_at_ms
        .map(|at| at.saturating_sub(crate::clock::now_ms()));
    match to {
        "open" => tracing::warn!(
            destination = %after.name, from, failures = after.consecutive_failures,
            next_probe_in_ms, "circuit opened: no delivery is attempted until the probe"
        ),
        "paused" => tracing::warn!(destination = %after.name, from, "destination paused"),
        _ => tracing::info!(destination = %after.name, from, to, "destination state changed"),
    }
}

/// `hookwall_destination_state{destination,state}`: 1 for what it shows, 0 for the others.
fn gauge(state: &DestinationState) {
    let shown = circuit::shown(state);
    let gauge = &crate::telemetry::metrics::metrics().destinations.state;
    for value in circuit::SHOWN {
        gauge
            .with_label_values(&[&state.name, value])
            .set(i64::from(value == shown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditAction, CircuitState, SqliteStore};

    const CIRCUIT: Circuit = Circuit {
        failures: 2,
        cooldown: Duration::from_secs(30),
    };

    /// Two instances' views of one store.
    async fn two_instances() -> (Control, Control, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("events.db"))
                .await
                .expect("opens"),
        );
        (Control::new(store.clone()), Control::new(store), dir)
    }

    fn names() -> Vec<String> {
        vec!["ci".to_owned()]
    }

    #[tokio::test]
    async fn failures_counted_on_two_instances_open_the_circuit_for_both() {
        let (a, b, _dir) = two_instances().await;
        a.record("ci", &CIRCUIT, Attempted::Failed, None, 1_000)
            .await;
        b.record("ci", &CIRCUIT, Attempted::Failed, None, 2_000)
            .await;

        assert_eq!(
            b.state("ci").circuit,
            CircuitState::Open,
            "b read a's failure first"
        );
        assert_eq!(
            a.admit("ci", Some(&CIRCUIT), 3_000),
            Admission::Attempt,
            "not yet refreshed"
        );
        a.refresh(names().iter()).await.expect("refresh");
        assert_eq!(a.admit("ci", Some(&CIRCUIT), 3_000), Admission::GiveBack);
        assert_eq!(a.admit("ci", Some(&CIRCUIT), 32_000), Admission::Probe);
    }

    #[tokio::test]
    async fn one_probe_goes_out_across_instances() {
        let (a, b, _dir) = two_instances().await;
        a.record("ci", &CIRCUIT, Attempted::Failed, None, 0).await;
        a.record("ci", &CIRCUIT, Attempted::Failed, None, 0).await;
        b.refresh(names().iter()).await.expect("refresh");

        let (took_a, took_b) = tokio::join!(
            a.take_probe("ci", "a/1", 30_000, 330_000),
            b.take_probe("ci", "b/2", 30_000, 330_000),
        );

        assert!(took_a ^ took_b, "exactly one probe: {took_a} {took_b}");
        let (winner, probe) = if took_a { (&a, "a/1") } else { (&b, "b/2") };
        winner
            .record("ci", &CIRCUIT, Attempted::Answered, Some(probe), 31_000)
            .await;
        for control in [&a, &b] {
            control.refresh(names().iter()).await.expect("refresh");
            assert_eq!(control.state("ci").circuit, CircuitState::Closed);
        }
    }

    fn audit(action: AuditAction) -> NewAudit {
        NewAudit::new("admin", action, "ci", "ok", None)
    }

    #[tokio::test]
    async fn a_pause_on_one_instance_holds_on_the_other_after_its_refresh_and_resume_closes() {
        let (a, b, _dir) = two_instances().await;
        a.record("ci", &CIRCUIT, Attempted::Failed, None, 0).await;
        a.pause("ci", &audit(AuditAction::Pause))
            .await
            .expect("pause");
        a.pause("ci", &audit(AuditAction::Pause))
            .await
            .expect("pausing twice is harmless");
        b.refresh(names().iter()).await.expect("refresh");
        assert_eq!(b.admit("ci", None, 0), Admission::GiveBack);
        assert_eq!(circuit::shown(&b.state("ci")), "paused");

        b.resume("ci", &audit(AuditAction::Resume))
            .await
            .expect("resume");

        a.refresh(names().iter()).await.expect("refresh");
        let state = a.state("ci");
        assert_eq!((state.paused, state.consecutive_failures), (false, 0));
        assert_eq!(a.admit("ci", Some(&CIRCUIT), 0), Admission::Attempt);
    }
}
