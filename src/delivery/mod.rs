//! Delivery of stored events to the internal handlers of each source.
//!
//! Workers claim due deliveries from the store with a lease, hand each to its [`Destination`],
//! and record the [`Outcome`]; the retry policy decides when the next attempt is due and when a
//! delivery is dead ([`record`] keeps the books, for the worker and for [`proxy`] mode alike).
//! Delivery is at-least-once: a claim whose worker dies is taken over when its lease expires,
//! and downstream de-duplicates on `webhook-id` (the event id).
//!
//! Each destination has a pace (`rate_limit`, in the [`registry`]'s slots) and a circuit
//! breaker that an operator can override with a pause ([`circuit`] decides, [`control`] keeps
//! the state shared through the store).

pub mod circuit;
pub mod control;
pub mod destination;
pub mod destinations;
pub mod handoff;
pub mod held;
pub mod proxy;
pub mod record;
pub mod registry;
pub mod retry;
pub mod template;
pub mod trace;
pub mod worker;

pub use destination::{Attempt, Destination, Outcome, Reply};
pub use registry::{Registry, Slot};
