//! llm-telemetry for HTTP inference services built on tower (axum, hyper, tonic's HTTP stack).
//!
//! - [`TelemetryLayer`]: a tower layer that continues the caller's W3C trace context
//!   (`traceparent`, `tracestate`), opens an `http.server.request` span on the bus that is the
//!   parent of every LLM span the handler emits (streamed responses included), records the HTTP
//!   semantic-convention attributes (method, route, status code, body sizes), and answers with
//!   `traceparent` and `traceresponse`.
//! - [`propagation`]: reading and writing the W3C headers.
//! - `client` (cargo feature `client`): an instrumented client for OpenAI-compatible providers
//!   that emits `llm.provider.request.*` and `llm.chat.*`/`llm.embed.*` with the usage the
//!   provider returns, and sends `traceparent`.
//!
//! ```
//! use llm_telemetry_core::Bus;
//! use llm_telemetry_tower::TelemetryLayer;
//! use tower_layer::Layer;
//!
//! let bus = Bus::new();
//! let layer = TelemetryLayer::new(&bus).routes(|path| match path {
//!     "/v1/chat/completions" => Some("/v1/chat/completions"),
//!     _ => None,
//! });
//! # struct Svc;
//! let _service = layer.layer(Svc);
//! ```

mod body;
#[cfg(feature = "client")]
pub mod client;
mod future;
mod layer;
pub mod names;
mod pending;
pub mod propagation;

pub use body::{RequestBody, ResponseBody};
pub use future::ResponseFuture;
pub use layer::{RouteMatcher, TelemetryLayer, TelemetryService};
pub use propagation::IncomingContext;
