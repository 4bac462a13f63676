//! # llm-telemetry
//!
//! An Elixir `:telemetry`-style event bus for LLM inference and cache operations.
//!
//! Instrumented code **emits** named events (`llm.chat.stop`, `cache.lookup.hit`, …) with
//! measurements and metadata; independently **attached handlers** turn them into OpenTelemetry
//! spans, Prometheus metrics, cost counters and logs. The instrumented code never knows which
//! handlers exist, and a slow or panicking handler never slows down or breaks it.
//!
//! This crate is the facade: one dependency that brings the whole kit, as `tracing` +
//! `tracing-subscriber` or `metrics` + its exporters would. It re-exports
//!
//! | from | what | as |
//! |---|---|---|
//! | `llm-telemetry-core` | the bus, events, names, spans, trace context, the handler lifecycle, stats, `testing::Capture` | `llm_telemetry::{Bus, Event, …}` |
//! | `llm-telemetry-genai` | the LLM event catalog and the typed helpers | [`catalog`], [`instrument`] |
//! | `llm-telemetry-{prometheus,otel,cost,log}` | the handlers | [`prometheus`], [`otel`], [`cost`], [`log`] |
//! | `llm-telemetry-mlx` | the MLX backend (feature `mlx`) | `mlx` |
//!
//! and holds what only the whole kit can: [`config::Config`], which composes every handler's
//! own settings from a file, the environment and a command line. A program that wants only some
//! handlers (and not, say, the OpenTelemetry SDK and tokio that `llm-telemetry-otel` brings)
//! depends on `llm-telemetry-core`, `llm-telemetry-genai` and those handler crates instead.
//!
//! ```
//! use llm_telemetry::{Bus, catalog, catalog::keys, metadata};
//!
//! let bus = Bus::new();
//! bus.attach("print-stops", "llm.*.stop", |e| {
//!     println!("{} took {:?} ns", e.name(), e.measurement(keys::DURATION));
//! }).unwrap();
//!
//! let answer = bus.span(&catalog::LLM_CHAT, metadata![keys::MODEL => "llama-3.1-8b"], |span| {
//!     span.measure(keys::OUTPUT_TOKENS, 42.0);
//!     "forty-two"
//! });
//! assert_eq!(answer, "forty-two");
//! ```

#![warn(missing_docs)]

pub use llm_telemetry_core::*;
// The macro is exported at the core crate's root; name it so that `llm_telemetry::emit!` works.
pub use llm_telemetry_core::emit;
pub use llm_telemetry_core::{measurements, metadata};
// The LLM catalog replaces the core's own (which it re-exports: `telemetry.handler.failure` and
// the span keys are in it too).
pub use llm_telemetry_genai::{catalog, instrument};

pub use llm_telemetry_cost as cost;
pub use llm_telemetry_log as log;
#[cfg(feature = "mlx")]
pub use llm_telemetry_mlx as mlx;
pub use llm_telemetry_otel as otel;
pub use llm_telemetry_prometheus as prometheus;

pub mod config;
pub mod inspect;
pub mod telemetry;

/// The README's quick start, kept compiling as a doc test (a copy: keep the two identical).
///
/// ```
/// use llm_telemetry::{Bus, catalog, catalog::keys, measurements, metadata};
///
/// let bus = Bus::new();                                   // or Bus::global()
/// bus.attach("print-stops", "llm.*.stop", |e| {           // attach_with(…, Delivery::queued()) for I/O
///     println!("{} took {:?} ns", e.name(), e.measurement(keys::DURATION));
/// })?;
///
/// let reply = bus.span(&catalog::LLM_CHAT, metadata![keys::PROVIDER => "openai", keys::MODEL => "gpt-4o"], |span| {
///     span.measure(keys::OUTPUT_TOKENS, 42.0);            // lands on llm.chat.stop
///     "forty-two"
/// });
/// bus.execute(&catalog::CACHE_LOOKUP_HIT, measurements![keys::SIZE_BYTES => 512], metadata![]);
/// # Ok::<(), llm_telemetry::AttachError>(())
/// ```
#[doc(hidden)]
pub mod readme_quick_start {}

pub use config::{Config, ConfigError};
pub use telemetry::{Telemetry, TelemetryBuilder, TelemetryError};
