//! The bus: attach, detach, list, execute, flush, shutdown, stats.
//!
//! The dispatch table (`table.rs`) is an immutable snapshot of the routes that attach and detach
//! change under a writer lock, bumping a generation counter; `execute` only reads it, through a
//! per-thread cache of the snapshot keyed by that generation (see `snapshot.rs`): one atomic load
//! and no atomic read-modify-write, where `arc-swap` would pay two or three. An attach touches only
//! the names its patterns match, and the snapshot is built once, by the first emit after a change. In front of the table sits a
//! per-name interest cache, one byte per registered event name, so an emit nobody listens to costs
//! one load and one branch (the `tracing-core` callsite idea, keyed by the interned name id instead
//! of a callsite). A name first seen after the last attach is resolved once on a cold path. The
//! global bus adds one process-wide flag, so `llm_telemetry_core::execute` with no handler attached
//! anywhere costs a single load, like a `tracing` macro with no subscriber.
//!
//! Inline handlers run on the emitting thread inside `catch_unwind`; a queued handler gets a copy
//! of the event as a record in its lane's byte ring (`queue.rs`, `ring.rs`). A handler that
//! panics is detached everywhere and `telemetry.handler.failure` is emitted; its panic payload is
//! dropped where it was caught, and a payload whose destructor panics too never unwinds into the
//! emitter or the worker. Handlers may emit events; nesting deeper than [`MAX_DEPTH`] is dropped
//! and counted.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::catalog;
use crate::context::{SpanContext, monotonic_now, unix_nanos_at_monotonic};
use crate::error::{AttachError, DetachError, PatternError};
use crate::event::{Event, Measurements, Metadata, Value};
use crate::handler::{Delivery, Handler, HandlerInfo};
use crate::lifecycle::{Deadline, LifecycleError, LifecycleReport, Unfinished};
use crate::name::{EventName, MAX_EVENT_NAMES};
use crate::nesting::{self, DepthGuard, Frame};
use crate::patterns::IntoPatterns;
use crate::queue::Lane;
use crate::snapshot;
use crate::stats::{BusCounters, BusStats, HandlerCounters, HandlerStats, QueueStats, bump};
use crate::table::{
    CountRegistry, HandlerEntry, IN_SPAN_ONLY, InterestChanges, Routes, Table, ThreadCounts,
};

pub use crate::nesting::MAX_DEPTH;

/// Whether the global bus has any handler attached (one relaxed load): what `emit!` and the free
/// functions check first.
#[inline(always)]
pub fn global_is_active() -> bool {
    GLOBAL_ACTIVE.load(Ordering::Relaxed)
}

/// How long `shutdown` waits, after its deadline, for the workers of lanes it discarded to count
/// what they dropped.
const DISCARD_GRACE: Duration = Duration::from_secs(1);

/// How many handlers detached after a failure `stats()` keeps reporting.
const RETIRED_KEPT: usize = 64;

const INTEREST_UNKNOWN: u8 = 0;
const INTEREST_NONE: u8 = 1;
const INTEREST_SOME: u8 = 2;

/// An event bus. Cheap to clone (a shared handle); [`Bus::global`] is the process-wide default.
///
/// ```
/// use llm_telemetry_core::{Bus, StaticEventName, measurements, metadata};
/// static STOP: StaticEventName = StaticEventName::new("llm.chat.stop");
/// let bus = Bus::new();
/// bus.attach("print", "llm.*", |e| println!("{}", e.name())).unwrap();
/// bus.execute(&STOP, measurements!["duration" => 1.5e6], metadata!["gen_ai.request.model" => "gpt-4o"]);
/// ```
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct Writer {
    routes: Routes,
    retired: Vec<Arc<HandlerEntry>>,
    shut_down: bool,
}

pub(crate) struct BusInner {
    /// Unique for the process's lifetime (never reused, unlike an address).
    pub(crate) id: u64,
    /// Bumped each time a table is published.
    pub(crate) generation: AtomicU64,
    /// Any handler attached at all (checked first by the global bus's fast path).
    active: AtomicBool,
    is_global: bool,
    /// Inline in the bus (not boxed): `execute` reaches it with one pointer hop.
    interest: [AtomicU8; MAX_EVENT_NAMES],
    writer: Mutex<Writer>,
    counters: BusCounters,
    registry: Arc<CountRegistry>,
}

