//! Delivery of stored events to the internal handlers of each source.
//!
//! Workers claim due deliveries from the store with a lease, hand each to its [`Destination`],
//! and record the [`Outcome`]; the retry policy decides when the next attempt is due and when a
//! delivery is dead. Delivery is at-least-once: a claim whose worker dies is taken over when its
//! lease expires, and downstream de-duplicates on `webhook-id` (the event id).

pub mod email;

use std::time::Duration;

use crate::store::StoredEvent;

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

/// Where a source's events go. New kinds (a NATS subject, a command) implement this.
#[async_trait::async_trait]
pub trait Destination: Send + Sync + 'static {
    /// The destination's name from the config (`<source>-<index>` by default).
    fn name(&self) -> &str;
    /// One attempt; never panics, bounded by the destination's own timeout.
    async fn deliver(&self, event: &StoredEvent) -> Outcome;

    /// One attempt whose answer goes back to the provider (`mode = "proxy"`). `None` for kinds
    /// that have no answer to give (e-mail); config validation keeps those out of proxy mode.
    async fn exchange(&self, _event: &StoredEvent) -> Option<Result<Reply, String>> {
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

pub mod http;
pub mod retry;
pub mod template;
pub mod worker;

/// A destination with its retry policy and concurrency limit.
pub struct Slot {
    pub destination: std::sync::Arc<dyn Destination>,
    pub retry: crate::config::Retry,
    pub permits: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Every destination of a loaded config, by (source, destination name). Rebuilt on reload.
#[derive(Default)]
pub struct Registry {
    slots: std::collections::HashMap<(String, String), Slot>,
}

impl Registry {
    /// Builds every destination, collecting every error (for `hookwall check`).
    pub fn build(config: &crate::config::Config) -> Result<Registry, Vec<String>> {
        use crate::config::Destination as Config;
        let mut slots = std::collections::HashMap::new();
        let mut errors = Vec::new();
        for source in &config.sources {
            for (index, destination) in source.destinations.iter().enumerate() {
                let place = format!("sources.{}.destinations[{index}]", source.name);
                let (built, concurrency): (Result<std::sync::Arc<dyn Destination>, String>, usize) =
                    match destination {
                        Config::Http(http) => (
                            self::http::client(http.timeout)
                                .map_err(|err| {
                                    format!("{place}: cannot build an HTTP client: {err}")
                                })
                                .and_then(|client| {
                                    self::http::HttpDestination::new(&source.name, http, client)
                                        .map(|d| {
                                            std::sync::Arc::new(d)
                                                as std::sync::Arc<dyn Destination>
                                        })
                                        .map_err(|err| format!("{place}.signing_secret: {err}"))
                                }),
                            http.max_concurrency,
                        ),
                        Config::Email(email) => (
                            self::email::EmailDestination::new(email)
                                .map(|d| std::sync::Arc::new(d) as std::sync::Arc<dyn Destination>)
                                .map_err(|err| format!("{place}: {err}")),
                            4,
                        ),
                    };
                match built {
                    Ok(destination_impl) => {
                        slots.insert(
                            (source.name.clone(), destination.name().to_owned()),
                            Slot {
                                destination: destination_impl,
                                retry: *destination.retry(),
                                permits: std::sync::Arc::new(tokio::sync::Semaphore::new(
                                    concurrency.max(1),
                                )),
                            },
                        );
                    }
                    Err(error) => errors.push(error),
                }
            }
        }
        if errors.is_empty() {
            Ok(Registry { slots })
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, source: &str, destination: &str) -> Option<&Slot> {
        self.slots.get(&(source.to_owned(), destination.to_owned()))
    }
}
