//! The bus: attach, detach, list, execute, flush, shutdown, stats.
//!
//! The dispatch table is an immutable snapshot ([`arc_swap::ArcSwap`]) that attach and detach
//! replace under a writer lock; `execute` only reads it. In front of the table sits a per-name
//! interest cache, one byte per registered event name, so an emit nobody listens to costs one load
//! and one branch (the `tracing-core` callsite idea, keyed by the interned name id instead of a
//! callsite). A name first seen after the last attach is resolved once on a cold path.
//!
//! Inline handlers run on the emitting thread inside `catch_unwind`; queued handlers get one shared
//! `Arc<OwnedEvent>` pushed on their [`crate::queue`] lane. A handler that panics is detached
//! everywhere and `telemetry.handler.failure` is emitted. Handlers may emit events; nesting deeper
//! than [`MAX_DEPTH`] is dropped and counted.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use smallvec::SmallVec;

use crate::catalog;
use crate::context::{self, SpanContext};
use crate::error::{AttachError, DetachError, PatternError};
use crate::event::{Event, Measurements, Metadata, OwnedEvent, Value};
use crate::handler::{Delivery, Handler, HandlerInfo};
use crate::name::{EventName, MAX_EVENT_NAMES, Pattern, registered_names};
use crate::queue::Lane;
use crate::stats::{BusCounters, BusStats, HandlerCounters, HandlerStats, QueueStats, bump};

/// How deep handlers may nest emits (a handler emitting an event whose handler emits, …).
pub const MAX_DEPTH: u8 = 8;

/// How many handlers detached after a failure `stats()` keeps reporting.
const RETIRED_KEPT: usize = 64;

const INTEREST_UNKNOWN: u8 = 0;
const INTEREST_NONE: u8 = 1;
const INTEREST_SOME: u8 = 2;

thread_local! {
    /// The nesting depth of the handler running on this thread (0 = instrumented code).
    static DEPTH: Cell<u8> = const { Cell::new(0) };
}

/// An event bus. Cheap to clone (a shared handle); [`Bus::global`] is the process-wide default.
///
/// ```
/// use llm_telemetry::{Bus, Delivery, Value};
/// let bus = Bus::new();
/// bus.attach("print", "llm.*", |e: &llm_telemetry::Event<'_>| println!("{}", e.name()), Delivery::Inline).unwrap();
/// bus.execute(&llm_telemetry::catalog::LLM_CHAT_STOP, &[("duration", 1.5e6)], &[("gen_ai.request.model", Value::Str("gpt-4o"))]);
/// ```
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

pub(crate) struct HandlerEntry {
    id: Arc<str>,
    patterns: Vec<Pattern>,
    handler: Box<dyn Handler>,
    delivery: Delivery,
    counters: HandlerCounters,
    lane: Option<Arc<Lane>>,
    /// Set once, when the handler is detached after a failure.
    failed: std::sync::atomic::AtomicBool,
}

struct Dispatch {
    handlers: Box<[Arc<HandlerEntry>]>,
    queued: usize,
}

struct Table {
    entries: Vec<Arc<HandlerEntry>>,
    /// Indexed by name id; covers the names registered when the table was built.
    by_name: Vec<Dispatch>,
}

struct Writer {
    retired: Vec<Arc<HandlerEntry>>,
    shut_down: bool,
}

