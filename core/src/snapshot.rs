//! The per-thread side of dispatch: which snapshot of a bus's dispatch table this thread uses,
//! how deep it is nested in handlers, and its inline delivery counts.
//!
//! Each bus publishes immutable `Arc<Table>` snapshots and bumps a generation counter. A thread
//! keeps the last snapshot it used in a small direct-mapped cache ([`SLOTS`] entries, indexed by
//! the bus id): when the slot's bus and generation still match, `execute` uses the snapshot through
//! a raw pointer, with no refcount traffic and no shared cache line written, where `arc-swap` pays
//! two or three atomic read-modify-writes per load. The cache lives in a thread-local with no
//! destructor, so the hot path pays no "is this thread-local still alive" check; a second
//! thread-local ([`Owner`]), touched only when a slot is (re)filled, owns the slots' references
//! and releases them when the thread exits.
//!
//! Inline deliveries are counted per thread in a [`ThreadCounts`] next to the cached snapshot: the
//! owning thread is the only writer, so a count is a plain load and store, not an atomic
//! read-modify-write on a line every emitting thread shares. Each bus registers every live
//! `ThreadCounts` ([`CountRegistry`]), so `stats()` adds them up and is exact at any time; a
//! `ThreadCounts` released by its thread (its slot replaced, or the thread exiting) folds its
//! counts into the handlers' shared counters and leaves the registry, under the registry's lock.
//!
//! Nesting: one `u64` per thread holds the handler nesting depth (low byte: the depth limit),
//! the number of inline dispatches running on this thread (frames), and one bit per depth saying
//! that a handler at that depth changed the current span (see [`span_at`]). A dispatch saves the
//! word on entry and stores it back on exit: one load and two stores. A handler may emit, and so
//! a nested dispatch may replace a slot whose snapshot an outer dispatch on the same thread still
//! reads: replaced slots therefore go to a graveyard, which is emptied by the next replacement
//! made by an outermost dispatch (no outer frame then holds a pointer), or at thread exit. That
//! keeps the check off the exit of every dispatch; the graveyard holds at most the snapshots
//! replaced since that last outermost replacement.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::bus::{BusInner, HandlerEntry, MAX_DEPTH, Table};
use crate::context::{self, SpanContext};

/// How many buses one thread caches snapshots for (a power of two: direct-mapped by bus id).
const SLOTS: usize = 4;

/// The low byte of the thread state: the handler nesting depth.
pub(crate) const DEPTH_MASK: u64 = 0xff;
/// Bits 8..8+DEPTHS: "the span current at depth d's dispatch was saved in `SAVED[d]`".
const SAVED_SHIFT: u32 = 8;
/// Depths a handler can run at (1..=MAX_DEPTH+1 on a worker thread).
const DEPTHS: usize = MAX_DEPTH as usize + 2;
/// One inline dispatch frame plus one level of depth.
const FRAME: u64 = (1 << 32) + 1;
/// The frame count bits.
const FRAMES_MASK: u64 = 0xffff_ffff << 32;

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
    /// Depth, saved-span bits and frames (see the module docs).
    static STATE: Cell<u64> = const { Cell::new(0) };
    /// Per depth: the span that was current when the dispatch running handlers at that depth
    /// began, saved by the first `context::enter` of one of those handlers.
    static SAVED: [Cell<Option<SpanContext>>; DEPTHS] = const { [const { Cell::new(None) }; DEPTHS] };
    /// The snapshot cache. No destructor: [`Owner`] releases it.
    static CACHE: UnsafeCell<[Slot; SLOTS]> = const { UnsafeCell::new([EMPTY; SLOTS]) };
    /// Owns what the cache points to; touched only when a slot is filled.
    static OWNER: Owner = const { Owner { graveyard: RefCell::new(Vec::new()) } };
}

/// One thread's inline delivery counts for one snapshot, index for index with its entries.
pub(crate) struct ThreadCounts {
    entries: Box<[Arc<HandlerEntry>]>,
    counts: Box<[AtomicU64]>,
}

impl ThreadCounts {
    /// Counts one delivery to entry `index` of the snapshot these counts were made for. Only
    /// the owning thread calls this.
    #[inline(always)]
    pub(crate) fn add(&self, index: usize) {
        debug_assert!(index < self.counts.len());
        // SAFETY: `counts` has one cell per entry of the snapshot it was registered for
        // (`CountRegistry::register`), and the bus only passes indices into that snapshot's
        // entries (`Table::by_name` is built from the same `entries`).
        let count = unsafe { self.counts.get_unchecked(index) };
        // One writer (this thread): a load and a store, no read-modify-write. `stats()` reads it
        // with a relaxed load and may miss only the deliveries of this instant.
        count.store(
            count.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }
}

/// Every live [`ThreadCounts`] of one bus.
#[derive(Default)]
pub(crate) struct CountRegistry {
    live: Mutex<Vec<Arc<ThreadCounts>>>,
}

impl CountRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ThreadCounts>>> {
        // Nothing panics while the lock is held; stay usable regardless.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, table: &Table) -> Arc<ThreadCounts> {
        let counts = Arc::new(ThreadCounts {
            entries: table.entries().to_vec().into_boxed_slice(),
            counts: table.entries().iter().map(|_| AtomicU64::new(0)).collect(),
        });
        self.lock().push(Arc::clone(&counts));
        counts
    }

