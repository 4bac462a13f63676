//! Counters the bus keeps and reports through [`crate::Bus::stats`].
//!
//! Every event that does not reach a handler is counted somewhere here: a full queue, a handler
//! that panicked, a measurement that was NaN, a nesting depth that was exceeded. Counters are
//! relaxed atomics: exact totals, no ordering between them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::handler::Delivery;

/// A snapshot of the bus's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BusStats {
    /// One entry per attached handler, plus handlers detached after a failure or by a handle's
    /// detach (the most recent 64), whose final counts stay readable.
    pub handlers: Vec<HandlerStats>,
    /// Measurements that were NaN or infinite and were removed before delivery.
    pub non_finite_measurements: u64,
    /// Events dropped because handlers emitted events nested deeper than [`crate::MAX_DEPTH`].
    pub depth_exceeded: u64,
    /// Handlers that panicked (and were detached).
    pub handler_failures: u64,
}

impl BusStats {
    /// The stats of one handler by id.
    pub fn handler(&self, id: &str) -> Option<&HandlerStats> {
        self.handlers.iter().find(|h| h.id == id)
    }

    /// Events dropped for any reason, across all handlers.
    pub fn total_dropped(&self) -> u64 {
        self.handlers.iter().map(|h| h.dropped).sum::<u64>() + self.depth_exceeded
    }
}

/// The counters of one handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerStats {
    /// The handler id.
    pub id: String,
    /// How it receives events.
    pub delivery: Delivery,
    /// False once it was detached after a failure, or by a handle's detach
    /// ([`crate::Bus::detach_and_shutdown`]): its final counts stay readable.
    pub attached: bool,
    /// Events it handled.
    pub delivered: u64,
    /// Events dropped for it: its queue was full, or it was detached with events still queued.
    pub dropped: u64,
    /// Calls that panicked (at most 1: a failing handler is detached).
    pub failed: u64,
    /// Its queue, for a queued handler.
    pub queue: Option<QueueStats>,
}

/// The state of a queued handler's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// Events waiting now.
    pub depth: usize,
    /// The most events it can hold.
    pub capacity: usize,
}

/// The live counters of one handler, on cache lines of their own: producers bump `dropped`
/// when a queue is full and the worker publishes `delivered`, while every emit reads the handler
/// entry they live in.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct HandlerCounters {
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl HandlerCounters {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The live counters of the bus.
#[derive(Debug, Default)]
pub(crate) struct BusCounters {
    pub(crate) non_finite_measurements: AtomicU64,
    pub(crate) depth_exceeded: AtomicU64,
    pub(crate) handler_failures: AtomicU64,
}

#[inline]
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
