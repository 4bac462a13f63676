//! Span names: a span prefix (`llm.chat`) and its three event names, `prefix.start`,
//! `prefix.stop` and `prefix.exception`, as a value ([`SpanName`]) or declared in a `static`
//! ([`StaticSpanName`]). Patterns accept them (`patterns.rs`); emitting spans is `span.rs`.

use std::fmt;
use std::sync::OnceLock;

use crate::error::NameError;
use crate::name::EventName;

/// The three event names of a span prefix: `prefix.start`, `prefix.stop`, `prefix.exception`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanName {
    /// `prefix.start`.
    pub start: EventName,
    /// `prefix.stop`.
    pub stop: EventName,
    /// `prefix.exception`.
    pub exception: EventName,
}

impl SpanName {
    /// Validates `prefix` (e.g. `"llm.chat"`) and registers its three event names.
    pub fn new(prefix: &str) -> Result<Self, NameError> {
        Ok(Self {
            start: EventName::new(&format!("{prefix}.start"))?,
            stop: EventName::new(&format!("{prefix}.stop"))?,
            exception: EventName::new(&format!("{prefix}.exception"))?,
        })
    }

    /// The prefix (`llm.chat`).
    pub fn prefix(&self) -> &'static str {
        self.start.prefix()
    }
}

/// A span prefix declared in a `static`, registered on first use.
///
/// ```
/// use llm_telemetry_core::{Bus, StaticSpanName};
/// static RERANK: StaticSpanName = StaticSpanName::new("myapp.rerank");
/// let bus = Bus::new();
/// let best = bus.span(&RERANK, &[], |_| 42);
/// assert_eq!(best, 42);
/// ```
pub struct StaticSpanName {
    prefix: &'static str,
    cell: OnceLock<SpanName>,
}

impl StaticSpanName {
    /// Declares a span prefix. The three full names are validated when first used; an invalid
    /// prefix in a `static` is caught by [`crate::catalog`]'s tests for the built-in ones.
    pub const fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            cell: OnceLock::new(),
        }
    }

    /// The prefix.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The registered names.
    #[inline(always)]
    pub fn get(&self) -> SpanName {
        match self.cell.get() {
            Some(name) => *name,
            None => self.register(),
        }
    }

    #[cold]
    fn register(&self) -> SpanName {
        *self.cell.get_or_init(|| {
            SpanName::new(self.prefix).unwrap_or_else(|_| {
                // Invalid static prefix: fall back to a valid, visibly wrong name rather than
                // panicking inside instrumented code.
                SpanName::new("telemetry.invalid_span_name")
                    .unwrap_or_else(|_| unreachable_span_name())
            })
        })
    }
}

#[cold]
fn unreachable_span_name() -> SpanName {
    // `telemetry.invalid_span_name` is a valid literal; registration fails only with a full
    // registry, where every name maps to the shared overflow name anyway.
    let name = crate::catalog::TELEMETRY_HANDLER_FAILURE.get();
    SpanName {
        start: name,
        stop: name,
        exception: name,
    }
}

impl fmt::Debug for StaticSpanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticSpanName({})", self.prefix)
    }
}

impl From<&StaticSpanName> for SpanName {
    #[inline(always)]
    fn from(name: &StaticSpanName) -> Self {
        name.get()
    }
}
impl From<&SpanName> for SpanName {
    #[inline(always)]
    fn from(name: &SpanName) -> Self {
        *name
    }
}
