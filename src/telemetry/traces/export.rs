//! [`Bounded`]: the span processor between the SDK and the OTLP exporter. A finished span goes
//! into a bounded queue without waiting; a full queue drops it and counts it in
//! `hookwall_trace_spans_dropped_total` (so do the spans of a batch the collector did not
//! take). One thread of its own, with a single-threaded runtime, batches the queue and
//! exports: a slow or dead collector costs that thread its time, never a request's.
//!
//! The SDK's own batch processor would do the batching, but it counts its drops only in a log
//! line at shutdown; the metric needs the count as it happens.

use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{mpsc, watch};

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

/// The processor: a bounded queue to the export thread.
#[derive(Debug)]
pub struct Bounded {
    queue: mpsc::Sender<SpanData>,
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
        let (queue, spans) = mpsc::channel(settings.max_queue_size);
        let (stop, stopping) = watch::channel(false);
        let (ended_tx, ended) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("otel-export".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run(exporter, spans, stopping, settings)),
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
        if self.queue.try_send(span).is_err() {
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// The export thread: gathers a batch (until it is full or `schedule_delay` after its first
/// span), exports it, again; at stop, exports what is queued and returns.
async fn run<E: SpanExporter>(
    exporter: E,
    mut spans: mpsc::Receiver<SpanData>,
    mut stop: watch::Receiver<bool>,
    settings: Settings,
) {
    let max = settings.max_export_batch_size;
    let mut failing = false;
    let mut batch = Vec::with_capacity(max);
    loop {
        // Seen by the gathering below, the stop is not "changed" a second time.
        if *stop.borrow() {
            break;
        }
        let stopping = tokio::select! {
            received = spans.recv_many(&mut batch, max) => received == 0,
            changed = stop.changed() => changed.is_err() || *stop.borrow(),
        };
        if stopping {
            break;
        }
        let deadline = tokio::time::Instant::now() + settings.schedule_delay;
        while batch.len() < max {
            let room = max - batch.len();
            tokio::select! {
                received = spans.recv_many(&mut batch, room) => if received == 0 { break },
                () = tokio::time::sleep_until(deadline) => break,
                _ = stop.changed() => break,
            }
        }
        export(&exporter, &mut batch, settings.export_timeout, &mut failing).await;
    }
    // Stopping: what is queued goes out, batch by batch, each export bounded.
    while let Ok(span) = spans.try_recv() {
        batch.push(span);
        if batch.len() >= max {
            export(&exporter, &mut batch, settings.export_timeout, &mut failing).await;
        }
    }
    export(&exporter, &mut batch, settings.export_timeout, &mut failing).await;
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
}
