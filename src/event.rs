//! An accepted webhook on its way from the pipeline to the store: [`Authenticated`], the proof
//! that a request passed its source's verification, and [`NewEvent`], the event the store is
//! given, which can only be built from that proof.
//!
//! The proof is a type, not a convention: [`Authenticated::new`] needs a
//! [`providers::Verified`](crate::providers::Verified), which only a successful
//! [`Preset::authenticate`](crate::providers::Preset::authenticate) makes, and [`NewEvent`]'s
//! fields are private, so no code (the pipeline, a test, a bench) hands the store an event
//! without having verified a request first. A `provider = "none"` source's preset verifies
//! nothing and still gives its proof: that is the policy the configuration allowed (with
//! `allow_ips`), not a hole in the proof.
//!
//! This module sits beside `providers` on the floor below the store: it imports `providers`
//! and `clock`, and must never import the store, pipeline, delivery, admin or CLI (the store
//! imports it).

use std::net::IpAddr;
use std::sync::Arc;

use crate::providers::Verified;

/// Proof that a request passed its source's authenticity and freshness checks: the source it
/// came to, the client it came from, and the preset's [`Verified`] token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    source: Arc<str>,
    client_ip: IpAddr,
    verified: Verified,
}

impl Authenticated {
    /// The proof for a request to `source` from `client_ip` that a preset verified.
    pub fn new(source: Arc<str>, client_ip: IpAddr, verified: Verified) -> Authenticated {
        Authenticated {
            source,
            client_ip,
            verified,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn client_ip(&self) -> IpAddr {
        self.client_ip
    }

    /// The preset's verdict this proof carries.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }
}

#[cfg(feature = "server")]
pub use stored::{Hold, NewEvent};

/// The event value itself needs `uuid`, which only the `server` feature brings.
#[cfg(feature = "server")]
mod stored {
    use std::net::IpAddr;

    use bytes::Bytes;
    use uuid::Uuid;

    use super::Authenticated;
    use crate::clock::now_ms;
    use crate::http::traceparent::TraceParent;

    /// An event ready to be stored. It can only be built from an [`Authenticated`] request
    /// ([`NewEvent::new`]; its fields are private), so the store never receives a request that
    /// skipped verification.
    ///
    /// ```compile_fail
    /// // No event without a proof: the fields are private.
    /// let event = hookwall::event::NewEvent {
    ///     id: uuid::Uuid::now_v7(),
    ///     source: "github".into(),
    ///     dedup_key: "id:1".into(),
    ///     received_at_ms: 0,
    ///     client_ip: std::net::IpAddr::from([192, 0, 2, 1]),
    ///     request_id: None,
    ///     content_type: None,
    ///     headers: Vec::new(),
    ///     body: bytes::Bytes::new(),
    ///     destinations: Vec::new(),
    ///     holds: Vec::new(),
    ///     event_type: None,
    ///     trace_context: None,
    /// };
    /// ```
    #[derive(Debug, Clone)]
    pub struct NewEvent {
        id: Uuid,
        source: String,
        dedup_key: String,
        received_at_ms: i64,
        client_ip: IpAddr,
        request_id: Option<String>,
        content_type: Option<String>,
        headers: Vec<(String, String)>,
        body: Bytes,
        destinations: Vec<String>,
        holds: Vec<Hold>,
        event_type: Option<String>,
        trace_context: Option<TraceParent>,
    }

    /// A delivery claimed at insert time by `owner` until `until_ms`.
    #[derive(Debug, Clone)]
    pub struct Hold {
        pub destination: String,
        pub owner: String,
        pub until_ms: i64,
    }

    impl NewEvent {
        /// The event of the request `proof` vouches for, received now, with a new id: one
        /// delivery to each of `destinations` (the source's at the time of receipt).
        pub fn new(
            proof: &Authenticated,
            dedup_key: String,
            request_id: Option<String>,
            content_type: Option<String>,
            headers: Vec<(String, String)>,
            body: Bytes,
            destinations: Vec<String>,
        ) -> NewEvent {
            NewEvent {
                id: Uuid::now_v7(),
                source: proof.source().to_owned(),
                dedup_key,
                received_at_ms: now_ms(),
                client_ip: proof.client_ip(),
                request_id,
                content_type,
                headers,
                body,
                destinations,
                holds: Vec::new(),
                event_type: None,
                trace_context: None,
            }
        }

        /// The same event with the type its provider names (SPEC section 10; the pipeline reads
        /// it with `pipeline::event_type`, which bounds it).
        pub fn with_event_type(mut self, event_type: Option<String>) -> NewEvent {
            self.event_type = event_type;
            self
        }

        /// The same event with the request span that stored it (SPEC section 14): each delivery
        /// attempt's span links to it. `None` when the request was not traced.
        pub fn with_trace_context(mut self, trace_context: Option<TraceParent>) -> NewEvent {
            self.trace_context = trace_context;
            self
        }

        /// The same event with its delivery to `hold.destination` stored already claimed by
        /// `hold.owner` (`mode = "proxy"`: the request attempts it right after the insert), so
        /// no worker takes it unless the holder dies first.
        pub fn with_hold(mut self, hold: Hold) -> NewEvent {
            self.holds.push(hold);
            self
        }

        /// The same event with every one of its deliveries stored already claimed by `owner`
        /// until `until_ms`: the instance that stores it hands them straight to its own worker
        /// (`delivery::handoff`), so no claim query is needed, and no other worker takes them
        /// unless the holder dies first.
        pub fn with_every_delivery_held(mut self, owner: &str, until_ms: i64) -> NewEvent {
            self.holds = self
                .destinations
                .iter()
                .map(|destination| Hold {
                    destination: destination.clone(),
                    owner: owner.to_owned(),
                    until_ms,
                })
                .collect();
            self
        }

        /// The same event delivered to `destinations` instead (tests of the store's delivery
        /// bookkeeping; the pipeline passes the source's to [`NewEvent::new`]).
        pub fn with_destinations(mut self, destinations: Vec<String>) -> NewEvent {
            self.destinations = destinations;
            self
        }

        /// The same event as if received at `received_at_ms` (tests of retry budgets, purges
        /// and listings by age; the pipeline's events are received when they are made).
        pub fn received_at(mut self, received_at_ms: i64) -> NewEvent {
            self.received_at_ms = received_at_ms;
            self
        }

        /// The same event under another id (tests of what the store does when two events
        /// share one; the pipeline's ids are all new).
        pub fn with_id(mut self, id: Uuid) -> NewEvent {
            self.id = id;
            self
        }

        pub fn id(&self) -> Uuid {
            self.id
        }

        pub fn source(&self) -> &str {
            &self.source
        }

        pub fn dedup_key(&self) -> &str {
            &self.dedup_key
        }

        /// Unix milliseconds.
        pub fn received_at_ms(&self) -> i64 {
            self.received_at_ms
        }

        pub fn client_ip(&self) -> IpAddr {
            self.client_ip
        }

        pub fn request_id(&self) -> Option<&str> {
            self.request_id.as_deref()
        }

        pub fn content_type(&self) -> Option<&str> {
            self.content_type.as_deref()
        }

        /// What the provider names the event (`push`, `payment_intent.succeeded`), if anything.
        pub fn event_type(&self) -> Option<&str> {
            self.event_type.as_deref()
        }

        /// The `traceparent` of the request span that stored it, if that request was traced.
        pub fn trace_context(&self) -> Option<TraceParent> {
            self.trace_context
        }

        /// Headers worth keeping, with credentials already redacted.
        pub fn headers(&self) -> &[(String, String)] {
            &self.headers
        }

        pub fn body(&self) -> &Bytes {
            &self.body
        }

        /// The source's destinations at the time of receipt: one delivery each.
        pub fn destinations(&self) -> &[String] {
            &self.destinations
        }

        /// The hold on the delivery to `destination`, if it is stored already claimed.
        pub fn hold_of(&self, destination: &str) -> Option<&Hold> {
            self.holds
                .iter()
                .find(|hold| hold.destination == destination)
        }
    }
}
