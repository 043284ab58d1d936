//! Steps 11 (as a layer), 12, 13 and 14: parse and validate the payload, de-duplicate and store
//! durably in one atomic insert, and answer the provider. A `mode = "proxy"` source's event is
//! stored and forwarded by [`crate::delivery::proxy`], and its reply becomes the answer.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Request, StatusCode, header};
use sha2::{Digest, Sha256};
use tower_http::validate_request::ValidateRequest;

use super::CompiledSource;
use super::body::Received;
use super::kept_headers::kept_headers;
use super::payload::{self, Payload};
use super::route::Seen;
use super::trail::Trail;
use crate::config::DedupMode;
use crate::delivery::{Registry, Reply};
use crate::event::Authenticated;
use crate::http::problem::{Rejection, RejectionKind, RequestId};
use crate::providers::BodyKind;
use crate::store::{Inserted, NewEvent, Store};

/// Step 11: parse by the kind step 7 chose, then the source's schema.
#[derive(Clone)]
pub struct PayloadCheck(pub Arc<CompiledSource>);

impl PayloadCheck {
    pub fn check(
        source: &CompiledSource,
        kind: BodyKind,
        body: &[u8],
    ) -> Result<Payload, Rejection> {
        let payload = payload::parse(kind, body, source.max_json_depth)?;
        if let Some(schema) = &source.schema {
            schema.check(&payload)?;
        }
        Ok(payload)
    }
}

impl ValidateRequest<Body> for PayloadCheck {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        let (Some(kind), Some(Received(body))) = (
            request.extensions().get::<BodyKind>(),
            request.extensions().get::<Received>(),
        ) else {
            return Err(Rejection::new(
                RejectionKind::BadPayload,
                "pipeline misordered: no body kind",
            )
            .into_response());
        };
        let payload = Self::check(&self.0, *kind, body).map_err(IntoResponse::into_response)?;
        request.extensions_mut().insert(payload);
        Ok(())
    }
}

/// Provider ids longer than this are hashed: the dedup key is an index entry, and a provider
/// (or an attacker holding a valid secret) should not choose its size.
const MAX_ID_LEN: usize = 200;

/// The de-duplication key: the provider's event id, or a hash of the body. The spaces are
/// prefixed apart so a provider id can never equal a body hash.
///
/// An id the request's authentication does not cover (GitHub's `X-GitHub-Delivery`,
/// [`crate::providers::EventId::bound`]) is keyed together with the body's hash: whoever
/// replays a captured request can choose that id, and keyed alone it would let them claim the
/// id of a genuine event still to come, which would then be answered "duplicate" and lost. A
/// provider's own retry sends the same id and body, so it is still a duplicate.
pub fn dedup_key(
    source: &CompiledSource,
    headers: &HeaderMap,
    payload: &Payload,
    body: &[u8],
) -> String {
    let provider_id = match source.dedup {
        DedupMode::Body => None,
        DedupMode::Provider => source.preset.event_id(headers, payload.object()),
    };
    let body_hash = || hex::encode(Sha256::digest(body));
    let Some(id) = provider_id else {
        return format!("body:{}", body_hash());
    };
    let key = if id.len() <= MAX_ID_LEN {
        format!("id:{}", id.value)
    } else {
        format!("idh:{}", hex::encode(Sha256::digest(id.as_bytes())))
    };
    if id.bound {
        key
    } else {
        format!("{key}|body:{}", body_hash())
    }
}

/// Steps 12–14 as the innermost service.
pub async fn accept(
    source: Arc<CompiledSource>,
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    request: Request<Body>,
) -> Response {
    let (parts, _) = request.into_parts();
    let (Some(proof), Some(payload), Some(Received(body))) = (
        parts.extensions.get::<Authenticated>(),
        parts.extensions.get::<Payload>(),
        parts.extensions.get::<Received>(),
    ) else {
        return Rejection::new(
            RejectionKind::BadSignature,
            "pipeline misordered: unauthenticated",
        )
        .into_response();
    };
    let key = dedup_key(&source, &parts.headers, payload, body);
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .and_then(|RequestId(id)| id.to_str().ok())
        .map(str::to_owned);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let event_type = super::event_type::event_type(&source.event_type, &parts.headers, payload);
    let destinations = source.routes.select(&Seen {
        event_type: event_type.as_deref(),
        body: payload.object(),
        headers: &parts.headers,
    });
    let event = NewEvent::new(
        proof,
        key,
        request_id,
        content_type,
        kept_headers(&source, &parts.headers),
        body.clone(),
        destinations,
    )
    .with_event_type(event_type)
    // The request span, for the deliveries' links (SPEC section 14): only a traced request
    // carries a trail.
    .with_trace_context(parts.extensions.get::<Trail>().map(Trail::traceparent));
    if let Some(proxy) = &source.proxy {
        let forwarded = crate::delivery::proxy::forward(
            store.as_ref(),
            &registry,
            &proxy.destination,
            proxy.timeout,
            event,
        )
        .await;
        return match forwarded {
            Ok(reply) => proxied(reply),
            Err(rejection) => rejection.into_response(),
        };
    }
    // Handed to this instance's worker with its deliveries claimed, when it has room.
    let inserted = match registry.handoff() {
        Some(handoff) => handoff.insert(&store, registry.rooms(), event).await,
        None => crate::delivery::record::insert(store.as_ref(), event).await,
    };
    match inserted {
        Ok(Inserted::Stored(id)) => answer(source.accept_status, &id.to_string(), "accepted"),
        Ok(Inserted::Duplicate(id)) => {
            tracing::info!(event_id = %id, "duplicate event acknowledged");
            answer(StatusCode::OK, &id.to_string(), "duplicate")
        }
        Err(err) => {
            Rejection::new(RejectionKind::StoreUnavailable, err.to_string()).into_response()
        }
    }
}

/// A proxy source's answer: the destination's status, `content-type` and body.
fn proxied(reply: Reply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    response.extensions_mut().insert(RequestOutcome("proxied"));
    if let Some(content_type) = reply.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// The answer's body, `{"id":…,"status":…}`: serialised straight from the struct, not through a
/// `serde_json::Value` map built per request.
#[derive(serde::Serialize)]
struct Answer<'a> {
    id: &'a str,
    status: &'a str,
}

fn answer(status: StatusCode, id: &str, outcome: &str) -> Response {
    let body = Answer {
        id,
        status: outcome,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .extensions_mut()
        .insert(RequestOutcome(if outcome == "duplicate" {
            "duplicate"
        } else {
            "accepted"
        }));
    response
}

/// How the request ended, for the request log.
#[derive(Debug, Clone, Copy)]
pub struct RequestOutcome(pub &'static str);