/// True while the global bus has at least one handler: `llm_telemetry_core::execute` checks only this
/// when nothing is attached.
static GLOBAL_ACTIVE: AtomicBool = AtomicBool::new(false);
static NEXT_BUS_ID: AtomicU64 = AtomicU64::new(1);

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.inner.current_table();
        f.debug_struct("Bus")
            .field(
                "handlers",
                &table.entries().map(|e| &*e.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Bus {
    /// A new, empty bus, independent of every other (for isolation and tests).
    pub fn new() -> Self {
        Self::with_global_flag(false)
    }

    fn with_global_flag(is_global: bool) -> Self {
        let interest = [const { AtomicU8::new(INTEREST_UNKNOWN) }; MAX_EVENT_NAMES];
        let registry = Arc::new(CountRegistry::default());
        Self {
            inner: Arc::new(BusInner {
                id: NEXT_BUS_ID.fetch_add(1, Ordering::Relaxed),
                generation: AtomicU64::new(0),
                active: AtomicBool::new(false),
                is_global,
                interest,
                writer: Mutex::new(Writer {
                    routes: Routes::new(Arc::new(Table::empty(Arc::clone(&registry)))),
                    retired: Vec::new(),
                    shut_down: false,
                }),
                counters: BusCounters::default(),
                registry,
            }),
        }
    }

    /// The process-wide default bus.
    pub fn global() -> &'static Bus {
        static GLOBAL: OnceLock<Bus> = OnceLock::new();
        GLOBAL.get_or_init(|| Bus::with_global_flag(true))
    }

    /// Attaches the closure `f` under `id` to one or more event names or patterns (anything
    /// [`IntoPatterns`]: `"llm.*.stop"`, `&catalog::LLM_CHAT_STOP`, `["a.*", "b.*"]`, …), called
    /// inline on the emitting thread, as in `:telemetry`. See [`Bus::attach_with`] for any other
    /// [`Handler`] or for queued delivery.
    ///
    /// A duplicate id is [`AttachError::AlreadyExists`]; an empty list of patterns is
    /// [`PatternError::NoPatterns`].
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticEventName};
    /// static STOP: StaticEventName = StaticEventName::new("llm.chat.stop");
    /// let bus = Bus::new();
    /// bus.attach("print", "llm.*", |e| println!("{}", e.name())).unwrap();
    /// bus.attach("stops", &STOP, |e| assert_eq!(e.name(), "llm.chat.stop")).unwrap();
    /// assert!(bus.attach("print", &STOP, |_| {}).is_err());
    /// ```
    pub fn attach<F>(
        &self,
        id: impl Into<String>,
        patterns: impl IntoPatterns,
        f: F,
    ) -> Result<(), AttachError>
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.attach_with(id, patterns, f, Delivery::Inline)
    }

    /// Attaches any [`Handler`] under `id` to one or more event names or patterns (see
    /// [`Bus::attach`]), delivered inline or on a queue ([`Delivery::queued`]).
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, Delivery, Event, Handler};
    /// struct Print;
    /// impl Handler for Print {
    ///     fn handle(&self, e: &Event<'_>) {
    ///         println!("{}", e.name());
    ///     }
    /// }
    /// let bus = Bus::new();
    /// bus.attach_with("print", ["llm.*", "cache.*"], Print, Delivery::queued()).unwrap();
    /// ```
    pub fn attach_with(
        &self,
        id: impl Into<String>,
        patterns: impl IntoPatterns,
        handler: impl Handler,
        delivery: Delivery,
    ) -> Result<(), AttachError> {
        let id: String = id.into();
        let patterns = patterns.into_patterns()?;
        if patterns.is_empty() {
            return Err(PatternError::NoPatterns { handler_id: id }.into());
        }
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
        if writer.routes.contains(&id) {
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
        let changes = writer.routes.insert(entry);
        self.inner.publish(&writer, changes);
        Ok(())
    }

    fn start_worker(&self, entry: &Arc<HandlerEntry>, lane: &Arc<Lane>) -> std::io::Result<()> {
        let weak = Arc::downgrade(&self.inner);
        let for_deliver = Arc::clone(entry);
        let for_count = Arc::clone(entry);
        let for_abandon = Arc::clone(entry);
        let mut name: String = format!("telemetry:{}", entry.id);
        name.truncate(63);
        lane.start(
            name,
            move |event, depth| deliver_queued(&weak, &for_deliver, event, depth),
            // The lane counts deliveries and publishes them in batches (see `Lane::start`).
            move |delivered| for_count.add_delivered(delivered),
            move |abandoned| bump(&for_abandon.counters.dropped, abandoned),
        )
    }

    /// Detaches the handler `id` from every event. An unknown id is [`DetachError::NotFound`].
    ///
    /// A queued handler's worker delivers what is already queued, then exits.
    pub fn detach(&self, id: &str) -> Result<(), DetachError> {
        self.inner.detach(id, false).map(|_| ())
    }

    /// The attached handlers with any pattern that can match a name under `prefix`
    /// (`""` lists all), in attach order.
    pub fn list_handlers(&self, prefix: &str) -> Vec<HandlerInfo> {
        let prefix: Vec<&str> = prefix.split('.').filter(|s| !s.is_empty()).collect();
        self.inner
            .current_table()
            .entries()
            .filter(|e| e.patterns.iter().any(|p| p.overlaps_prefix(&prefix)))
            .map(|e| HandlerInfo {
                id: e.id.to_string(),
                patterns: e.patterns.iter().map(|p| p.as_str().to_owned()).collect(),
                delivery: e.delivery,
            })
            .collect()
    }

    /// Whether any handler at all is attached (one load).
    #[inline(always)]
    pub fn has_handlers(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed)
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
        self.inner
            .emit(name.into(), measurements, metadata, Span::Current);
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
        let span = Span::Explicit(span.as_ref());
        self.inner.emit(name.into(), measurements, metadata, span);
    }

    /// Waits until every queued lane has delivered what it held at the call, then asks every
    /// handler to [`Handler::flush`] (in attach order), all by one `deadline` (an [`Instant`](std::time::Instant),
    /// or a [`Duration`] from now). The report names every handler that did not finish.
    pub fn flush(&self, deadline: impl Into<Deadline>) -> LifecycleReport {
        let deadline = deadline.into();
        let entries: Vec<_> = self.inner.current_table().entries().cloned().collect();
        let lanes_drained = drain_lanes(&entries, deadline);
        ask_each(entries.iter(), lanes_drained, |handler| {
            handler.flush(deadline.instant())
        })
    }

    /// Waits until every queued lane has delivered what it held at the call; false if
    /// `deadline` passed first. Handlers are not asked to flush (see [`Bus::flush`]).
    pub fn drain(&self, deadline: impl Into<Deadline>) -> bool {
        let entries: Vec<_> = self.inner.current_table().entries().cloned().collect();
        drain_lanes(&entries, deadline.into())
    }

    /// Ends every handler under one `deadline` (an [`Instant`](std::time::Instant), or a [`Duration`] from now;
    /// [`crate::DEFAULT_SHUTDOWN_TIMEOUT`] is 5 s):
    ///
    /// 1. no new handler can be attached;
    /// 2. the queued lanes deliver what they hold, until the deadline;
    /// 3. the lanes close: queued handlers receive nothing more (later events are counted as
    ///    dropped); a lane that did not drain by the deadline hands nothing more to its handler
    ///    and counts what it still holds as dropped, so no event is delivered after this
    ///    returns and every one is counted by then (its worker gets a short grace, up to 1 s, to
    ///    count once its handler let go); the workers of drained lanes are joined;
    /// 4. every handler's [`Handler::shutdown`] is called, in reverse attach order (the last
    ///    attached, which may depend on earlier ones, goes first), each given what is left of
    ///    the deadline; a panic there is caught and reported.
    ///
    /// Handlers stay in the table, so [`Bus::stats`] keeps reporting them; inline handlers
    /// are still called for later events, and decide themselves what a shut-down handler does
    /// with them. A second call shuts nothing down again and reports every handler as
    /// [`LifecycleError::AlreadyShutDown`].
    pub fn shutdown(&self, deadline: impl Into<Deadline>) -> LifecycleReport {
        let deadline = deadline.into();
        let (entries, already) = {
            let mut writer = self.inner.lock_writer();
            let already = writer.shut_down;
            writer.shut_down = true;
            (
                writer.routes.entries().cloned().collect::<Vec<_>>(),
                already,
            )
        };
        if already {
            return LifecycleReport {
                unfinished: entries
                    .iter()
                    .map(|e| Unfinished {
                        handler_id: e.id.to_string(),
                        error: LifecycleError::AlreadyShutDown,
                    })
                    .collect(),
                lanes_drained: true,
                handlers: entries.len(),
            };
        }
        let lanes_drained = drain_lanes(&entries, deadline);
        for lane in entries.iter().filter_map(|e| e.lane.as_ref()) {
            if lane.is_drained() {
                lane.close();
            } else {
                // The deadline passed with events still queued: they are counted as dropped,
                // not delivered after the shutdown returned.
                lane.close_discarding();
            }
        }
        for lane in entries.iter().filter_map(|e| e.lane.as_ref()) {
            // A lane that drained has a worker that is about to exit; one stuck in a handler
            // is left behind rather than holding the caller past its deadline.
            settle(lane, Instant::now());
        }
        let report = ask_each(entries.iter().rev(), lanes_drained, |handler| {
            handler.shutdown(deadline.instant())
        });
        // A handler that gave up at the deadline has let go of its lane's worker: give the
        // workers of discarded lanes a moment to count what they dropped, so the counts are
        // in `stats()` when this returns.
        let grace = Instant::now() + DISCARD_GRACE;
        for lane in entries.iter().filter_map(|e| e.lane.as_ref()) {
            settle(lane, grace);
        }
        report
    }

    /// Waits until handler `id`'s queued lane (if any) has delivered what it held, then calls
    /// its [`Handler::flush`], by `deadline`: what a handler crate's handle uses for its own
    /// `flush`. An unknown id is [`DetachError::NotFound`].
    pub fn flush_handler(
        &self,
        id: &str,
        deadline: impl Into<Deadline>,
    ) -> Result<Result<(), LifecycleError>, DetachError> {
        let deadline = deadline.into();
        let Some(entry) = self.inner.lock_writer().routes.get(id).cloned() else {
            return Err(DetachError::NotFound(id.to_owned()));
        };
        if !drain_lanes(std::slice::from_ref(&entry), deadline) {
            return Ok(Err(LifecycleError::DeadlinePassed {
                pending: entry.lane.as_ref().map_or(0, |l| l.depth() as u64),
            }));
        }
        Ok(guarded(|| entry.handler.flush(deadline.instant())))
    }

    /// Detaches handler `id`, lets its queued lane (if any) deliver what it held, and calls its
    /// [`Handler::shutdown`], all by `deadline`: what a handler crate's handle uses for its
    /// own `detach`. What the lane still holds at the deadline is counted as dropped before
    /// this returns, and [`Bus::stats`] keeps reporting the handler (as detached) with its
    /// final counts. An unknown id is [`DetachError::NotFound`].
    pub fn detach_and_shutdown(
        &self,
        id: &str,
        deadline: impl Into<Deadline>,
    ) -> Result<Result<(), LifecycleError>, DetachError> {
        let deadline = deadline.into();
        let entry = self.inner.detach(id, true)?;
        if let Some(lane) = &entry.lane {
            // `detach` closed the lane: its worker delivers what is queued, then exits.
            settle(lane, deadline.instant());
            if !lane.is_drained() {
                // What is still queued at the deadline is counted as dropped, not delivered
                // after this returns.
                lane.close_discarding();
            }
        }
        let result = guarded(|| entry.handler.shutdown(deadline.instant()));
        if let Some(lane) = &entry.lane {
            // As in `shutdown`: the handler let go of the worker; let it count the discarded.
            settle(lane, Instant::now() + DISCARD_GRACE);
        }
        Ok(result)
    }

    /// A snapshot of every counter: per handler delivered, dropped and failed, queue depths, and
    /// the bus's own drops.
    ///
    /// Inline handlers' `delivered` counts are kept per emitting thread (one writer each, no
    /// shared counter bumped per event) and added up here.
    pub fn stats(&self) -> BusStats {
        let writer = self.inner.lock_writer();
        let pending = self.inner.registry.pending();
        let handler_stats = |e: &Arc<HandlerEntry>, attached: bool| HandlerStats {
            id: e.id.to_string(),
            delivery: e.delivery,
            attached,
            delivered: HandlerCounters::get(&e.counters.delivered)
                + pending.get(&Arc::as_ptr(e)).copied().unwrap_or(0),
            dropped: HandlerCounters::get(&e.counters.dropped),
            failed: HandlerCounters::get(&e.counters.failed),
            queue: e.lane.as_ref().map(|l| QueueStats {
                depth: l.depth(),
                capacity: l.capacity(),
            }),
        };
        let mut handlers: Vec<HandlerStats> = writer
            .routes
            .entries()
            .map(|e| handler_stats(e, true))
            .collect();
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
enum Span<'s> {
    Current,
    Explicit(Option<&'s SpanContext>),
}

/// What `execute` was given, bundled for the cold paths (the hot path keeps the parts apart so
/// that the caller's constants fold into the inlined code).
#[derive(Clone, Copy)]
struct Emitted<'e> {
    name: EventName,
    measurements: Measurements<'e>,
    metadata: Metadata<'e>,
    span: Span<'e>,
}

