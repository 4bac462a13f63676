//! Typed errors of the core crate.
//!
//! Every error carries the bad value and says what to do about it. Handler crates define their
//! own errors; the ones here cover event names, patterns, attach/detach and trace context.

use thiserror::Error;

/// Why a string is not a valid event name (`component.operation.phase`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name was empty.
    #[error("event name is empty: use dot-separated segments such as \"llm.chat.stop\"")]
    Empty,
    /// One segment between dots was empty (`"llm..stop"`, `".llm"`, `"llm."`).
    #[error(
        "event name {name:?} has an empty segment at position {position}: remove the extra dot"
    )]
    EmptySegment {
        /// The rejected name.
        name: String,
        /// Zero-based index of the empty segment.
        position: usize,
    },
    /// A segment held a character outside `[A-Za-z0-9_-]`.
    #[error(
        "event name {name:?} contains {character:?}: segments may use only ASCII letters, digits, '_' and '-'"
    )]
    InvalidCharacter {
        /// The rejected name.
        name: String,
        /// The first offending character.
        character: char,
    },
    /// More segments than [`crate::MAX_SEGMENTS`].
    #[error("event name {name:?} has {segments} segments; at most {max} are allowed")]
    TooManySegments {
        /// The rejected name.
        name: String,
        /// How many segments it had.
        segments: usize,
        /// The limit.
        max: usize,
    },
    /// Longer than [`crate::MAX_NAME_LEN`] bytes.
    #[error(
        "event name of {len} bytes is too long; at most {max} bytes are allowed (starts with {prefix:?})"
    )]
    TooLong {
        /// Length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// The first 32 bytes, for recognition.
        prefix: String,
    },
    /// The process already interned [`crate::MAX_EVENT_NAMES`] distinct names.
    #[error(
        "cannot register event name {name:?}: the process already has {max} distinct event names; event names must be static, never built from request data"
    )]
    RegistryFull {
        /// The rejected name.
        name: String,
        /// The limit.
        max: usize,
    },
}

/// Why an attach pattern (`"llm.chat.stop"`, `"llm.*.stop"`, `"cache.*"`, `"*"`) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    /// The pattern is not a valid name once `*` segments are allowed.
    #[error("invalid event pattern {pattern:?}: {reason}")]
    Invalid {
        /// The rejected pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `attach` was called with an empty list of patterns.
    #[error("no event pattern given for handler {handler_id:?}: pass at least one name or prefix")]
    NoPatterns {
        /// The handler being attached.
        handler_id: String,
    },
}

/// Why `attach` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachError {
    /// A handler with this id is attached already (`{error, already_exists}` in `:telemetry`).
    #[error("a handler with id {0:?} is already attached: detach it first or choose another id")]
    AlreadyExists(String),
    /// A pattern was invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A queued handler asked for a zero-capacity queue.
    #[error("handler {handler_id:?} asked for a queue of capacity 0: use at least 1 (e.g. 8192)")]
    ZeroCapacity {
        /// The handler being attached.
        handler_id: String,
    },
    /// The bus was shut down; no new handlers are accepted.
    #[error("cannot attach {handler_id:?}: the bus has been shut down")]
    ShutDown {
        /// The handler being attached.
        handler_id: String,
    },
    /// The worker thread of a queued handler could not be started.
    #[error("could not start the worker thread of queued handler {handler_id:?}: {reason}")]
    Worker {
        /// The handler being attached.
        handler_id: String,
        /// The OS error.
        reason: String,
    },
}

/// Why `detach` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DetachError {
    /// No handler with this id is attached (`{error, not_found}` in `:telemetry`).
    #[error("no handler with id {0:?} is attached: see Bus::list_handlers for the attached ids")]
    NotFound(String),
}

/// Why a W3C `traceparent` header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TraceParentError {
    /// Not `version-traceid-parentid-flags` with lengths 2-32-16-2.
    #[error("malformed traceparent {0:?}: expected \"00-<32 hex>-<16 hex>-<2 hex>\"")]
    Malformed(String),
    /// A field held a non-lowercase-hex character.
    #[error("traceparent {0:?} contains a character that is not lowercase hex")]
    NotHex(String),
    /// Version `ff` is forbidden by the W3C spec.
    #[error("traceparent {0:?} uses the forbidden version ff")]
    ForbiddenVersion(String),
    /// All-zero trace id or parent id, which the W3C spec declares invalid.
    #[error("traceparent {0:?} has an all-zero trace id or parent id, which W3C declares invalid")]
    ZeroId(String),
}
