//! What the loom model checks (`tests/loom.rs`) reach of the crate's private lock-free parts:
//! the real [`Ring`](crate::ring::Ring) behind a thin public wrapper. Compiled only under
//! `--cfg loom`, where the ring runs on loom's atomics (see `sync.rs`); not part of the API.

use crate::event::Event;

/// The queued lane's ring, as the model checks drive it.
pub struct Ring(crate::ring::Ring);

impl Ring {
    /// A ring of `bytes` bytes (at least 256) holding at most `event_limit` events.
    pub fn new(event_limit: usize, bytes: usize) -> Self {
        Self(crate::ring::Ring::new(event_limit, bytes))
    }

    /// Like [`Ring::new`], with both positions starting `units` 8-byte words into the buffer.
    pub fn starting_at(event_limit: usize, bytes: usize, units: u64) -> Self {
        Self(crate::ring::Ring::starting_at(event_limit, bytes, units))
    }

    /// A producer's push: false when the ring refused the event.
    pub fn push(&self, event: &Event<'_>, depth: u8) -> bool {
        self.0.push(event, depth)
    }

    /// The consumer's pop (one thread at a time).
    pub fn pop_with<R>(&self, handle: impl FnOnce(&Event<'_>, u8) -> R) -> Option<R> {
        self.0.pop_with(handle)
    }

    /// Whether the oldest record is published.
    pub fn has_ready(&self) -> bool {
        self.0.has_ready()
    }

    /// Events claimed and not yet consumed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no event is claimed and not yet consumed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The consumer's byte offset in the buffer.
    pub fn head_index(&self) -> usize {
        self.0.head_index()
    }

    /// The producers' byte offset in the buffer.
    pub fn tail_index(&self) -> usize {
        self.0.tail_index()
    }
}
