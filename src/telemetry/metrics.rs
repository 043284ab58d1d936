//! Prometheus metrics (SPEC section 7), registered once per process and served at `/metrics` on
//! the admin listener.
//!
//! Label values are bounded: `source` is a configured source name or `unknown`, `destination`
//! a configured destination name, `outcome`, `reason` and `status` come from small fixed sets.
//! Never a client IP, a path or an event id.
//!
//! The gauges that describe the store (`queue_depth`, `dead_letter_events`,
//! `quarantine_records`) are read from the
//! store when Prometheus scrapes, so they are exact and cost nothing between scrapes.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

mod destinations;
#[cfg(test)]
mod drift;
mod quarantine;
pub use destinations::DestinationMetrics;
pub use quarantine::QuarantineMetrics;

/// Latency buckets in seconds: a webhook answer is milliseconds; a delivery can take seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub rejections: IntCounterVec,
    pub duplicates: IntCounterVec,
    pub events_stored: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub delivery_duration: HistogramVec,
    pub delivery_attempts: Histogram,
    pub queue_depth: IntGaugeVec,
    pub dead_letter_events: IntGaugeVec,
    pub in_flight_requests: IntGauge,
    pub store_commit_batch_size: Histogram,
    pub build_info: IntGaugeVec,
    /// Spans that never reached the collector: dropped from the full export queue, or in a
    /// batch the collector did not take (SPEC section 14).
    pub trace_spans_dropped: IntCounter,
    pub destinations: DestinationMetrics,
    pub quarantine: QuarantineMetrics,
}

/// The process's metrics. Registration of fixed, valid names cannot fail; if it ever did, the
/// metric would still count, only unexported (see [`Metrics::new`]).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Shorthand for [`METRICS`].
pub fn metrics() -> &'static Metrics {
    &METRICS
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help).namespace("hookwall"), labels)
        .unwrap_or_else(|err| unreachable_metric(name, &err));
    register(registry, name, Box::new(metric.clone()));
    metric
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help)
        .namespace("hookwall")
        .buckets(buckets.to_vec());
    let metric =
        HistogramVec::new(opts, labels).unwrap_or_else(|err| unreachable_metric(name, &err));
    register(registry, name, Box::new(metric.clone()));
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help)
        .namespace("hookwall")
        .buckets(buckets.to_vec());
    let metric = Histogram::with_opts(opts).unwrap_or_else(|err| unreachable_metric(name, &err));
    register(registry, name, Box::new(metric.clone()));
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help).namespace("hookwall"), labels)
        .unwrap_or_else(|err| unreachable_metric(name, &err));
    register(registry, name, Box::new(metric.clone()));
    metric
}

fn register(registry: &Registry, name: &str, metric: Box<dyn prometheus::core::Collector>) {
    if let Err(err) = registry.register(metric) {
        tracing::error!(metric = name, error = %err, "metric not registered");
    }
}

