//! The dispatch table: which handlers each event name reaches, kept by the bus's writer
//! ([`Routes`]) and published to emitting threads as immutable snapshots ([`Table`]).
//!
//! Attach and detach change [`Routes`] in place, touching only the names the handler's patterns
//! match: an exact pattern (`llm.chat.stop`) is interned and reaches its one name directly, a
//! wildcard pattern is matched against the registered names once, and a name registered later is
//! matched against the wildcard handlers only. A handler may decline names its patterns match
//! ([`Handler::wants`], asked here and never per event). Each name's subscriber list is an `Arc<[..]>` that
//! snapshots share until that name changes, and a [`Table`] is built from the routes lazily, by
//! the first emit (or stats call) after a change, so attaching 10,000 handlers costs 10,000 small
//! updates and one build instead of 10,000 rebuilds of every name. Emitting threads never see
//! [`Routes`]; they read a [`Table`] through their per-thread cache (`snapshot.rs`).
//!
//! Handlers keep a slot for as long as they are attached, in attach order; a detach leaves a hole
//! that a compaction (when more than half the slots are holes) closes, keeping the order. A slot
//! index is what a thread's [`ThreadCounts`] counts inline deliveries by, one cell per slot of
//! the table it was registered for.
//!
//! A subscriber's slot index also carries one bit, [`IN_SPAN_ONLY`], set when its handler takes
//! that name only inside a span ([`Handler::only_in_span`], asked with `wants`): the dispatch
//! tests it on the index it has already loaded, so a route without the bit costs one branch and
//! no extra load, and a route with it is skipped, before any queue, for an event with no span.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::handler::{Delivery, Handler};
use crate::name::{EventName, Pattern, registered_from};
use crate::queue::Lane;
use crate::stats::{HandlerCounters, bump};

/// One attached handler, shared by every table it is in.
pub(crate) struct HandlerEntry {
    pub(crate) id: Arc<str>,
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) delivery: Delivery,
    pub(crate) counters: HandlerCounters,
    pub(crate) lane: Option<Arc<Lane>>,
    /// Set once, when the handler is detached after a failure.
    pub(crate) failed: AtomicBool,
}

impl HandlerEntry {
    /// Whether events named `name` reach this handler: a pattern matches and the handler wants
    /// them ([`Handler::wants`]).
    fn takes(&self, name: &EventName) -> bool {
        self.patterns.iter().any(|p| p.matches(name)) && self.handler.wants(*name)
    }

    /// The subscriber index of this handler, in slot `slot`, for the name `name` it takes:
    /// the slot, with [`IN_SPAN_ONLY`] if the handler takes `name` only inside a span.
    fn route_index(&self, slot: usize, name: EventName) -> usize {
        if self.handler.only_in_span(name) {
            slot | IN_SPAN_ONLY
        } else {
            slot
        }
    }

    pub(crate) fn add_delivered(&self, count: u64) {
        bump(&self.counters.delivered, count);
    }
}

/// The bit of a subscriber index saying the handler takes the name only when the event has a
/// span (the rest of the index is the slot). Slots never reach it: a table holds far fewer
/// handlers than `usize::MAX / 2`.
pub(crate) const IN_SPAN_ONLY: usize = 1 << (usize::BITS - 1);

/// The handlers of one event name, in attach order, each with its slot in [`Table::slots`]
/// (plus the [`IN_SPAN_ONLY`] bit when set).
pub(crate) type Subscribers = Arc<[(usize, Arc<HandlerEntry>)]>;

/// An immutable snapshot of the routes: what one emit reads.
pub(crate) struct Table {
    /// The generation this table was built at.
    pub(crate) generation: u64,
    /// Handlers by slot (attach order); `None` is a detached handler's hole.
    slots: Box<[Option<Arc<HandlerEntry>>]>,
    /// Indexed by name id; covers the names registered when the routes last looked.
    by_name: Box<[Subscribers]>,
    /// The bus's registry of per-thread inline delivery counts.
    registry: Arc<CountRegistry>,
}

impl Table {
    /// An empty table (a new bus).
    pub(crate) fn empty(registry: Arc<CountRegistry>) -> Self {
        Self {
            generation: 0,
            slots: Box::new([]),
            by_name: Box::new([]),
            registry,
        }
    }

    /// The handlers of the name with id `name`; `None` for a name this table does not cover
    /// (registered after it was built, so nobody listened to it then).
    #[inline(always)]
    pub(crate) fn subscribers(&self, name: usize) -> Option<&[(usize, Arc<HandlerEntry>)]> {
        self.by_name.get(name).map(|s| &**s)
    }

