//! The per-thread snapshot cache: which table of each bus this thread uses.
//!
//! Each bus publishes immutable `Arc<Table>` snapshots (`table.rs`) and bumps a generation
//! counter. A thread keeps the last snapshot it used in a small direct-mapped cache ([`SLOTS`]
//! entries, indexed by the bus id): when the slot's bus and generation still match, `execute` uses
//! the snapshot through a raw pointer, with no refcount traffic and no shared cache line written,
//! where `arc-swap` pays two or three atomic read-modify-writes per load. The cache lives in a
//! thread-local with no destructor, so the hot path pays no "is this thread-local still alive"
//! check; a second thread-local ([`Owner`]), touched only when a slot is (re)filled, owns the
//! slots' references and releases them when the thread exits.
//!
//! Inline deliveries are counted per thread in a [`ThreadCounts`] next to the cached snapshot
//! (one writer each: a plain load and store, not an atomic read-modify-write on a shared line);
//! a `ThreadCounts` released by its thread folds its counts into the handlers' shared counters.
//!
//! A handler may emit, and so a nested dispatch may replace a slot whose snapshot an outer
//! dispatch on the same thread still reads: replaced slots therefore go to a graveyard, which is
//! emptied by the next replacement made by an outermost dispatch (`nesting::in_outermost_frame`:
//! no outer frame then holds a pointer), or at thread exit. That keeps the check off the exit of
//! every dispatch; the graveyard holds at most the snapshots replaced since that last outermost
//! replacement.

use std::cell::{RefCell, UnsafeCell};
use std::ptr;
use std::sync::Arc;

use crate::nesting;
use crate::table::{Table, ThreadCounts};

/// How many buses one thread caches snapshots for (a power of two: direct-mapped by bus id).
const SLOTS: usize = 4;

/// One cached snapshot. `table` and `counts` each own one strong reference (from
/// `Arc::into_raw`) while `bus != 0`.
#[derive(Clone, Copy)]
struct Slot {
    bus: u64,
    generation: u64,
    table: *const Table,
    counts: *const ThreadCounts,
}

const EMPTY: Slot = Slot {
    bus: 0,
    generation: 0,
    table: ptr::null(),
    counts: ptr::null(),
};

thread_local! {
    /// The snapshot cache. No destructor: [`Owner`] releases it.
    static CACHE: UnsafeCell<[Slot; SLOTS]> = const { UnsafeCell::new([EMPTY; SLOTS]) };
    /// Owns what the cache points to; touched only when a slot is filled.
    static OWNER: Owner = const { Owner { graveyard: RefCell::new(Vec::new()) } };
}

/// Owns the cache's references and the graveyard; its destructor empties the cache at thread
/// exit.
struct Owner {
    graveyard: RefCell<Vec<(Arc<Table>, Arc<ThreadCounts>)>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let slots = CACHE.with(|cache| {
            // SAFETY: the cache is only touched by this thread, and no dispatch is running on
            // it (thread-local destructors run after the thread's code returned; a destructor
            // that emits sees `OWNER` gone and takes the uncached path). Emptying the slots
            // before releasing anything means no later access can reach a released snapshot.
            unsafe { std::mem::replace(&mut *cache.get(), [EMPTY; SLOTS]) }
        });
        let mut released: Vec<(Arc<Table>, Arc<ThreadCounts>)> =
            std::mem::take(self.graveyard.get_mut());
        for slot in slots {
            if slot.bus != 0 {
                // SAFETY: a non-empty slot owns one strong reference to each (see `Slot`), and
                // the slot was just emptied, so this reclaims each exactly once.
                released.push(unsafe { (Arc::from_raw(slot.table), Arc::from_raw(slot.counts)) });
            }
        }
        release(released);
    }
}

/// Folds the counts of released snapshots and drops them (this may run handler destructors,
/// which may emit: no thread-local borrow is held here).
fn release(released: Vec<(Arc<Table>, Arc<ThreadCounts>)>) {
    for (table, counts) in released {
        table.registry().retire(&counts);
    }
}

/// The cached snapshot of bus `bus` if it is at `generation`: pointers valid until the current
/// `nesting::Frame`'s outermost frame ends on this thread.
#[inline(always)]
pub(crate) fn cached(bus: u64, generation: u64) -> Option<(*const Table, *const ThreadCounts)> {
    CACHE.with(|cache| {
        // SAFETY: only this thread touches its cache, and nothing else borrows it right now (no
        // reference into it outlives these functions).
        let slot = unsafe { &(*cache.get())[(bus as usize) & (SLOTS - 1)] };
        (slot.bus == bus && slot.generation == generation).then_some((slot.table, slot.counts))
    })
}

/// Cold path: caches the bus's current snapshot for this thread. `None` when the thread is
/// exiting (its cache is gone): the caller then works from an owned snapshot.
///
/// Must be called inside a `nesting::Frame`: the replaced snapshot goes to the graveyard, so pointers an
/// outer dispatch on this thread still holds stay valid until the outermost frame ends. Called by
/// an outermost dispatch (one frame), it first empties the graveyard: no frame then holds a
/// pointer into it (the caller's own lookup missed, so it holds none either).
#[cold]
#[inline(never)]
pub(crate) fn adopt(
    bus: u64,
    current: impl FnOnce() -> Arc<Table>,
) -> Option<(*const Table, *const ThreadCounts)> {
    if nesting::in_outermost_frame() {
        let dead = OWNER
            .try_with(|owner| std::mem::take(&mut *owner.graveyard.borrow_mut()))
            .unwrap_or_default();
        // Released before this dispatch takes any pointer: a destructor that emits runs a
        // nested dispatch, whose own replacements go to the graveyard as usual.
        release(dead);
    }
    let table = current();
    OWNER
        .try_with(|owner| {
            let counts = table.registry().register(&table);
            let fresh = Slot {
                bus,
                generation: table.generation,
                table: Arc::into_raw(Arc::clone(&table)),
                counts: Arc::into_raw(counts),
            };
            let old = CACHE.with(|cache| {
                // SAFETY: only this thread touches its cache; no reference into it is live.
                unsafe {
                    std::mem::replace(&mut (*cache.get())[(bus as usize) & (SLOTS - 1)], fresh)
                }
            });
            if old.bus != 0 {
                // SAFETY: the slot owned one strong reference to each; it was just overwritten,
                // so each is reclaimed exactly once.
                let old = unsafe { (Arc::from_raw(old.table), Arc::from_raw(old.counts)) };
                owner.graveyard.borrow_mut().push(old);
            }
            (fresh.table, fresh.counts)
        })
        .ok()
}
