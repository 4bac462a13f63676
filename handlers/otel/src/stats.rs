//! Counters of the handler, and the snapshot [`OtelStats`] that [`crate::OtelHandler::stats`]
//! returns.
//!
//! Every span that does not reach the collector is counted in exactly one place: the bus queue
//! was full, the export queue was full, the export failed or timed out, the tenant's exporter
//! could not be made, the handler had shut down, or a shutdown's deadline passed with the span
//! still queued. Sampled-out spans are counted apart: they
//! were dropped on purpose.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the handler's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtelStats {
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans the sampler left out.
    pub sampled_out: u64,
    /// Stop/exception events dropped on the bus because the handler's bus queue was full.
    pub dropped_bus_queue: u64,
    /// Spans dropped because the export queue (`max_queue_size`) was full.
    pub dropped_queue_full: u64,
    /// Spans in exports that failed, timed out or panicked.
    pub dropped_export_failed: u64,
    /// Spans whose tenant exporter could not be made.
    pub dropped_no_exporter: u64,
    /// Spans that arrived after shutdown.
    pub dropped_after_shutdown: u64,
    /// Spans still queued or inside an export when a shutdown's deadline passed (a collector
    /// that hangs): abandoned, and counted here before the shutdown returned; no export runs
    /// after it.
    pub dropped_at_deadline: u64,
    /// Export calls that failed (each drops a whole batch).
    pub failed_exports: u64,
    /// Events that were not span ends (no span context, or another phase): skipped.
    pub skipped_events: u64,
    /// Settings ignored as the specification says (an unknown sampler, a non-boolean
    /// `OTEL_SDK_DISABLED`), each also written once as a warning when the handler attached.
    pub config_warnings: u64,
    /// Why the last failed export failed: the cause (an untrusted or expired certificate, a
    /// name mismatch, a plain-text server behind `https://`, a refused connection, a timeout)
    /// and what to change. `None` until an export fails.
    pub last_export_error: Option<String>,
    /// Per-tenant exporter cache.
    pub tenants: TenantStats,
    /// Events emitted inside a span that became span events or attributes on it.
    pub span_events: u64,
    /// Events emitted inside a span that were lost: past the per-span limit, or waiting for a
    /// span that was forgotten to make room (see `span_events.rs`).
    pub span_events_dropped: u64,
}

impl OtelStats {
    /// Spans lost for any reason other than sampling.
    pub fn dropped(&self) -> u64 {
        self.dropped_bus_queue
            + self.dropped_queue_full
            + self.dropped_export_failed
            + self.dropped_no_exporter
            + self.dropped_after_shutdown
            + self.dropped_at_deadline
    }
}

/// The per-tenant exporter cache's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantStats {
    /// Lookups that found a live exporter.
    pub hits: u64,
    /// Lookups that had to make one.
    pub misses: u64,
    /// Exporters evicted (least recently used past the maximum, or unused past the TTL).
    pub evictions: u64,
    /// Exporters that could not be made.
    pub failed_inits: u64,
    /// Exporters alive now.
    pub live: u64,
}

/// The live counters, shared by the bus handler and the export thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub exported: AtomicU64,
    pub sampled_out: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_export_failed: AtomicU64,
    pub dropped_no_exporter: AtomicU64,
    pub dropped_after_shutdown: AtomicU64,
    pub dropped_at_deadline: AtomicU64,
    pub failed_exports: AtomicU64,
    pub skipped_events: AtomicU64,
    pub config_warnings: AtomicU64,
    pub last_export_error: Mutex<Option<String>>,
    pub tenant_hits: AtomicU64,
    pub tenant_misses: AtomicU64,
    pub tenant_evictions: AtomicU64,
    pub tenant_failed_inits: AtomicU64,
    pub tenant_live: AtomicU64,
    pub span_events: AtomicU64,
    pub span_events_dropped: AtomicU64,
}

/// Adds `by` to a counter.
#[inline]
pub(crate) fn add(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    /// Records why an export failed (the export thread, on failure only).
    pub(crate) fn export_failed(&self, reason: &str) {
        *self
            .last_export_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
    }

    pub(crate) fn snapshot(&self, dropped_bus_queue: u64) -> OtelStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        OtelStats {
            exported: get(&self.exported),
            sampled_out: get(&self.sampled_out),
            dropped_bus_queue,
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_export_failed: get(&self.dropped_export_failed),
            dropped_no_exporter: get(&self.dropped_no_exporter),
            dropped_after_shutdown: get(&self.dropped_after_shutdown),
            dropped_at_deadline: get(&self.dropped_at_deadline),
            failed_exports: get(&self.failed_exports),
            skipped_events: get(&self.skipped_events),
            config_warnings: get(&self.config_warnings),
            last_export_error: self
                .last_export_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            tenants: TenantStats {
                hits: get(&self.tenant_hits),
                misses: get(&self.tenant_misses),
                evictions: get(&self.tenant_evictions),
                failed_inits: get(&self.tenant_failed_inits),
                live: get(&self.tenant_live),
            },
            span_events: get(&self.span_events),
            span_events_dropped: get(&self.span_events_dropped),
        }
    }
}

/// Reads a handler's own counters from anywhere (another thread, another handler's render),
/// without holding the [`crate::OtelHandler`]: what the facade hands the Prometheus reporter so
/// export health appears on `/metrics`. Its [`OtelStats::dropped_bus_queue`] is always 0: the
/// bus's queue drops are the bus's own counts (`llm_telemetry_handler_events_total`).
#[derive(Clone)]
pub struct OtelStatsReader {
    pub(crate) counters: std::sync::Arc<Counters>,
}

impl OtelStatsReader {
    /// The handler's counters now.
    pub fn read(&self) -> OtelStats {
        self.counters.snapshot(0)
    }
}

impl std::fmt::Debug for OtelStatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelStatsReader").finish_non_exhaustive()
    }
}
