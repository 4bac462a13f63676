//! A console span exporter (TinyLLM's `exporter="console"`): one readable block per span, on
//! standard output or any writer, for development and for a program without a collector.
//!
//! ```text
//! chat gpt-4o  (project llm-acme-svc, service svc)
//!   trace 4bf92f3577b34da6a3ce929d0e0e4736  span 00f067aa0ba902b7  parent 1122334455667788
//!   2026-12-05T21:50:01.123456Z  12.345 ms  Client  status Unset
//!   gen_ai.request.model = gpt-4o
//!   tenant.id = acme
//!   event +1.204 ms llm.stream.first_token  time_to_first_token=1204000
//! ```
//!
//! Plug it in with [`crate::OtelHandlerBuilder::exporter`]: the handler still batches, routes
//! tenants (the project is shown in the header) and never blocks the program on it.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use llm_telemetry_core::UtcDate;
use opentelemetry::trace::Status;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::projects::PROJECT_NAME_ATTRIBUTE;

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Writes each span as a readable block; see the [module docs](self).
#[derive(Clone)]
pub struct ConsoleExporter {
    sink: Sink,
    /// `project …, service …` of the resource, shown in each header.
    origin: String,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("origin", &self.origin)
            .finish()
    }
}

impl ConsoleExporter {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Writes to `writer` (a file, a buffer in a test).
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            sink: Arc::new(Mutex::new(Box::new(writer))),
            origin: String::new(),
        }
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut text = String::new();
        for span in &batch {
            render(&mut text, span, &self.origin);
        }
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        sink.write_all(text.as_bytes())
            .and_then(|()| sink.flush())
            .map_err(|e| OTelSdkError::InternalFailure(format!("console exporter: {e}")))
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        sink.flush()
            .map_err(|e| OTelSdkError::InternalFailure(format!("console exporter: {e}")))
    }

    fn set_resource(&mut self, resource: &Resource) {
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|v| v.to_string())
        };
        self.origin = match (get(PROJECT_NAME_ATTRIBUTE), get("service.name")) {
            (Some(project), Some(service)) => format!("project {project}, service {service}"),
            (None, Some(service)) => format!("service {service}"),
            (Some(project), None) => format!("project {project}"),
            (None, None) => String::new(),
        };
    }
}

/// Appends the block of one span to `out`.
fn render(out: &mut String, span: &SpanData, origin: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", span.name);
    if !origin.is_empty() {
        let _ = write!(out, "  ({origin})");
    }
    out.push('\n');
    let _ = write!(
        out,
        "  trace {}  span {}",
        span.span_context.trace_id(),
        span.span_context.span_id()
    );
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        let _ = write!(out, "  parent {}", span.parent_span_id);
    }
    out.push('\n');
    let millis = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3;
    let status = match &span.status {
        Status::Unset => "Unset".to_owned(),
        Status::Ok => "Ok".to_owned(),
        Status::Error { description } => format!("Error: {description}"),
    };
    let _ = writeln!(
        out,
        "  {}  {millis:.3} ms  {:?}  status {status}",
        timestamp(span.start_time),
        span.span_kind
    );
    for kv in &span.attributes {
        let _ = writeln!(out, "  {} = {}", kv.key, kv.value);
    }
    for event in span.events.iter() {
        let offset = event
            .timestamp
            .duration_since(span.start_time)
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3;
        let _ = write!(out, "  event +{offset:.3} ms {}", event.name);
        for kv in &event.attributes {
            let _ = write!(out, "  {}={}", kv.key, kv.value);
        }
        out.push('\n');
    }
}

/// `2026-12-05T21:50:01.123456Z`.
fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let date = UtcDate::from_unix_seconds(seconds);
    let in_day = seconds % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}.{:06}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = UNIX_EPOCH + std::time::Duration::from_micros(1_709_251_199_123_456);
        assert_eq!(timestamp(at), "2024-02-29T23:59:59.123456Z");
    }
}
