//! The inspect surface (TinyLLM's `debug inspect`): what a running process's telemetry is doing,
//! as one JSON document, served at `/inspect` beside `/metrics` by [`crate::Config::attach`] and
//! read by [`Telemetry::inspect`](crate::Telemetry::inspect), [`fetch`] (from another process)
//! and [`render_text`] (for people).
//!
//! The document has five parts:
//!
//! - `handlers`: every handler on the bus with its delivery (`inline` or `queued`), events
//!   delivered, dropped (a full queue) and failed (a panic), and its queue's depth and capacity;
//! - `bus`: events the bus refused as a whole (non-finite measurements, nesting too deep) and
//!   handler failures;
//! - `metrics`: each Prometheus metric's cardinality (label sets held, the cap), whether it
//!   overflowed and how many events went to its overflow series;
//! - `exporter`: where spans go (endpoint, protocol, exporter), its state (`ok`, `failing`,
//!   `idle`) and its counts (exported, dropped, failed exports, the last export error), or
//!   `null` when spans are not exported;
//! - `config`: every configuration key in force, with its value as text (unset keys omitted).
//!
//! Reading it takes the handlers' counters (atomic loads) and each metric table's size; it
//! never touches the emitting threads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery};
use llm_telemetry_otel::OtelStatsReader;
use llm_telemetry_prometheus::PrometheusReporter;
use serde_json::{Value, json};
use thiserror::Error;

use crate::config::{Config, Key};

/// The path the document is served at, beside `/metrics`.
pub const INSPECT_PATH: &str = "/inspect";

/// The span exporter's part of the document, known once the OpenTelemetry handler is attached.
#[derive(Clone)]
pub(crate) struct ExporterView {
    pub(crate) handler: String,
    pub(crate) reader: OtelStatsReader,
}

/// Reads the document from the handles of one [`crate::Telemetry`]; cheap to clone (what the
/// `/inspect` page holds).
#[derive(Clone)]
pub(crate) struct Inspector {
    pub(crate) bus: Bus,
    pub(crate) config: Arc<Config>,
    pub(crate) reporter: Arc<OnceLock<PrometheusReporter>>,
    pub(crate) exporter: Arc<OnceLock<ExporterView>>,
}

impl Inspector {
    pub(crate) fn new(bus: &Bus, config: &Config) -> Self {
        Self {
            bus: bus.clone(),
            config: Arc::new(config.clone()),
            reporter: Arc::default(),
            exporter: Arc::default(),
        }
    }