impl BusInner {
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A panic never happens while the lock is held (handlers run outside it), but stay usable.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a change to the routes visible: the new generation first, then the interest of
    /// each name whose listeners went from none to some or back. Called with the writer lock
    /// held.
    fn publish(&self, writer: &MutexGuard<'_, Writer>, changes: InterestChanges) {
        // Generation first, interest second: a reader that sees the new interest also sees the
        // new generation, and so refreshes its cached table.
        self.generation
            .store(writer.routes.generation(), Ordering::Release);
        for (id, listening) in changes {
            let value = if listening {
                INTEREST_SOME
            } else {
                INTEREST_NONE
            };
            self.interest[id].store(value, Ordering::Release);
        }
        let any = writer.routes.any();
        self.active.store(any, Ordering::Release);
        if self.is_global {
            GLOBAL_ACTIVE.store(any, Ordering::Release);
        }
    }

    /// The authoritative table (takes the writer lock: not for the hot path; the per-thread
    /// cache adopts it from here).
    pub(crate) fn current_table(&self) -> Arc<Table> {
        self.lock_writer().routes.table()
    }

    /// Cold path: the first emit of a name registered after the last table was built.
    #[cold]
    #[inline(never)]
    fn resolve_interest(&self, name: EventName) -> bool {
        let mut writer = self.lock_writer();
        let changes = writer.routes.cover_new_names();
        if !changes.is_empty() {
            self.publish(&writer, changes);
        }
        self.interest[name.id()].load(Ordering::Acquire) == INTEREST_SOME
    }

