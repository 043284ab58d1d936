//! The refusal quarantine's metrics (SPEC section 13), registered with the others by
//! [`super`]. Their `source` label is always a configured source's name: records are made only
//! for known sources.

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::{counter, gauge_vec};

pub struct QuarantineMetrics {
    /// `hookwall_quarantine_dropped_total{source}`: records not kept because the writer's
    /// channel was full or the store refused their batch.
    pub dropped: IntCounterVec,
    /// `hookwall_quarantine_records{source}`: records kept, read from the store when `/metrics`
    /// is scraped (as `queue_depth` is).
    pub records: IntGaugeVec,
}

impl QuarantineMetrics {
    pub(super) fn new(registry: &Registry) -> QuarantineMetrics {
        QuarantineMetrics {
            dropped: counter(
                registry,
                "quarantine_dropped_total",
                "Refused requests the quarantine did not keep (its buffer was full or the store refused the batch).",
                &["source"],
            ),
            records: gauge_vec(
                registry,
                "quarantine_records",
                "Refused requests kept in the quarantine, read from the store at scrape time.",
                &["source"],
            ),
        }
    }

    /// Gives each metric one series, so that it shows in `gather()` (the drift tests).
    #[cfg(test)]
    pub(super) fn touch(&self) {
        self.dropped.with_label_values(&["s"]).inc();
        self.records.with_label_values(&["s"]).set(0);
    }
}
