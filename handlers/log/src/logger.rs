//! The logger: [`LoggerBuilder`] (every option, then `build` or `attach`), [`Logger`] (the handler
//! itself), [`LogHandle`] (what `attach` returns: flush, stats, detach) and [`LogStats`].
//!
//! Per event the logger: resolves the level ([`crate::LevelRules`]) and drops events below the
//! minimum; asks the [`crate::sample::Sampler`]; renders the line with redaction
//! ([`crate::format`]); writes it to the buffered sink ([`crate::sink`]). Attached with the
//! default [`Delivery::Queued`], all of that runs on the lane's worker thread: the emitter pays for
//! one queue push, and a full queue drops the event and counts it in [`LogStats::queue_dropped`].
//!
//! **Flushing.** Buffered bytes reach the sink every `flush_interval` (100 ms by default, from a
//! small background thread that exits when the logger is dropped), after every line when the sink
//! is a terminal, and on [`LogHandle::flush`] and [`LogHandle::detach`], which first wait for the
//! logger's queue to drain and then flush the buffer. `Bus::flush` and `Bus::shutdown` do the
//! same for every handler on the bus (they call the logger's [`Handler::flush`] and
//! [`Handler::shutdown`] after draining the queues).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use llm_telemetry_core::{
    Attachment, Bus, Clock, Deadline, Delivery, Event, EventName, Handler, LifecycleError, Pattern,
    SystemClock, validate_event_name,
};

use crate::error::LogError;
use crate::format::{ColorChoice, Format, Formatter};
use crate::level::{Level, LevelRules};
use crate::redact::{KeyCache, Redactor};
use crate::sample::{Decision, Sampler};
use crate::sink::{Output, Sink};

/// The handler id [`LoggerBuilder::attach`] uses unless told otherwise.
pub const DEFAULT_HANDLER_ID: &str = "llm-telemetry-log";

/// The queue capacity of the default queued delivery.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// How often buffered output is flushed by default.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// JSON field names a global field may not take.
const RESERVED_FIELDS: &[&str] = &[
    "timestamp",
    "level",
    "event",
    "measurements",
    "metadata",
    "trace_id",
    "span_id",
    "parent_span_id",
];

/// What a logger did, as counters since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Lines written to the sink's buffer.
    pub lines: u64,
    /// Bytes of those lines, newlines included.
    pub bytes: u64,
    /// Events below the minimum level given to [`Logger::log`] directly. An attached logger
    /// never receives them: it declines their names when it attaches (see
    /// [`Handler::wants`](llm_telemetry_core::Handler::wants)), so they cost no queue slot.
    pub filtered: u64,
    /// Events dropped by the sampling rate.
    pub sampled_out: u64,
    /// Events dropped by the lines-per-second limit.
    pub rate_limited: u64,
    /// Warnings and errors dropped by their own, higher limit (they are exempt from the rate
    /// and the ordinary limit; see [`crate::sample`]).
    pub urgent_rate_limited: u64,
    /// Keys or values that redaction replaced or cut secrets out of.
    pub redactions: u64,
    /// Lines or flushes the sink refused (the lines are lost; the logger keeps going).
    pub write_errors: u64,
    /// Events dropped because the queued lane was full (from [`Bus::stats`], kept as of the
    /// detach once detached; 0 from [`Logger::stats`], which does not know its bus).
    pub queue_dropped: u64,
}

#[derive(Default)]
struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
    filtered: AtomicU64,
    sampled_out: AtomicU64,
    rate_limited: AtomicU64,
    urgent_rate_limited: AtomicU64,
    redactions: AtomicU64,
    write_errors: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct State {
    output: Output,
    line: Vec<u8>,
    sampler: Option<Sampler>,
    keys: KeyCache,
}

struct Inner {
    formatter: Formatter,
    min_level: Level,
    rules: LevelRules,
    flush_every_line: bool,
    state: Mutex<State>,
    dirty: AtomicBool,
    counters: Counters,
}

