//! `GET /admin/sources`: each source's effective settings, secrets as fingerprints.
//!
//! A fingerprint (`hmac:` and 16 hex digits, keyed by the installation's key: see
//! [`crate::providers::fingerprint`]) tells an operator which secret is configured, and whether
//! two instances of one store agree, without revealing it or letting guesses at it be tested. URLs are shown with their password and
//! credential-like query values redacted.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::{self, Destination, DestinationKind, Mode, Retry};
use crate::live::Live;
use crate::providers::fingerprint::Fingerprints;

pub async fn list(State(live): State<Arc<Live>>) -> impl IntoResponse {
    let snapshot = live.snapshot();
    let fp = Fingerprints::new(live.store().fingerprint_key());
    let sources: Vec<Value> = snapshot
        .config
        .sources
        .iter()
        .map(|source| {
            let tolerance = snapshot
                .source(&source.name)
                .and_then(|compiled| compiled.preset.timestamp_tolerance());
            describe(source, tolerance, &fp)
        })
        .collect();
    axum::Json(json!({ "sources": sources }))
}

fn fingerprints(fp: &Fingerprints, secrets: &[SecretString]) -> Vec<String> {
    secrets
        .iter()
        .map(|s| fp.of(s.expose_secret().as_bytes()))
        .collect()
}

fn describe(
    source: &config::Source,
    tolerance: Option<std::time::Duration>,
    fp: &Fingerprints,
) -> Value {
    let o = &source.overrides;
    json!({
        "name": source.name,
        "path": source.path,
        "provider": source.provider,
        "secrets": fingerprints(fp, &source.secrets),
        "public_keys": source.public_keys.iter().map(|k| fp.of(k.as_bytes())).collect::<Vec<_>>(),
        "allow_ips": source.allow_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rate_limit": source.rate_limit.map(|r| json!({"per_second": r.per_second, "burst": r.burst})),
        "schema": source.schema.as_ref().map(|p| p.display().to_string()),
        "accept_status": source.accept_status,
        "max_body_bytes": source.max_body_bytes,
        "max_json_depth": source.max_json_depth,
        "mode": match source.mode { Mode::Queue => "queue", Mode::Proxy => "proxy" },
        "dedup": match source.dedup { config::DedupMode::Provider => "provider", config::DedupMode::Body => "body" },
        "timestamp_tolerance_secs": tolerance.map(|t| t.as_secs()),
        "overrides": {
            "signature_header": o.signature_header,
            "algorithm": o.algorithm,
            "encoding": o.encoding,
            "prefix": o.prefix,
            "signed_payload": o.signed_payload,
            "timestamp_header": o.timestamp_header,
            "id_header": o.id_header,
            "id_field": o.id_field,
            "public_url": o.public_url,
        },
        "destinations": source.destinations.iter().map(|d| destination(d, fp)).collect::<Vec<_>>(),
    })
}

fn retry(r: &Retry) -> Value {
    json!({
        "initial_ms": u64::try_from(r.initial.as_millis()).unwrap_or(u64::MAX),
        "max_ms": u64::try_from(r.max.as_millis()).unwrap_or(u64::MAX),
        "max_attempts": r.max_attempts,
        "max_age_secs": r.max_age.as_secs(),
    })
}

fn destination(d: &Destination, fp: &Fingerprints) -> Value {
    let mut shown = match &d.kind {
        DestinationKind::Http(http) => json!({
            "url": config::redact_url(&http.url),
            "signing_secret": http.signing_secret.as_ref().map(|s| fp.of(s.expose_secret().as_bytes())),
            "forward_headers": http.forward_headers,
            "retry_4xx": http.retry_4xx,
        }),
        DestinationKind::Email(email) => json!({
            "smtp_url": config::redact_url(&email.smtp_url),
            "from": email.from,
            "to": email.to,
            "subject": email.subject,
        }),
        DestinationKind::Nats(nats) => json!({
            "url": config::redact_url(&nats.url),
            "subject": nats.subject,
            "signing_secret": nats.signing_secret.as_ref().map(|s| fp.of(s.expose_secret().as_bytes())),
        }),
        DestinationKind::Redis(redis) => json!({
            "url": config::redact_url(&redis.url),
            "stream": redis.stream,
            "maxlen": redis.maxlen,
            "signing_secret": redis.signing_secret.as_ref().map(|s| fp.of(s.expose_secret().as_bytes())),
        }),
        DestinationKind::Amqp(amqp) => json!({
            "url": config::redact_url(&amqp.url),
            "exchange": amqp.exchange,
            "routing_key": amqp.routing_key,
            "signing_secret": amqp.signing_secret.as_ref().map(|s| fp.of(s.expose_secret().as_bytes())),
        }),
    };
    if let Some(fields) = shown.as_object_mut() {
        fields.insert("name".into(), json!(d.name));
        fields.insert("type".into(), json!(d.kind.type_name()));
        fields.insert("concurrency".into(), json!(d.concurrency));
        fields.insert(
            "timeout_ms".into(),
            json!(u64::try_from(d.timeout.as_millis()).unwrap_or(u64::MAX)),
        );
        fields.insert("retry".into(), retry(&d.retry));
        fields.insert("filter".into(), filter(d.filter.as_ref()));
        fields.insert(
            "rate_limit".into(),
            json!(
                d.rate_limit
                    .map(|r| json!({"per_second": r.per_second, "burst": r.burst}))
            ),
        );
        fields.insert(
            "circuit".into(),
            json!(d.circuit.map(|c| json!({
                "failures": c.failures,
                "cooldown_ms": u64::try_from(c.cooldown.as_millis()).unwrap_or(u64::MAX),
            }))),
        );
    }
    shown
}

/// A filter as the config wrote it (`null` when the destination takes every event).
fn filter(filter: Option<&config::Filter>) -> Value {
    let Some(filter) = filter else {
        return Value::Null;
    };
    let table = |conditions: &[(String, Vec<String>)]| -> serde_json::Map<String, Value> {
        conditions
            .iter()
            .map(|(key, values)| (key.clone(), json!(values)))
            .collect()
    };
    json!({
        "event_types": filter.event_types,
        "body": table(&filter.body),
        "headers": table(&filter.headers),
    })
}