    /// Detaches handler `id`. Its stats stay readable (as detached) when it failed, or when
    /// `keep_stats` asks for it (a handle's detach, whose lane may still count drops).
    fn detach(&self, id: &str, keep_stats: bool) -> Result<Arc<HandlerEntry>, DetachError> {
        let mut writer = self.lock_writer();
        let Some((entry, changes)) = writer.routes.remove(id) else {
            return Err(DetachError::NotFound(id.to_owned()));
        };
        self.publish(&writer, changes);
        if let Some(lane) = &entry.lane {
            lane.close();
        }
        if keep_stats || entry.failed.load(Ordering::Relaxed) {
            if writer.retired.len() >= RETIRED_KEPT {
                writer.retired.remove(0);
            }
            writer.retired.push(Arc::clone(&entry));
        }
        Ok(entry)
    }

    /// Cold path: the first emit of a name registered after the last table was built.
    #[cold]
    #[inline(never)]
    fn dispatch_unresolved(&self, emitted: Emitted<'_>) {
        if self.resolve_interest(emitted.name) {
            let Emitted {
                name,
                measurements,
                metadata,
                span,
            } = emitted;
            self.dispatch(name, measurements, metadata, span);
        }
    }

    /// One emit: nothing when nobody listens to `name` (one load, one branch).
    #[inline(always)]
    fn emit(
        &self,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span<'_>,
    ) {
        match self.interest[name.id()].load(Ordering::Relaxed) {
            INTEREST_SOME => self.dispatch(name, measurements, metadata, span),
            INTEREST_NONE => {}
            _ => self.dispatch_unresolved(Emitted {
                name,
                measurements,
                metadata,
                span,
            }),
        }
    }