    /// The document now.
    pub(crate) fn document(&self) -> Value {
        let stats = self.bus.stats();
        let handlers: Vec<Value> = stats
            .handlers
            .iter()
            .map(|h| {
                json!({
                    "id": h.id,
                    "delivery": match h.delivery {
                        Delivery::Inline => "inline",
                        _ => "queued",
                    },
                    "attached": h.attached,
                    "delivered": h.delivered,
                    "dropped": h.dropped,
                    "failed": h.failed,
                    "queue": h.queue.map(|q| json!({"depth": q.depth, "capacity": q.capacity})),
                })
            })
            .collect();
        let metrics: Vec<Value> = self
            .reporter
            .get()
            .map(|reporter| {
                reporter
                    .cardinality()
                    .into_iter()
                    .map(|c| {
                        json!({
                            "metric": c.metric,
                            "series": c.series,
                            "max_series": c.max_series,
                            "overflowed": c.overflowed,
                            "overflow_events": c.overflow_events,
                            "truncated_events": c.truncated_events,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let config: serde_json::Map<String, Value> = Key::ALL
            .iter()
            .filter_map(|key| {
                key.value_in(&self.config)
                    .map(|v| (key.name().to_owned(), Value::String(v)))
            })
            .collect();
        json!({
            "service": self.config.tracing.service_name,
            "handlers": handlers,
            "bus": {
                "non_finite_measurements": stats.non_finite_measurements,
                "depth_exceeded": stats.depth_exceeded,
                "handler_failures": stats.handler_failures,
            },
            "metrics": metrics,
            "exporter": self.exporter_document(),
            "config": config,
        })
    }

    fn exporter_document(&self) -> Value {
        let Some(view) = self.exporter.get() else {
            return Value::Null;
        };
        let t = &self.config.tracing;
        let stats = view.reader.read();
        let state = match (&stats.last_export_error, stats.exported) {
            (Some(_), _) => "failing",
            (None, 0) => "idle",
            (None, _) => "ok",
        };
        json!({
            "handler": view.handler,
            "exporter": Key::TracingExporter.value_in(&self.config),
            "endpoint": t.endpoint,
            "protocol": Key::TracingProtocol.value_in(&self.config),
            "state": state,
            "exported": stats.exported,
            "dropped": stats.dropped(),
            "failed_exports": stats.failed_exports,
            "last_export_error": stats.last_export_error,
        })
    }
}

/// The document as text for people: one line per handler and per metric, then the exporter and
/// the configuration.
///
/// ```
/// let document = serde_json::json!({
///     "service": "svc",
///     "handlers": [{"id": "log", "delivery": "queued", "attached": true, "delivered": 7,
///                   "dropped": 0, "failed": 0, "queue": {"depth": 1, "capacity": 16384}}],
///     "bus": {"non_finite_measurements": 0, "depth_exceeded": 0, "handler_failures": 0},
///     "metrics": [{"metric": "llm_requests", "series": 3, "max_series": 2000,
///                  "overflowed": false, "overflow_events": 0, "truncated_events": 0}],
///     "exporter": null,
///     "config": {"level": "detailed"},
/// });
/// let text = llm_telemetry::inspect::render_text(&document);
/// assert!(text.contains("log  queued  delivered 7  dropped 0  failed 0  queue 1/16384"));
/// assert!(text.contains("llm_requests  series 3/2000"));
/// assert!(text.contains("exporter: none (spans are not exported)"));
/// assert!(text.contains("level = detailed"));
/// ```
pub fn render_text(document: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    out.push_str(&format!("service: {}\n", text(&document["service"])));
    let empty = Vec::new();
    let handlers = document["handlers"].as_array().unwrap_or(&empty);
    out.push_str(&format!("handlers ({}):\n", handlers.len()));
    for h in handlers {
        let queue = match &h["queue"] {
            Value::Null => String::new(),
            q => format!("  queue {}/{}", text(&q["depth"]), text(&q["capacity"])),
        };
        let detached = if h["attached"] == Value::Bool(false) {
            "  (detached)"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {}  {}  delivered {}  dropped {}  failed {}{queue}{detached}\n",
            text(&h["id"]),
            text(&h["delivery"]),
            text(&h["delivered"]),
            text(&h["dropped"]),
            text(&h["failed"]),
        ));
    }
    let bus = &document["bus"];
    out.push_str(&format!(
        "bus: non-finite measurements {}  depth exceeded {}  handler failures {}\n",
        text(&bus["non_finite_measurements"]),
        text(&bus["depth_exceeded"]),
        text(&bus["handler_failures"]),
    ));
    let metrics = document["metrics"].as_array().unwrap_or(&empty);
    out.push_str(&format!("metrics ({}):\n", metrics.len()));
    for m in metrics {
        let overflow = if m["overflowed"] == Value::Bool(true) {
            format!("  OVERFLOW ({} events)", text(&m["overflow_events"]))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {}  series {}/{}{overflow}\n",
            text(&m["metric"]),
            text(&m["series"]),
            text(&m["max_series"]),
        ));
    }
    match &document["exporter"] {
        Value::Null => out.push_str("exporter: none (spans are not exported)\n"),
        e => {
            out.push_str(&format!(
                "exporter: {} {} ({})  state {}  exported {}  dropped {}  failed exports {}\n",
                text(&e["exporter"]),
                text(&e["endpoint"]),
                text(&e["protocol"]),
                text(&e["state"]),
                text(&e["exported"]),
                text(&e["dropped"]),
                text(&e["failed_exports"]),
            ));
            if let Value::String(error) = &e["last_export_error"] {
                out.push_str(&format!("  last export error: {error}\n"));
            }
        }
    }
    out.push_str("config:\n");
    if let Some(config) = document["config"].as_object() {
        for (key, value) in config {
            out.push_str(&format!("  {key} = {}\n", text(value)));
        }
    }
    out
}

/// Why [`fetch`] could not read a process's document.
#[derive(Debug, Error)]
pub enum InspectError {
    /// Nothing answered at the address.
    #[error(
        "cannot reach {addr}: {source}; is the process running with metrics served there \
         (metrics.listen)?"
    )]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The connection broke while reading.
    #[error("reading /inspect from {addr}: {source}")]
    Read {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server answered, but not with the document.
    #[error(
        "{addr} answered {status_line:?} to GET /inspect; is it an llm-telemetry /metrics \
         endpoint of a version that serves /inspect?"
    )]
    Status {
        /// The address.
        addr: SocketAddr,
        /// The HTTP status line.
        status_line: String,
    },
    /// The body is not JSON.
    #[error("the /inspect document from {addr} is not JSON: {source}")]
    Json {
        /// The address.
        addr: SocketAddr,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// Reads the document of the process whose `/metrics` endpoint listens at `addr` (one
/// `GET /inspect` over HTTP/1.0), waiting at most `timeout` for each step.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> Result<Value, InspectError> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| InspectError::Connect { addr, source })?;
    let read_error = |source| InspectError::Read { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(read_error)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(read_error)?;
    let request = format!("GET {INSPECT_PATH} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(read_error)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(read_error)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(InspectError::Status { addr, status_line });
    }
    serde_json::from_str(body).map_err(|source| InspectError::Json { addr, source })
}
