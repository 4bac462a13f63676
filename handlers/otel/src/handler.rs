//! The attached handler: [`OtelHandler`], the handle users keep (flush, shutdown, stats), and the
//! bus-side [`SpanHandler`] that turns each stop or exception event into a span on the bus's
//! queued lane.
//!
//! The bus-side work is: sample (on the trace id, before anything is built), convert, and append
//! the span to the current batch; a full batch goes to the export thread (see
//! [`crate::pipeline`] for when the bus worker waits and when it drops). The bus worker never
//! waits for the network itself in batch mode. In simple mode the
//! bus worker waits for each export (bounded by the export timeout), which is what "simple" means;
//! the emitting thread still never waits, because the handler sits on the queued lane.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use llm_telemetry_core::{Bus, Deadline, Event, EventName, Handler, LifecycleError, Pattern};

use crate::config::{OtelConfig, Processor};
use crate::convert::Converter;
use crate::pipeline::{Batch, MAX_HANDOFF_WAIT, Pipeline};
use crate::route::Route;
use crate::sampler::Sampler;
use crate::span_events::{Pending, Recorded};
use crate::stats::{Counters, OtelStats, OtelStatsReader, add};
use crate::warn::Warner;
use crate::worker::Message;

/// The bus-side handler (runs on the bus's queued lane worker).
pub(crate) struct SpanHandler {
    pub converter: Converter,
    /// Span events waiting for their span's end (`None`: span events switched off).
    pub span_events: Option<Pending>,
    /// The stop/exception patterns (`OtelConfig::patterns`): which span ends become spans.
    pub ends: Vec<Pattern>,
    pub sampler: Sampler,
    pub tenants: bool,
    pub simple: bool,
    pub export_wait: Duration,
    pub sender: Sender<Message>,
    pub counters: Arc<Counters>,
    pub warner: Arc<Warner>,
    pub pipeline: Arc<Pipeline>,
    /// The export thread, joined once it has answered a shutdown.
    pub thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Set by the first shutdown (the bus's or the handle's).
    pub shut_down: Arc<AtomicBool>,
}

impl Handler for SpanHandler {
    /// Which of the names its patterns match the handler takes (see `span_events.rs`): span
    /// ends (`stop`, `exception`) only when a stop/exception pattern names them, never a
    /// `start` (so span starts cost emitters nothing), and any other name only while span
    /// events are on.
    fn wants(&self, name: EventName) -> bool {
        match name.phase() {
            "start" => false,
            "stop" | "exception" => self.ends.iter().any(|p| p.matches(&name)),
            _ => self.span_events.is_some(),
        }
    }

    /// Everything but span ends only inside a span: outside one it could belong to no span, and
    /// skipping it at the bus keeps a program's high-rate events out of the handler's queue.
    fn only_in_span(&self, name: EventName) -> bool {
        !matches!(name.phase(), "stop" | "exception")
    }