struct BusInner {
    interest: Box<[AtomicU8]>,
    table: ArcSwap<Table>,
    writer: Mutex<Writer>,
    counters: BusCounters,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.inner.table.load();
        f.debug_struct("Bus")
            .field(
                "handlers",
                &table.entries.iter().map(|e| &*e.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Bus {
    /// A new, empty bus, independent of every other (for isolation and tests).
    pub fn new() -> Self {
        let interest = (0..MAX_EVENT_NAMES)
            .map(|_| AtomicU8::new(INTEREST_UNKNOWN))
            .collect();
        Self {
            inner: Arc::new(BusInner {
                interest,
                table: ArcSwap::from_pointee(Table {
                    entries: Vec::new(),
                    by_name: Vec::new(),
                }),
                writer: Mutex::new(Writer {
                    retired: Vec::new(),
                    shut_down: false,
                }),
                counters: BusCounters::default(),
            }),
        }
    }

    /// The process-wide default bus.
    pub fn global() -> &'static Bus {
        static GLOBAL: OnceLock<Bus> = OnceLock::new();
        GLOBAL.get_or_init(Bus::new)
    }

    /// Attaches `handler` under `id` to one event name or pattern (see [`Pattern`]).
    ///
    /// A duplicate id is [`AttachError::AlreadyExists`].
    pub fn attach(
        &self,
        id: impl Into<String>,
        pattern: &str,
        handler: impl Handler,
        delivery: Delivery,
    ) -> Result<(), AttachError> {
        self.attach_many(id, &[pattern], handler, delivery)
    }

    /// Attaches `handler` under `id` to several event names or patterns at once.
    pub fn attach_many(
        &self,
        id: impl Into<String>,
        patterns: &[&str],
        handler: impl Handler,
        delivery: Delivery,
    ) -> Result<(), AttachError> {
        let id: String = id.into();
        if patterns.is_empty() {
            return Err(PatternError::NoPatterns { handler_id: id }.into());
        }
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let lane = match delivery {
            Delivery::Inline => None,
            Delivery::Queued { capacity: 0 } => {
                return Err(AttachError::ZeroCapacity { handler_id: id });
            }
            Delivery::Queued { capacity } => Some(Arc::new(Lane::new(capacity))),
        };
        let mut writer = self.inner.lock_writer();
        if writer.shut_down {
            return Err(AttachError::ShutDown { handler_id: id });
        }
        let current = self.inner.table.load_full();
        if current.entries.iter().any(|e| *e.id == *id) {
            return Err(AttachError::AlreadyExists(id));
        }
        let entry = Arc::new(HandlerEntry {
            id: Arc::from(id.as_str()),
            patterns,
            handler: Box::new(handler),
            delivery,
            counters: HandlerCounters::default(),
            lane,
            failed: std::sync::atomic::AtomicBool::new(false),
        });
        if let Some(lane) = &entry.lane {
            self.start_worker(&entry, lane)
                .map_err(|e| AttachError::Worker {
                    handler_id: id.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut entries = current.entries.clone();
        entries.push(entry);
        self.inner.publish(entries, &mut writer);
        Ok(())
    }

    fn start_worker(&self, entry: &Arc<HandlerEntry>, lane: &Arc<Lane>) -> std::io::Result<()> {
        let weak = Arc::downgrade(&self.inner);
        let for_deliver = Arc::clone(entry);
        let for_abandon = Arc::clone(entry);
        let mut name: String = format!("telemetry:{}", entry.id);
        name.truncate(63);
        lane.start(
            name,
            move |event| deliver_queued(&weak, &for_deliver, event),
            move |abandoned| bump(&for_abandon.counters.dropped, abandoned),
        )
    }

    /// Detaches the handler `id` from every event. An unknown id is [`DetachError::NotFound`].
    ///
    /// A queued handler's worker delivers what is already queued, then exits.
    pub fn detach(&self, id: &str) -> Result<(), DetachError> {
        self.inner.detach(id).map(|_| ())
    }

    /// The attached handlers with any pattern that can match a name under `prefix`
    /// (`""` lists all), in attach order.
    pub fn list_handlers(&self, prefix: &str) -> Vec<HandlerInfo> {
        let prefix: Vec<&str> = prefix.split('.').filter(|s| !s.is_empty()).collect();
        self.inner
            .table
            .load()
            .entries
            .iter()
            .filter(|e| e.patterns.iter().any(|p| p.overlaps_prefix(&prefix)))
            .map(|e| HandlerInfo {
                id: e.id.to_string(),
                patterns: e.patterns.iter().map(|p| p.as_str().to_owned()).collect(),
                delivery: e.delivery,
            })
            .collect()
    }

    /// Whether any handler listens to `name` (one load when the answer is cached).
    #[inline(always)]
    pub fn is_listening<N: Into<EventName>>(&self, name: N) -> bool {
        let name = name.into();
        match self.inner.interest[name.id()].load(Ordering::Relaxed) {
            INTEREST_NONE => false,
            INTEREST_SOME => true,
            _ => self.inner.resolve_interest(name),
        }
    }

    /// Emits one event to every handler attached to `name`. The current span's context, if any,
    /// travels with it. Costs one load and one branch when nobody listens.
    #[inline(always)]
    pub fn execute<N: Into<EventName>>(
        &self,
        name: N,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
    ) {
        let name = name.into();
        if self.inner.interest[name.id()].load(Ordering::Relaxed) == INTEREST_NONE {
            return;
        }
        self.inner
            .dispatch(name, measurements, metadata, Span::Current);
    }

    /// Like [`Bus::execute`], with an explicit span context instead of the current one.
    #[inline(always)]
    pub fn execute_in_span<N: Into<EventName>>(
        &self,
        name: N,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Option<SpanContext>,
    ) {
        let name = name.into();
        if self.inner.interest[name.id()].load(Ordering::Relaxed) == INTEREST_NONE {
            return;
        }
        self.inner
            .dispatch(name, measurements, metadata, Span::Explicit(span));
    }

    /// Waits until every queued handler has handled everything queued before the call.
    /// Returns false if `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let lanes: Vec<Arc<Lane>> = self
            .inner
            .table
            .load()
            .entries
            .iter()
            .filter_map(|e| e.lane.clone())
            .collect();
        for lane in lanes {
            let mut spins = 0u32;
            while !lane.is_drained() {
                if Instant::now() >= deadline {
                    return false;
                }
                lane.wake();
                if spins < 64 {
                    std::thread::yield_now();
                    spins += 1;
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        true
    }

    /// Flushes (up to `timeout`), then stops every queued handler's worker. Inline handlers keep
    /// working; queued ones receive nothing more (later events are counted as dropped), and no new
    /// handler can be attached. Returns whether the flush finished in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        let lanes: Vec<Arc<Lane>> = {
            let mut writer = self.inner.lock_writer();
            writer.shut_down = true;
            self.inner
                .table
                .load()
                .entries
                .iter()
                .filter_map(|e| e.lane.clone())
                .collect()
        };
        for lane in &lanes {
            lane.close();
        }
        if flushed {
            for lane in &lanes {
                lane.join();
            }
        }
        flushed
    }

    /// A snapshot of every counter: per handler delivered, dropped and failed, queue depths, and
    /// the bus's own drops.
    pub fn stats(&self) -> BusStats {
        let writer = self.inner.lock_writer();
        let table = self.inner.table.load();
        let handler_stats = |e: &Arc<HandlerEntry>, attached: bool| HandlerStats {
            id: e.id.to_string(),
            delivery: e.delivery,
            attached,
            delivered: HandlerCounters::get(&e.counters.delivered),
            dropped: HandlerCounters::get(&e.counters.dropped),
            failed: HandlerCounters::get(&e.counters.failed),
            queue: e.lane.as_ref().map(|l| QueueStats {
                depth: l.depth(),
                capacity: l.capacity(),
            }),
        };
        let mut handlers: Vec<HandlerStats> =
            table.entries.iter().map(|e| handler_stats(e, true)).collect();
        handlers.extend(writer.retired.iter().map(|e| handler_stats(e, false)));
        let c = &self.inner.counters;
        BusStats {
            handlers,
            non_finite_measurements: HandlerCounters::get(&c.non_finite_measurements),
            depth_exceeded: HandlerCounters::get(&c.depth_exceeded),
            handler_failures: HandlerCounters::get(&c.handler_failures),
        }
    }
}

/// Where the span context of a dispatched event comes from.
#[derive(Clone, Copy)]
enum Span {
    Current,
    Explicit(Option<SpanContext>),
}

impl BusInner {
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A panic never happens while the lock is held (handlers run outside it), but stay usable.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Builds and publishes a table for `entries` over every registered name, then refreshes the
    /// interest cache. Called with the writer lock held.
    fn publish(&self, entries: Vec<Arc<HandlerEntry>>, _writer: &mut MutexGuard<'_, Writer>) {
        let names = registered_names();
        let by_name: Vec<Dispatch> = names
            .iter()
            .map(|name| {
                let handlers: Box<[Arc<HandlerEntry>]> = entries
                    .iter()
                    .filter(|e| e.patterns.iter().any(|p| p.matches(name)))
                    .cloned()
                    .collect();
                let queued = handlers.iter().filter(|e| e.lane.is_some()).count();
                Dispatch { handlers, queued }
            })
            .collect();
        let interest: Vec<u8> = by_name
            .iter()
            .map(|d| {
                if d.handlers.is_empty() {
                    INTEREST_NONE
                } else {
                    INTEREST_SOME
                }
            })
            .collect();
        // Table first, interest second: a reader that sees the new interest sees the new table.
        self.table.store(Arc::new(Table { entries, by_name }));
        for (id, value) in interest.into_iter().enumerate() {
            self.interest[id].store(value, Ordering::Release);
        }
    }

    /// Cold path: the first emit of a name registered after the last table was built.
    #[cold]
    #[inline(never)]
    fn resolve_interest(&self, name: EventName) -> bool {
        let mut writer = self.lock_writer();
        let table = self.table.load_full();
        if name.id() >= table.by_name.len() {
            self.publish(table.entries.clone(), &mut writer);
        }
        self.interest[name.id()].load(Ordering::Acquire) == INTEREST_SOME
    }

    fn detach(&self, id: &str) -> Result<Arc<HandlerEntry>, DetachError> {
        let mut writer = self.lock_writer();
        let current = self.table.load_full();
        let Some(position) = current.entries.iter().position(|e| &*e.id == id) else {
            return Err(DetachError::NotFound(id.to_owned()));
        };
        let mut entries = current.entries.clone();
        let entry = entries.remove(position);
        self.publish(entries, &mut writer);
        if let Some(lane) = &entry.lane {
            lane.close();
        }
        if entry.failed.load(Ordering::Relaxed) {
            if writer.retired.len() >= RETIRED_KEPT {
                writer.retired.remove(0);
            }
            writer.retired.push(Arc::clone(&entry));
        }
        Ok(entry)
    }

    #[inline(never)]
    fn dispatch(
        &self,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span,
    ) {
        if self.interest[name.id()].load(Ordering::Relaxed) == INTEREST_UNKNOWN
            && !self.resolve_interest(name)
        {
            return;
        }
        let depth = DEPTH.with(Cell::get);
        if depth >= MAX_DEPTH {
            bump(&self.counters.depth_exceeded, 1);
            return;
        }
        let table = self.table.load();
        let Some(dispatch) = table.by_name.get(name.id()) else {
            return;
        };
        if dispatch.handlers.is_empty() {
            return;
        }
        let filtered: SmallVec<[(&'static str, f64); 16]>;
        let measurements = if measurements.iter().all(|(_, v)| v.is_finite()) {
            measurements
        } else {
            filtered = measurements
                .iter()
                .copied()
                .filter(|(_, v)| v.is_finite())
                .collect();
            let removed = (measurements.len() - filtered.len()) as u64;
            bump(&self.counters.non_finite_measurements, removed);
            &filtered
        };
        let span = match span {
            Span::Current => context::current(),
            Span::Explicit(span) => span,
        };
        let event = Event::new(name, measurements, metadata, span);
        let _depth = DepthGuard::enter(depth + 1);
        let mut owned: Option<Arc<OwnedEvent>> = None;
        let mut queued_left = dispatch.queued;
        for entry in dispatch.handlers.iter() {
            match &entry.lane {
                None => self.call_inline(entry, &event),
                Some(lane) => {
                    queued_left -= 1;
                    let shared = owned
                        .get_or_insert_with(|| Arc::new(OwnedEvent::from_event(&event, depth)));
                    // The last queued handler takes the event itself: one refcount op fewer.
                    let event = if queued_left == 0 {
                        owned.take().unwrap_or_else(|| unreachable_arc(&event, depth))
                    } else {
                        Arc::clone(shared)
                    };
                    if !lane.push(event) {
                        bump(&entry.counters.dropped, 1);
                    }
                }
            }
        }
    }

    #[inline]
    fn call_inline(&self, entry: &HandlerEntry, event: &Event<'_>) {
        if entry.failed.load(Ordering::Relaxed) {
            return;
        }
        match catch_unwind(AssertUnwindSafe(|| entry.handler.handle(event))) {
            Ok(()) => bump(&entry.counters.delivered, 1),
            Err(payload) => self.handler_failed(entry, event.name(), &payload),
        }
    }

    /// Detaches a handler that panicked and emits `telemetry.handler.failure`.
    #[cold]
    fn handler_failed(&self, entry: &HandlerEntry, event: EventName, payload: &Box<dyn Any + Send>) {
        if entry.failed.swap(true, Ordering::SeqCst) {
            return;
        }
        bump(&entry.counters.failed, 1);
        bump(&self.counters.handler_failures, 1);
        let message = panic_message(payload);
        let _ = self.detach(&entry.id);
        self.dispatch(
            catalog::TELEMETRY_HANDLER_FAILURE.get(),
            &[],
            &[
                (catalog::keys::HANDLER_ID, Value::Str(&entry.id)),
                (catalog::keys::EVENT, Value::Str(event.as_str())),
                (catalog::keys::ERROR_KIND, Value::Str("panic")),
                (catalog::keys::ERROR, Value::Str(&message)),
            ],
            Span::Current,
        );
    }
}

/// Never called: `owned` was filled just above. Rebuilds the event rather than panicking.
#[cold]
fn unreachable_arc(event: &Event<'_>, depth: u8) -> Arc<OwnedEvent> {
    Arc::new(OwnedEvent::from_event(event, depth))
}

impl Drop for BusInner {
    fn drop(&mut self) {
        // Workers hold only a weak reference to the bus: tell them to finish and exit.
        for entry in &self.table.load().entries {
            if let Some(lane) = &entry.lane {
                lane.close();
            }
        }
    }
}

/// Delivers one queued event on a worker thread. Returns false if the handler panicked.
fn deliver_queued(bus: &Weak<BusInner>, entry: &HandlerEntry, event: &OwnedEvent) -> bool {
    if entry.failed.load(Ordering::Relaxed) {
        bump(&entry.counters.dropped, 1);
        return false;
    }
    let _depth = DepthGuard::enter(event.depth().saturating_add(1));
    let result = catch_unwind(AssertUnwindSafe(|| {
        event.with_event(|e| entry.handler.handle(e))
    }));
    match result {
        Ok(()) => {
            bump(&entry.counters.delivered, 1);
            true
        }
        Err(payload) => {
            match bus.upgrade() {
                Some(bus) => bus.handler_failed(entry, event.name(), &payload),
                None => {
                    entry.failed.store(true, Ordering::SeqCst);
                    bump(&entry.counters.failed, 1);
                }
            }
            false
        }
    }
}

struct DepthGuard {
    previous: u8,
}

impl DepthGuard {
    fn enter(depth: u8) -> Self {
        Self {
            previous: DEPTH.with(|d| d.replace(depth)),
        }
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(self.previous));
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
