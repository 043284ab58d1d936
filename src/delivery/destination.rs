//! What a destination is: the [`Destination`] trait every kind implements (HTTP, e-mail, the
//! queues), what it knows of the attempt beside the event ([`Attempt`]), what one attempt
//! achieved ([`Outcome`]), and a synchronous answer for proxy mode ([`Reply`]). A destination
//! kind imports this and nothing of the worker; the worker knows kinds only through the trait.

use std::time::Duration;

use crate::http::traceparent::TraceParent;
use crate::store::{Claim, StoredEvent};

/// What a destination knows of the delivery it attempts, beside the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt {
    /// How many times the delivery was replayed (0 until its first replay): a queue that
    /// de-duplicates on a message id gives each replay an id of its own (NATS `<id>:r<n>`), and
    /// a retry of the same delivery the same id.
    pub replays: u32,
    /// The attempt span's `traceparent`, which the message carries (SPEC section 14); `None`
    /// when traces are off.
    pub trace: Option<TraceParent>,
}

impl Attempt {
    /// The attempt of a claimed delivery.
    pub fn of(claim: &Claim) -> Attempt {
        Attempt {
            replays: claim.replays,
            trace: None,
        }
    }
}

/// What one attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination took the event (HTTP 2xx, SMTP accepted).
    Delivered,
    /// A transient failure (5xx, 408/409/425/429, timeout, connection error): try again later,
    /// not before `retry_after` when the destination said so.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// A permanent failure (most 4xx, a rejected recipient): dead at once, replayable.
    Dead { error: String },
}

/// Where a source's events go; one implementation per destination type
/// (`super::destinations`).
#[async_trait::async_trait]
pub trait Destination: Send + Sync + 'static {
    /// The destination's name from the config (`<source>-<index>` by default).
    fn name(&self) -> &str;
    /// One attempt; never panics, bounded by the destination's own timeout.
    async fn deliver(&self, event: &StoredEvent, attempt: &Attempt) -> Outcome;

    /// One attempt whose answer goes back to the provider (`mode = "proxy"`). `None` for kinds
    /// that have no answer to give (e-mail); config validation keeps those out of proxy mode.
    async fn exchange(
        &self,
        _event: &StoredEvent,
        _attempt: &Attempt,
    ) -> Option<Result<Reply, String>> {
        None
    }
}

/// A destination's synchronous answer, bounded in size.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: ::http::StatusCode,
    pub content_type: Option<::http::HeaderValue>,
    pub body: bytes::Bytes,
    /// What the delivery record says of this answer.
    pub outcome: Outcome,
}
