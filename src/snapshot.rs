//! The per-thread cache of dispatch-table snapshots: how `execute` reads the table without an
//! atomic read-modify-write.
//!
//! Each bus publishes immutable `Arc<Table>` snapshots and bumps a generation counter. A thread
//! keeps the last snapshot it used for up to [`SLOTS`] buses; when the bus's generation still
//! matches, the hot path uses that snapshot through a raw pointer: no refcount traffic, no
//! contended cache line, where `arc-swap` pays two or three atomic RMWs per load. On a mismatch
//! the thread takes the writer lock once and adopts the new snapshot.
//!
//! Inline deliveries are counted here too, per thread and per handler, with plain additions;
//! the counts are published to the handler's shared counter every [`PUBLISH_EVERY`] events, when
//! the snapshot is replaced, and when the thread exits. `stats()` can therefore lag by fewer than
//! [`PUBLISH_EVERY`] deliveries per emitting thread; a shared atomic increment per handler call
//! would cost more than the rest of the inline dispatch.
//!
//! Soundness: a [`TableRef`] is valid while it lives. While any `TableRef` is alive on a thread
//! (`active > 0`), a snapshot evicted from a slot goes to a per-thread graveyard instead of being
//! dropped, so no pointer handed out earlier on this thread (for example to an outer dispatch whose
//! handler emitted a nested event) can dangle. The graveyard is emptied when the last `TableRef`
//! of the thread drops. Memory held per thread is bounded by the slots plus the snapshots replaced
//! during one outermost dispatch.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

use crate::bus::{BusInner, Table};

/// How many buses one thread caches snapshots for.
const SLOTS: usize = 4;

/// Inline deliveries a thread counts privately before adding them to the shared counter.
pub(crate) const PUBLISH_EVERY: u32 = 64;

/// One cached snapshot with this thread's unpublished delivery counts (one per table entry).
struct Slot {
    bus: u64,
    table: Arc<Table>,
    delivered: Vec<u32>,
}

impl Slot {
    /// Counts one delivery for each entry whose bit is set; publishes when a count is due.
    #[inline]
    fn credit(&mut self, mut delivered: u64) {
        let mut publish = false;
        while delivered != 0 {
            let i = delivered.trailing_zeros() as usize;
            delivered &= delivered - 1;
            if let Some(count) = self.delivered.get_mut(i) {
                *count += 1;
                publish |= *count >= PUBLISH_EVERY;
            }
        }
        if publish {
            self.publish();
        }
    }

    fn publish(&mut self) {
        for (entry, count) in self.table.entries().iter().zip(self.delivered.iter_mut()) {
            if *count > 0 {
                entry.add_delivered(u64::from(*count));
                *count = 0;
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.publish();
    }
}

/// The per-thread state.
pub(crate) struct TableCache {
    slots: [Option<Slot>; SLOTS],
    next: usize,
    active: u32,
    graveyard: Vec<Slot>,
}

impl TableCache {
    /// Publishes this thread's unpublished delivery counts for bus `bus`.
    pub(crate) fn publish(cache: &'static LocalKey<RefCell<TableCache>>, bus: u64) {
        let _ = cache.try_with(|cell| {
            if let Ok(mut c) = cell.try_borrow_mut() {
                for slot in c.slots.iter_mut().flatten().filter(|s| s.bus == bus) {
                    slot.publish();
                }
            }
        });
    }

    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { None }; SLOTS],
            next: 0,
            active: 0,
            graveyard: Vec::new(),
        }
    }
}

/// A borrowed snapshot, valid while this value lives on this thread.
pub(crate) struct TableRef {
    table: *const Table,
    /// Which cache slot held it (to credit deliveries), when it came from the cache.
    slot: usize,
    /// Bit `i`: table entry `i` handled the event inline (entries past 64 count directly).
    delivered: u64,
    /// Set when the thread-local cache is gone (thread exit): then this owns its snapshot.
    owned: Option<Arc<Table>>,
    cache: Option<&'static LocalKey<RefCell<TableCache>>>,
}