    /// Exports the partial batch and flushes every exporter, by `deadline`.
    fn flush(&self, deadline: Instant) -> Result<(), LifecycleError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(LifecycleError::AlreadyShutDown);
        }
        answer(ask(&self.sender, deadline, Message::Flush), &self.pipeline)
    }

    /// Exports the partial batch, shuts the exporters down and stops the export thread, by
    /// `deadline`: a collector that hangs holds the caller no longer than that.
    fn shutdown(&self, deadline: Instant) -> Result<(), LifecycleError> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Err(LifecycleError::AlreadyShutDown);
        }
        let outcome = ask(&self.sender, deadline, Message::Shutdown);
        if outcome == Asked::TimedOut {
            return Err(self.abandon());
        }
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // The thread answered (or is gone) and returns right after: the join is immediate.
            let _ = handle.join();
        }
        answer(outcome, &self.pipeline)
    }

    fn handle(&self, event: &Event<'_>) {
        let Some(context) = event.span() else {
            add(&self.counters.skipped_events, 1);
            return;
        };
        if !self.sampler.should_sample(&context) {
            add(&self.counters.sampled_out, 1);
            return;
        }
        let phase = event.name().phase();
        if phase != "stop" && phase != "exception" {
            // Something that happened inside the span `context`: kept for its end.
            match &self.span_events {
                Some(pending) if phase != "start" => match pending.record(event, &context) {
                    Recorded::Kept => add(&self.counters.span_events, 1),
                    Recorded::Dropped(lost) => {
                        add(&self.counters.span_events, 1);
                        add(&self.counters.span_events_dropped, lost);
                    }
                },
                _ => add(&self.counters.skipped_events, 1),
            }
            return;
        }
        if self.pipeline.is_abandoned() {
            // Shut down at its deadline: a stop still on the bus lane is not converted, and no
            // batch would take it.
            add(&self.counters.dropped_after_shutdown, 1);
            return;
        }
        let mut span = match self.converter.convert(event) {
            Ok(span) => span,
            Err(_) => {
                add(&self.counters.skipped_events, 1);
                return;
            }
        };
        if let Some(extras) = self.span_events.as_ref().and_then(|p| p.take(&context)) {
            extras.apply_to(&mut span);
        }
        let route = if self.tenants {
            Route::of(event, &context)
        } else {
            Route::default()
        };
        if self.simple {
            let (done_tx, done_rx) = crossbeam_channel::bounded(1);
            match self.sender.send_timeout(
                Message::ExportNow(route, Box::new(span), done_tx),
                self.export_wait,
            ) {
                Ok(()) => {
                    // The export itself is bounded by the export timeout; this bounds the wait
                    // even if the export thread is stuck behind another export.
                    let _ = done_rx.recv_timeout(self.export_wait);
                }
                Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => {
                    add(&self.counters.dropped_queue_full, 1);
                }
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
                    add(&self.counters.dropped_after_shutdown, 1);
                }
            }
            return;
        }
        match self.pipeline.push(route, span) {
            Some(batch) => self.hand_off(batch),
            // Abandoned while this span was being built: the export thread may have taken the
            // partial batch already, or not; whatever is left is counted here.
            None if self.pipeline.is_abandoned() => {
                add(
                    &self.counters.dropped_at_deadline,
                    self.pipeline.take().len() as u64,
                );
            }
            None => {}
        }
    }
}

impl SpanHandler {
    /// The shutdown's deadline passed (a collector that hangs): abandons the pipeline, so the
    /// running export is cancelled and the export thread counts every span it still holds as
    /// dropped and stops; waits for that (a few milliseconds; at most [`ABANDON_GRACE`]), so
    /// the counts are in the stats when the shutdown returns.
    fn abandon(&self) -> LifecycleError {
        let before = self.counters.dropped_at_deadline.load(Ordering::Relaxed);
        self.pipeline.abandon();
        let given_up = Instant::now() + ABANDON_GRACE;
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        while thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < given_up {
            std::thread::sleep(Duration::from_millis(1));
        }
        if thread.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Some(handle) = thread.take() {
                let _ = handle.join();
            }
        }
        let pending = self.counters.dropped_at_deadline.load(Ordering::Relaxed) - before;
        LifecycleError::DeadlinePassed { pending }
    }

    /// Sends a full batch to the export thread, waiting for room as long as the export thread
    /// is alive and the pipeline not abandoned (see [`crate::pipeline`]): a slow collector makes
    /// the bus lane wait, and only a full lane drops (counted by the bus). A wait longer than
    /// [`MAX_HANDOFF_WAIT`] is reported (once a minute) as a slow collector, with how long the
    /// running export has taken.
    fn hand_off(&self, batch: Batch) {
        let count = batch.len() as u64;
        if self.pipeline.is_abandoned() {
            add(&self.counters.dropped_at_deadline, count);
            return;
        }
        let mut message = match self.sender.try_send(Message::Batch(batch)) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(_)) => {
                add(&self.counters.dropped_after_shutdown, count);
                return;
            }
            Err(TrySendError::Full(message)) => message,
        };
        let waiting = Instant::now();
        let mut warned = false;
        loop {
            match self.sender.send_timeout(message, HANDOFF_POLL) {
                Ok(()) => return,
                Err(SendTimeoutError::Disconnected(_)) => {
                    add(&self.counters.dropped_after_shutdown, count);
                    return;
                }
                Err(SendTimeoutError::Timeout(back)) => message = back,
            }
            if self.pipeline.is_abandoned() {
                add(&self.counters.dropped_at_deadline, count);
                return;
            }
            if !warned && waiting.elapsed() >= MAX_HANDOFF_WAIT {
                warned = true;
                let running = self.pipeline.export_running_for();
                self.warner.warn(|| {
                    format!(
                        "the collector is slow: an export has been running for {running:?} and \
                         the export queue is full; spans wait in the bus queue and are dropped \
                         only if it fills (see OtelHandler::stats)"
                    )
                });
            }
        }
    }
}

