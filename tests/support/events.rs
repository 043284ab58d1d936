//! Events for the store tests, made the one way the store accepts them: from the proof a preset
//! gives a request it verified. A `none` preset accepts every request (its policy), so any
//! request will do.
// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use hookwall::event::{Authenticated, NewEvent};
use hookwall::providers::{Inbound, Overrides, Preset};

/// The proof that a request to `source` from `client_ip` was verified.
pub fn proof(source: &str, client_ip: IpAddr) -> Authenticated {
    let preset = Preset::build("none", &[], &[], &Overrides::default()).expect("none builds");
    let headers = http::HeaderMap::new();
    let verified = preset
        .authenticate(&Inbound {
            headers: &headers,
            body: b"{}",
            url: None,
            now: 0,
        })
        .expect("none accepts");
    Authenticated::new(source.into(), client_ip, verified)
}

/// A JSON event of `source` with dedup key `key` and `body`, for the destination `downstream`.
pub fn event_with_body(source: &str, key: &str, body: Bytes) -> NewEvent {
    NewEvent::new(
        &proof(source, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        key.to_owned(),
        None,
        Some("application/json".to_owned()),
        vec![("x-test".to_owned(), "1".to_owned())],
        body,
        vec!["downstream".to_owned()],
    )
}

/// The same with the body `{}`.
pub fn event(source: &str, key: &str) -> NewEvent {
    event_with_body(source, key, Bytes::from_static(b"{}"))
}