impl TableRef {
    /// The snapshot of `bus` at `generation` (or newer).
    #[inline]
    pub(crate) fn acquire(
        cache: &'static LocalKey<RefCell<TableCache>>,
        bus: &BusInner,
        generation: u64,
    ) -> TableRef {
        let fast = cache.try_with(|cell| {
            let mut c = cell.borrow_mut();
            c.active += 1;
            for (index, slot) in c.slots.iter().enumerate() {
                if let Some(slot) = slot {
                    if slot.bus == bus.id && slot.table.generation == generation {
                        return (Arc::as_ptr(&slot.table), index, None);
                    }
                }
            }
            let fresh = bus.current_table();
            let pointer = Arc::as_ptr(&fresh);
            let index = c
                .slots
                .iter()
                .position(|s| matches!(s, Some(slot) if slot.bus == bus.id))
                .unwrap_or_else(|| {
                    let i = c.next;
                    c.next = (c.next + 1) % SLOTS;
                    i
                });
            let delivered = vec![0; fresh.entries().len()];
            let evicted = c.slots[index].replace(Slot {
                bus: bus.id,
                table: fresh,
                delivered,
            });
            // `active` counts this new reference too: more than one means an outer reference
            // on this thread may point into the evicted snapshot.
            let evicted = match evicted {
                Some(slot) if c.active > 1 => {
                    c.graveyard.push(slot);
                    None
                }
                other => other,
            };
            (pointer, index, evicted)
        });
        match fast {
            Ok((table, slot, evicted)) => {
                // Dropped outside the borrow: a handler's destructor may itself emit.
                drop(evicted);
                TableRef {
                    table,
                    slot,
                    delivered: 0,
                    owned: None,
                    cache: Some(cache),
                }
            }
            Err(_) => {
                let owned = bus.current_table();
                TableRef {
                    table: Arc::as_ptr(&owned),
                    slot: 0,
                    delivered: 0,
                    owned: Some(owned),
                    cache: None,
                }
            }
        }
    }

    /// Credits an inline delivery to entry `index` of the snapshot.
    #[inline]
    pub(crate) fn delivered(&mut self, index: usize) {
        if index < 64 && self.cache.is_some() {
            self.delivered |= 1 << index;
        } else if let Some(entry) = self.get().entries().get(index) {
            entry.add_delivered(1);
        }
    }

    /// The snapshot.
    #[inline]
    pub(crate) fn get(&self) -> &Table {
        if let Some(owned) = &self.owned {
            return owned;
        }
        // SAFETY: `table` came from an `Arc<Table>` that this thread's cache holds in a slot or,
        // once evicted while `active > 0`, in the graveyard. Neither is dropped before `active`
        // returns to 0, which happens only after this `TableRef` (which counted itself in
        // `active`) is dropped. `TableRef` is neither `Send` nor `Sync` (raw pointer field), so it
        // never outlives its thread's cache.
        unsafe { &*self.table }
    }
}

impl TableRef {
    fn credit_directly(&self, mut delivered: u64) {
        while delivered != 0 {
            let i = delivered.trailing_zeros() as usize;
            delivered &= delivered - 1;
            if let Some(entry) = self.get().entries().get(i) {
                entry.add_delivered(1);
            }
        }
    }
}

impl Drop for TableRef {
    fn drop(&mut self) {
        let Some(cache) = self.cache else {
            return;
        };
        let (table, index, delivered) = (self.table, self.slot, self.delivered);
        let outcome = cache.try_with(|cell| {
            let mut c = cell.borrow_mut();
            c.active -= 1;
            let mut left = delivered;
            if left != 0 {
                if let Some(slot) = c.slots[index].as_mut() {
                    if Arc::as_ptr(&slot.table) == table {
                        slot.credit(left);
                        left = 0;
                    }
                }
            }
            let dead = if c.active == 0 && !c.graveyard.is_empty() {
                Some(std::mem::take(&mut c.graveyard))
            } else {
                None
            };
            (dead, left)
        });
        match outcome {
            Ok((dead, left)) => {
                // The snapshot left the cache while we ran: credit its entries directly. This
                // must happen before `dead` drops: `dead` may hold the last reference to it.
                if left != 0 {
                    self.credit_directly(left);
                }
                // Dropped outside the borrow: a handler's destructor may itself emit.
                drop(dead);
            }
            Err(_) => self.credit_directly(delivered),
        }
    }
}