/// A log handler: formats events as console or JSON lines and writes them to a sink.
///
/// Cheap to clone (a shared handle). Attached through [`LoggerBuilder::attach`], which returns
/// a [`LogHandle`]; [`LoggerBuilder::build`] makes one to call [`Logger::log`] directly (it is
/// also a [`Handler`], for a program that composes its own handlers).
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("formatter", &self.inner.formatter)
            .field("min_level", &self.inner.min_level)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// A builder with the defaults: console format, stderr, level `info`, every event, queued.
    pub fn builder() -> LoggerBuilder {
        LoggerBuilder::default()
    }

    /// Logs one event now, on this thread (what the handler does on the worker).
    pub fn log(&self, event: &Event<'_>) {
        let inner = &*self.inner;
        let level = inner.rules.level_for(event);
        if level < inner.min_level {
            bump(&inner.counters.filtered, 1);
            return;
        }
        let mut state = inner.lock();
        let State {
            output,
            line,
            sampler,
            keys,
        } = &mut *state;
        if let Some(sampler) = sampler {
            match sampler.decide_at(level, event.span().as_ref(), Instant::now()) {
                Decision::Keep => {}
                Decision::SampledOut => {
                    bump(&inner.counters.sampled_out, 1);
                    return;
                }
                Decision::RateLimited => {
                    bump(&inner.counters.rate_limited, 1);
                    return;
                }
                Decision::UrgentRateLimited => {
                    bump(&inner.counters.urgent_rate_limited, 1);
                    return;
                }
            }
        }
        line.clear();
        let redactions = inner.formatter.write(line, keys, event, level);
        line.push(b'\n');
        if redactions > 0 {
            bump(&inner.counters.redactions, redactions);
        }
        match output.write_line(line) {
            Ok(()) => {
                bump(&inner.counters.lines, 1);
                bump(&inner.counters.bytes, line.len() as u64);
            }
            Err(_) => bump(&inner.counters.write_errors, 1),
        }
        if inner.flush_every_line {
            if output.flush().is_err() {
                bump(&inner.counters.write_errors, 1);
            }
        } else {
            inner.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Pushes buffered bytes to the sink now. Does not wait for queued events: see
    /// [`LogHandle::flush`], which does (and returns by a deadline).
    pub fn flush(&self) -> std::io::Result<()> {
        self.inner.flush_output()
    }

    /// The counters so far (`queue_dropped` is 0 here; [`LogHandle::stats`] fills it in).
    pub fn stats(&self) -> LogStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LogStats {
            lines: get(&c.lines),
            bytes: get(&c.bytes),
            filtered: get(&c.filtered),
            sampled_out: get(&c.sampled_out),
            rate_limited: get(&c.rate_limited),
            urgent_rate_limited: get(&c.urgent_rate_limited),
            redactions: get(&c.redactions),
            write_errors: get(&c.write_errors),
            queue_dropped: 0,
        }
    }
}

impl Handler for Logger {
    fn handle(&self, event: &Event<'_>) {
        self.log(event);
    }

    /// Only the names its level rules let through ([`LevelRules::may_want`]): an event the
    /// level discards by name is never delivered, so it never takes a queue slot a line to be
    /// written needs (the bus asks once per name, not per event); plain events nobody
    /// classified are delivered, since their own `event.severity` may raise them.
    fn wants(&self, name: EventName) -> bool {
        self.inner.rules.may_want(name, self.inner.min_level)
    }

    /// Pushes the buffered bytes to the sink (the bus drained the queue first).
    fn flush(&self, _deadline: std::time::Instant) -> Result<(), LifecycleError> {
        self.inner
            .flush_output()
            .map_err(|e| LifecycleError::Failed(format!("flushing the log sink: {e}")))
    }

