//! What a handler crate's handle keeps of its place on a bus: the bus, the handler id, and the
//! bus's drop count for it, kept once it is detached (the bus forgets a detached handler). A
//! handle's `flush`, `detach` and dropped count go through here, so every handler crate gives
//! them the same meaning: `flush` and `detach` take one deadline, a second `detach` (or a `flush`
//! after it) is [`LifecycleError::AlreadyShutDown`], and the drop count stays readable.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::bus::Bus;
use crate::lifecycle::{Deadline, LifecycleError};

/// An attached handler's place on its bus.
///
/// ```
/// use llm_telemetry_core::{Attachment, Bus, LifecycleError};
/// use std::time::Duration;
/// let bus = Bus::new();
/// bus.attach("mine", "app.*", |_| {}).unwrap();
/// let place = Attachment::new(bus.clone(), "mine".to_owned());
/// assert_eq!(place.flush(Duration::from_secs(1)), Ok(()));
/// assert_eq!(place.detach(Duration::from_secs(1)), Ok(()));
/// assert_eq!(place.detach(Duration::from_secs(1)), Err(LifecycleError::AlreadyShutDown));
/// assert_eq!(place.dropped(), 0);
/// ```
#[derive(Debug)]
pub struct Attachment {
    bus: Bus,
    id: String,
    /// `None` while attached; the bus's drop count as of the detach once detached.
    detached: Mutex<Option<u64>>,
}

impl Attachment {
    /// The place of handler `id`, attached to `bus`.
    pub fn new(bus: Bus, id: String) -> Self {
        Self {
            bus,
            id,
            detached: Mutex::new(None),
        }
    }

    /// The handler id on the bus.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn state(&self) -> MutexGuard<'_, Option<u64>> {
        // Nothing panics while the lock is held; stay usable regardless.
        self.detached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the handler's queued lane (if any), then asks the handler to flush.
    pub fn flush(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        let deadline = deadline.into();
        if self.state().is_some() {
            return Err(LifecycleError::AlreadyShutDown);
        }
        self.bus
            .flush_handler(&self.id, deadline)
            .unwrap_or(Err(LifecycleError::AlreadyShutDown))
    }

    /// Detaches the handler, lets its queued lane deliver what it holds and shuts it down, all
    /// by `deadline`; keeps its drop count.
    pub fn detach(&self, deadline: impl Into<Deadline>) -> Result<(), LifecycleError> {
        let deadline = deadline.into();
        {
            let mut state = self.state();
            if state.is_some() {
                return Err(LifecycleError::AlreadyShutDown);
            }
            *state = Some(self.live_dropped());
        }
        let result = self
            .bus
            .detach_and_shutdown(&self.id, deadline)
            // Not found: the bus detached it after a failure already.
            .unwrap_or(Err(LifecycleError::AlreadyShutDown));
        // The final count, with what the lane dropped at the deadline (the bus keeps reporting
        // a handler detached this way).
        *self.state() = Some(self.live_dropped());
        result
    }

    /// Events the bus dropped for the handler (a full queue), as of the detach once detached.
    pub fn dropped(&self) -> u64 {
        match *self.state() {
            Some(kept) => kept,
            None => self.live_dropped(),
        }
    }

    fn live_dropped(&self) -> u64 {
        self.bus.stats().handler(&self.id).map_or(0, |h| h.dropped)
    }
}
