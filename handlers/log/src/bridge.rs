//! The `tracing` bridge (feature `tracing`): forwards events as `tracing` events, so a project
//! that already configured `tracing-subscriber` gets them in its existing pipeline.
//!
//! Each event becomes one `tracing` event with target `llm_telemetry`, the level from
//! [`LevelRules`] (`trace`…`error` map one to one), and these fields:
//!
//! | field | content |
//! |---|---|
//! | `event` | the event name, `llm.chat.stop` |
//! | `measurements` | a JSON object, raw units, redacted (e.g. `{"duration":1200000,"input_tokens":42}`) |
//! | `metadata` | a JSON object, redacted |
//! | `trace_id`, `span_id`, `parent_span_id` | hex ids, absent outside a span |
//!
//! The JSON objects are rendered only if the subscriber records the event. Delivery defaults to
//! queued (the subscriber's own writers may block); the events then reach the subscriber from the
//! lane's worker thread, outside any `tracing` span of the emitter, which is why the trace ids
//! travel as fields.
//!
//! ```
//! use llm_telemetry_core::Bus;
//! use llm_telemetry_log::TracingBridge;
//! let bus = Bus::new();
//! let bridge = TracingBridge::builder().prefix("llm").attach(&bus).unwrap();
//! // … at exit:
//! bridge.detach(std::time::Duration::from_secs(5)).unwrap();
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use llm_telemetry_core::{
    Bus, Deadline, Delivery, Event, EventName, Handler, LifecycleError, Pattern,
    validate_event_name,
};

use crate::error::LogError;
use crate::format::json::{Measurements, Metadata, Redaction, span_hex, trace_hex};
use crate::level::{Level, LevelRules};
use crate::logger::DEFAULT_QUEUE_CAPACITY;
use crate::redact::{KeyCache, Redactor};
use llm_telemetry_core::Attachment;

/// The handler id of the bridge unless told otherwise.
pub const DEFAULT_BRIDGE_ID: &str = "llm-telemetry-log.tracing";

/// The target every forwarded event carries.
pub const TARGET: &str = "llm_telemetry";

/// Renders a serializable view as JSON when (and only if) the subscriber formats the field.
struct JsonField<T>(T);

impl<T: serde::Serialize> fmt::Display for JsonField<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(&self.0).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// What the bridge did, as counters since it was attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Events handed to `tracing` (whether the subscriber then records them is its business).
    pub forwarded: u64,
    /// Events below the bridge's minimum level ([`TracingBridgeBuilder::level`]), not forwarded.
    pub filtered: u64,
    /// Events dropped because the queued lane was full (from [`Bus::stats`], kept as of the
    /// detach once detached).
    pub queue_dropped: u64,
}

/// The bridge's own counters, shared by the handler and the handle.
#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    filtered: AtomicU64,
}

/// The bridge handler.
struct Forward {
    rules: LevelRules,
    min_level: Level,
    redactor: Redactor,
    keys: Mutex<KeyCache>,
    counters: Arc<Counters>,
}

impl Handler for Forward {
    /// Only the names the level rules let through (asked once per name by the bus): events
    /// below the level are never delivered, so they cost nothing and no queue slot.
    fn wants(&self, name: EventName) -> bool {
        self.rules.level_of(name) >= self.min_level
    }

    fn handle(&self, event: &Event<'_>) {
        let level = self.rules.level_of(event.name());
        if level < self.min_level {
            self.counters.filtered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let redaction = Redaction::new(&self.redactor, &mut keys);
        let (name, _) = redaction.key(event.name().as_str());
        let measurements = JsonField(Measurements {
            event,
            redaction: &redaction,
        });
        let metadata = JsonField(Metadata {
            event,
            redaction: &redaction,
        });
        let span = event.span();
        let trace_id = span.map(|s| trace_hex(s.trace_id));
        let span_id = span.map(|s| span_hex(s.span_id));
        let parent_span_id = span.and_then(|s| s.parent_span_id).map(span_hex);
        let trace_id = trace_id.as_ref().map(|h| h.as_str());
        let span_id = span_id.as_ref().map(|h| h.as_str());
        let parent_span_id = parent_span_id.as_ref().map(|h| h.as_str());
        macro_rules! forward {
            ($level:expr) => {
                tracing::event!(
                    target: "llm_telemetry",
                    $level,
                    event = name.as_ref(),
                    measurements = %measurements,
                    metadata = %metadata,
                    trace_id,
                    span_id,
                    parent_span_id,
                )
            };
        }
        match level {
            Level::Trace => forward!(tracing::Level::TRACE),
            Level::Debug => forward!(tracing::Level::DEBUG),
            Level::Info => forward!(tracing::Level::INFO),
            Level::Warn => forward!(tracing::Level::WARN),
            Level::Error => forward!(tracing::Level::ERROR),
        }
        redaction.finish(&mut keys);
        self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    }
}

/// Configures the bridge: which events, levels, redaction and delivery.
#[derive(Debug)]
pub struct TracingBridgeBuilder {
    id: String,
    filters: Vec<String>,
    rules: LevelRules,
    min_level: Level,
    redactor: Redactor,
    delivery: Delivery,
    error: Option<LogError>,
}

impl Default for TracingBridgeBuilder {
    fn default() -> Self {
        Self {
            id: DEFAULT_BRIDGE_ID.to_owned(),
            filters: Vec::new(),
            rules: LevelRules::default(),
            min_level: Level::Trace,
            redactor: Redactor::default(),
            delivery: Delivery::Queued {
                capacity: DEFAULT_QUEUE_CAPACITY,
            },
            error: None,
        }
    }
}

impl TracingBridgeBuilder {
    /// The handler id (default [`DEFAULT_BRIDGE_ID`]).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Forwards only events named `prefix` or under it; call again to add more (default: all).
    pub fn prefix(mut self, prefix: &str) -> Self {
        match validate_event_name(prefix) {
            Ok(()) => {
                self.filters.push(prefix.to_owned());
                self.filters.push(format!("{prefix}.*"));
            }
            Err(e) => {
                self.error.get_or_insert(LogError::InvalidEventFilter {
                    filter: prefix.to_owned(),
                    source: llm_telemetry_core::PatternError::Invalid {
                        pattern: prefix.to_owned(),
                        reason: e.to_string(),
                    },
                });
            }
        }
        self
    }

