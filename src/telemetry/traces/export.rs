//! [`Bounded`]: the span processor between the SDK and the OTLP exporter. A finished span goes
//! into a bounded queue without waiting; a full queue drops it and counts it in
//! `hookwall_trace_spans_dropped_total` (so do the spans of a batch the collector did not
//! take). One thread of its own, with a single-threaded runtime, exports the queue in batches:
//! a slow or dead collector costs that thread its time, never a request's. The thread sleeps
//! until a full batch is queued or the schedule delay has passed, so a request never pays a
//! wake-up of it.
//!
//! The SDK's own batch processor would do the batching, but it counts its drops only in a log
//! line at shutdown; the metric needs the count as it happens.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{Notify, watch};

/// The queue and batch settings, from the `OTEL_BSP_*` variables (defaults as the OpenTelemetry
/// specification gives them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting for export, at most.
    pub max_queue_size: usize,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms): how long a batch gathers before it is sent.
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans per export, at most (and at most the queue).
    pub max_export_batch_size: usize,
    /// `OTEL_BSP_EXPORT_TIMEOUT` (ms): one export, at most, retries included.
    pub export_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_queue_size: 2048,
            schedule_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

impl Settings {
    /// The settings `env` gives; a value that is not a whole number keeps its default.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Settings {
        let number = |name: &str| env(name).and_then(|value| value.trim().parse::<u64>().ok());
        let defaults = Settings::default();
        let size = |name, default: usize| {
            number(name)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let millis = |name, default| number(name).map_or(default, Duration::from_millis);
        let max_queue_size = size("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size);
        Settings {
            max_queue_size,
            schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", defaults.schedule_delay),
            max_export_batch_size: size(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                defaults.max_export_batch_size,
            )
            .min(max_queue_size),
            export_timeout: millis("OTEL_BSP_EXPORT_TIMEOUT", defaults.export_timeout),
        }
    }
}

/// Counts spans that will never reach the collector.
fn dropped(spans: usize) {
    crate::telemetry::metrics::metrics()
        .trace_spans_dropped
        .inc_by(u64::try_from(spans).unwrap_or(u64::MAX));
}

/// The spans waiting for export, and how the export thread is told of them.
#[derive(Debug)]
struct Queue {
    spans: Mutex<VecDeque<SpanData>>,
    /// At most this many spans wait; a span that finds it full is dropped.
    capacity: usize,
    /// A full batch: the export thread is woken when the queue reaches it, not at every span
    /// (a wake-up per span cost the request path a context switch per span).
    batch: usize,
    /// Told when the queue reaches a full batch (the stop comes through its own channel).
    ready: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SpanData>> {
        // A panic while holding the lock leaves a queue of whole spans: still usable.
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `span` without waiting; `false` when the queue is full.
    fn push(&self, span: SpanData) -> bool {
        let queued = {
            let mut spans = self.lock();
            if spans.len() >= self.capacity {
                return false;
            }
            spans.push_back(span);
            spans.len()
        };
        if queued == self.batch {
            self.ready.notify_one();
        }
        true
    }

    /// Moves up to a batch of the oldest spans into `batch`.
    fn take(&self, batch: &mut Vec<SpanData>) {
        let mut spans = self.lock();
        let room = self.batch.saturating_sub(batch.len()).min(spans.len());
        batch.extend(spans.drain(..room));
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The processor: a bounded queue to the export thread.
#[derive(Debug)]
pub struct Bounded {
    queue: Arc<Queue>,
    stop: watch::Sender<bool>,
    /// Told when the export thread has exported what it had and ended.
    ended: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Bounded {
    /// Starts the export thread.
    pub fn start<E>(exporter: E, settings: Settings) -> std::io::Result<Bounded>
    where
        E: SpanExporter + 'static,
    {
        let queue = Arc::new(Queue {
            spans: Mutex::new(VecDeque::new()),
            capacity: settings.max_queue_size,
            batch: settings.max_export_batch_size,
            ready: Notify::new(),
        });
        let (stop, stopping) = watch::channel(false);
        let (ended_tx, ended) = std::sync::mpsc::channel();
        let exported = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("otel-export".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run(exporter, &exported, stopping, settings)),
                    Err(err) => tracing::error!(error = %err, "trace export runtime not built"),
                }
                let _ = ended_tx.send(());
            })?;
        Ok(Bounded {
            queue,
            stop,
            ended: Mutex::new(Some(ended)),
        })
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Never waits: a full queue (the collector slower than the traffic) drops the span.
        if !self.queue.push(span) {
            dropped(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _ = self.stop.send(true);
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match ended {
            None => Err(OTelSdkError::AlreadyShutdown),
            Some(ended) => match ended.recv_timeout(timeout) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Ok(()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    Err(OTelSdkError::Timeout(timeout))
                }
            },
        }
    }
}

/// The export thread: exports a batch as soon as the queue holds a full one, and what is
/// queued every `schedule_delay` otherwise (`OTEL_BSP_SCHEDULE_DELAY`, the delay between two
/// exports); at stop, exports what is queued and returns.
async fn run<E: SpanExporter>(
    exporter: E,
    queue: &Queue,
    mut stop: watch::Receiver<bool>,
    settings: Settings,
) {
    let mut failing = false;
    let mut batch = Vec::with_capacity(queue.batch);
    loop {
        if *stop.borrow() {
            break;
        }
        if queue.len() < queue.batch {
            let stopping = tokio::select! {
                () = queue.ready.notified() => false,
                () = tokio::time::sleep(settings.schedule_delay) => false,
                changed = stop.changed() => changed.is_err() || *stop.borrow(),
            };
            if stopping {
                break;
            }
        }
        queue.take(&mut batch);
        export(&exporter, &mut batch, settings.export_timeout, &mut failing).await;
    }
    // Stopping: what is queued goes out, batch by batch, each export bounded.
    loop {
        queue.take(&mut batch);
        if batch.is_empty() {
            break;
        }
        export(&exporter, &mut batch, settings.export_timeout, &mut failing).await;
    }
}

/// Exports `batch` (emptying it) within `timeout`; a batch the collector did not take counts as
/// dropped. The first failure after a success is logged, and the recovery.
async fn export<E: SpanExporter>(
    exporter: &E,
    batch: &mut Vec<SpanData>,
    timeout: Duration,
    failing: &mut bool,
) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::replace(batch, Vec::with_capacity(batch.capacity()));
    let count = spans.len();
    let failure = match tokio::time::timeout(timeout, exporter.export(spans)).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {timeout:?}")),
    };
    match failure {
        Some(error) => {
            dropped(count);
            if !*failing {
                tracing::warn!(%error, spans = count, "trace export failed; spans dropped until the collector answers");
            }
            *failing = true;
        }
        None if *failing => {
            tracing::info!("trace export works again");
            *failing = false;
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_bsp_variables_and_keep_defaults_for_nonsense() {
        let vars = [
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "soon"),
        ];
        let settings = Settings::from_env(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        });
        assert_eq!(
            settings,
            Settings {
                max_queue_size: 100,
                schedule_delay: Duration::from_millis(250),
                // Never more than the queue holds.
                max_export_batch_size: 100,
                export_timeout: Duration::from_millis(30_000),
            }
        );
        assert_eq!(Settings::from_env(|_| None), Settings::default());
    }