    /// Delivers one event to the handlers of `name` (interest already known to be "some").
    ///
    /// Inlined into `execute`, like a `tracing` macro's expansion: the caller's constant
    /// arguments (which span, how many measurements) fold away and no call boundary shuffles
    /// seven arguments. That costs about 1 KiB of code per emit site; everything rare (first
    /// emit of a snapshot, NaN measurements, a panicking handler, a full queue) stays out of line.
    #[inline(always)]
    fn dispatch(
        &self,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span<'_>,
    ) {
        // One test of the thread's state word sends both rare cases (nested too deep, fields
        // bound on this thread) out of line: see `nesting.rs`.
        let state = nesting::state();
        if state & nesting::UNUSUAL != 0 {
            return self.dispatch_unusual(state, name, measurements, metadata, span);
        }
        self.dispatch_plain(state, name, measurements, metadata, span);
    }

    /// [`BusInner::dispatch`] when the thread's `state` is unusual: the event is dropped when
    /// handlers nested too deep; otherwise the fields bound on this thread ride ahead of the
    /// event's own metadata (which wins for a key both name), on the stack up to 32 entries.
    #[cold]
    #[inline(never)]
    fn dispatch_unusual(
        &self,
        state: u64,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span<'_>,
    ) {
        if nesting::too_deep(state) {
            bump(&self.counters.depth_exceeded, 1);
            return;
        }
        let Some(fields) = crate::bound::current_fields() else {
            return self.dispatch_plain(state, name, measurements, metadata, span);
        };
        let merged: SmallVec<[(&'static str, Value<'_>); 32]> = fields
            .iter()
            .map(|(key, value)| (*key, value.as_value()))
            .chain(metadata.iter().copied())
            .collect();
        self.dispatch_plain(state, name, measurements, &merged, span);
    }

