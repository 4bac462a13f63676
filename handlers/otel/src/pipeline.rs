//! The hand-off between the bus worker (which builds spans) and the export thread: the batch
//! being filled, the bounded channel of full batches, and the stall signal.
//!
//! The bus worker appends each span to the current batch (an uncontended mutex) and sends the
//! batch as one message when it is full, so the channel costs one operation per batch, not per
//! span. When the channel is full the bus worker waits for the export thread for as long as it
//! takes: a slow collector is not a dead one, and while the bus worker waits, the handler's
//! bounded bus queue absorbs the burst; events are dropped (and counted by the bus) only when
//! that queue is full, never while it has room. A collector that hangs is bounded by the export
//! timeout per batch, and by the shutdown deadline: when it passes, the pipeline is
//! [abandoned](Pipeline::abandon) and everything still queued is counted as dropped.
//! The export thread takes the partial batch itself when the scheduled delay passes or a flush
//! asks for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SpanData;

use crate::route::Route;

/// How long the bus worker waits for room in the batch channel before it says (once a minute)
/// that the collector is slow, and checks again whether the pipeline was abandoned.
pub const MAX_HANDOFF_WAIT: Duration = Duration::from_millis(250);

/// Emptied batches kept for reuse.
const SPARE_BATCHES: usize = 4;

/// Spans waiting for export and, index for index, their routes. Kept as two vectors so that a
/// single-route batch needs no regrouping.
#[derive(Default)]
pub(crate) struct Batch {
    pub spans: Vec<SpanData>,
    pub routes: Vec<Route>,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Self {
            spans: Vec::with_capacity(n),
            routes: Vec::with_capacity(n),
        }
    }
    /// How many spans.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
    /// Whether it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// State shared by the bus worker and the export thread.
pub(crate) struct Pipeline {
    current: Mutex<Batch>,
    /// Emptied batches handed back by the export thread, so the bus worker never allocates a
    /// batch-sized buffer in the steady state.
    spare: Mutex<Vec<Batch>>,
    max_batch: usize,
    epoch: Instant,
    /// When the running export began (nanoseconds since `epoch`, plus one); 0 when idle.
    export_started: AtomicU64,
    /// Set when a shutdown's deadline passed: nothing is exported any more.
    abandoned: AtomicBool,
}

impl Pipeline {
    pub(crate) fn new(max_batch: usize) -> Self {
        Self {
            current: Mutex::new(Batch::with_capacity(max_batch.min(4096))),
            spare: Mutex::new(Vec::new()),
            max_batch,
            epoch: Instant::now(),
            export_started: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Appends a span; returns the batch when it is full.
    pub(crate) fn push(&self, route: Route, span: SpanData) -> Option<Batch> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.spans.push(span);
        current.routes.push(route);
        if current.len() >= self.max_batch {
            let recycled = self
                .spare
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let fresh = recycled.unwrap_or_else(|| Batch::with_capacity(self.max_batch.min(4096)));
            Some(std::mem::replace(&mut *current, fresh))
        } else {
            None
        }
    }

    /// Spans in the partial batch, not yet handed to the export thread.
    pub(crate) fn pending(&self) -> usize {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Takes the partial batch (possibly empty).
    pub(crate) fn take(&self) -> Batch {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *current)
    }

    /// Hands an emptied batch back for reuse (a few are kept).
    pub(crate) fn recycle(&self, mut batch: Batch) {
        batch.spans.clear();
        batch.routes.clear();
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_BATCHES {
            spare.push(batch);
        }
    }

    /// Gives up on exporting (a shutdown's deadline passed): the running export is cancelled,
    /// and whatever is queued is counted as dropped by whoever holds it.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// Whether the pipeline was abandoned.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Marks the start (`true`) or end (`false`) of an export.
    pub(crate) fn exporting(&self, running: bool) {
        let value = if running {
            self.epoch.elapsed().as_nanos() as u64 + 1
        } else {
            0
        };
        self.export_started.store(value, Ordering::Relaxed);
    }

    /// How long the running export has taken so far (zero when none runs).
    pub(crate) fn export_running_for(&self) -> Duration {
        match self.export_started.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            started => Duration::from_nanos(
                (self.epoch.elapsed().as_nanos() as u64 + 1).saturating_sub(started),
            ),
        }
    }
}
