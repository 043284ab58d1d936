//! OpenTelemetry traces over OTLP/HTTP (SPEC section 14): on when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and `OTEL_SDK_DISABLED` is not `true`.
//!
//! The OpenTelemetry SDK is used directly, not through a `tracing` layer: the request and step
//! spans are made where the pipeline knows their outcome (`pipeline::trail`), the delivery
//! spans where the worker attempts (`delivery::trace`), and the log subscriber of
//! [`super::init_logging`] stays the one global subscriber, its lines unchanged. When traces
//! are off, [`tracer`] is `None` and nothing of this runs: the pipeline's step checkpoints are
//! not even built into the stacks.
//!
//! The SDK's sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), resource
//! (`OTEL_SERVICE_NAME`, default `hookwall`; `OTEL_RESOURCE_ATTRIBUTES`) and the OTLP exporter's
//! settings (`OTEL_EXPORTER_OTLP_*`: endpoint, headers, timeout) are read from the environment
//! as the OpenTelemetry specification says. Finished spans go through [`export::Bounded`],
//! whose queue (`OTEL_BSP_*`) is bounded and drops into `hookwall_trace_spans_dropped_total`:
//! exporting never waits a request.

mod export;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter as _};

pub use export::Settings;

use crate::http::traceparent::TraceParent;

/// The process's tracer, set once by [`init`].
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer when traces are on; `None` otherwise (the default, and in tests that start the
/// gateway in-process).
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Whether traces are on.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Whether `env` asks for traces (SPEC section 14).
pub fn wanted(env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|value| !value.trim().is_empty());
    let disabled =
        env("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// A span context of `parent` as OpenTelemetry holds it.
pub fn span_context(parent: &TraceParent, remote: bool) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.parent_id),
        TraceFlags::new(parent.flags),
        remote,
        TraceState::default(),
    )
}

/// The `traceparent` of a span.
pub fn traceparent(context: &SpanContext) -> TraceParent {
    TraceParent {
        trace_id: context.trace_id().to_bytes(),
        parent_id: context.span_id().to_bytes(),
        flags: context.trace_flags().to_u8(),
    }
}

/// Exports what is still queued when dropped (hold it until the server has stopped).
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Drop for Traces {
    fn drop(&mut self) {
        // Bounded: a dead collector delays the exit by at most this.
        if let Err(err) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(error = %err, "traces not all exported at shutdown");
        }
    }
}

/// Starts traces when the environment asks for them; `None` when it does not, when they were
/// started already, or when the exporter cannot be built (logged: the gateway runs without
/// traces rather than not at all).
pub fn init() -> Option<Traces> {
    let env = |name: &str| std::env::var(name).ok();
    if !wanted(env) || enabled() {
        return None;
    }
    let mut exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            tracing::error!(error = %err, "OTLP exporter not built; traces are off");
            return None;
        }
    };
    let resource = resource(env);
    exporter.set_resource(&resource);
    let settings = Settings::from_env(env);
    let processor = match export::Bounded::start(exporter, settings) {
        Ok(processor) => processor,
        Err(err) => {
            tracing::error!(error = %err, "trace export thread not started; traces are off");
            return None;
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("hookwall");
    if TRACER.set(tracer).is_err() {
        return None;
    }
    tracing::info!(
        max_queue_size = settings.max_queue_size,
        "OpenTelemetry traces on (OTLP/HTTP)"
    );
    Some(Traces { provider })
}

/// The SDK's resource (which reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`), named
/// `hookwall` when neither names the service.
fn resource(env: impl Fn(&str) -> Option<String>) -> Resource {
    let named = env("OTEL_SERVICE_NAME").is_some_and(|name| !name.trim().is_empty())
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
            attributes
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        });
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if named {
        builder.build()
    } else {
        builder.with_service_name("hookwall").build()
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn traces_are_on_only_with_an_endpoint_and_not_disabled() {
        assert!(!wanted(env(&[])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318"
        )])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces"
        )])));
        assert!(!wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(!wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "false"),
        ])));
    }
}