    /// [`BusInner::dispatch`] with the metadata complete, at a depth below [`MAX_DEPTH`];
    /// `state` is the thread's state word as [`nesting::state`] read it just before.
    #[inline(always)]
    fn dispatch_plain(
        &self,
        state: u64,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span<'_>,
    ) {
        let depth = (state & nesting::DEPTH_MASK) as u8;
        // Inside a frame, a snapshot this thread cached stays valid even if a nested emit
        // replaces it (see `snapshot.rs`).
        let _frame = Frame::enter(state);
        let generation = self.generation.load(Ordering::Acquire);
        let (table, counts) = match snapshot::cached(self.id, generation) {
            Some(cached) => cached,
            None => match snapshot::adopt(self.id, || self.current_table()) {
                Some(cached) => cached,
                None => {
                    let emitted = Emitted {
                        name,
                        measurements,
                        metadata,
                        span,
                    };
                    return self.deliver_uncached(depth, emitted);
                }
            },
        };
        // SAFETY: both come from this thread's cache, and stay alive (in their slot or in the
        // graveyard) until the outermost frame ends, after `_frame` drops.
        let (table, counts) = unsafe { (&*table, &*counts) };
        self.deliver(
            table,
            Some(counts),
            depth,
            name,
            measurements,
            metadata,
            span,
        );
    }

    /// [`BusInner::dispatch`] on a thread that is exiting (its snapshot cache is gone): works
    /// from an owned snapshot.
    #[cold]
    #[inline(never)]
    fn deliver_uncached(&self, depth: u8, emitted: Emitted<'_>) {
        let table = self.current_table();
        let Emitted {
            name,
            measurements,
            metadata,
            span,
        } = emitted;
        self.deliver(&table, None, depth, name, measurements, metadata, span);
    }

