//! # llm-telemetry-otel
//!
//! OpenTelemetry spans for the `llm-telemetry` event bus, with OpenInference attributes (for
//! Arize Phoenix) and OpenTelemetry GenAI attributes at once, exported over OTLP gRPC or
//! HTTP/protobuf, one Phoenix project per tenant, and a program that never waits for — or
//! crashes because of — the collector.
//!
//! The handler attaches to span **stop** and **exception** events only, on the bus's queued lane:
//! starting a span costs the emitter nothing, and a stop event alone carries everything a
//! finished span needs (trace id, span id, parent, start time, duration), so no state is kept
//! between start and stop. Spans are batched on the handler's own export thread, which owns a
//! small tokio runtime: the program needs no runtime, and one that runs tokio is unaffected.
//! A collector that is down or hanging costs one export timeout per batch; spans beyond the
//! bounded queues are dropped and counted ([`OtelStats`]), with a warning at most once a minute.
//!
//! ```no_run
//! use llm_telemetry_core::{Bus, Value};
//! use llm_telemetry_genai::{catalog::{self, keys}};
//! use llm_telemetry_otel::OtelHandler;
//! use std::time::Duration;
//!
//! let bus = Bus::new();
//! let otel = OtelHandler::builder()
//!     .endpoint("http://127.0.0.1:6006")      // Phoenix, OTLP/HTTP
//!     .service_name("inference-api")
//!     .attach(&bus)?;
//!
//! bus.span(&catalog::LLM_CHAT, &[
//!     (keys::PROVIDER, Value::Str("openai")),
//!     (keys::MODEL, Value::Str("gpt-4o")),
//!     (keys::TENANT, Value::Str("acme")),     // → project "llm-acme-inference-api"
//!     (keys::INPUT, Value::Str("Hello?")),
//! ], |span| {
//!     span.measure(keys::INPUT_TOKENS, 3.0);
//!     span.measure(keys::OUTPUT_TOKENS, 5.0);
//!     span.set(keys::OUTPUT, "Hi!");
//! });
//!
//! assert!(otel.force_flush(Duration::from_secs(5)));
//! otel.shutdown(Duration::from_secs(5));
//! # Ok::<(), llm_telemetry_otel::OtelError>(())
//! ```
//!
//! Modules: [`config`] (settings and their resolution from builder, environment and file),
//! [`sampler`], [`attributes`] (the conventions), `convert` (event → span), `exporter`
//! (pluggable and shared exporters), `otlp` (one OTLP request per batch, one resource per
//! project, over one connection pool per endpoint), [`console`] (a readable span exporter),
//! `projects` (per-route resources and exporters), `route` (a trace's project, from its root),
//! `span_events` (events inside a span), `worker` (the export thread), `handler`
//! ([`OtelHandler`]), [`pipeline`] (the bus worker → export thread hand-off), [`stats`].

#![warn(missing_docs)]

pub mod attributes;
mod builder;
pub mod config;
pub mod console;
mod convert;
pub mod error;
mod exporter;
mod fields;
mod handler;
mod otlp;
pub mod pipeline;
mod projects;
mod route;
pub mod sampler;
mod span_events;
pub mod stats;
mod warn;
mod worker;

pub use builder::OtelHandlerBuilder;
pub use config::{
    BatchConfig, Compression, Conventions, EndpointForm, OtelConfig, Privacy, Processor, Protocol,
    SpanNaming, TenantConfig, TlsConfig, TlsFile,
};
pub use console::ConsoleExporter;
pub use convert::SCOPE_NAME;
pub use error::{ConfigError, OtelError};
pub use handler::OtelHandler;
pub use projects::PROJECT_NAME_ATTRIBUTE;
pub use route::MAX_TENANT_LEN;
pub use sampler::Sampler;
pub use stats::{OtelStats, OtelStatsReader, TenantStats};

/// The OpenTelemetry types a custom exporter implements or receives, re-exported at the exact
/// versions this crate uses.
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_sdk;
    pub use opentelemetry_sdk::Resource;
    pub use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
    pub use opentelemetry_sdk::trace::{SpanData, SpanExporter};
}
