//! The trace context's case of the conformance suite (SPEC section 14): the `traceparent` of
//! the request span that stored an event reads back with it, by id and in batches (the worker's
//! read), and an event stored without one has none. Instantiated for both stores by
//! `conformance!`.

use std::sync::Arc;

use hookwall::http::traceparent::TraceParent;
use hookwall::store::{Inserted, Store, StoredEvent};

use crate::events::event;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

pub async fn the_trace_context_of_the_storing_request_reads_back_with_its_event(
    store: Arc<dyn Store>,
) {
    let parent = TraceParent::parse(TRACEPARENT.as_bytes()).expect("a valid traceparent");
    let traced = event("github", "id:traced").with_trace_context(Some(parent));
    assert_eq!(
        StoredEvent::unattempted(&traced, traced.id())
            .trace_context
            .as_deref(),
        Some(TRACEPARENT),
        "the event handed straight to the worker carries it too"
    );
    let Ok(Inserted::Stored(traced)) = store.insert(traced).await else {
        panic!("the traced event is stored");
    };
    let Ok(Inserted::Stored(untraced)) = store.insert(event("github", "id:untraced")).await else {
        panic!("the untraced event is stored");
    };

    let got = store.get(traced).await.expect("get").expect("stored");
    assert_eq!(got.trace_context.as_deref(), Some(TRACEPARENT));
    let got = store.get(untraced).await.expect("get").expect("stored");
    assert_eq!(got.trace_context, None);
    let mut batch = store.get_many(&[traced, untraced]).await.expect("get many");
    batch.sort_by(|a, b| a.id.cmp(&b.id));
    let contexts: Vec<Option<&str>> = batch.iter().map(|e| e.trace_context.as_deref()).collect();
    assert_eq!(contexts, [Some(TRACEPARENT), None]);
}