    /// Runs the handlers of `name` in `table`. Inline deliveries are counted in `counts` (this
    /// thread's) when given, else straight into the handler's shared counter.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn deliver(
        &self,
        table: &Table,
        counts: Option<&ThreadCounts>,
        depth: u8,
        name: EventName,
        measurements: Measurements<'_>,
        metadata: Metadata<'_>,
        span: Span<'_>,
    ) {
        let Some(handlers) = table.subscribers(name.id()) else {
            return;
        };
        if !measurements.iter().all(|(_, v)| finite(*v)) {
            let emitted = Emitted {
                name,
                measurements,
                metadata,
                span,
            };
            return self.deliver_finite(table, counts, depth, emitted);
        }
        let event = match span {
            // Handlers run at `depth + 1`; the event reads the span current at dispatch only if
            // a handler asks (see `context::span_at`).
            Span::Current => Event::in_current_span(name, measurements, metadata, depth + 1),
            Span::Explicit(span) => Event::borrowing(name, measurements, metadata, span),
        };
        self.run_handlers(handlers, counts, &event, depth);
    }

    /// Hands `event` to each of `handlers`: inline ones are called here, queued ones get a copy
    /// on their lane.
    #[inline(always)]
    fn run_handlers(
        &self,
        handlers: &[(usize, Arc<HandlerEntry>)],
        counts: Option<&ThreadCounts>,
        event: &Event<'_>,
        depth: u8,
    ) {
        for (index, entry) in handlers.iter() {
            let mut index = *index;
            // A handler that takes this name only inside a span (see `table.rs`): one test of
            // the index already loaded; the span is looked at only for such a route.
            if index & IN_SPAN_ONLY != 0 {
                if !event.has_span() {
                    continue;
                }
                index &= !IN_SPAN_ONLY;
            }
            match &entry.lane {
                None => {
                    if self.call_inline(entry, event) {
                        match counts {
                            Some(counts) => counts.add(index),
                            None => entry.add_delivered(1),
                        }
                    }
                }
                Some(lane) => {
                    if !lane.push(event, depth) {
                        bump(&entry.counters.dropped, 1);
                    }
                }
            }
        }
    }

    /// [`BusInner::deliver`] for an event with NaN or infinite measurements: those are removed
    /// (and counted) first.
    #[cold]
    #[inline(never)]
    fn deliver_finite(
        &self,
        table: &Table,
        counts: Option<&ThreadCounts>,
        depth: u8,
        emitted: Emitted<'_>,
    ) {
        let Emitted {
            name,
            measurements,
            metadata,
            span,
        } = emitted;
        let finite: SmallVec<[(&'static str, f64); 16]> = measurements
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let removed = (measurements.len() - finite.len()) as u64;
        bump(&self.counters.non_finite_measurements, removed);
        self.deliver(table, counts, depth, name, &finite, metadata, span);
    }

    /// Calls an inline handler; true if it returned normally.
    ///
    /// No "has it failed?" check: a failure detaches the handler, which publishes a snapshot
    /// without it, and every dispatch compares the generation before it reads its table. Only a
    /// dispatch that began before the detach can still reach it, and a flag checked before the
    /// call could not close that window either (a second panic is caught and not counted twice).
    #[inline]
    fn call_inline(&self, entry: &HandlerEntry, event: &Event<'_>) -> bool {
        match catch_unwind(AssertUnwindSafe(|| entry.handler.handle(event))) {
            Ok(()) => true,
            Err(payload) => {
                self.handler_failed(entry, event.name(), payload);
                false
            }
        }
    }

    /// Detaches a handler that panicked, emits `telemetry.handler.failure` (with the
    /// `monotonic_time` and `system_time` of the failure, as `:telemetry` does) and drops the
    /// panic's payload without letting a panic in its destructor unwind ([`drop_payload`]).
    #[cold]
    fn handler_failed(&self, entry: &HandlerEntry, event: EventName, payload: Box<dyn Any + Send>) {
        if entry.failed.swap(true, Ordering::SeqCst) {
            return drop_payload(payload);
        }
        bump(&entry.counters.failed, 1);
        bump(&self.counters.handler_failures, 1);
        let message = panic_message(&payload);
        drop_payload(payload);
        let _ = self.detach(&entry.id, false);
        let now = monotonic_now();
        self.emit(
            catalog::TELEMETRY_HANDLER_FAILURE.get(),
            &[
                (catalog::keys::MONOTONIC_TIME, now as f64),
                (
                    catalog::keys::SYSTEM_TIME,
                    unix_nanos_at_monotonic(now) as f64,
                ),
            ],
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

impl Drop for BusInner {
    fn drop(&mut self) {
        // Workers hold only a weak reference to the bus: tell them to finish and exit.
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for entry in writer.routes.entries() {
            if let Some(lane) = &entry.lane {
                lane.close();
            }
        }
    }
}

/// Delivers one queued event (emitted at handler nesting depth `depth`) on a worker thread.
/// Returns false if the handler panicked. The lane counts the `true`s into `delivered`.
fn deliver_queued(
    bus: &Weak<BusInner>,
    entry: &HandlerEntry,
    event: &Event<'_>,
    depth: u8,
) -> bool {
    if entry.failed.load(Ordering::Relaxed) {
        bump(&entry.counters.dropped, 1);
        return false;
    }
    let _depth = DepthGuard::enter(depth.saturating_add(1));
    let result = catch_unwind(AssertUnwindSafe(|| entry.handler.handle(event)));
    match result {
        Ok(()) => true,
        Err(payload) => {
            match bus.upgrade() {
                Some(bus) => bus.handler_failed(entry, event.name(), payload),
                None => {
                    entry.failed.store(true, Ordering::SeqCst);
                    bump(&entry.counters.failed, 1);
                    drop_payload(payload);
                }
            }
            false
        }
    }
}

/// `v.is_finite()` in one unsigned compare: the exponent bits are not all ones. Shifting the
/// sign out leaves one constant to compare with, where `is_finite` masks with one constant and
/// compares with another (one instruction less per measurement on every dispatch).
#[inline(always)]
fn finite(v: f64) -> bool {
    v.to_bits() << 1 < 0x7ff0_0000_0000_0000 << 1
}

/// Drops a handler's panic payload on the thread that caught it without letting anything unwind
/// further: a payload whose destructor panics (`panic_any(Bomb)` with a panicking `Drop`) is
/// dropped inside its own `catch_unwind`, and that second payload is leaked with
/// `std::mem::forget`, since dropping it could panic again (the standard library's trick).
#[cold]
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(second);
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Waits until the closed `lane` is drained or `until` passes, then joins its worker if it
/// drained (one stuck in a handler is left behind rather than holding the caller).
fn settle(lane: &Lane, until: Instant) {
    while !lane.is_drained() && Instant::now() < until {
        lane.wake();
        std::thread::sleep(Duration::from_micros(200));
    }
    if lane.is_drained() {
        lane.join();
    }
}

/// Waits until each of `entries`' queued lanes is drained, or `deadline` passes (false).
fn drain_lanes(entries: &[Arc<HandlerEntry>], deadline: Deadline) -> bool {
    for lane in entries.iter().filter_map(|e| e.lane.as_ref()) {
        let mut spins = 0u32;
        while !lane.is_drained() {
            if deadline.has_passed() {
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

/// Asks each of `entries`, in the order given, to flush or shut down (`ask`, panics caught), and
/// reports those that did not finish.
fn ask_each<'e>(
    entries: impl ExactSizeIterator<Item = &'e Arc<HandlerEntry>>,
    lanes_drained: bool,
    ask: impl Fn(&dyn Handler) -> Result<(), LifecycleError>,
) -> LifecycleReport {
    let mut report = LifecycleReport {
        unfinished: Vec::new(),
        lanes_drained,
        handlers: entries.len(),
    };
    for entry in entries {
        if let Err(error) = guarded(|| ask(&*entry.handler)) {
            report.unfinished.push(Unfinished {
                handler_id: entry.id.to_string(),
                error,
            });
        }
    }
    report
}

/// Runs a handler's flush or shutdown, turning a panic into [`LifecycleError::Panicked`]
/// (the payload is dropped where it cannot unwind into the caller).
fn guarded(f: impl FnOnce() -> Result<(), LifecycleError>) -> Result<(), LifecycleError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(&payload);
            drop_payload(payload);
            Err(LifecycleError::Panicked(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::finite;

    #[test]
    fn finite_agrees_with_is_finite_on_every_class_of_f64() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -42.5,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::from_bits(1),                      // smallest subnormal
            -f64::from_bits(0x000f_ffff_ffff_ffff), // largest negative subnormal
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
            f64::from_bits(0xfff8_0000_0000_0001),
        ];
        for v in values {
            assert_eq!(finite(v), v.is_finite(), "{v:?} ({:#x})", v.to_bits());
        }
        // A sweep over exponents and signs, with a mantissa pattern.
        for exponent in 0u64..=0x7ff {
            for sign in [0u64, 1] {
                let v = f64::from_bits(sign << 63 | exponent << 52 | 0x5_5555_5555_5555);
                assert_eq!(finite(v), v.is_finite(), "{v:?}");
            }
        }
    }
}
