//! Step 2, load shedding: at most `max_in_flight` webhook requests at once, at most
//! `max_in_flight_per_client` of them from one client (an address block of
//! `server.client_prefix`), and, when every slot is taken, the slow make room for the new.
//!
//! A slot is held from the head until the answer, so a client that trickles its body holds one
//! for up to `request_timeout` without proving anything. Three addresses with 250 such
//! connections used to hold every slot and good webhooks got 503. Now:
//! - one client holds at most its share; past it, its next request is 503 at once;
//! - when all slots are taken, the request that has waited longest for its own body (still
//!   unread after [`SLOW_AFTER`]) is ended with 503 (`Connection: close`), and the new request
//!   takes its slot. A request whose body has arrived is never evicted: it is being verified
//!   or stored, and a good webhook's body arrives in milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::body::BodyRead;
use super::client_ip::ClientIp;
use crate::config::frontdoor::ClientPrefix;
use crate::http::problem::{Rejection, RejectionKind};

/// A request whose body is still unread after this long is slow: it may be evicted.
pub const SLOW_AFTER: Duration = Duration::from_secs(1);
/// How long a new request waits for the slot of the request it evicted.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// The slots of the public listener.
pub struct Admission {
    slots: Arc<Semaphore>,
    per_client: usize,
    prefix: ClientPrefix,
    state: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    by_client: HashMap<IpAddr, usize>,
    /// Requests in flight by arrival; at most `max_in_flight` entries.
    in_flight: BTreeMap<u64, Entry>,
    next: u64,
}

struct Entry {
    started: Instant,
    body_read: Arc<AtomicBool>,
    evict: Option<oneshot::Sender<()>>,
}

impl Admission {
    pub fn new(max_in_flight: usize, per_client: usize, prefix: ClientPrefix) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            per_client: per_client.max(1),
            prefix,
            state: Mutex::new(Held::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // Every update under this lock is a map insert or remove: a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the request against its client, or says the client is at its share.
    fn enter_client(self: &Arc<Self>, client: IpAddr) -> Option<ClientGuard> {
        let mut held = self.lock();
        let count = held.by_client.entry(client).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(ClientGuard {
            admission: self.clone(),
            client,
        })
    }

    /// Ends the request that has waited longest for its body, if one is slow.
    fn evict_slowest(&self) -> bool {
        let mut held = self.lock();
        let victim = held.in_flight.values_mut().find(|entry| {
            entry.evict.is_some()
                && !entry.body_read.load(Ordering::Relaxed)
                && entry.started.elapsed() >= SLOW_AFTER
        });
        match victim.and_then(|entry| entry.evict.take()) {
            Some(evict) => evict.send(()).is_ok(),
            None => false,
        }
    }

    fn register(
        self: &Arc<Self>,
        body_read: Arc<AtomicBool>,
    ) -> (Registered, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut held = self.lock();
        let id = held.next;
        held.next = held.next.wrapping_add(1);
        held.in_flight.insert(
            id,
            Entry {
                started: Instant::now(),
                body_read,
                evict: Some(tx),
            },
        );
        (
            Registered {
                admission: self.clone(),
                id,
            },
            rx,
        )
    }

    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if !self.evict_slowest() {
            return None;
        }
        match tokio::time::timeout(EVICTION_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

struct ClientGuard {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut held = self.admission.lock();
        if let Some(count) = held.by_client.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

struct Registered {
    admission: Arc<Admission>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.admission.lock().in_flight.remove(&self.id);
    }
}

fn shed(detail: &'static str) -> Response {
    let mut response = Rejection::new(
        RejectionKind::Overloaded {
            retry_after: Duration::from_secs(1),
        },
        detail,
    )
    .into_response();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Step 2 around `inner` (the rest of the webhook's handling): a slot for the client and one in
/// all, or 503 + `Retry-After`. The stack calls it from one layer with the in-flight count and
/// the request timeout (`stack::front`).
pub async fn admit<Inner, Handled>(
    admission: &Arc<Admission>,
    mut request: Request,
    inner: Inner,
) -> Response
where
    Inner: FnOnce(Request) -> Handled,
    Handled: Future<Output = Response>,
{
    let client = request
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ClientIp(ip)| {
            admission.prefix.block(*ip)
        });
    let Some(_client) = admission.enter_client(client) else {
        return shed("max_in_flight_per_client reached");
    };
    let Some(_slot) = admission.slot().await else {
        return shed("max_in_flight reached");
    };
    let body_read = Arc::new(AtomicBool::new(false));
    request
        .extensions_mut()
        .insert(BodyRead::new(body_read.clone()));
    let (_registered, evicted) = admission.register(body_read);
    tokio::select! {
        response = inner(request) => response,
        Ok(()) = evicted => shed("evicted: the body was too slow while max_in_flight was reached"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_holds_at_most_its_share_and_gets_it_back() {
        let admission = Arc::new(Admission::new(10, 2, ClientPrefix::default()));
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::2".parse().expect("ip");
        let first = admission.enter_client(admission.prefix.block(a));
        let second = admission.enter_client(admission.prefix.block(b));
        assert!(first.is_some() && second.is_some());
        assert!(
            admission.enter_client(admission.prefix.block(a)).is_none(),
            "one /64, one share"
        );
        drop(first);
        assert!(admission.enter_client(admission.prefix.block(a)).is_some());
    }

    #[tokio::test]
    async fn only_a_slow_request_with_its_body_unread_is_evicted() {
        let admission = Arc::new(Admission::new(1, 1, ClientPrefix::default()));
        let read = Arc::new(AtomicBool::new(false));
        let (_entry, mut evicted) = admission.register(read.clone());
        assert!(!admission.evict_slowest(), "too young to be slow");
        admission.lock().in_flight.values_mut().for_each(|e| {
            e.started = Instant::now()
                .checked_sub(SLOW_AFTER)
                .unwrap_or_else(Instant::now);
        });
        read.store(true, Ordering::Relaxed);
        assert!(!admission.evict_slowest(), "its body has arrived");
        read.store(false, Ordering::Relaxed);
        assert!(admission.evict_slowest());
        assert_eq!(evicted.try_recv(), Ok(()));
    }
}