    /// The attached handlers in attach order.
    pub(crate) fn entries(&self) -> impl DoubleEndedIterator<Item = &Arc<HandlerEntry>> + '_ {
        self.slots.iter().flatten()
    }

    /// Handlers by slot, holes included.
    pub(crate) fn slots(&self) -> &[Option<Arc<HandlerEntry>>] {
        &self.slots
    }

    pub(crate) fn registry(&self) -> &CountRegistry {
        &self.registry
    }
}

/// One slot of the routes.
struct Route {
    entry: Arc<HandlerEntry>,
    /// The ids of the names it is subscribed to, ascending.
    names: Vec<usize>,
}

/// How a change moved the bus's per-name interest: `(name id, someone listens now)` for each
/// name whose list went from empty to not, or back (or was seen for the first time).
pub(crate) type InterestChanges = Vec<(usize, bool)>;

/// The writer's mutable view of the table (see the module docs). Lives behind the bus's writer
/// lock.
pub(crate) struct Routes {
    slots: Vec<Option<Route>>,
    live: usize,
    ids: HashMap<Arc<str>, usize>,
    /// Slots whose handlers have a wildcard pattern (or an exact one that could not be
    /// interned): the only ones a newly registered name needs to be matched against.
    wildcard: Vec<usize>,
    by_name: Vec<Subscribers>,
    /// Shared by every name nobody listens to.
    empty: Subscribers,
    /// Bumped by every change emitting threads must see.
    generation: u64,
    /// The table for `generation`, once built.
    built: Option<Arc<Table>>,
    registry: Arc<CountRegistry>,
}

impl Routes {
    /// Routes with no handler, publishing `table` (generation 0).
    pub(crate) fn new(table: Arc<Table>) -> Self {
        Self {
            slots: Vec::new(),
            live: 0,
            ids: HashMap::new(),
            wildcard: Vec::new(),
            by_name: Vec::new(),
            empty: Arc::from(Vec::new()),
            generation: table.generation,
            registry: Arc::clone(&table.registry),
            built: Some(table),
        }
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether any handler is attached.
    pub(crate) fn any(&self) -> bool {
        self.live > 0
    }

    /// Whether a handler `id` is attached.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// The attached handler `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<HandlerEntry>> {
        let slot = *self.ids.get(id)?;
        self.slots.get(slot)?.as_ref().map(|r| &r.entry)
    }

