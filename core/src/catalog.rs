//! The bus's own events and the keys its spans put on them: `telemetry.handler.failure`, and the
//! measurement and metadata keys of span phases (`duration`, `monotonic_time`, `system_time`,
//! `exception.*`, `status`).
//!
//! Nothing LLM-specific lives here: the LLM and cache catalog is in `llm-telemetry-genai`, which
//! re-exports these keys beside its own.

use crate::name::StaticEventName;

/// `telemetry.handler.failure`: a handler panicked and was detached.
pub static TELEMETRY_HANDLER_FAILURE: StaticEventName =
    StaticEventName::new("telemetry.handler.failure");

/// The measurement and metadata keys the bus itself writes.
pub mod keys {
    /// Span duration in nanoseconds (stop, exception).
    pub const DURATION: &str = "duration";
    /// Nanoseconds since the process's telemetry anchor (start, stop, exception, failure).
    pub const MONOTONIC_TIME: &str = "monotonic_time";
    /// Nanoseconds since the Unix epoch (start, failure).
    pub const SYSTEM_TIME: &str = "system_time";
    /// The outcome: `ok`, `error`, `cancelled`, or an HTTP status.
    pub const STATUS: &str = "status";
    /// `status` of a span dropped before it finished.
    pub const STATUS_CANCELLED: &str = "cancelled";
    /// `status` of a span that finished normally.
    pub const STATUS_OK: &str = "ok";
    /// The exception's type (exception events).
    pub const EXCEPTION_TYPE: &str = "exception.type";
    /// The exception's message (exception events).
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
    /// The id of a failed handler (`telemetry.handler.failure`).
    pub const HANDLER_ID: &str = "handler_id";
    /// The event a handler failed on.
    pub const EVENT: &str = "event";
    /// The failure kind (`panic`).
    pub const ERROR_KIND: &str = "kind";
    /// The failure message.
    pub const ERROR: &str = "error";
}
