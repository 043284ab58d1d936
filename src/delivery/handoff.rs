//! The hand-off of a new event from the accept path to this instance's own delivery worker,
//! so that its deliveries cost no claim query and no read of the event.
//!
//! The instance that stores an event holds it in memory already. When its worker has room for
//! the event's deliveries ([`Held::has_room`]) and a place in the bounded hand-off channel is
//! free, the event is stored with every delivery already claimed by the worker's owner for
//! `storage.lease` ([`NewEvent::with_every_delivery_held`]), and after the commit the claims and
//! the event go to the worker through the place reserved before the insert, so the send cannot
//! fail. Otherwise it is stored unclaimed and the worker's claim query finds it, as it finds
//! every delivery after a restart, a retry, or another instance's lapsed lease.
//!
//! Nothing is lost in between: the held deliveries are in the database, leased to the worker.
//! A crash leaves them to lapse (SQLite gives them back when it next opens, PostgreSQL lets
//! another instance take them after the lease); a graceful shutdown releases them with
//! everything else the worker holds (`Store::release` by owner), handed-off ones not yet
//! attempted included. The worker takes handed-off claims through the same rooms, circuit
//! admission, permits and pace as claimed ones (`delivery::worker`).
//!
//! Only on SQLite, where one process uses the store (`app.rs` makes no hand-off for
//! PostgreSQL): a pause is then always made through this instance's own view of the
//! destinations' state, against which the worker checks every handed-over delivery after its
//! commit, as it checks the claims it already holds. With several instances a pause made by
//! another reaches this view only at its next refresh, and only the store's claim holds it from
//! its commit on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::control::Control;
use super::held::{Held, MAX_IN_FLIGHT, Rooms};
use super::record;
use crate::clock::now_ms;
use crate::store::{Claim, Inserted, NewEvent, Store, StoreError, StoredEvent};

/// Events handed over and not yet taken by the worker, at most (it takes them at once).
const CHANNEL: usize = 2 * MAX_IN_FLIGHT;
/// The bodies of handed-over events in memory, at most, in KiB (each claim holds its event's
/// share until its attempt ends, or until it has to wait for its destination: then it drops the
/// event and reads it again at its attempt, like a claimed one).
const MAX_HANDED_KIB: usize = 16 * 1024;

/// One delivery handed over: its claim, and its share of [`MAX_HANDED_KIB`].
pub struct HandedClaim {
    pub claim: Claim,
    pub bytes: OwnedSemaphorePermit,
}

/// A stored event whose deliveries are held by the worker's owner, as the worker takes it.
pub struct Handed {
    pub event: Arc<StoredEvent>,
    pub claims: Vec<HandedClaim>,
}

/// The accept path's side of the hand-off.
pub struct Handoff {
    /// The worker's identity on its claims.
    owner: String,
    /// `storage.lease`: how long a handed-over delivery is held, like a claim.
    lease: Duration,
    sender: mpsc::Sender<Handed>,
    bytes: Arc<Semaphore>,
    held: Arc<Held>,
    control: Arc<Control>,
}

/// The worker's side of the hand-off: the events handed over, and the deliveries it holds
/// (shared with the accept path, which hands over only what has room).
pub struct Inbox {
    pub handed: mpsc::Receiver<Handed>,
    pub held: Arc<Held>,
}

impl Handoff {
    /// The hand-off to the worker that claims as `owner` for `lease`, and that worker's inbox.
    pub fn new(owner: String, lease: Duration, control: Arc<Control>) -> (Arc<Handoff>, Inbox) {
        let (sender, handed) = mpsc::channel(CHANNEL);
        let held = Arc::new(Held::default());
        let handoff = Handoff {
            owner,
            lease,
            sender,
            bytes: Arc::new(Semaphore::new(MAX_HANDED_KIB)),
            held: held.clone(),
            control,
        };
        (Arc::new(handoff), Inbox { handed, held })
    }

    /// The worker's identity on its claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stores `event` (and counts it, [`record::insert`]), handing its deliveries to the worker
    /// when it can take them. Runs as a task of its own, so that a request given up while its
    /// insert waits for the commit (its timeout) does not leave held deliveries unhanded.
    pub async fn insert(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        rooms: &Rooms,
        event: NewEvent,
    ) -> Result<Inserted, StoreError> {
        let Some((place, shares)) = self.reserve(rooms, &event) else {
            return record::insert(store.as_ref(), event).await;
        };
        let until_ms =
            now_ms().saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX));
        let event = event.with_every_delivery_held(&self.owner, until_ms);
        let handed = Handed {
            event: Arc::new(StoredEvent::unattempted(&event, event.id())),
            claims: event
                .destinations()
                .iter()
                .zip(shares)
                .map(|(destination, bytes)| HandedClaim {
                    claim: Claim {
                        event_id: event.id(),
                        source: event.source().to_owned(),
                        destination: destination.clone(),
                        attempts: 0,
                        budget_from_ms: event.received_at_ms(),
                        replays: 0,
                    },
                    bytes,
                })
                .collect(),
        };
        let store = store.clone();
        let stored = tokio::spawn(async move {
            let inserted = record::insert(store.as_ref(), event).await;
            // Only a new event holds its deliveries: a duplicate wrote nothing.
            if let Ok(Inserted::Stored(_)) = inserted {
                place.send(handed);
            }
            inserted
        });
        stored.await.unwrap_or(Err(StoreError::NoAnswer))
    }

    /// A place in the channel and each delivery's share of the bytes, when the worker has room
    /// for every one of the event's deliveries; `None` when it is to be stored unclaimed.
    fn reserve(
        &self,
        rooms: &Rooms,
        event: &NewEvent,
    ) -> Option<(mpsc::OwnedPermit<Handed>, Vec<OwnedSemaphorePermit>)> {
        let destinations = event.destinations();
        if destinations.is_empty() || !self.held.has_room(destinations, rooms, &self.control) {
            return None;
        }
        let kib = event.body().len().div_ceil(1024).max(1);
        let count = u32::try_from(destinations.len()).ok()?;
        let total = u32::try_from(kib).ok()?.checked_mul(count)?;
        let mut bytes = self.bytes.clone().try_acquire_many_owned(total).ok()?;
        let place = self.sender.clone().try_reserve_owned().ok()?;
        let mut shares = Vec::with_capacity(destinations.len());
        for _ in 1..destinations.len() {
            shares.push(bytes.split(kib)?);
        }
        shares.push(bytes);
        Some((place, shares))
    }
}