    /// Folds `counts` into its handlers' shared counters and forgets it. Call only once no
    /// thread will count into it again.
    fn retire(&self, counts: &Arc<ThreadCounts>) {
        let mut live = self.lock();
        for (entry, count) in counts.entries.iter().zip(counts.counts.iter()) {
            let n = count.swap(0, Ordering::Relaxed);
            if n > 0 {
                entry.add_delivered(n);
            }
        }
        live.retain(|c| !Arc::ptr_eq(c, counts));
    }

    /// Unfolded inline deliveries per handler entry (keyed by the entry's address).
    pub(crate) fn pending(&self) -> HashMap<*const HandlerEntry, u64> {
        let mut pending = HashMap::new();
        for counts in self.lock().iter() {
            for (entry, count) in counts.entries.iter().zip(counts.counts.iter()) {
                *pending.entry(Arc::as_ptr(entry)).or_insert(0) += count.load(Ordering::Relaxed);
            }
        }
        pending
    }
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

/// This thread's state word (depth in the low byte).
#[inline(always)]
pub(crate) fn state() -> u64 {
    STATE.with(Cell::get)
}

/// The nesting depth of the events being handled on this thread: 0 outside any handler, else
/// the depth their dispatch ran at (handlers themselves run one level deeper). Read only when a
/// handler copies an event, never on the dispatch path.
pub(crate) fn emitted_depth() -> u8 {
    ((state() & DEPTH_MASK) as u8).saturating_sub(1)
}

/// The span that was current when the dispatch whose handlers run at `depth` began: what an
/// event emitted without an explicit span belongs to. The bus does not copy it per event; a
/// handler that makes another span current first saves the dispatch's span ([`saving_current`]).
pub(crate) fn span_at(depth: u8) -> Option<SpanContext> {
    let saved = STATE.with(Cell::get) & (1 << (SAVED_SHIFT + u32::from(depth))) != 0;
    if saved {
        if let Some(span) = SAVED.with(|s| s.get(usize::from(depth)).map(Cell::get)) {
            return span;
        }
    }
    context::current()
}

/// Called by `context::enter` before it replaces the current span: inside a handler, the first
/// change saves the span current at dispatch, so events being handled keep reporting it.
#[inline]
pub(crate) fn saving_current(current: Option<SpanContext>) {
    STATE.with(|s| {
        let state = s.get();
        let depth = (state & DEPTH_MASK) as u32;
        let bit = 1u64 << (SAVED_SHIFT + depth);
        if depth > 0 && (depth as usize) < DEPTHS && state & bit == 0 {
            SAVED.with(|saved| saved[depth as usize].set(current));
            s.set(state | bit);
        }
    });
}

/// One inline dispatch running on this thread: one more frame and one more level of depth until
/// it drops.
pub(crate) struct Frame(u64);

impl Frame {
    /// `state` is the thread's state word, as [`state`] read it just before.
    #[inline(always)]
    pub(crate) fn enter(state: u64) -> Frame {
        STATE.with(|s| s.set(state + FRAME));
        Frame(state)
    }
}

impl Drop for Frame {
    #[inline(always)]
    fn drop(&mut self) {
        // Back to the state at entry (which also forgets spans saved by this frame's handlers).
        STATE.with(|s| s.set(self.0));
    }
}

/// Sets the depth for a queued handler's call on a worker thread (no frame: the worker holds no
/// cached pointer across the call); restores it when dropped.
pub(crate) struct DepthGuard {
    previous: u64,
}

impl DepthGuard {
    pub(crate) fn enter(depth: u8) -> Self {
        let previous = STATE.with(|s| s.replace((s.get() & !DEPTH_MASK) | u64::from(depth)));
        Self { previous }
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        STATE.with(|s| s.set(self.previous));
    }
}

/// The cached snapshot of bus `bus` if it is at `generation`: pointers valid until the current
/// [`Frame`]'s outermost frame ends on this thread.
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
/// Must be called inside a [`Frame`]: the replaced snapshot goes to the graveyard, so pointers an
/// outer dispatch on this thread still holds stay valid until the outermost frame ends. Called by
/// an outermost dispatch (one frame), it first empties the graveyard: no frame then holds a
/// pointer into it (the caller's own lookup missed, so it holds none either).
#[cold]
#[inline(never)]
pub(crate) fn adopt(bus: &BusInner) -> Option<(*const Table, *const ThreadCounts)> {
    if STATE.with(Cell::get) & FRAMES_MASK == FRAME & FRAMES_MASK {
        let dead = OWNER
            .try_with(|owner| std::mem::take(&mut *owner.graveyard.borrow_mut()))
            .unwrap_or_default();
        // Released before this dispatch takes any pointer: a destructor that emits runs a
        // nested dispatch, whose own replacements go to the graveyard as usual.
        release(dead);
    }
    let table = bus.current_table();
    OWNER
        .try_with(|owner| {
            let counts = table.registry().register(&table);
            let fresh = Slot {
                bus: bus.id,
                generation: table.generation,
                table: Arc::into_raw(Arc::clone(&table)),
                counts: Arc::into_raw(counts),
            };
            let old = CACHE.with(|cache| {
                // SAFETY: only this thread touches its cache; no reference into it is live.
                unsafe {
                    std::mem::replace(&mut (*cache.get())[(bus.id as usize) & (SLOTS - 1)], fresh)
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
