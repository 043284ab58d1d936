//! Every provider's rule against its SDK-made vectors (where a vector carries a type), each
//! rule's quirks on small bodies, and the bounds on what is stored.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::json;

use super::*;
use crate::pipeline::payload;
use crate::providers::vectors::{Vector, load};
use crate::providers::{BodyKind, find};

fn rule_of(provider: &str) -> EventTypeFrom {
    EventTypeFrom::of_provider(find(provider).expect("a known provider").event_type)
}

/// The type `provider`'s rule finds in a vector, its body parsed as the pipeline parses it.
fn type_in_vector(provider: &str, vector: &Vector) -> Option<String> {
    let content_type = vector
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let kind = find(provider)
        .expect("a known provider")
        .bodies
        .kind(Some(content_type))
        .unwrap_or(BodyKind::Opaque);
    let payload = payload::parse(kind, &vector.body, 64).unwrap_or(Payload::Opaque);
    event_type(&rule_of(provider), &vector.headers, &payload)
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        })
        .collect()
}

fn json_type(provider: &str, body: serde_json::Value) -> Option<String> {
    event_type(&rule_of(provider), &HeaderMap::new(), &Payload::Json(body))
}

/// The type each valid vector carries; a vector not listed carries none.
const VECTOR_TYPES: &[(&str, &str, &str)] = &[
    ("github", "pull_request", "pull_request"),
    ("stripe", "single v1", "payment_intent.succeeded"),
    (
        "stripe",
        "two v1 during secret roll",
        "payment_intent.succeeded",
    ),
    (
        "gitlab",
        "signing token (Standard Webhooks format)",
        "Push Hook",
    ),
    ("paddle", "single h1", "transaction.completed"),
    ("paddle", "two h1 during rotation", "transaction.completed"),
    ("linear", "issue create", "Issue"),
    ("sendgrid", "event webhook (ECDSA P-256)", "processed"),
    ("mailgun", "signature object in JSON body", "delivered"),
    ("square", "payment.created", "payment.created"),
    ("typeform", "form_response", "form_response"),
    (
        "intercom",
        "notification_event",
        "conversation.user.created",
    ),
    ("particle", "default form body with Basic auth", "demo"),
    // An interaction's `type` is a number: 1 is Discord's PING.
    ("discord", "PING interaction (Ed25519)", "1"),
];

/// The providers with SDK-made vectors (zoom, hmac, token and none have none).
const WITH_VECTORS: &[&str] = &[
    "standard-webhooks",
    "svix",
    "github",
    "stripe",
    "slack",
    "shopify",
    "particle",
    "brightdata",
    "bitbucket",
    "gitlab",
    "intercom",
    "linear",
    "mailgun",
    "paddle",
    "typeform",
    "square",
    "twilio",
    "discord",
    "sendgrid",
];

#[test]
fn every_valid_vector_gets_the_type_its_provider_names_and_no_other() {
    let mut seen = 0;
    for provider in WITH_VECTORS {
        for vector in load(provider).into_iter().filter(|v| v.valid) {
            let expected = VECTOR_TYPES
                .iter()
                .find(|(p, name, _)| p == provider && *name == vector.name)
                .map(|(_, _, ty)| (*ty).to_owned());
            seen += usize::from(expected.is_some());
            assert_eq!(
                type_in_vector(provider, &vector),
                expected,
                "{provider}: {}",
                vector.name
            );
        }
    }
    assert_eq!(seen, VECTOR_TYPES.len(), "a listed vector was not found");
}

#[test]
fn header_providers_read_their_own_header() {
    for (provider, name, value) in [
        ("github", "x-github-event", "push"),
        ("gitlab", "x-gitlab-event", "Merge Request Hook"),
        ("bitbucket", "x-event-key", "repo:push"),
        ("shopify", "x-shopify-topic", "orders/create"),
    ] {
        let headers = headers(&[(name, value)]);
        let body = Payload::Json(json!({"type": "not this"}));
        assert_eq!(
            event_type(&rule_of(provider), &headers, &body).as_deref(),
            Some(value),
            "{provider}"
        );
        assert_eq!(
            event_type(&rule_of(provider), &HeaderMap::new(), &body),
            None,
            "{provider} without its header"
        );
    }
}

#[test]
fn body_providers_read_their_own_field() {
    for (provider, body, expected) in [
        (
            "stripe",
            json!({"type": "charge.refunded"}),
            "charge.refunded",
        ),
        (
            "standard-webhooks",
            json!({"type": "invoice.paid"}),
            "invoice.paid",
        ),
        ("svix", json!({"type": "user.created"}), "user.created"),
        (
            "square",
            json!({"type": "refund.updated"}),
            "refund.updated",
        ),
        ("linear", json!({"type": "Comment"}), "Comment"),
        (
            "paddle",
            json!({"event_type": "subscription.created"}),
            "subscription.created",
        ),
        (
            "zoom",
            json!({"event": "meeting.started", "payload": {}}),
            "meeting.started",
        ),
        (
            "intercom",
            json!({"type": "notification_event", "topic": "ping"}),
            "ping",
        ),
        (
            "typeform",
            json!({"event_type": "form_response"}),
            "form_response",
        ),
        (
            "mailgun",
            json!({"event-data": {"event": "opened"}}),
            "opened",
        ),
        (
            "particle",
            json!({"event": "temperature", "data": "21"}),
            "temperature",
        ),
        (
            "sendgrid",
            json!([{"event": "open"}, {"event": "click"}]),
            "open",
        ),
    ] {
        assert_eq!(
            json_type(provider, body).as_deref(),
            Some(expected),
            "{provider}"
        );
    }
}