    /// Flushes: the sink itself is closed when the last handle to the logger is dropped.
    fn shutdown(&self, deadline: std::time::Instant) -> Result<(), LifecycleError> {
        Handler::flush(self, deadline)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; stay usable regardless.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush_output(&self) -> std::io::Result<()> {
        self.dirty.store(false, Ordering::Relaxed);
        let result = self.lock().output.flush();
        if result.is_err() {
            bump(&self.counters.write_errors, 1);
        }
        result
    }
}

/// Flushes `inner` every `interval` while it is dirty; exits once the logger is dropped.
fn spawn_flusher(inner: Weak<Inner>, interval: Duration) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("llm-telemetry-log-flush".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                if inner.dirty.load(Ordering::Relaxed) {
                    let _ = inner.flush_output();
                }
            }
        })
        .map(|_| ())
}

/// What [`LoggerBuilder::attach`] returns: stats, flush and detach for the attached logger, the
/// shape every handler crate shares.
///
/// Dropping the handle leaves the logger attached (and flushes its buffer).
#[derive(Debug)]
pub struct LogHandle {
    logger: Logger,
    attachment: Attachment,
}

impl LogHandle {
    /// The handler id the logger is attached under.
    pub fn id(&self) -> &str {
        self.attachment.id()
    }

    /// The logger itself.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// Waits until the logger's queue has delivered every event emitted before the call, then
    /// pushes the buffered bytes to the sink, by `deadline` (an `Instant`, or a `Duration` from
    /// now). A queue that does not drain in time (a sink that blocks) is
    /// [`LifecycleError::DeadlinePassed`] with the events still queued (the background flush
    /// pushes what the worker writes later); a sink that refuses the bytes is
    /// [`LifecycleError::Failed`]; a detached logger is [`LifecycleError::AlreadyShutDown`].
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        self.attachment.flush(deadline.into())
    }

    /// The logger's counters, with the queue drops the bus counted for it.
    pub fn stats(&self) -> LogStats {
        LogStats {
            queue_dropped: self.attachment.dropped(),
            ..self.logger.stats()
        }
    }

    /// Detaches the logger, lets its queue deliver what it holds and flushes the buffer, all by
    /// `deadline` (an `Instant`, or a `Duration` from now). [`LogHandle::stats`] stays
    /// readable, frozen as of the detach. A second call is [`LifecycleError::AlreadyShutDown`].
    ///
    /// Takes `&self`, as every handler handle of the workspace does (`OtelHandler`,
    /// `PrometheusReporter`, `CostTracker`, `TracingBridge`): the handle outlives the detach, so
    /// its frozen stats can still be read, and a handle that is shared (behind an `Arc`, or held
    /// inside the facade's `Telemetry`) can be detached without being moved out.
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        self.attachment.detach(deadline.into())
    }
}

impl Drop for LogHandle {
    fn drop(&mut self) {
        let _ = self.logger.flush();
    }
}

/// Configures a [`Logger`]; see each method for its default.
pub struct LoggerBuilder {
    id: String,
    format: Format,
    min_level: Level,
    rules: LevelRules,
    filters: Vec<String>,
    sink: Option<Sink>,
    redactor: Redactor,
    sample_rate: f64,
    max_per_second: Option<u32>,
    max_urgent_per_second: Option<u32>,
    globals: Vec<(String, String)>,
    colour: ColorChoice,
    flush_every_line: Option<bool>,
    delivery: Delivery,
    flush_interval: Duration,
    clock: Arc<dyn Clock>,
    error: Option<LogError>,
}

impl std::fmt::Debug for LoggerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerBuilder")
            .field("id", &self.id)
            .field("format", &self.format)
            .field("min_level", &self.min_level)
            .field("filters", &self.filters)
            .field("sink", &self.sink)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl Default for LoggerBuilder {
    fn default() -> Self {
        Self {
            id: DEFAULT_HANDLER_ID.to_owned(),
            format: Format::Console,
            min_level: Level::Info,
            rules: LevelRules::default(),
            filters: Vec::new(),
            sink: None,
            redactor: Redactor::default(),
            sample_rate: 1.0,
            max_per_second: None,
            max_urgent_per_second: None,
            globals: Vec::new(),
            colour: ColorChoice::Auto,
            flush_every_line: None,
            delivery: Delivery::Queued {
                capacity: DEFAULT_QUEUE_CAPACITY,
            },
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            clock: Arc::new(SystemClock),
            error: None,
        }
    }
}