/// How often a hand-off waiting for room checks whether the pipeline was abandoned.
const HANDOFF_POLL: Duration = Duration::from_millis(10);

/// The longest a shutdown whose deadline passed waits for the export thread to count what it
/// abandons (the running export is cancelled within milliseconds).
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// What the export thread said to a flush or shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// Done, every export succeeded.
    Clean,
    /// Done, but an export failed since the last flush.
    Failed,
    /// The deadline passed first (the thread is stuck in an export).
    TimedOut,
    /// The thread is gone (shut down before).
    Gone,
}

/// Sends the message `make` builds and waits for the answer until `deadline`.
fn ask(
    sender: &Sender<Message>,
    deadline: Instant,
    make: impl FnOnce(Sender<bool>) -> Message,
) -> Asked {
    let (answer_tx, answer_rx) = crossbeam_channel::bounded(1);
    let remaining = deadline.saturating_duration_since(Instant::now());
    match sender.send_timeout(make(answer_tx), remaining) {
        Ok(()) => {}
        Err(SendTimeoutError::Timeout(_)) => return Asked::TimedOut,
        Err(SendTimeoutError::Disconnected(_)) => return Asked::Gone,
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    match answer_rx.recv_timeout(remaining) {
        Ok(true) => Asked::Clean,
        Ok(false) => Asked::Failed,
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Asked::TimedOut,
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Asked::Gone,
    }
}

/// The lifecycle result of an answer.
fn answer(asked: Asked, pipeline: &Pipeline) -> Result<(), LifecycleError> {
    match asked {
        Asked::Clean => Ok(()),
        Asked::Failed => Err(LifecycleError::Failed(
            "an export failed (see OtelHandler::stats and the warning on stderr)".to_owned(),
        )),
        Asked::TimedOut => Err(LifecycleError::DeadlinePassed {
            pending: pipeline.pending() as u64,
        }),
        Asked::Gone => Err(LifecycleError::AlreadyShutDown),
    }
}

/// The OpenTelemetry handler attached to a bus: flush it, shut it down, read its stats.
///
/// Made by [`crate::OtelHandlerBuilder::attach`], the only way to attach one; it has the shape
/// every handler crate shares ([`OtelHandler::stats`], [`OtelHandler::flush`] and
/// [`OtelHandler::detach`], each error a [`LifecycleError`]), plus OpenTelemetry's
/// `force_flush` and `shutdown` spellings. [`llm_telemetry_core::Bus::shutdown`] shuts it
/// down with every other handler; so does [`OtelHandler::shutdown`] alone. Dropping it without
/// either detaches it and lets the export thread finish in the background (spans still queued
/// may be lost when the process exits first).
pub struct OtelHandler {
    bus: Bus,
    config: Arc<OtelConfig>,
    sender: Sender<Message>,
    counters: Arc<Counters>,
    /// Shared with the bus-side handler: set by the first shutdown.
    shut_down: Arc<AtomicBool>,
    /// The bus's drop count for this handler, kept when it is detached.
    bus_dropped: AtomicU64,
}

impl std::fmt::Debug for OtelHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelHandler")
            .field("handler_id", &self.config.handler_id)
            .field("endpoint", &self.config.endpoint)
            .field("protocol", &self.config.protocol)
            .finish()
    }
}

impl OtelHandler {
    pub(crate) fn new(
        bus: Bus,
        config: Arc<OtelConfig>,
        sender: Sender<Message>,
        counters: Arc<Counters>,
        shut_down: Arc<AtomicBool>,
    ) -> Self {
        Self {
            bus,
            config,
            sender,
            counters,
            shut_down,
            bus_dropped: AtomicU64::new(0),
        }
    }

