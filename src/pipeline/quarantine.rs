//! The capture half of the refusal quarantine (SPEC section 13): where a refusal, the request's
//! headers and the body bytes the pipeline read are all at hand, a record is made and handed to
//! the quarantine writer (`crate::quarantine`) through a bounded channel.
//!
//! Two places capture: `super::quarantined::Quarantined`, around each header or body check of a
//! source's stack (it sees the request the check refused, with its body or [`RawBody`]), and the
//! body step itself ([`super::body`]) for what it refuses while reading (a 413 keeps the bytes
//! read so far). Nothing is copied or cloned on the accepted path: a record is built only once a
//! check has refused, and only the body step keeps one more reference to a gzip body's raw bytes.
//!
//! This module must never delay a refusal or change its answer: the hand-off is `try_send`, and
//! a full channel drops the record and counts it in `hookwall_quarantine_dropped_total{source}`.
//!
//! A flood is paced before any work is done for it: each source may make
//! [`records_per_second`] records a second (a tenth of `max_per_source`) with a burst of
//! `max_per_source`, so a quiet source's quarantine fills at once, and a flood replaces it at
//! most once every ten seconds instead of churning it at the flood's rate. A refusal past the pace
//! is counted as dropped, like one that found the channel full; its answer is unchanged.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::CompiledSource;
use super::kept_headers::kept_headers;
use crate::clock::now_ms;
use crate::config::Quarantine;
use crate::http::problem::Rejection;
use crate::providers::fingerprint::Fingerprints;
use crate::store::NewRefusal;

/// The statuses whose refusals are kept: what a provider or a configuration got wrong. 405,
/// 429 and 5xx say nothing about the request's content.
const KEPT_STATUSES: &[u16] = &[400, 401, 403, 413, 415, 422];

/// The body as a refused request's step had it, as received (before gunzip).
#[derive(Debug, Clone, Copy)]
pub enum BodySeen<'a> {
    /// The refusal came before the body was read.
    Unread,
    /// The whole body.
    Whole(&'a [u8]),
    /// The refusal came while reading: the first bytes kept, and how many were read in all.
    Partial { kept: &'a [u8], read: u64 },
}

/// A gzip body's bytes as received, kept beside the inflated [`Received`] only while the
/// quarantine is on: a refused request's sample is what the provider sent. (An identity body's
/// `body::Received` already is what was received.)
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

/// Where one config generation's refusals go, with its `[quarantine]` settings.
pub struct Tap {
    sender: mpsc::Sender<NewRefusal>,
    sample_bytes: usize,
    fingerprints: Fingerprints,
    /// Records per source per second (see the module's doc): keyed by configured source names
    /// only, so its state is bounded by the config.
    pace: governor::DefaultKeyedRateLimiter<Arc<str>>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("sample_bytes", &self.sample_bytes)
            .finish_non_exhaustive()
    }
}

impl Tap {
    /// The tap of a generation, or `None` when `[quarantine] enabled = false`.
    /// `fingerprint_key` is the store's ([`crate::store::Store::fingerprint_key`]).
    pub fn new(
        settings: &Quarantine,
        sender: mpsc::Sender<NewRefusal>,
        fingerprint_key: &[u8],
    ) -> Option<Arc<Tap>> {
        settings.enabled.then(|| {
            let burst = u32::try_from(settings.max_per_source).unwrap_or(u32::MAX);
            // `max_per_source` is at least 1 (the config refuses 0), and so is the rate.
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            let quota = governor::Quota::per_second(records_per_second(settings.max_per_source))
                .allow_burst(burst);
            Arc::new(Tap {
                sender,
                sample_bytes: usize::try_from(settings.sample_bytes).unwrap_or(usize::MAX),
                fingerprints: Fingerprints::new(fingerprint_key),
                pace: governor::RateLimiter::keyed(quota),
            })
        })
    }

    /// How many bytes of a body a record keeps.
    pub fn sample_bytes(&self) -> usize {
        self.sample_bytes
    }

    /// Makes the record of `rejection` and hands it to the writer, when its status is one that
    /// is kept. Never waits: a full channel drops the record and counts it.
    pub fn capture(
        &self,
        source: &CompiledSource,
        rejection: &Rejection,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        body: BodySeen<'_>,
    ) {
        let status = rejection.kind.status().as_u16();
        if !KEPT_STATUSES.contains(&status) {
            return;
        }
        if self.pace.check_key(&source.name).is_err() {
            dropped(&source.name);
            return;
        }
        let (sample, body_sha256, body_length, whole) = match body {
            BodySeen::Unread => (Vec::new(), None, None, false),
            BodySeen::Whole(bytes) => {
                let kept = &bytes[..bytes.len().min(self.sample_bytes)];
                (
                    kept.to_vec(),
                    Some(hex::encode(Sha256::digest(bytes))),
                    i64::try_from(bytes.len()).ok(),
                    kept.len() == bytes.len(),
                )
            }
            BodySeen::Partial { kept, read } => (
                kept[..kept.len().min(self.sample_bytes)].to_vec(),
                None,
                i64::try_from(read).ok(),
                false,
            ),
        };
        let record = NewRefusal {
            id: uuid::Uuid::now_v7(),
            received_at_ms: now_ms(),
            source: source.name.to_string(),
            client_ip: client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
            status,
            category: rejection.kind.reason().to_owned(),
            reason: format!("{}: {}", rejection.kind.reason(), rejection.detail),
            headers: self.headers(source, headers),
            body_sha256,
            body_length,
            sample,
            sample_is_whole_body: whole,
        };
        if let Err(mpsc::error::TrySendError::Full(record)) = self.sender.try_send(record) {
            dropped(&record.source);
        }
    }

    /// The headers as an event stores them (credentials redacted, hop-by-hop left out), except
    /// that a credential the source reads from a header is kept as its keyed fingerprint, so an
    /// operator can tell which token was sent (`GET /admin/sources` shows the configured ones
    /// the same way) without it being kept.
    fn headers(&self, source: &CompiledSource, headers: &HeaderMap) -> Vec<(String, String)> {
        let mut kept = kept_headers(source, headers);
        for credential in source.preset.redacted_headers() {
            let mut sent = headers.get_all(&credential).iter();
            for (name, value) in kept.iter_mut() {
                if name.as_str() == credential.as_str()
                    && let Some(sent) = sent.next()
                {
                    *value = self.fingerprints.of(sent.as_bytes());
                }
            }
        }
        kept
    }
}

/// The records a source may make per second: a tenth of `max_per_source`, at least one.
pub fn records_per_second(max_per_source: u64) -> NonZeroU32 {
    let rate = u32::try_from(max_per_source / 10).unwrap_or(u32::MAX);
    NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN)
}

/// Counts a record not kept (paced, or the channel full) in `quarantine_dropped_total`.
fn dropped(source: &str) {
    crate::telemetry::metrics::metrics()
        .quarantine
        .dropped
        .with_label_values(&[source])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::records_per_second;

    #[test]
    fn a_source_may_make_a_tenth_of_its_bound_a_second_and_never_less_than_one() {
        assert_eq!(records_per_second(1000).get(), 100);
        assert_eq!(records_per_second(100).get(), 10);
        assert_eq!(records_per_second(9).get(), 1);
        assert_eq!(records_per_second(1).get(), 1);
        assert_eq!(records_per_second(u64::MAX).get(), u32::MAX);
    }
}