    /// The attached handlers in attach order.
    pub(crate) fn entries(&self) -> impl DoubleEndedIterator<Item = &Arc<HandlerEntry>> + '_ {
        self.slots.iter().flatten().map(|r| &r.entry)
    }

    /// The table for the current generation, built now if a change came after the last build.
    pub(crate) fn table(&mut self) -> Arc<Table> {
        if let Some(table) = &self.built {
            return Arc::clone(table);
        }
        let table = Arc::new(Table {
            generation: self.generation,
            slots: self
                .slots
                .iter()
                .map(|r| r.as_ref().map(|r| Arc::clone(&r.entry)))
                .collect(),
            by_name: self.by_name.iter().cloned().collect(),
            registry: Arc::clone(&self.registry),
        });
        self.built = Some(Arc::clone(&table));
        table
    }

    /// Takes in the names registered since the routes last looked, matching each against the
    /// wildcard handlers. Returns their interest; bumps the generation only if one of them has a
    /// listener (a table without a name nobody listens to is still right).
    pub(crate) fn cover_new_names(&mut self) -> InterestChanges {
        let first = self.by_name.len();
        let names = registered_from(first);
        let mut changes = Vec::with_capacity(names.len());
        let mut changed = false;
        for (offset, name) in names.iter().enumerate() {
            let id = first + offset;
            debug_assert_eq!(name.id(), id);
            let mut list = Vec::new();
            for &slot in &self.wildcard {
                if let Some(route) = &mut self.slots[slot] {
                    if route.entry.takes(name) {
                        route.names.push(id);
                        let index = route.entry.route_index(slot, *name);
                        list.push((index, Arc::clone(&route.entry)));
                    }
                }
            }
            changed |= !list.is_empty();
            changes.push((id, !list.is_empty()));
            self.by_name.push(if list.is_empty() {
                Arc::clone(&self.empty)
            } else {
                Arc::from(list)
            });
        }
        if changed {
            self.bump();
        }
        changes
    }

    /// Adds `entry` (whose id is not attached yet) in a new last slot, to every name its
    /// patterns match. Exact patterns are interned first, so they reach their name directly.
    pub(crate) fn insert(&mut self, entry: Arc<HandlerEntry>) -> InterestChanges {
        let mut names = Vec::new();
        let mut wildcard = false;
        for pattern in &entry.patterns {
            match pattern.exact().map(EventName::new) {
                Some(Ok(name)) if entry.handler.wants(name) => names.push(name),
                Some(Ok(_)) => {}
                // A wildcard, or an exact name the registry has no room for: matched against
                // every name, now and as names arrive.
                _ => wildcard = true,
            }
        }
        let mut changes = self.cover_new_names();
        if wildcard {
            names.extend(
                registered_from(0)
                    .into_iter()
                    .take(self.by_name.len())
                    .filter(|name| entry.takes(name)),
            );
        }
        names.sort_unstable_by_key(EventName::id);
        names.dedup_by_key(|name| name.id());
        let slot = self.slots.len();
        for &event_name in &names {
            let name = event_name.id();
            let list = &mut self.by_name[name];
            let was_empty = list.is_empty();
            let mut grown = Vec::with_capacity(list.len() + 1);
            grown.extend(list.iter().cloned());
            let index = entry.route_index(slot, event_name);
            grown.push((index, Arc::clone(&entry)));
            *list = Arc::from(grown);
            if was_empty {
                changes.push((name, true));
            }
        }
        if wildcard {
            self.wildcard.push(slot);
        }
        self.ids.insert(Arc::clone(&entry.id), slot);
        let names = names.iter().map(EventName::id).collect();
        self.slots.push(Some(Route { entry, names }));
        self.live += 1;
        self.bump();
        changes
    }

    /// Removes handler `id`; `None` if it is not attached.
    pub(crate) fn remove(&mut self, id: &str) -> Option<(Arc<HandlerEntry>, InterestChanges)> {
        let slot = self.ids.remove(id)?;
        let route = self.slots.get_mut(slot)?.take()?;
        let mut changes = Vec::new();
        for &name in &route.names {
            let list = &mut self.by_name[name];
            let kept: Vec<_> = list
                .iter()
                .filter(|(s, _)| *s & !IN_SPAN_ONLY != slot)
                .cloned()
                .collect();
            *list = if kept.is_empty() {
                changes.push((name, false));
                Arc::clone(&self.empty)
            } else {
                Arc::from(kept)
            };
        }
        self.wildcard.retain(|&s| s != slot);
        self.live -= 1;
        if self.slots.len() > 64 && self.live * 2 < self.slots.len() {
            self.compact();
        }
        self.bump();
        Some((route.entry, changes))
    }

    /// Closes the holes, keeping the attach order, and renumbers every reference to a slot.
    fn compact(&mut self) {
        let mut renumbered = vec![usize::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(self.live);
        for (old, route) in self.slots.drain(..).enumerate() {
            if let Some(route) = route {
                renumbered[old] = slots.len();
                slots.push(Some(route));
            }
        }
        self.slots = slots;
        for slot in self.ids.values_mut() {
            *slot = renumbered[*slot];
        }
        for slot in &mut self.wildcard {
            *slot = renumbered[*slot];
        }
        for list in &mut self.by_name {
            if !list.is_empty() {
                *list = list
                    .iter()
                    .map(|(index, entry)| {
                        let flag = *index & IN_SPAN_ONLY;
                        (renumbered[*index & !IN_SPAN_ONLY] | flag, Arc::clone(entry))
                    })
                    .collect();
            }
        }
    }

    fn bump(&mut self) {
        self.generation += 1;
        self.built = None;
    }
}

/// One thread's inline delivery counts for one table, one cell per slot of that table.
pub(crate) struct ThreadCounts {
    entries: Box<[Option<Arc<HandlerEntry>>]>,
    counts: Box<[AtomicU64]>,
}

impl ThreadCounts {
    /// Counts one delivery to slot `slot` of the table these counts were made for. Only the
    /// owning thread calls this.
    #[inline(always)]
    pub(crate) fn add(&self, slot: usize) {
        debug_assert!(slot < self.counts.len());
        // SAFETY: `counts` has one cell per slot of the table it was registered for
        // (`CountRegistry::register`), and the bus only passes slots taken from that table's
        // subscriber lists, which the routes build from the same slots.
        let count = unsafe { self.counts.get_unchecked(slot) };
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

    /// New counts for one thread using `table`.
    pub(crate) fn register(&self, table: &Table) -> Arc<ThreadCounts> {
        let counts = Arc::new(ThreadCounts {
            entries: table.slots().to_vec().into_boxed_slice(),
            counts: table.slots().iter().map(|_| AtomicU64::new(0)).collect(),
        });
        self.lock().push(Arc::clone(&counts));
        counts
    }

    /// Folds `counts` into its handlers' shared counters and forgets it. Call only once no
    /// thread will count into it again.
    pub(crate) fn retire(&self, counts: &Arc<ThreadCounts>) {
        let mut live = self.lock();
        for (entry, count) in counts.entries.iter().zip(counts.counts.iter()) {
            let n = count.swap(0, Ordering::Relaxed);
            if let (Some(entry), true) = (entry, n > 0) {
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
                if let Some(entry) = entry {
                    *pending.entry(Arc::as_ptr(entry)).or_insert(0) +=
                        count.load(Ordering::Relaxed);
                }
            }
        }
        pending
    }
}
