//! Typed errors of the log handler: configuration mistakes caught when a logger is built or
//! attached. A flush or detach that does not finish is the workspace's shared
//! [`llm_telemetry_core::LifecycleError`]. Write errors while logging are never returned to the
//! emitter; they are counted in [`crate::LogStats::write_errors`].

use std::path::PathBuf;

use llm_telemetry_core::{AttachError, NameError, PatternError};
use thiserror::Error;

/// Why a logger (or the tracing bridge) could not be built or attached.
#[derive(Debug, Error)]
pub enum LogError {
    /// A level override named something that is not an event name or prefix.
    #[error(
        "invalid level override {prefix:?}: {source}; name an event (\"llm.chat.stop\") or a prefix (\"llm.chat\") without '*'"
    )]
    InvalidLevelPrefix {
        /// The rejected text.
        prefix: String,
        /// Why it is not a name.
        source: NameError,
    },
    /// An event filter was neither a valid prefix nor a valid pattern.
    #[error("invalid event filter {filter:?}: {source}")]
    InvalidEventFilter {
        /// The rejected filter.
        filter: String,
        /// Why the bus rejected it.
        source: PatternError,
    },
    /// A sampling rate outside 0..=1 (or NaN).
    #[error(
        "sampling rate {0} is out of range: use a number from 0.0 (log nothing) to 1.0 (log everything)"
    )]
    InvalidSampleRate(f64),
    /// A rate limit of zero events per second.
    #[error("a limit of 0 events per second would log nothing: use at least 1, or no limit")]
    ZeroRateLimit,
    /// A global field would shadow one of the fixed JSON fields.
    #[error(
        "global field {name:?} collides with a fixed field of every line; fixed fields are timestamp, level, event, measurements, metadata, trace_id, span_id, parent_span_id: choose another name"
    )]
    ReservedGlobalField {
        /// The rejected name.
        name: String,
    },
    /// Size-based rotation with a zero size or zero files kept.
    #[error(
        "file rotation needs max_bytes > 0 and keep > 0 (got max_bytes = {max_bytes}, keep = {keep}); use e.g. 10 MiB and 5 files"
    )]
    InvalidRotation {
        /// The rejected size.
        max_bytes: u64,
        /// The rejected number of rotated files.
        keep: usize,
    },
    /// A redaction value prefix or literal too short to be told apart from ordinary text.
    #[error(
        "redaction pattern {pattern:?} is too short: use at least 3 characters (e.g. \"acme_\")"
    )]
    RedactionPatternTooShort {
        /// The rejected prefix or literal.
        pattern: String,
    },
    /// The log file could not be opened for appending.
    #[error(
        "cannot open log file {path:?} for appending: {source}; check that the directory exists and is writable"
    )]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The background flush thread could not be started.
    #[error(
        "could not start the log flush thread: {reason}; or set flush_interval(Duration::ZERO) and flush by hand"
    )]
    FlushThread {
        /// The OS error.
        reason: String,
    },
    /// The bus refused the handler (duplicate id, shut-down bus, …).
    #[error(transparent)]
    Attach(#[from] AttachError),
}