    /// Forwards only events matching a bus pattern; call again to add more.
    pub fn pattern(mut self, pattern: &str) -> Self {
        match Pattern::parse(pattern) {
            Ok(_) => self.filters.push(pattern.to_owned()),
            Err(source) => {
                self.error.get_or_insert(LogError::InvalidEventFilter {
                    filter: pattern.to_owned(),
                    source,
                });
            }
        }
        self
    }

    /// The level rules (default [`LevelRules::default`]).
    pub fn level_rules(mut self, rules: LevelRules) -> Self {
        self.rules = rules;
        self
    }

    /// Drops events below `level` before they reach `tracing` (default: forward all and let the
    /// subscriber filter).
    pub fn level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// The redaction rules (default [`Redactor::default`]).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// How the bus delivers events (default queued). Inline delivery calls the subscriber on the
    /// emitting thread, inside its current `tracing` span.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Attaches the bridge to `bus`: the shape every handler crate shares (`Builder →
    /// attach(&bus) → handle` with `stats`, `flush` and `detach`).
    pub fn attach(self, bus: &Bus) -> Result<TracingBridge, LogError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let filters = if self.filters.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.filters
        };
        let patterns: Vec<&str> = filters.iter().map(String::as_str).collect();
        let counters = Arc::new(Counters::default());
        let forward = Forward {
            rules: self.rules,
            min_level: self.min_level,
            redactor: self.redactor,
            keys: Mutex::default(),
            counters: Arc::clone(&counters),
        };
        bus.attach_with(self.id.clone(), &patterns, forward, self.delivery)?;
        Ok(TracingBridge {
            attachment: Attachment::new(bus.clone(), self.id),
            counters,
        })
    }
}

/// An attached bridge: stats, flush and detach, the shape every handler crate shares.
///
/// Dropping it leaves the bridge attached.
#[derive(Debug)]
pub struct TracingBridge {
    attachment: Attachment,
    counters: Arc<Counters>,
}

impl TracingBridge {
    /// A builder with the defaults: every event, default levels and redaction, queued.
    pub fn builder() -> TracingBridgeBuilder {
        TracingBridgeBuilder::default()
    }

    /// The handler id.
    pub fn id(&self) -> &str {
        self.attachment.id()
    }

    /// The counters, with the queue drops the bus counted for the bridge.
    pub fn stats(&self) -> BridgeStats {
        BridgeStats {
            forwarded: self.counters.forwarded.load(Ordering::Relaxed),
            filtered: self.counters.filtered.load(Ordering::Relaxed),
            queue_dropped: self.attachment.dropped(),
        }
    }

    /// Waits until the bridge's queue has forwarded every event emitted before the call, by
    /// `deadline` (an `Instant`, or a `Duration` from now). What the subscriber does with them
    /// (its own buffering) is its business. A detached bridge is
    /// [`LifecycleError::AlreadyShutDown`].
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        self.attachment.flush(deadline.into())
    }

    /// Detaches the bridge, letting its queue forward what it holds first, by `deadline` (an
    /// `Instant`, or a `Duration` from now). [`TracingBridge::stats`] stays readable, frozen as
    /// of the detach. A second call is [`LifecycleError::AlreadyShutDown`].
    ///
    /// Takes `&self`, as every handler handle of the workspace does (`OtelHandler`,
    /// `PrometheusReporter`, `CostTracker`, `LogHandle`): the handle outlives the detach, so its
    /// frozen stats can still be read, and a shared handle can be detached without being moved
    /// out.
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        self.attachment.detach(deadline.into())
    }
}
