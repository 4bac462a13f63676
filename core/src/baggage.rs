//! Baggage: a few key/value strings that every span of a trace carries in its [`SpanContext`],
//! so that spans which do not name them (a library's own child spans) still know them.
//!
//! The core gives the keys no meaning: a handler crate declares the metadata keys to carry with
//! [`carry`] (the OpenTelemetry handler carries the tenant and the service, which decide a
//! trace's project). A span that starts a trace here (no parent, or a remote one) copies the
//! values it is given under those keys into its context's baggage; every descendant inherits that
//! baggage unchanged, whatever it names itself, so the whole trace agrees on them. Code can also
//! set values itself with [`Baggage::with`] on a context it then [`crate::context::enter`]s.
//!
//! A baggage is a `u32` id into a process-wide table of interned sets, so a [`SpanContext`] stays
//! `Copy` and its size does not change. Lookups read the table without a lock; making a new set
//! takes a mutex, behind a per-thread cache of recent sets, so a steady stream of traces of the
//! same tenants takes none. The table is bounded: at most [`MAX_SETS`] distinct sets, each of at
//! most [`MAX_PAIRS`] pairs, values cut to [`MAX_VALUE_LEN`] bytes. Past that, new sets are not
//! made: [`Baggage::with`] answers [`Baggage::is_overflow`] and readers fall back to what each
//! span names itself.
//!
//! [`SpanContext`]: crate::context::SpanContext

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Most distinct baggage sets made in a process.
pub const MAX_SETS: usize = CHUNKS * CHUNK;
/// Most key/value pairs in one set.
pub const MAX_PAIRS: usize = 8;
/// Longest value kept, in bytes (longer ones are cut on a char boundary).
pub const MAX_VALUE_LEN: usize = 128;
/// Most keys [`carry`] accepts.
pub const MAX_CARRIED: usize = 8;

const CHUNK: usize = 256;
const CHUNKS: usize = 128;
const OVERFLOW: u32 = u32::MAX;

/// The baggage of a span context: an interned set of key/value strings (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Baggage(u32);

type Pairs = &'static [(&'static str, &'static str)];

impl Baggage {
    /// No values.
    pub const EMPTY: Baggage = Baggage(0);

    /// Whether it holds no values (the overflow marker holds none either).
    pub fn is_empty(self) -> bool {
        self.pairs().is_empty()
    }

    /// Whether a set could not be made because the table was full: the values of this trace
    /// are unknown, and readers should use what each span names itself.
    pub fn is_overflow(self) -> bool {
        self.0 == OVERFLOW
    }

    /// The value under `key`.
    pub fn get(self, key: &str) -> Option<&'static str> {
        self.pairs()
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, key) || *k == key)
            .map(|(_, v)| *v)
    }

    /// Every key and value, in the order they were first set.
    pub fn iter(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        self.pairs().iter().copied()
    }

    /// This baggage with `key` set to `value` (cut to [`MAX_VALUE_LEN`] bytes). Overflow stays
    /// overflow; a full table or a set of [`MAX_PAIRS`] gives overflow.
    pub fn with(self, key: &'static str, value: &str) -> Baggage {
        if self.is_overflow() {
            return self;
        }
        let value = cut(value);
        if self.get(key) == Some(value) {
            return self;
        }
        if let Some(hit) = cached(self, key, value) {
            return hit;
        }
        let made = intern(self, key, value);
        remember(self, key, made);
        made
    }

    fn pairs(self) -> Pairs {
        if self.0 == 0 || self.0 == OVERFLOW {
            return &[];
        }
        let index = (self.0 - 1) as usize;
        CHUNKS_TABLE[index / CHUNK]
            .get()
            .and_then(|chunk| chunk[index % CHUNK].get())
            .copied()
            .unwrap_or(&[])
    }

    /// The raw id, for the queued lane's records.
    pub(crate) fn to_raw(self) -> u32 {
        self.0
    }

    /// From [`Baggage::to_raw`]: any id read back from a record was made here.
    pub(crate) fn from_raw(raw: u32) -> Baggage {
        Baggage(raw)
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_overflow() {
            return f.write_str("Baggage(overflow)");
        }
        f.debug_map().entries(self.iter()).finish()
    }
}

