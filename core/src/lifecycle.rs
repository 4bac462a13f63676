//! The handler lifecycle: one [`Deadline`] for flush and shutdown, what a handler reports when it
//! cannot finish in time ([`LifecycleError`]), and what the bus reports for all of them
//! ([`LifecycleReport`]).
//!
//! The model is OpenTelemetry's `SpanProcessor` (`force_flush`, `shutdown`, each bounded in
//! time): [`crate::Handler::flush`] and [`crate::Handler::shutdown`] default to doing nothing,
//! and a handler that holds buffers, batches or connections overrides them.
//! [`crate::Bus::shutdown`] drains the queued lanes, then shuts every handler down in reverse
//! attach order, all under one deadline, so a hanging collector can hold a process's exit for
//! at most that long.

use std::time::{Duration, Instant};

use thiserror::Error;

/// How long shutdown may take by default: 5 seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A point in time by which a flush or shutdown must return. Made from an [`Instant`], or from
/// a [`Duration`] counted from now, so `bus.shutdown(Duration::from_secs(5))` and
/// `bus.shutdown(deadline)` both read naturally.
///
/// ```
/// use std::time::{Duration, Instant};
/// use llm_telemetry_core::Deadline;
/// let deadline = Deadline::from(Duration::from_secs(5));
/// assert!(deadline.remaining() <= Duration::from_secs(5));
/// assert!(!deadline.has_passed());
/// assert!(Deadline::from(Instant::now()).has_passed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        // A timeout too large to add (Duration::MAX) means "no deadline": a century will do.
        Self(
            now.checked_add(timeout)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400)),
        )
    }

    /// The instant itself.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn has_passed(self) -> bool {
        Instant::now() >= self.0
    }
}

impl From<Instant> for Deadline {
    fn from(instant: Instant) -> Self {
        Self(instant)
    }
}

impl From<Duration> for Deadline {
    fn from(timeout: Duration) -> Self {
        Self::after(timeout)
    }
}

/// Why a handler's flush or shutdown did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LifecycleError {
    /// The deadline passed first. What was still pending is counted as dropped in the
    /// handler's own stats.
    #[error(
        "the deadline passed before it finished ({pending} item(s) still pending, counted as dropped): give it a later deadline, or check its destination"
    )]
    DeadlinePassed {
        /// Items (events, spans, lines) still pending, when the handler knows; else 0.
        pending: u64,
    },
    /// It finished, but failed (an export was refused, a file could not be written).
    #[error("it failed: {0}")]
    Failed(String),
    /// It panicked while flushing or shutting down (caught; the bus carried on).
    #[error("it panicked: {0}")]
    Panicked(String),
    /// It was shut down already.
    #[error("it was shut down already")]
    AlreadyShutDown,
}

/// One handler that did not finish a flush or shutdown, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The handler's id.
    pub handler_id: String,
    /// Why.
    pub error: LifecycleError,
}

/// What [`crate::Bus::flush`] and [`crate::Bus::shutdown`] did: every handler that did not
/// finish, and whether the queued lanes drained in time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use = "the report says which handlers did not finish"]
pub struct LifecycleReport {
    /// Handlers that did not finish, in the order they were asked.
    pub unfinished: Vec<Unfinished>,
    /// Whether every queued lane delivered what it held before the deadline.
    pub lanes_drained: bool,
    /// How many handlers were asked.
    pub handlers: usize,
}

impl LifecycleReport {
    /// True when every lane drained and every handler finished.
    pub fn is_complete(&self) -> bool {
        self.lanes_drained && self.unfinished.is_empty()
    }

    /// The error of handler `id`, if it did not finish.
    pub fn error_of(&self, id: &str) -> Option<&LifecycleError> {
        self.unfinished
            .iter()
            .find(|u| u.handler_id == id)
            .map(|u| &u.error)
    }
}

impl std::fmt::Display for LifecycleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_complete() {
            return write!(f, "all {} handler(s) finished", self.handlers);
        }
        if !self.lanes_drained {
            write!(f, "queued lanes did not drain in time")?;
            if !self.unfinished.is_empty() {
                write!(f, "; ")?;
            }
        }
        for (i, u) in self.unfinished.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{}: {}", u.handler_id, u.error)?;
        }
        Ok(())
    }
}
