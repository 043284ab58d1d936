//! The delivery worker: claims due deliveries with a lease, attempts each on its destination
//! (within the destination's concurrency limit), and records the outcome the retry policy
//! decides. At shutdown it stops claiming, lets attempts in flight finish (bounded), and gives
//! back the claims it still holds.
//!
//! Destinations are independent: one that never answers delays nobody else's events (issue 20,
//! finding 3). Three stages, so that nothing waits behind another destination:
//! - the claimer keeps deliveries claimed ahead of the attempts, at most [`MAX_HELD`] in all
//!   and, of each destination, at most its claim room (its concurrency times a few rounds, see
//!   `Registry::claim_rooms`). The store claims destination by destination (`Store::claim`), so
//!   a destination at its room is not claimed from and its backlog is not walked over. Under
//!   load a claim waits for a commit behind the ingest path's inserts (milliseconds); claiming
//!   only once attempts had finished kept delivery to a batch per commit, a fraction of the
//!   ingest rate.
//! - each claim then waits for one of its destination's permits (a small task per claim, no
//!   event loaded): a saturated destination's claims wait there, holding nothing shared.
//! - the dispatcher takes claims that hold their permit as attempt slots free up, reads their
//!   events in one query, and starts the attempts. An attempt holds one of [`MAX_IN_FLIGHT`]
//!   slots (and its event in memory) while it calls its destination, not while it waits for a
//!   permit, nor while its outcome waits for a commit.
//!
//! A claim counts against its destination's room from its claim until its destination has
//! answered (or it is given up); each one given back wakes the claimer.
//!
//! Pace and circuit (SPEC section 10): a claim holding its permit also waits for its
//! destination's `rate_limit` before it goes to the dispatcher. A destination that is paused,
//! or whose circuit is open, gets no claim room (an open circuit whose cooldown is over gets
//! room for one: the probe), and the dispatcher gives back, unattempted and uncharged, the
//! claims it already held ([`Control`] says which, from the state every worker refreshes from
//! the store each `control::REFRESH`). Each attempt's outcome goes to the breaker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::circuit::{Admission, Attempted};
use super::control::{self, Control};
use super::handoff::{Handed, Inbox};
use super::held::{BATCH, Held, Holding, MAX_HELD, MAX_IN_FLIGHT};
use super::trace::AttemptSpan;
use super::{Attempt, Outcome, Registry, Slot, record};
use crate::clock::now_ms;
use crate::store::{Claim, Store, StoredEvent};

/// The bodies of the events in flight, at most, in KiB (64 MiB; an event larger than this goes
/// alone). The events are what the worker holds in memory.
const MAX_LOADED_KIB: usize = 64 * 1024;
/// Attempts whose outcome waits for its commit, beyond those in flight. Bounded, so a store that
/// stops committing stops the worker from starting more.
const MAX_RECORDING: usize = 4 * MAX_IN_FLIGHT;
/// Claims and event reads are made for at least [`BATCH`] deliveries at once, or after waiting
/// this long for free slots.
const GATHER: Duration = Duration::from_millis(10);
/// How often an idle worker looks for due work.
const POLL: Duration = Duration::from_millis(100);

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub registry: Arc<ArcSwap<Registry>>,
    /// The destinations' pause and circuit state, shared with the admin API.
    pub control: Arc<Control>,
    /// This worker's identity on its claims.
    pub owner: String,
    /// How long a claim is held (`storage.lease`): longer than any attempt can take (its wait
    /// for its destination's permit, bounded by the destination's claim room, its wait for a
    /// slot, and its timeout); after it, another worker may take the delivery over.
    pub lease: Duration,
    pub shutdown_timeout: Duration,
    /// The events the accept path hands over with their deliveries already claimed as `owner`
    /// (`delivery::handoff`), and the count of what the worker holds, shared with it.
    pub inbox: Option<Inbox>,
}

/// A claim whose destination's permit is held (`None` for a destination not configured when it
/// was claimed), and its pace waited for: ready for an attempt slot.
struct Ready {
    claim: Claim,
    permit: Option<OwnedSemaphorePermit>,
    holding: Holding,
    /// Its event, when it was handed over with it and had no wait (and the event's share of the
    /// hand-off's bytes); `None`: the dispatcher reads it.
    loaded: Option<(Arc<StoredEvent>, OwnedSemaphorePermit)>,
}