/// How many times a set could not be made because the table was full.
pub fn overflow_count() -> u64 {
    OVERFLOWS.load(Ordering::Relaxed)
}

/// Carries `key`: a trace's first local span copies the string it is given under `key` into its
/// baggage, and every span of the trace inherits it. False when [`MAX_CARRIED`] other keys are
/// carried already. Idempotent.
pub fn carry(key: &'static str) -> bool {
    let _guard = CARRY_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let len = CARRIED_LEN.load(Ordering::Acquire);
    if CARRIED[..len].iter().any(|k| k.get() == Some(&key)) {
        return true;
    }
    if len >= MAX_CARRIED || CARRIED[len].set(key).is_err() {
        return false;
    }
    CARRIED_LEN.store(len + 1, Ordering::Release);
    true
}

/// The keys carried so far.
pub fn carried() -> impl Iterator<Item = &'static str> {
    let len = CARRIED_LEN.load(Ordering::Acquire);
    CARRIED[..len].iter().filter_map(|k| k.get().copied())
}

/// Whether any key is carried (one relaxed load: the span-start check).
#[inline]
pub(crate) fn any_carried() -> bool {
    CARRIED_LEN.load(Ordering::Relaxed) != 0
}

fn cut(value: &str) -> &str {
    if value.len() <= MAX_VALUE_LEN {
        return value;
    }
    let mut end = MAX_VALUE_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

type Chunk = Box<[OnceLock<Pairs>]>;

static CHUNKS_TABLE: [OnceLock<Chunk>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];
static OVERFLOWS: AtomicU64 = AtomicU64::new(0);
static CARRIED: [OnceLock<&'static str>; MAX_CARRIED] = [const { OnceLock::new() }; MAX_CARRIED];
static CARRIED_LEN: AtomicUsize = AtomicUsize::new(0);
static CARRY_LOCK: Mutex<()> = Mutex::new(());

#[derive(Default)]
struct Interner {
    /// (base id, key, value) → the id of base with key set to value.
    derived: HashMap<(u32, &'static str, &'static str), u32>,
    /// Set contents → id, so one set has one id however it was reached.
    sets: HashMap<Pairs, u32>,
    /// Every value kept (each stored once).
    values: HashSet<&'static str>,
    /// Ids handed out so far.
    next: u32,
}

static INTERNER: Mutex<Option<Interner>> = Mutex::new(None);

#[cold]
#[inline(never)]
fn intern(base: Baggage, key: &'static str, value: &str) -> Baggage {
    let mut guard = INTERNER.lock().unwrap_or_else(PoisonError::into_inner);
    let interner = guard.get_or_insert_with(Interner::default);
    {
        // Covariance lets a `'static` map answer a lookup by a borrowed value.
        let derived: &HashMap<(u32, &str, &str), u32> = &interner.derived;
        if let Some(id) = derived.get(&(base.0, key, value)) {
            return Baggage(*id);
        }
    }
    let mut pairs: Vec<(&'static str, &'static str)> = base.iter().collect();
    let position = pairs.iter().position(|(k, _)| *k == key);
    if position.is_none() && pairs.len() >= MAX_PAIRS {
        return overflow();
    }
    let full = interner.next as usize >= MAX_SETS;
    let stored_value = match interner.values.get(value) {
        Some(v) => *v,
        None if full || interner.values.len() >= MAX_SETS => return overflow(),
        None => {
            // Bounded: at most MAX_SETS values of at most MAX_VALUE_LEN bytes for the process.
            let leaked: &'static str = Box::leak(Box::from(value));
            interner.values.insert(leaked);
            leaked
        }
    };
    match position {
        Some(i) => pairs[i].1 = stored_value,
        None => pairs.push((key, stored_value)),
    }
    let id = match interner.sets.get(pairs.as_slice()) {
        Some(id) => *id,
        None if full => return overflow(),
        None => {
            let id = interner.next + 1;
            let index = interner.next as usize;
            // Bounded by MAX_SETS sets of at most MAX_PAIRS pairs.
            let stored: Pairs = Box::leak(pairs.into_boxed_slice());
            let chunk = CHUNKS_TABLE[index / CHUNK]
                .get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
            // Only this thread, under the interner's lock, sets the slot of a fresh id.
            let _ = chunk[index % CHUNK].set(stored);
            interner.next += 1;
            interner.sets.insert(stored, id);
            id
        }
    };
    // Bounded too: past this many, derivations are found through `sets` instead.
    if interner.derived.len() < 4 * MAX_SETS {
        interner.derived.insert((base.0, key, stored_value), id);
    }
    Baggage(id)
}

fn overflow() -> Baggage {
    OVERFLOWS.fetch_add(1, Ordering::Relaxed);
    Baggage(OVERFLOW)
}

// ---------------------------------------------------------------------------------------------
// The per-thread cache of recent derivations
// ---------------------------------------------------------------------------------------------

const CACHED: usize = 8;

thread_local! {
    /// (base id, key, the derived set's id); the value is the derived set's own value of key.
    static RECENT: [Cell<(u32, &'static str, u32)>; CACHED] =
        const { [const { Cell::new((OVERFLOW, "", 0)) }; CACHED] };
    static NEXT_SLOT: Cell<usize> = const { Cell::new(0) };
}

fn cached(base: Baggage, key: &'static str, value: &str) -> Option<Baggage> {
    RECENT.with(|recent| {
        recent.iter().find_map(|slot| {
            let (from, k, to) = slot.get();
            (from == base.0 && std::ptr::eq(k, key) && Baggage(to).get(key) == Some(value))
                .then_some(Baggage(to))
        })
    })
}

fn remember(base: Baggage, key: &'static str, made: Baggage) {
    if made.is_overflow() {
        return;
    }
    let slot = NEXT_SLOT.with(|n| {
        let slot = n.get();
        n.set((slot + 1) % CACHED);
        slot
    });
    RECENT.with(|recent| recent[slot].set((base.0, key, made.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_interned_and_read_back() {
        let a = Baggage::EMPTY.with("bg.test.tenant", "acme");
        assert_eq!(a.get("bg.test.tenant"), Some("acme"));
        assert_eq!(
            a,
            Baggage::EMPTY.with("bg.test.tenant", "acme"),
            "one id per set"
        );
        let b = a.with("bg.test.service", "search");
        assert_eq!(b.get("bg.test.tenant"), Some("acme"));
        assert_eq!(b.get("bg.test.service"), Some("search"));
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [("bg.test.tenant", "acme"), ("bg.test.service", "search")]
        );
        let c = b.with("bg.test.tenant", "globex");
        assert_eq!(c.get("bg.test.tenant"), Some("globex"));
        assert_eq!(b.get("bg.test.tenant"), Some("acme"), "sets never change");
        assert_eq!(a.with("bg.test.tenant", "acme"), a);
        assert!(Baggage::EMPTY.is_empty() && !a.is_empty());
        assert_eq!(format!("{a:?}"), r#"{"bg.test.tenant": "acme"}"#);
    }

    #[test]
    fn long_values_are_cut_and_pairs_are_bounded() {
        let long = "é".repeat(100);
        let b = Baggage::EMPTY.with("bg.test.long", &long);
        let kept = b.get("bg.test.long").unwrap();
        assert!(kept.len() <= MAX_VALUE_LEN && long.starts_with(kept));
        const KEYS: [&str; MAX_PAIRS + 1] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"];
        let mut b = Baggage::EMPTY;
        for key in &KEYS[..MAX_PAIRS] {
            b = b.with(key, "v");
        }
        assert!(!b.is_overflow());
        let before = overflow_count();
        let over = b.with(KEYS[MAX_PAIRS], "v");
        assert!(over.is_overflow() && over.get("k0").is_none());
        assert!(overflow_count() > before);
        assert!(
            over.with("k0", "w").is_overflow(),
            "overflow stays overflow"
        );
    }

    #[test]
    fn raw_ids_round_trip() {
        let b = Baggage::EMPTY.with("bg.test.raw", "x");
        assert_eq!(Baggage::from_raw(b.to_raw()), b);
    }
}