    /// The resolved configuration.
    pub fn config(&self) -> &OtelConfig {
        &self.config
    }

    /// The handler's id on the bus.
    pub fn handler_id(&self) -> &str {
        &self.config.handler_id
    }

    /// Exports every span that ended before the call: waits for the bus lane, then the batch,
    /// then the exporters, all by `deadline` (an `Instant`, or a `Duration` from now). Says why
    /// when it did not finish.
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(LifecycleError::AlreadyShutDown);
        }
        self.bus
            .flush_handler(&self.config.handler_id, deadline)
            .unwrap_or(Err(LifecycleError::AlreadyShutDown))
    }

    /// [`OtelHandler::flush`] as OpenTelemetry's `force_flush`: true when everything finished
    /// in time and every export succeeded.
    pub fn force_flush(&self, deadline: impl Into<Deadline>) -> bool {
        self.flush(deadline).is_ok()
    }

    /// Detaches the handler, lets its bus lane deliver what it holds, exports the last batch,
    /// shuts the exporters down and stops the export thread, all by `deadline`. Says why when
    /// it did not finish: with a collector that hangs it returns at the deadline. Later calls
    /// (or a call after [`llm_telemetry_core::Bus::shutdown`]) are
    /// [`LifecycleError::AlreadyShutDown`]. [`OtelHandler::stats`] stays readable, frozen as
    /// of the detach.
    ///
    /// Takes `&self`, as every handler handle of the workspace does (`PrometheusReporter`,
    /// `CostTracker`, `LogHandle`, `TracingBridge`), and as OpenTelemetry's
    /// `SpanProcessor::shutdown` does: the handle outlives the detach, so its frozen stats can
    /// still be read, and a handle that is shared (behind an `Arc`, or held inside the facade's
    /// `Telemetry`) can be detached without being moved out.
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(LifecycleError::AlreadyShutDown);
        }
        self.remember_bus_drops();
        match self
            .bus
            .detach_and_shutdown(&self.config.handler_id, deadline)
        {
            Ok(result) => {
                // With what the lane dropped at the deadline (the bus keeps reporting it).
                self.remember_bus_drops();
                result
            }
            // Detached after a failure: the bus no longer holds it; shut it down here.
            Err(_) => {
                self.shut_down.store(true, Ordering::SeqCst);
                Err(LifecycleError::AlreadyShutDown)
            }
        }
    }

    /// [`OtelHandler::detach`] as OpenTelemetry's `shutdown`: true when everything finished in
    /// time.
    pub fn shutdown(&self, deadline: impl Into<Deadline>) -> bool {
        self.detach(deadline).is_ok()
    }

    fn remember_bus_drops(&self) {
        let dropped = self.bus_dropped_now();
        self.bus_dropped.store(dropped, Ordering::Relaxed);
    }

    fn bus_dropped_now(&self) -> u64 {
        self.bus
            .stats()
            .handler(&self.config.handler_id)
            .map_or(self.bus_dropped.load(Ordering::Relaxed), |h| h.dropped)
    }

    /// A reader of the handler's own counters that outlives any borrow of the handle (see
    /// [`OtelStatsReader`]).
    pub fn stats_reader(&self) -> OtelStatsReader {
        OtelStatsReader {
            counters: self.counters.clone(),
        }
    }

    /// A snapshot of the counters (exported, dropped by cause, sampled out, tenant cache).
    pub fn stats(&self) -> OtelStats {
        self.counters.snapshot(self.bus_dropped_now())
    }
}

impl Drop for OtelHandler {
    fn drop(&mut self) {
        if !self.shut_down.swap(true, Ordering::SeqCst) {
            self.remember_bus_drops();
            let _ = self.bus.detach(&self.config.handler_id);
            let (answer_tx, _answer_rx) = crossbeam_channel::bounded(1);
            // Non-blocking: the export thread finishes what it holds, then stops.
            let _ = self.sender.try_send(Message::Shutdown(answer_tx));
        }
    }
}

/// The processor mode of a configuration.
pub(crate) fn is_simple(config: &OtelConfig) -> bool {
    config.processor == Processor::Simple
}