/// Constructors fail only on invalid names, labels or buckets, which are constants here.
#[cold]
fn unreachable_metric(name: &str, err: &prometheus::Error) -> ! {
    // A programming error caught by every test run (the registry is built by each of them).
    panic!("metric {name} is malformed: {err}")
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let requests = counter(
            &r,
            "requests_total",
            "Webhook requests answered, by source, outcome and status.",
            &["source", "outcome", "status"],
        );
        let request_duration = histogram_vec(
            &r,
            "request_duration_seconds",
            "Time from request head to answer.",
            &["source"],
            LATENCY_BUCKETS,
        );
        let rejections = counter(
            &r,
            "rejections_total",
            "Refused webhooks, by source and reason.",
            &["source", "reason"],
        );
        let duplicates = counter(
            &r,
            "duplicates_total",
            "Webhooks acknowledged as duplicates.",
            &["source"],
        );
        let events_stored = counter(
            &r,
            "events_stored_total",
            "Events committed to the store.",
            &["source"],
        );
        let deliveries = counter(
            &r,
            "deliveries_total",
            "Delivery attempts, by outcome (delivered, retry, dead).",
            &["source", "destination", "outcome"],
        );
        let delivery_duration = histogram_vec(
            &r,
            "delivery_duration_seconds",
            "Time of one delivery attempt.",
            &["destination"],
            LATENCY_BUCKETS,
        );
        let delivery_attempts = histogram(
            &r,
            "delivery_attempts",
            "Attempts a delivery took when it ended (delivered or dead).",
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0],
        );
        let queue_depth = gauge_vec(
            &r,
            "queue_depth",
            "Deliveries waiting (pending or failed, awaiting a retry).",
            &["source"],
        );
        let dead_letter_events = gauge_vec(
            &r,
            "dead_letter_events",
            "Events in the dead-letter queue.",
            &["source"],
        );
        let in_flight_requests = IntGauge::with_opts(
            Opts::new("in_flight_requests", "Webhook requests being handled.")
                .namespace("hookwall"),
        )
        .unwrap_or_else(|err| unreachable_metric("in_flight_requests", &err));
        register(
            &r,
            "in_flight_requests",
            Box::new(in_flight_requests.clone()),
        );
        let store_commit_batch_size = histogram(
            &r,
            "store_commit_batch_size",
            "Operations committed per store transaction (group commit).",
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
        );
        let build_info = gauge_vec(&r, "build_info", "Always 1; the version.", &["version"]);
        let trace_spans_dropped = IntCounter::with_opts(
            Opts::new(
                "trace_spans_dropped_total",
                "Trace spans dropped: the export queue was full or the collector did not take them.",
            )
            .namespace("hookwall"),
        )
        .unwrap_or_else(|err| unreachable_metric("trace_spans_dropped_total", &err));
        register(
            &r,
            "trace_spans_dropped_total",
            Box::new(trace_spans_dropped.clone()),
        );
        let destinations = DestinationMetrics::new(&r);
        let quarantine = QuarantineMetrics::new(&r);
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Metrics {
            registry: r,
            requests,
            request_duration,
            rejections,
            duplicates,
            events_stored,
            deliveries,
            delivery_duration,
            delivery_attempts,
            queue_depth,
            dead_letter_events,
            in_flight_requests,
            store_commit_batch_size,
            build_info,
            trace_spans_dropped,
            destinations,
            quarantine,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives every labelled metric one series, so that every family shows in `gather()`.
    pub(super) fn touch_every_metric(m: &Metrics) {
        m.requests
            .with_label_values(&["s", "accepted", "202"])
            .inc();
        m.request_duration.with_label_values(&["s"]).observe(0.01);
        m.rejections
            .with_label_values(&["s", "bad_signature"])
            .inc();
        m.duplicates.with_label_values(&["s"]).inc();
        m.events_stored.with_label_values(&["s"]).inc();
        m.deliveries
            .with_label_values(&["s", "d", "delivered"])
            .inc();
        m.delivery_duration.with_label_values(&["d"]).observe(0.1);
        m.delivery_attempts.observe(1.0);
        m.queue_depth.with_label_values(&["s"]).set(0);
        m.dead_letter_events.with_label_values(&["s"]).set(0);
        m.store_commit_batch_size.observe(1.0);
        m.destinations.touch();
        m.quarantine.touch();
    }

    #[test]
    fn every_metric_of_the_spec_is_exported_with_its_name() {
        let m = metrics();
        touch_every_metric(m);
        let text = m.encode();
        for name in [
            "hookwall_requests_total",
            "hookwall_request_duration_seconds",
            "hookwall_rejections_total",
            "hookwall_duplicates_total",
            "hookwall_events_stored_total",
            "hookwall_deliveries_total",
            "hookwall_delivery_duration_seconds",
            "hookwall_delivery_attempts",
            "hookwall_queue_depth",
            "hookwall_dead_letter_events",
            "hookwall_in_flight_requests",
            "hookwall_store_commit_batch_size",
            "hookwall_build_info",
            "hookwall_destination_state",
            "hookwall_circuit_transitions_total",
            "hookwall_quarantine_dropped_total",
            "hookwall_quarantine_records",
            "hookwall_trace_spans_dropped_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{text}"
            );
        }
    }
}