impl LoggerBuilder {
    fn fail(mut self, error: LogError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// The handler id on the bus (default [`DEFAULT_HANDLER_ID`]); give each logger its own.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The line format (default [`Format::Console`]).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Shorthand for `format(Format::Json)`.
    pub fn json(self) -> Self {
        self.format(Format::Json)
    }

    /// Shorthand for `format(Format::Console)`.
    pub fn console(self) -> Self {
        self.format(Format::Console)
    }

    /// The least important level written (default `info`).
    pub fn level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Gives events named `name_or_prefix`, or under it, the level `level` (see [`LevelRules`]).
    pub fn level_for(mut self, name_or_prefix: &str, level: Level) -> Self {
        match self.rules.set(name_or_prefix, level) {
            Ok(()) => self,
            Err(e) => self.fail(e),
        }
    }

    /// Replaces the level rules wholesale.
    pub fn level_rules(mut self, rules: LevelRules) -> Self {
        self.rules = rules;
        self
    }

    /// Logs only events named `prefix` or under it (`"llm"` covers `llm.chat.stop`); call again
    /// to add more. Filtering happens at attach, so other events never reach the logger.
    pub fn prefix(mut self, prefix: &str) -> Self {
        match validate_event_name(prefix) {
            Ok(()) => {
                self.filters.push(prefix.to_owned());
                self.filters.push(format!("{prefix}.*"));
                self
            }
            Err(e) => self.fail(LogError::InvalidEventFilter {
                filter: prefix.to_owned(),
                source: llm_telemetry_core::PatternError::Invalid {
                    pattern: prefix.to_owned(),
                    reason: e.to_string(),
                },
            }),
        }
    }

    /// Logs only events matching a bus pattern (`"llm.*.stop"`, `"cache.*"`); call again to add.
    pub fn pattern(mut self, pattern: &str) -> Self {
        match Pattern::parse(pattern) {
            Ok(_) => {
                self.filters.push(pattern.to_owned());
                self
            }
            Err(source) => self.fail(LogError::InvalidEventFilter {
                filter: pattern.to_owned(),
                source,
            }),
        }
    }

    /// Where lines go (default [`Sink::stderr`]).
    pub fn sink(mut self, sink: Sink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The redaction rules (default [`Redactor::default`]).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Keeps this share of traces, 0.0 to 1.0 (default 1.0); see [`crate::sample`].
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = rate;
        self
    }

    /// Writes at most this many lines per second (default: no limit); see [`crate::sample`].
    /// Warnings and errors are exempt and have their own limit
    /// ([`LoggerBuilder::max_urgent_lines_per_second`]).
    pub fn max_lines_per_second(mut self, max: u32) -> Self {
        self.max_per_second = Some(max);
        self
    }

    /// With [`LoggerBuilder::max_lines_per_second`], the warnings' and errors' own limit
    /// (default 10× that limit, at least 100); see [`crate::sample`].
    pub fn max_urgent_lines_per_second(mut self, max: u32) -> Self {
        self.max_urgent_per_second = Some(max);
        self
    }

    /// Adds `service` to every line.
    pub fn service(self, name: impl Into<String>) -> Self {
        self.global_field("service", name)
    }

    /// Adds `environment` to every line.
    pub fn environment(self, name: impl Into<String>) -> Self {
        self.global_field("environment", name)
    }

    /// Adds `version` to every line.
    pub fn version(self, version: impl Into<String>) -> Self {
        self.global_field("version", version)
    }

    /// Adds a field to every line (top level in JSON, at the end on the console). Setting a name
    /// again replaces its value; the fixed JSON field names are refused.
    pub fn global_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if name.is_empty() || RESERVED_FIELDS.contains(&name.as_str()) {
            return self.fail(LogError::ReservedGlobalField { name });
        }
        let value = value.into();
        match self.globals.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.globals.push((name, value)),
        }
        self
    }

    /// Console colours (default [`ColorChoice::Auto`]: on for a terminal unless `NO_COLOR`).
    pub fn color(mut self, choice: ColorChoice) -> Self {
        self.colour = choice;
        self
    }

    /// Flushes after every line (default: only when the sink is a terminal).
    pub fn flush_every_line(mut self, every_line: bool) -> Self {
        self.flush_every_line = Some(every_line);
        self
    }

    /// How the bus delivers events (default queued, [`DEFAULT_QUEUE_CAPACITY`] events). Inline
    /// delivery writes on the emitting thread: use it only with a sink that never blocks.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// How often buffered output is flushed in the background (default
    /// [`DEFAULT_FLUSH_INTERVAL`]); `Duration::ZERO` turns the background flush off.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// The clock for events without an exact time of their own (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the logger (opens the sink, starts the background flush) without attaching it,
    /// to call [`Logger::log`] directly. The logger handles whatever it is given:
    /// [`Self::prefix`] and [`Self::pattern`] apply only through [`Self::attach`], where they
    /// become the attach patterns; level filtering and sampling always apply.
    pub fn build(self) -> Result<Logger, LogError> {
        self.build_parts().map(|(logger, _, _, _)| logger)
    }

    #[allow(clippy::type_complexity)]
    fn build_parts(self) -> Result<(Logger, String, Vec<String>, Delivery), LogError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut sampler = Sampler::new(self.sample_rate, self.max_per_second)?;
        if let Some(max) = self.max_urgent_per_second {
            sampler = sampler.urgent_limit(max)?;
        }
        let output = self.sink.unwrap_or_else(Sink::stderr).open()?;
        let terminal = output.is_terminal();
        let colour = self.format == Format::Console && self.colour.resolve(terminal);
        let inner = Arc::new(Inner {
            formatter: Formatter {
                format: self.format,
                redactor: self.redactor,
                globals: self.globals,
                colour,
                clock: self.clock,
            },
            min_level: self.min_level,
            rules: self.rules,
            flush_every_line: self.flush_every_line.unwrap_or(terminal),
            state: Mutex::new(State {
                output,
                line: Vec::with_capacity(512),
                sampler: (!sampler.keeps_everything()).then_some(sampler),
                keys: KeyCache::default(),
            }),
            dirty: AtomicBool::new(false),
            counters: Counters::default(),
        });
        if !self.flush_interval.is_zero() {
            spawn_flusher(Arc::downgrade(&inner), self.flush_interval).map_err(|e| {
                LogError::FlushThread {
                    reason: e.to_string(),
                }
            })?;
        }
        let filters = if self.filters.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.filters
        };
        Ok((Logger { inner }, self.id, filters, self.delivery))
    }

    /// Builds the logger and attaches it to `bus`: the shape every handler crate shares
    /// (`Builder → attach(&bus) → handle` with `stats`, `flush` and `detach`).
    pub fn attach(self, bus: &Bus) -> Result<LogHandle, LogError> {
        let (logger, id, filters, delivery) = self.build_parts()?;
        let patterns: Vec<&str> = filters.iter().map(String::as_str).collect();
        bus.attach_with(id.clone(), &patterns, logger.clone(), delivery)?;
        Ok(LogHandle {
            logger,
            attachment: Attachment::new(bus.clone(), id),
        })
    }
}

/// Attaches the default console logger to `bus`: every event at `level` or above, to stderr,
/// coloured on a terminal unless `NO_COLOR` is set, written on the queued lane.
///
/// ```
/// use llm_telemetry_core::Bus;
/// use llm_telemetry_log::{Level, attach_default_logger};
/// let bus = Bus::new();
/// let logger = attach_default_logger(&bus, Level::Info).unwrap();
/// # logger.flush(std::time::Duration::from_secs(5)).unwrap();
/// ```
///
/// For a prefix, JSON, a file, sampling or redaction options, use [`Logger::builder`].
pub fn attach_default_logger(bus: &Bus, level: Level) -> Result<LogHandle, LogError> {
    Logger::builder().level(level).attach(bus)
}
