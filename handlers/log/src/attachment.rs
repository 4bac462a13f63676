//! What ties an attached handler of this crate ([`crate::LogHandle`], the `tracing` bridge) to
//! its bus: the bus, the handler id, and the bus's drop count for it, kept once it is detached
//! (the bus forgets a detached handler). The handles' `flush` and `detach` go through here.

use std::sync::{Mutex, MutexGuard, PoisonError};

use llm_telemetry_core::{Bus, Deadline, LifecycleError};

/// An attached handler's place on its bus.
#[derive(Debug)]
pub(crate) struct Attachment {
    bus: Bus,
    id: String,
    /// `None` while attached; the bus's drop count as of the detach once detached.
    detached: Mutex<Option<u64>>,
}

impl Attachment {
    pub(crate) fn new(bus: Bus, id: String) -> Self {
        Self {
            bus,
            id,
            detached: Mutex::new(None),
        }
    }

    /// The handler id on the bus.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn state(&self) -> MutexGuard<'_, Option<u64>> {
        // Nothing panics while the lock is held; stay usable regardless.
        self.detached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the handler's queued lane (if any), then asks the handler to flush.
    pub(crate) fn flush(&self, deadline: Deadline) -> Result<(), LifecycleError> {
        if self.state().is_some() {
            return Err(LifecycleError::AlreadyShutDown);
        }
        self.bus
            .flush_handler(&self.id, deadline)
            .unwrap_or(Err(LifecycleError::AlreadyShutDown))
    }

    /// Detaches the handler, lets its queued lane deliver what it holds and shuts it down, all
    /// by `deadline`; keeps its drop count.
    pub(crate) fn detach(&self, deadline: Deadline) -> Result<(), LifecycleError> {
        {
            let mut state = self.state();
            if state.is_some() {
                return Err(LifecycleError::AlreadyShutDown);
            }
            *state = Some(self.live_dropped());
        }
        self.bus
            .detach_and_shutdown(&self.id, deadline)
            // Not found: the bus detached it after a failure already.
            .unwrap_or(Err(LifecycleError::AlreadyShutDown))
    }

    /// Events the bus dropped for the handler (a full queue), as of the detach once detached.
    pub(crate) fn dropped(&self) -> u64 {
        match *self.state() {
            Some(kept) => kept,
            None => self.live_dropped(),
        }
    }

    fn live_dropped(&self) -> u64 {
        self.bus.stats().handler(&self.id).map_or(0, |h| h.dropped)
    }
}
