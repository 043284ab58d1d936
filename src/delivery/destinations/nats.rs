//! `type = "nats"` destinations: each event published to a JetStream subject, delivered once the
//! stream that captures the subject acknowledges it (SPEC section 10).
//!
//! The message is the raw body with the envelope's headers (`super::envelope`) and
//! `Nats-Msg-Id`: the event id for the first delivery and all its retries, so JetStream's own
//! de-duplication (within the stream's duplicate window) absorbs a publish retried after a
//! lost acknowledgement; `<event id>:r<n>` for the n-th replay, which an operator asked to be
//! delivered again.
//!
//! A subject no stream captures is a failed attempt with an error that says so (the server
//! answers "no responders"), retried like any other: creating the stream later lets the
//! deliveries through. The client (async-nats) is connected on the first attempt and then
//! reconnects by itself after the server restarts; until it has, attempts fail with an error
//! that names the server and are retried. The destination's `timeout` bounds every attempt,
//! connecting and waiting for the acknowledgement included.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;

use super::super::destination::{Attempt, Destination, Outcome};
use super::connection::{Reused, scrubbed, shown};
use super::envelope::Envelope;
use crate::config::NatsDestination as Config;
use crate::store::StoredEvent;

pub struct NatsSender {
    name: String,
    url: url::Url,
    subject: String,
    envelope: Envelope,
    timeout: Duration,
    jetstream: Reused<async_nats::jetstream::Context>,
}

/// `Nats-Msg-Id` of a delivery replayed `replays` times.
pub fn message_id(event_id: &str, replays: u32) -> String {
    if replays == 0 {
        event_id.to_owned()
    } else {
        format!("{event_id}:r{replays}")
    }
}

impl NatsSender {
    /// Connects to nothing; the error starts with the key it is about.
    pub fn new(
        name: &str,
        source: &str,
        config: &Config,
        timeout: Duration,
    ) -> Result<NatsSender, String> {
        let envelope = Envelope::new(source, config.signing_secret.as_ref())
            .map_err(|err| format!(".signing_secret: {err}"))?;
        Ok(NatsSender {
            name: name.to_owned(),
            url: config.url.clone(),
            subject: config.subject.clone(),
            envelope,
            timeout,
            jetstream: Reused::default(),
        })
    }

    async fn connect(&self) -> Result<async_nats::jetstream::Context, String> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("hookwall {}", self.name))
            .connection_timeout(self.timeout)
            .connect(self.url.as_str())
            .await
            .map_err(|err| {
                format!(
                    "cannot connect to the NATS server at {}: {}",
                    shown(&self.url),
                    scrubbed(&err, &self.url)
                )
            })?;
        let mut jetstream = async_nats::jetstream::new(client);
        jetstream.set_timeout(self.timeout);
        Ok(jetstream)
    }

    async fn publish(
        &self,
        event: &StoredEvent,
        body: &[u8],
        attempt: &Attempt,
    ) -> Result<(), String> {
        let jetstream = self.jetstream.get(|_| true, || self.connect()).await?;
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in
            self.envelope
                .headers(event, body, crate::clock::unix_now(), attempt.trace)
        {
            headers.insert(name, value);
        }
        let message = PublishMessage::build()
            .payload(bytes::Bytes::copy_from_slice(body))
            .headers(headers)
            .message_id(message_id(&event.id, attempt.replays));
        let failed = |err: &dyn std::fmt::Display, kind: PublishErrorKind| {
            self.explain(&jetstream.client(), err, kind)
        };
        let acknowledged = jetstream
            .send_publish(self.subject.clone(), message)
            .await
            .map_err(|err| failed(&err, err.kind()))?;
        acknowledged.await.map_err(|err| failed(&err, err.kind()))?;
        Ok(())
    }

    /// A failed publish as the delivery's `last_error`.
    fn explain(
        &self,
        client: &async_nats::Client,
        err: &dyn std::fmt::Display,
        kind: PublishErrorKind,
    ) -> String {
        if client.connection_state() != State::Connected {
            return format!(
                "not connected to the NATS server at {} (reconnecting): {}",
                shown(&self.url),
                scrubbed(err, &self.url)
            );
        }
        match kind {
            PublishErrorKind::StreamNotFound => format!(
                "no JetStream stream captures subject `{}` (NATS answered \"no responders\"); add \
                 the subject to a stream's subjects",
                self.subject
            ),
            PublishErrorKind::TimedOut => format!(
                "JetStream did not acknowledge the publish to `{}` within {:?}",
                self.subject, self.timeout
            ),
            _ => format!(
                "JetStream publish to `{}` failed: {}",
                self.subject,
                scrubbed(err, &self.url)
            ),
        }
    }
}

#[async_trait::async_trait]
impl Destination for NatsSender {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, event: &StoredEvent, attempt: &Attempt) -> Outcome {
        let Some(body) = event.body.as_deref() else {
            return Outcome::Dead {
                error: "event body was purged".into(),
            };
        };
        let error =
            match tokio::time::timeout(self.timeout, self.publish(event, body, attempt)).await {
                Ok(Ok(())) => return Outcome::Delivered,
                Ok(Err(error)) => error,
                Err(_elapsed) => format!(
                    "NATS publish to `{}` at {} timed out after {:?}",
                    self.subject,
                    shown(&self.url),
                    self.timeout
                ),
            };
        Outcome::Retry {
            error,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn a_replay_gets_a_message_id_of_its_own_and_a_retry_the_same() {
        let id = "0190b6c2-1111-7000-8000-000000000001";
        assert_eq!(message_id(id, 0), id);
        assert_eq!(message_id(id, 1), format!("{id}:r1"));
        assert_eq!(message_id(id, 12), format!("{id}:r12"));
    }
}