/// What an attempt holds while it calls its destination, given back together when the call is
/// over: its slot, its share of the loaded bytes, its destination's permit, its claim's room.
type Attempting = (
    OwnedSemaphorePermit,
    Option<OwnedSemaphorePermit>,
    Option<OwnedSemaphorePermit>,
    Holding,
);

impl Worker {
    /// Runs until `stop` turns true.
    pub async fn run(mut self, stop: watch::Receiver<bool>) {
        let inbox = self.inbox.take();
        let held = inbox
            .as_ref()
            .map_or_else(|| Arc::new(Held::default()), |inbox| inbox.held.clone());
        let this = Arc::new(self);
        // Before the first claim: a circuit left open by a previous run holds from the start.
        this.refresh().await;
        let refresher = tokio::spawn(this.clone().keep_fresh(stop.clone()));
        // Never full: it holds claims counted in `Held`, at most MAX_HELD.
        let (ready, claimed) = mpsc::channel(MAX_HELD);
        let taker = inbox.map(|inbox| {
            tokio::spawn(this.clone().take_handed(
                inbox.handed,
                held.clone(),
                ready.clone(),
                stop.clone(),
            ))
        });
        let claimer = tokio::spawn(this.clone().claim_ahead(held, ready, stop.clone()));
        let mut tasks = this.dispatch(claimed, stop).await;
        // The claimer and the taker end at stop (their waits for permits with them); the last
        // claim, if any, is committed before the release below gives everything back, handed
        // over deliveries not yet attempted included.
        for (task, name) in [(Some(claimer), "claimer"), (taker, "hand-off taker")] {
            if let Some(Err(err)) = match task {
                Some(task) => Some(task.await),
                None => None,
            } {
                tracing::error!(error = %err, task = name, "delivery task failed");
            }
        }
        refresher.abort();
        let drained = tokio::time::timeout(this.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "deliveries still running at shutdown_timeout; releasing them"
            );
            tasks.abort_all();
        }
        match this.store.release(&this.owner).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "released claimed deliveries"),
            Err(err) => {
                tracing::warn!(error = %err, "cannot release claims; they lapse with their lease")
            }
        }
    }

    /// Reads the destinations' shared state into the view ([`Control::refresh`]).
    async fn refresh(&self) {
        let registry = self.registry.load_full();
        if let Err(err) = self.control.refresh(registry.claim_rooms().keys()).await {
            tracing::warn!(error = %err, "cannot read the destinations' state; keeping the last");
        }
    }

    /// Refreshes the view every [`control::REFRESH`] until stop.
    async fn keep_fresh(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = stopped(&mut stop) => return,
                () = tokio::time::sleep(control::REFRESH) => self.refresh().await,
            }
        }
    }

    /// Claims as much as the rooms allow, and starts a wait for its destination's permit (and
    /// pace) for each claim; those that have it go to the dispatcher. Ends at stop, or when the
    /// dispatcher is gone.
    async fn claim_ahead(
        self: Arc<Self>,
        held: Arc<Held>,
        ready: mpsc::Sender<Ready>,
        mut stop: watch::Receiver<bool>,
    ) {
        // Claims waiting for their destination's permit: aborted (dropped) with the claimer.
        let mut waiting = JoinSet::new();
        loop {
            while waiting.try_join_next().is_some() {}
            if ready.is_closed() {
                return;
            }
            let registry = self.registry.load_full();
            let room = held.room(registry.rooms(), &self.control);
            // Room for a batch, or wait for claims to be given back.
            if room.total < BATCH {
                tokio::select! {
                    () = held.freed.notified() => continue,
                    () = stopped(&mut stop) => return,
                }
            }
            let claims = match self.store.claim(&self.owner, &room, self.lease).await {
                Ok(claims) => claims,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim deliveries; retrying");
                    Vec::new()
                }
            };
            if claims.is_empty() {
                // Nothing due that there is room for: new work is looked for every POLL, and
                // a destination given room back is claimed from again after a short gather.
                tokio::select! {
                    () = stopped(&mut stop) => return,
                    () = tokio::time::sleep(POLL) => {}
                    () = held.freed.notified() => tokio::time::sleep(GATHER).await,
                }
                continue;
            }
            for claim in claims {
                let holding = held.take(&claim.destination);
                let slot = registry.get(&claim.source, &claim.destination);
                wait_for_turn(&mut waiting, slot, &ready, claim, holding, None);
            }
        }
    }

    /// Takes the events the accept path hands over: each delivery its destination has room for
    /// goes on like a claim (straight to the dispatcher, its event with it, when its permit and
    /// pace are free at once; else it waits for them like a claim, its event dropped, read again
    /// at its attempt); the others are given back to the store unattempted, for the claim query.
    /// Ends at stop, or when the dispatcher is gone; what is left in the channel is released
    /// with the rest at shutdown.
    async fn take_handed(
        self: Arc<Self>,
        mut handed: mpsc::Receiver<Handed>,
        held: Arc<Held>,
        ready: mpsc::Sender<Ready>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut waiting = JoinSet::new();
        loop {
            let next = tokio::select! {
                next = handed.recv() => next,
                () = stopped(&mut stop) => None,
            };
            let Some(Handed { event, claims }) = next else {
                break;
            };
            while waiting.try_join_next().is_some() {}
            let registry = self.registry.load_full();
            let mut refused = Vec::new();
            for handed in claims {
                let claim = handed.claim;
                let Some(holding) =
                    held.try_take(&claim.destination, registry.rooms(), &self.control)
                else {
                    refused.push(claim);
                    continue;
                };
                let slot = registry.get(&claim.source, &claim.destination);
                let permit = match slot {
                    Some(slot) => match slot.permits.clone().try_acquire_owned() {
                        Ok(permit) => Some(permit),
                        Err(_) => {
                            wait_for_turn(&mut waiting, Some(slot), &ready, claim, holding, None);
                            continue;
                        }
                    },
                    None => None,
                };
                if let Some(pace) = slot.and_then(|slot| slot.pace.as_ref())
                    && pace.check().is_err()
                {
                    wait_for_turn(&mut waiting, slot, &ready, claim, holding, permit);
                    continue;
                }
                let loaded = Some((event.clone(), handed.bytes));
                let item = Ready {
                    claim,
                    permit,
                    holding,
                    loaded,
                };
                if ready.send(item).await.is_err() {
                    break;
                }
            }
            if !refused.is_empty() {
                let this = self.clone();
                waiting.spawn(async move { this.give_back(&refused).await });
            }
        }
        // No more hand-offs: what was reserved and is sent after this finds the channel closed
        // and is dropped; its deliveries are held in the store, released at shutdown.
        handed.close();
    }

    /// Starts an attempt for each claim that holds its destination's permit as slots free up;
    /// returns at stop with the attempts still running.
    async fn dispatch(
        self: &Arc<Self>,
        mut claimed: mpsc::Receiver<Ready>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinSet<()> {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let loaded = Arc::new(Semaphore::new(MAX_LOADED_KIB));
        let mut tasks = JoinSet::new();
        let mut batch = Vec::with_capacity(MAX_IN_FLIGHT);
        loop {
            while tasks.len() >= MAX_IN_FLIGHT + MAX_RECORDING {
                tasks.join_next().await;
            }
            let mut free = tokio::select! {
                free = free_slots(&slots) => match free {
                    Some(free) => free,
                    None => break,
                },
                () = stopped(&mut stop) => break,
            };
            batch.clear();
            tokio::select! {
                // 0: the claimer is gone (it only stops at stop).
                received = claimed.recv_many(&mut batch, free.num_permits()) => if received == 0 { break },
                () = stopped(&mut stop) => break,
            }
            // Claims of a destination paused, or whose circuit opened, since they were claimed:
            // given back unattempted, without reading their events.
            self.give_back_held(&mut batch, &mut tasks);
            if batch.is_empty() {
                continue;
            }
            // The claimed events in one read (an event with several destinations is read once);
            // handed-over claims came with theirs.
            let ids: Vec<Uuid> = batch
                .iter()
                .filter(|ready| ready.loaded.is_none())
                .map(|ready| ready.claim.event_id)
                .collect();
            let events: HashMap<String, Arc<StoredEvent>> = if ids.is_empty() {
                HashMap::new()
            } else {
                match self.store.get_many(&ids).await {
                    Ok(events) => events
                        .into_iter()
                        .map(|event| (event.id.clone(), Arc::new(event)))
                        .collect(),
                    Err(err) => {
                        tracing::warn!(error = %err, claims = ids.len(), "cannot read claimed events; their claims will lapse");
                        batch.retain(|ready| ready.loaded.is_some());
                        HashMap::new()
                    }
                }
            };
            // One slot each: `recv_many` took at most as many claims as there are free slots.
            for (ready, in_flight) in batch.drain(..).zip(std::iter::from_fn(|| free.split(1))) {
                let Ready {
                    claim,
                    permit,
                    holding,
                    loaded: handed,
                } = ready;
                let (event, bytes) = match handed {
                    // Its bytes were counted when it was handed over.
                    Some((event, bytes)) => (Some(event), Some(bytes)),
                    None => {
                        let event = events.get(&claim.event_id.to_string()).cloned();
                        // Its share of the loaded bytes, in KiB; waiting here holds back the
                        // next batch.
                        let kib = event
                            .as_ref()
                            .and_then(|event| event.body.as_ref())
                            .map_or(0, |body| body.len().div_ceil(1024))
                            .min(MAX_LOADED_KIB);
                        // `None` only if the semaphore were closed, which it never is.
                        let bytes = loaded
                            .clone()
                            .acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX))
                            .await
                            .ok();
                        (event, bytes)
                    }
                };
                let this = self.clone();
                tasks.spawn(async move {
                    this.attempt(claim, event, (in_flight, bytes, permit, holding))
                        .await
                });
            }
            // Reap finished attempts without waiting.
            while tasks.try_join_next().is_some() {}
        }
        tasks
    }

    /// Takes out of `batch` the claims whose destination admits no attempt now, and gives them
    /// back (a task of `tasks`), holding their room until the store has them again.
    fn give_back_held(self: &Arc<Self>, batch: &mut Vec<Ready>, tasks: &mut JoinSet<()>) {
        let registry = self.registry.load_full();
        let now = now_ms();
        let (held, ready): (Vec<Ready>, Vec<Ready>) = batch.drain(..).partition(|ready| {
            let name = &ready.claim.destination;
            registry.get(&ready.claim.source, name).is_some()
                && self.control.admit(name, registry.circuit(name), now) == Admission::GiveBack
        });
        *batch = ready;
        if held.is_empty() {
            return;
        }
        let this = self.clone();
        tasks.spawn(async move {
            let claims: Vec<Claim> = held.iter().map(|ready| ready.claim.clone()).collect();
            this.give_back(&claims).await;
        });
    }

    /// Gives `claims` back to the store unattempted (their leases lapse if it cannot take them).
    async fn give_back(&self, claims: &[Claim]) {
        match self.store.give_back(&self.owner, claims).await {
            Ok(given) => tracing::debug!(given, "gave back claims of paused or open destinations"),
            Err(err) => {
                tracing::warn!(error = %err, claims = claims.len(), "cannot give claims back; they lapse with their lease")
            }
        }
    }

    /// Whether the claim may be attempted now, and as the circuit's probe or not: `None` when
    /// it is to be given back. Asks the store for the probe when the circuit is ready for one.
    async fn admit(&self, registry: &Registry, claim: &Claim) -> Option<Option<String>> {
        let name = &claim.destination;
        let now = now_ms();
        match self.control.admit(name, registry.circuit(name), now) {
            Admission::Attempt => Some(None),
            Admission::GiveBack => None,
            Admission::Probe => {
                let probe = format!("{}/{}", self.owner, claim.event_id);
                let lapse =
                    now.saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX));
                self.control
                    .take_probe(name, &probe, now, lapse)
                    .await
                    .then_some(Some(probe))
            }
        }
    }

    async fn attempt(
        &self,
        claim: Claim,
        event: Option<Arc<StoredEvent>>,
        mut in_flight: Attempting,
    ) {
        let registry = self.registry.load_full();
        let probe = match registry.get(&claim.source, &claim.destination) {
            Some(_) => match self.admit(&registry, &claim).await {
                Some(probe) => probe,
                None => {
                    self.give_back(std::slice::from_ref(&claim)).await;
                    return;
                }
            },
            None => None,
        };
        let mut attempted = Attempted::NotMade;
        let mut stopwatch = record::Stopwatch::start();
        let outcome = match (registry.get(&claim.source, &claim.destination), event) {
            (None, _) => Outcome::Dead {
                error: format!("destination {} is no longer configured", claim.destination),
            },
            (Some(_), None) => Outcome::Dead {
                error: "event no longer stored".into(),
            },
            (Some(slot), Some(event)) => {
                // The permit was had before the attempt took its slot, unless the destination
                // was configured (a reload) after the claim: the concurrency limit holds.
                if in_flight.2.is_none() {
                    in_flight.2 = slot.permits.clone().acquire_owned().await.ok();
                }
                stopwatch = record::Stopwatch::start();
                let span = AttemptSpan::start(
                    &event,
                    &claim.destination,
                    claim.attempts.saturating_add(1),
                );
                let attempt = Attempt {
                    trace: span.traceparent(),
                    ..Attempt::of(&claim)
                };
                let outcome = slot.destination.deliver(&event, &attempt).await;
                span.end(&outcome);
                crate::telemetry::metrics::metrics()
                    .delivery_duration
                    .with_label_values(&[&claim.destination])
                    .observe(stopwatch.elapsed().as_secs_f64());
                attempted = Attempted::of(&outcome);
                outcome
            }
        };
        let timing = stopwatch.timing();
        // The breaker hears of it before the permit goes: with `concurrency = 1` no attempt
        // starts between the failure that opens the circuit and the opening.
        if let Some(circuit) = registry.circuit(&claim.destination) {
            self.control
                .record(
                    &claim.destination,
                    circuit,
                    attempted,
                    probe.as_deref(),
                    now_ms(),
                )
                .await;
        }
        // The destination call is over: its slot, its bytes, its permit and its claim's room go
        // to the next attempts while this outcome waits for its commit.
        drop(in_flight);
        let policy = registry
            .get(&claim.source, &claim.destination)
            .map(|slot| slot.retry)
            .unwrap_or_default();
        let recorded = record::scheduled(&policy, &claim, outcome);
        record::count(&claim.source, &claim.destination, &recorded);
        record::report(&claim, &recorded);
        match self
            .store
            .record(&self.owner, &claim, recorded, timing)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(event_id = %claim.event_id, "claim was taken over before the outcome was recorded")
            }
            Err(err) => {
                tracing::warn!(error = %err, event_id = %claim.event_id, "cannot record outcome; the claim will lapse and retry")
            }
        }
    }
}

