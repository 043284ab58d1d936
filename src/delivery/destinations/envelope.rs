//! What every message hookwall sends carries, whatever the transport (SPEC sections 3 and 10):
//! the raw body, and the headers a handler reads to verify and route it:
//! - `webhook-id` (the event id), `webhook-timestamp` (unix seconds of the attempt) and, when
//!   the destination has a `signing_secret`, `webhook-signature` (Standard Webhooks: `v1,` +
//!   base64 HMAC-SHA256 over `id.timestamp.body`), so every handler verifies one scheme
//!   whatever the provider;
//! - `x-hookwall-source`, the source's name;
//! - `x-hookwall-event-type`, the provider's event type, left out when the event has none;
//! - `content-type`, the original one, left out when the request had none;
//! - `traceparent`, the attempt span's (W3C Trace Context), when traces are on (SPEC section
//!   14), so the handler's span continues the attempt's trace.
//!
//! HTTP sends them as request headers, NATS and AMQP as message headers, Redis as stream
//! fields beside `body`. A value holding a control character is left out (no transport's
//! header may carry one; only the event type, which the provider chose, could).

use secrecy::SecretString;

use crate::http::traceparent::TraceParent;
use crate::providers::standard_webhooks::StandardWebhooks;
use crate::providers::{Overrides, PresetError};
use crate::store::StoredEvent;

/// A message's headers, lower-case names in a fixed order.
pub type Headers = Vec<(&'static str, String)>;

/// Builds the headers of one destination's messages: its source and its signing key.
pub struct Envelope {
    source: String,
    signer: Option<StandardWebhooks>,
}

impl Envelope {
    /// The error names what is wrong with the key, never the key.
    pub fn new(
        source: &str,
        signing_secret: Option<&SecretString>,
    ) -> Result<Envelope, PresetError> {
        let signer = signing_secret
            .map(|secret| {
                StandardWebhooks::build(
                    "standard-webhooks",
                    std::slice::from_ref(secret),
                    &[],
                    &Overrides::default(),
                )
            })
            .transpose()?;
        Ok(Envelope {
            source: source.to_owned(),
            signer,
        })
    }

    /// The headers of `event` sent with `body` at `now` (unix seconds), by the attempt whose
    /// span is `trace`.
    pub fn headers(
        &self,
        event: &StoredEvent,
        body: &[u8],
        now: i64,
        trace: Option<TraceParent>,
    ) -> Headers {
        let mut headers: Headers = vec![
            ("webhook-id", event.id.clone()),
            ("webhook-timestamp", now.to_string()),
        ];
        // Signing with a configured key cannot fail; if it ever did, the message goes unsigned
        // and its handler refuses it, which is what it should do with an unsigned message.
        if let Some(signature) = self
            .signer
            .as_ref()
            .and_then(|signer| signer.sign(body, now, &event.id).ok())
            .and_then(|signed| {
                signed
                    .into_iter()
                    .find(|(name, _)| name == "webhook-signature")
            })
        {
            headers.push(("webhook-signature", signature.1));
        }
        headers.push(("x-hookwall-source", self.source.clone()));
        let optional = [
            ("x-hookwall-event-type", event.event_type.as_deref()),
            ("content-type", event.content_type.as_deref()),
        ];
        for (name, value) in optional {
            if let Some(value) = value.filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
            {
                headers.push((name, value.to_owned()));
            }
        }
        if let Some(trace) = trace {
            headers.push(("traceparent", trace.to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::providers::{Inbound, Preset};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn event(event_type: Option<&str>, content_type: Option<&str>) -> StoredEvent {
        StoredEvent {
            id: "0190b6c2-1111-7000-8000-000000000001".into(),
            source: "github".into(),
            dedup_key: "id:1".into(),
            received_at_ms: 0,
            client_ip: "127.0.0.1".into(),
            request_id: None,
            content_type: content_type.map(str::to_owned),
            headers: vec![],
            body: Some(b"{}".to_vec()),
            status: crate::store::EventStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: 0,
            last_error: None,
            event_type: event_type.map(str::to_owned),
            trace_context: None,
        }
    }

    #[test]
    fn a_signed_message_carries_every_header_and_verifies_as_standard_webhooks() {
        let envelope =
            Envelope::new("github", Some(&SecretString::from(SECRET))).expect("a valid key");
        let now = 1_700_000_000;
        let headers = envelope.headers(
            &event(Some("push"), Some("application/json")),
            b"{}",
            now,
            None,
        );
        let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "x-hookwall-source",
                "x-hookwall-event-type",
                "content-type"
            ]
        );
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            map.insert(*name, value.parse().expect("a header value"));
        }
        let verifier = Preset::build(
            "standard-webhooks",
            &[SecretString::from(SECRET)],
            &[],
            &Overrides::default(),
        )
        .expect("verifier");
        let inbound = Inbound {
            headers: &map,
            body: b"{}",
            url: None,
            now,
        };
        assert!(verifier.verify(&inbound).is_ok());
    }

    #[test]
    fn an_unsigned_message_has_no_signature_and_no_event_type_it_does_not_know() {
        let envelope = Envelope::new("particle", None).expect("no key");
        let headers = envelope.headers(&event(None, None), b"{}", 1, None);
        assert_eq!(
            headers,
            vec![
                (
                    "webhook-id",
                    "0190b6c2-1111-7000-8000-000000000001".to_owned()
                ),
                ("webhook-timestamp", "1".to_owned()),
                ("x-hookwall-source", "particle".to_owned()),
            ]
        );
    }

    #[test]
    fn an_event_type_with_a_line_break_is_left_out() {
        let envelope = Envelope::new("github", None).expect("no key");
        let headers = envelope.headers(&event(Some("push\r\nx-evil: 1"), None), b"{}", 1, None);
        assert!(
            headers
                .iter()
                .all(|(name, _)| *name != "x-hookwall-event-type")
        );
    }
}
