//! The refusal quarantine's cases of the conformance suite (SPEC section 13): kept records read
//! back field for field, listed newest first with filters and a cursor, bounded per source (the
//! oldest go first) and by age. Instantiated for both stores by `conformance!`.

use std::sync::Arc;

use hookwall::clock::now_ms;
use hookwall::store::{NewRefusal, RefusalFilter, Store};
use uuid::Uuid;

/// A refusal of `source` received at `at_ms`, with an id made at that time (ids are UUIDv7:
/// their order is the order of receipt).
fn refusal(source: &str, category: &str, at_ms: i64) -> NewRefusal {
    let seconds = u64::try_from(at_ms / 1000).expect("positive time");
    let nanos = u32::try_from((at_ms % 1000) * 1_000_000).expect("in range");
    NewRefusal {
        id: Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos)),
        received_at_ms: at_ms,
        source: source.to_owned(),
        client_ip: "203.0.113.9".to_owned(),
        status: if category == "schema_invalid" {
            422
        } else {
            401
        },
        category: category.to_owned(),
        reason: format!("{category}: no active secret matches (1 tried)"),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("authorization".to_owned(), "[redacted]".to_owned()),
        ],
        body_sha256: Some("ab".repeat(32)),
        body_length: Some(5000),
        sample: vec![0xff, b'{', 0x00],
        sample_is_whole_body: false,
    }
}

pub async fn a_kept_refusal_reads_back_with_every_field(store: Arc<dyn Store>) {
    let kept = refusal("gh", "bad_signature", now_ms());
    store
        .keep_refusals(vec![kept.clone()], 100)
        .await
        .expect("kept");
    let read = store.refusal(kept.id).await.expect("read").expect("stored");
    assert_eq!(read.id, kept.id.to_string());
    assert_eq!(read.source, "gh");
    assert_eq!(read.received_at_ms, kept.received_at_ms);
    assert_eq!(read.client_ip, "203.0.113.9");
    assert_eq!(read.status, 401);
    assert_eq!(read.category, "bad_signature");
    assert_eq!(read.reason, kept.reason);
    assert_eq!(read.headers, kept.headers);
    assert_eq!(read.body_sha256, kept.body_sha256);
    assert_eq!(read.body_length, Some(5000));
    assert_eq!(read.sample, vec![0xff, b'{', 0x00], "bytes as given");
    assert!(!read.sample_is_whole_body);
    // A record kept before the body was read has neither hash nor length.
    let unread = NewRefusal {
        body_sha256: None,
        body_length: None,
        sample: Vec::new(),
        ..refusal("gh", "ip_denied", now_ms())
    };
    store
        .keep_refusals(vec![unread.clone()], 100)
        .await
        .expect("kept");
    let read = store.refusal(unread.id).await.expect("read").expect("kept");
    assert_eq!((read.body_sha256, read.body_length), (None, None));
    assert!(read.sample.is_empty());
    assert!(store.refusal(Uuid::now_v7()).await.expect("read").is_none());
}

pub async fn refusals_list_newest_first_with_filters_and_a_cursor(store: Arc<dyn Store>) {
    let start = now_ms() - 10_000;
    let batch: Vec<NewRefusal> = (0..5)
        .map(|i| refusal("gh", "bad_signature", start + i * 100))
        .chain((0..2).map(|i| refusal("stripe", "schema_invalid", start + 50 + i * 100)))
        .collect();
    store.keep_refusals(batch.clone(), 100).await.expect("kept");

    let all = store
        .refusals(&RefusalFilter::default(), 100, None)
        .await
        .expect("listed");
    assert_eq!(all.refusals.len(), 7);
    assert!(all.next.is_none());
    let times: Vec<i64> = all.refusals.iter().map(|r| r.received_at_ms).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    let by_source = RefusalFilter {
        source: Some("gh".to_owned()),
        ..RefusalFilter::default()
    };
    let first = store
        .refusals(&by_source, 2, None)
        .await
        .expect("first page");
    assert_eq!(first.refusals.len(), 2);
    assert_eq!(
        first.refusals[0].id,
        batch[4].id.to_string(),
        "newest first"
    );
    let cursor = first.next.clone().expect("more pages");
    let second = store
        .refusals(&by_source, 2, Some(&cursor))
        .await
        .expect("second page");
    assert_eq!(second.refusals[0].id, batch[2].id.to_string());
    let third = store
        .refusals(&by_source, 2, second.next.as_deref())
        .await
        .expect("third page");
    assert_eq!(third.refusals.len(), 1);
    assert!(third.next.is_none());

    let by_reason = RefusalFilter {
        reason: Some("schema_invalid".to_owned()),
        ..RefusalFilter::default()
    };
    let schema = store
        .refusals(&by_reason, 100, None)
        .await
        .expect("by reason");
    assert_eq!(schema.refusals.len(), 2);
    assert!(schema.refusals.iter().all(|r| r.source == "stripe"));

    let since = RefusalFilter {
        since_ms: Some(start + 300),
        ..RefusalFilter::default()
    };
    let recent = store.refusals(&since, 100, None).await.expect("since");
    assert_eq!(recent.refusals.len(), 2, "gh at +300 and +400");
    assert_eq!(
        store.refusal_counts().await.expect("counts"),
        vec![("gh".to_owned(), 5), ("stripe".to_owned(), 2)]
    );
}

pub async fn the_per_source_bound_deletes_the_oldest_records_of_the_sources_written(
    store: Arc<dyn Store>,
) {
    let start = now_ms() - 60_000;
    let old_other: Vec<NewRefusal> = (0..7)
        .map(|i| refusal("other", "bad_signature", start + i))
        .collect();
    store.keep_refusals(old_other, 100).await.expect("kept");
    let gh: Vec<NewRefusal> = (0..12)
        .map(|i| refusal("gh", "bad_signature", start + 10 + i * 10))
        .collect();
    let deleted = store
        .keep_refusals(gh[..8].to_vec(), 5)
        .await
        .expect("kept");
    assert_eq!(deleted, 3, "8 written, 5 kept");
    let deleted = store
        .keep_refusals(gh[8..].to_vec(), 5)
        .await
        .expect("kept");
    assert_eq!(deleted, 4);
    let kept = store
        .refusals(
            &RefusalFilter {
                source: Some("gh".to_owned()),
                ..RefusalFilter::default()
            },
            100,
            None,
        )
        .await
        .expect("listed");
    let ids: Vec<String> = kept.refusals.iter().map(|r| r.id.clone()).collect();
    let newest: Vec<String> = gh[7..].iter().rev().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, newest, "the five newest stay");
    // Only the sources of the batch are trimmed: `other`, kept under a bound of 100, keeps its
    // 7 until its own next batch.
    assert_eq!(
        store.refusal_counts().await.expect("counts"),
        vec![("gh".to_owned(), 5), ("other".to_owned(), 7)]
    );
}

pub async fn retention_deletes_refusals_older_than_the_cutoff(store: Arc<dyn Store>) {
    let now = now_ms();
    let old = refusal("gh", "bad_signature", now - 100 * 3_600_000);
    let new = refusal("gh", "bad_signature", now - 1_000);
    store
        .keep_refusals(vec![old.clone(), new.clone()], 100)
        .await
        .expect("kept");
    let deleted = store
        .purge_refusals(now - 72 * 3_600_000)
        .await
        .expect("purged");
    assert_eq!(deleted, 1);
    assert!(store.refusal(old.id).await.expect("read").is_none());
    assert!(store.refusal(new.id).await.expect("read").is_some());
}