#[test]
fn slack_names_the_inner_event_and_else_the_envelope() {
    let callback = json!({"type": "event_callback", "event": {"type": "app_mention"}});
    assert_eq!(json_type("slack", callback).as_deref(), Some("app_mention"));
    let envelope = json!({"type": "app_rate_limited"});
    assert_eq!(
        json_type("slack", envelope).as_deref(),
        Some("app_rate_limited")
    );
    // A slash command (a form without either field) has none.
    let command = Payload::Form(json!({"command": "/deploy", "text": "api"}));
    assert_eq!(
        event_type(&rule_of("slack"), &HeaderMap::new(), &command),
        None
    );
}

#[test]
fn providers_that_name_no_type_give_none_whatever_the_request_says() {
    let headers = headers(&[("x-github-event", "push"), ("x-event-type", "t")]);
    let body = Payload::Json(json!({"type": "t", "event": "t", "event_type": "t"}));
    for provider in ["brightdata", "twilio", "token", "hmac", "none"] {
        assert_eq!(rule_of(provider), EventTypeFrom::Nothing, "{provider}");
        assert_eq!(event_type(&rule_of(provider), &headers, &body), None);
    }
}

#[test]
fn numbers_and_booleans_are_their_json_text_and_other_values_are_skipped() {
    let rule = EventTypeFrom::Pointers(vec!["/a".into(), "/b".into(), "/c".into()]);
    let of = |body| event_type(&rule, &HeaderMap::new(), &Payload::Json(body));
    assert_eq!(of(json!({"a": 2000})).as_deref(), Some("2000"));
    assert_eq!(of(json!({"a": 1.5})).as_deref(), Some("1.5"));
    assert_eq!(of(json!({"a": true})).as_deref(), Some("true"));
    // Objects, arrays, null and empty strings name no type: the next pointer is tried.
    assert_eq!(
        of(json!({"a": {"x": 1}, "b": [1], "c": "third"})).as_deref(),
        Some("third")
    );
    assert_eq!(
        of(json!({"a": null, "b": "", "c": "third"})).as_deref(),
        Some("third")
    );
    assert_eq!(of(json!({"a": null})), None);
    assert_eq!(of(json!("a string document")), None);
}

#[test]
fn a_pointer_reads_escaped_names_and_form_fields() {
    let rule = EventTypeFrom::Pointers(vec!["/a~1b/c~0d".into()]);
    let body = Payload::Json(json!({"a/b": {"c~d": "found"}}));
    assert_eq!(
        event_type(&rule, &HeaderMap::new(), &body).as_deref(),
        Some("found")
    );
    let rule = EventTypeFrom::Pointers(vec!["/kind".into()]);
    let form = Payload::Form(json!({"kind": "created"}));
    assert_eq!(
        event_type(&rule, &HeaderMap::new(), &form).as_deref(),
        Some("created")
    );
}

#[test]
fn ndjson_and_opaque_bodies_have_nothing_to_point_into() {
    let rule = EventTypeFrom::Pointers(vec!["/type".into()]);
    let lines = Payload::NdJson(vec![json!({"type": "a"})]);
    assert_eq!(event_type(&rule, &HeaderMap::new(), &lines), None);
    assert_eq!(event_type(&rule, &HeaderMap::new(), &Payload::Opaque), None);
}

#[test]
fn a_long_type_is_cut_at_a_character_boundary_within_the_bound() {
    let rule = EventTypeFrom::Pointers(vec!["/type".into()]);
    // 255 ASCII bytes then a 3-byte character that would end past the bound.
    let long = format!("{}€tail", "a".repeat(MAX_EVENT_TYPE_BYTES - 1));
    let got = event_type(
        &rule,
        &HeaderMap::new(),
        &Payload::Json(json!({"type": long})),
    )
    .expect("a type");
    assert_eq!(got, "a".repeat(MAX_EVENT_TYPE_BYTES - 1));

    let header = EventTypeFrom::Header(HeaderName::from_static("x-type"));
    let value = HeaderValue::from_str(&"h".repeat(100_000)).expect("ascii");
    let mut headers = HeaderMap::new();
    headers.insert("x-type", value);
    let got = event_type(&header, &headers, &Payload::Opaque).expect("a type");
    assert_eq!(got.len(), MAX_EVENT_TYPE_BYTES);
}

#[test]
fn control_characters_are_kept_but_nul_is_replaced_and_empty_is_none() {
    let rule = EventTypeFrom::Pointers(vec!["/type".into()]);
    let of = |text: &str| {
        event_type(
            &rule,
            &HeaderMap::new(),
            &Payload::Json(json!({"type": text})),
        )
    };
    assert_eq!(of("a\u{1b}[31m\nb").as_deref(), Some("a\u{1b}[31m\nb"));
    assert_eq!(of("a\0b").as_deref(), Some("a\u{fffd}b"));
    assert_eq!(of(""), None);

    let header = EventTypeFrom::Header(HeaderName::from_static("x-type"));
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-type",
        HeaderValue::from_bytes(b"caf\xe9").expect("obs-text"),
    );
    assert_eq!(
        event_type(&header, &headers, &Payload::Opaque).as_deref(),
        Some("caf\u{fffd}")
    );
    headers.insert("x-type", HeaderValue::from_static(""));
    assert_eq!(event_type(&header, &headers, &Payload::Opaque), None);
}
