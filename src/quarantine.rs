//! The writer half of the refusal quarantine (SPEC section 13): one background task that drains
//! the records the pipeline captured (`pipeline::quarantine`) into the store in batches, keeps
//! each source under `max_per_source` after every batch, and deletes records older than
//! `retention` on its own interval.
//!
//! Off the request path by construction: the pipeline only `try_send`s into the bounded channel
//! made here. A store that cannot take a batch loses that batch (logged and counted as dropped):
//! the quarantine is a diagnostic, and holding records for a retry would grow memory while the
//! store is down.
//!
//! At shutdown (after the listeners have stopped, so no refusal is still being captured) the
//! writer closes the channel and writes what is queued, for at most [`DRAIN_WITHIN`]: records
//! still queued after that are lost, logged with their number.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::clock::now_ms;
use crate::live::Live;
use crate::store::NewRefusal;

/// The most records one store write holds.
const BATCH: usize = 256;
/// How often records past `retention` are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(300);
/// The longest a shutdown waits for the queued records to be written.
pub const DRAIN_WITHIN: Duration = Duration::from_secs(1);
/// Roughly the most memory the records waiting in the channel may take: the channel holds this
/// divided by a record's largest size (its sample plus ~1 KiB of headers and fields), between
/// 16 and 1,024 records.
const CHANNEL_BYTES: u64 = 8 * 1024 * 1024;

/// The channel between the pipeline's taps and the writer, sized for `sample_bytes` (as it is
/// at start-up: a reload changes what a record holds, not the channel).
pub fn channel(sample_bytes: u64) -> (mpsc::Sender<NewRefusal>, mpsc::Receiver<NewRefusal>) {
    let per_record = sample_bytes.saturating_add(1024).max(1);
    let capacity = (CHANNEL_BYTES / per_record).clamp(16, 1024);
    // In 16..=1024 by the clamp.
    mpsc::channel(usize::try_from(capacity).unwrap_or(16))
}

/// Drains `records` into the store until every sender is gone or `stop` turns true, and purges
/// by age meanwhile. The bounds are read from the running config at each batch, so a reload
/// applies at the next one. On `stop`, what is queued is written (bounded by [`DRAIN_WITHIN`]).
pub async fn run(
    live: Arc<Live>,
    mut records: mpsc::Receiver<NewRefusal>,
    mut stop: watch::Receiver<bool>,
) {
    let mut purge = tokio::time::interval(PURGE_EVERY);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = records.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    return;
                }
                write(&live, std::mem::take(&mut batch)).await;
                batch.reserve(BATCH);
            }
            _ = purge.tick() => purge_old(&live).await,
            // The only change ever sent is the stop; a dropped sender counts as one too.
            _ = stop.changed() => break,
        }
    }
    drain(&live, records).await;
}

/// Writes what is queued, within [`DRAIN_WITHIN`].
async fn drain(live: &Live, mut records: mpsc::Receiver<NewRefusal>) {
    // Closed, a channel still yields what it holds, then ends; a late tap's send fails instead
    // of queueing behind the drain.
    records.close();
    let drained = tokio::time::timeout(DRAIN_WITHIN, async {
        let mut batch = Vec::with_capacity(BATCH);
        while records.recv_many(&mut batch, BATCH).await > 0 {
            write(live, std::mem::take(&mut batch)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            records = records.len(),
            within = ?DRAIN_WITHIN,
            "quarantine: records still queued at shutdown were not written"
        );
    }
}

async fn write(live: &Live, batch: Vec<NewRefusal>) {
    let max_per_source = live.snapshot().config.quarantine.max_per_source;
    let sources: Vec<String> = batch.iter().map(|r| r.source.clone()).collect();
    if let Err(err) = live.store().keep_refusals(batch, max_per_source).await {
        tracing::warn!(error = %err, records = sources.len(), "quarantine: cannot keep refused requests; dropped");
        let dropped = &crate::telemetry::metrics::metrics().quarantine.dropped;
        for source in sources {
            dropped.with_label_values(&[&source]).inc();
        }
    }
}

async fn purge_old(live: &Live) {
    let retention = live.snapshot().config.quarantine.retention;
    let before = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    match live.store().purge_refusals(before).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "quarantine: deleted records past retention"),
        Err(err) => tracing::warn!(error = %err, "quarantine: purge failed; will try again"),
    }
}