/// Waits, in a task of `waiting`, for the claim's destination's permit (unless `permit` is had
/// already) and its pace, then sends it to the dispatcher. `slot` is `None` for a destination
/// not configured: nothing to wait for.
fn wait_for_turn(
    waiting: &mut JoinSet<()>,
    slot: Option<&Slot>,
    ready: &mpsc::Sender<Ready>,
    claim: Claim,
    holding: Holding,
    permit: Option<OwnedSemaphorePermit>,
) {
    let permits = slot.map(|slot| slot.permits.clone());
    let pace = slot.and_then(|slot| slot.pace.clone());
    let ready = ready.clone();
    waiting.spawn(async move {
        // `None` only if the semaphore were closed, which it never is.
        let permit = match (permit, permits) {
            (Some(permit), _) => Some(permit),
            (None, Some(permits)) => permits.acquire_owned().await.ok(),
            (None, None) => None,
        };
        // Bounded: the destination's claim room is what its rate starts within half the lease
        // (`registry::paced_room`).
        if let Some(pace) = pace {
            pace.until_ready().await;
        }
        // Fails only when the dispatcher has stopped: the release at shutdown gives the claim
        // back.
        let _ = ready
            .send(Ready {
                claim,
                permit,
                holding,
                loaded: None,
            })
            .await;
    });
}

/// Waits for a free slot, then briefly for a batch's worth, never long, so a lone due delivery
/// is not held back; then takes every slot free. `None` once the semaphore is closed (it never
/// is).
async fn free_slots(slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    let mut free = slots.clone().acquire_owned().await.ok()?;
    let _ = tokio::time::timeout(GATHER, async {
        while free.num_permits() < BATCH {
            match slots.clone().acquire_owned().await {
                Ok(permit) => free.merge(permit),
                Err(_) => return,
            }
        }
    })
    .await;
    let rest = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
    if rest > 0
        && let Ok(more) = slots.clone().try_acquire_many_owned(rest)
    {
        free.merge(more);
    }
    Some(free)
}

/// Resolves once stop is asked, or when nobody is left to ask it.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
