//! # llm-telemetry-log
//!
//! Logs for `llm-telemetry` events: a readable console format for debugging, JSON lines for
//! production pipelines (Vector, Filebeat, Loki), trace and span ids on every line for joining
//! logs to traces, redaction so API keys and prompts never reach a log, sampling, and an optional
//! bridge into `tracing` (feature `tracing`).
//!
//! One line gets you a console logger:
//!
//! ```
//! use llm_telemetry_core::{Bus, Value};
//! use llm_telemetry_genai::{catalog, catalog::keys};
//! use llm_telemetry_log::{Level, attach_default_logger};
//!
//! let bus = Bus::new();
//! let logger = attach_default_logger(&bus, Level::Info).unwrap();
//! bus.span(&catalog::LLM_CHAT, &[(keys::MODEL, Value::Str("gpt-4o"))], |span| {
//!     span.measure(keys::OUTPUT_TOKENS, 42.0);
//! });
//! // stderr: 2026-11-21T03:07:27.123Z  INFO llm.chat.stop duration=0.012ms output_tokens=42 gen_ai.request.model=gpt-4o trace=4bf92f35 span=00f067aa
//! logger.flush(std::time::Duration::from_secs(5)).unwrap();
//! ```
//!
//! The builder covers the rest:
//!
//! ```no_run
//! use llm_telemetry_core::Bus;
//! use llm_telemetry_log::{Level, Logger, Redactor, Sink};
//!
//! let bus = Bus::new();
//! let logger = Logger::builder()
//!     .json()
//!     .sink(Sink::rotating_file("/var/log/inference.jsonl", 100 << 20, 5))
//!     .level(Level::Info)
//!     .prefix("llm")
//!     .level_for("llm.provider", Level::Debug)
//!     .redactor(Redactor::builder().sensitive_key("x-tenant-secret").build().unwrap())
//!     .sample_rate(0.25)
//!     .max_lines_per_second(500)
//!     .service("inference-api")
//!     .environment("production")
//!     .version(env!("CARGO_PKG_VERSION"))
//!     .attach(&bus)
//!     .unwrap();
//! // … at exit, after bus.shutdown(…):
//! logger.flush(std::time::Duration::from_secs(5)).unwrap();
//! ```
//!
//! Both attached handlers have the shape every handler crate shares: a builder whose
//! `attach(&bus)` returns the handle ([`LogHandle`], and `TracingBridge` for the bridge), with
//! `stats()`, `flush(deadline)` and `detach(deadline)`, each error a
//! [`llm_telemetry_core::LifecycleError`].
//!
//! Where things live: [`logger`] (builder, handler, handle, stats), [`format`](mod@format) (console and JSON
//! lines, with the field table), [`level`], [`redact`], [`sample`], [`sink`], [`time`] (which
//! timestamp a line carries), `bridge` (the bus → `tracing` bridge, feature `tracing`) and `parent`
//! ([`TracingParentLayer`]: `tracing` → bus, the entered `tracing` span as the parent of the bus's
//! spans, feature `tracing`; its OpenTelemetry context with feature `tracing-opentelemetry`).
//!
//! **The emitter never waits on I/O.** The logger is attached with `Delivery::Queued`: the
//! emitting thread pushes the event on a bounded queue and returns; level filtering, sampling,
//! redaction, formatting and writing happen on the lane's worker. A full queue drops the event and
//! counts it ([`LogStats::queue_dropped`]).

#![warn(missing_docs)]

#[cfg(feature = "tracing")]
pub mod bridge;
pub mod error;
pub mod format;
pub mod level;
pub mod logger;
#[cfg(feature = "tracing")]
pub mod parent;
pub mod redact;
pub mod sample;
pub mod sink;
pub mod time;

#[cfg(feature = "tracing")]
pub use bridge::{BridgeStats, TracingBridge, TracingBridgeBuilder};
pub use error::LogError;
pub use format::{ColorChoice, Format};
pub use level::{Level, LevelRules, ParseLevelError};
pub use llm_telemetry_core::{Clock, ManualClock, SystemClock};
pub use logger::{
    DEFAULT_FLUSH_INTERVAL, DEFAULT_HANDLER_ID, DEFAULT_QUEUE_CAPACITY, LogHandle, LogStats,
    Logger, LoggerBuilder, attach_default_logger,
};
#[cfg(feature = "tracing")]
pub use parent::TracingParentLayer;
pub use redact::{CleanValue, DEFAULT_MARKER, Redactor, RedactorBuilder};
pub use sample::{Decision, Sampler};
pub use sink::{MemoryWriter, Rotation, Sink};