    /// An exporter that records the size of each batch it is given.
    #[derive(Debug, Clone, Default)]
    struct Recording(Arc<Mutex<Vec<usize>>>);

    impl Recording {
        fn batches(&self) -> Vec<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl SpanExporter for Recording {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(batch.len());
            Ok(())
        }
    }

    fn span() -> SpanData {
        use opentelemetry::InstrumentationScope;
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
        use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "step".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::default(),
        }
    }

    #[test]
    fn a_full_batch_goes_out_at_once_and_the_rest_waits_for_the_delay_or_the_stop() {
        let exporter = Recording::default();
        let settings = Settings {
            max_queue_size: 8,
            schedule_delay: Duration::from_secs(3600),
            max_export_batch_size: 4,
            export_timeout: Duration::from_secs(5),
        };
        let processor = Bounded::start(exporter.clone(), settings).expect("thread starts");

        for _ in 0..4 {
            processor.on_end(span());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while exporter.batches().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            exporter.batches(),
            [4],
            "a full batch is exported without the delay"
        );

        // Two more are fewer than a batch: they wait for the (hour-long) delay…
        processor.on_end(span());
        processor.on_end(span());
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(exporter.batches(), [4]);

        // …or for the stop, which exports what is queued.
        processor
            .shutdown_with_timeout(Duration::from_secs(10))
            .expect("the export thread ends");
        assert_eq!(exporter.batches(), [4, 2]);
    }

    #[test]
    fn a_span_that_finds_the_queue_full_is_refused() {
        let queue = Queue {
            spans: Mutex::new(VecDeque::new()),
            capacity: 2,
            batch: 2,
            ready: Notify::new(),
        };
        assert!(queue.push(span()));
        assert!(queue.push(span()));
        assert!(!queue.push(span()), "the third span does not fit");
        let mut batch = Vec::new();
        queue.take(&mut batch);
        assert_eq!(batch.len(), 2);
        assert!(queue.push(span()), "taking a batch makes room");
    }
}
