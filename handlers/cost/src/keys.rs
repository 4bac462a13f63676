//! The resolve-once cache: a fixed-capacity, lock-free hash table from an event's
//! (tenant, provider, model) strings to what they resolve to (the model's price, the totals cell,
//! the budget scopes), so a call of a known key costs one hash, a probe and atomic adds.
//!
//! Slots are `OnceLock`s filled once and never emptied: a reader loads a slot without locking;
//! inserts (the cold path, once per key) take a mutex, probe again and fill the first empty slot.
//! The number of keys is capped (`CostTrackerBuilder::max_keys`), so hostile tenant or model
//! names cannot grow memory without bound; past the cap, calls take the slow path and land in
//! the overflow totals. Keys whose model has no price count against a separate, smaller cap
//! ([`MAX_UNPRICED_KEYS`]), so junk model names never take the room priced calls need. Whether a
//! key gets room is decided under the insert lock, by the same call that creates its totals, so
//! concurrent first calls never overshoot the cap. The hash is `foldhash` with a per-process
//! random seed.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::atomic::AtomicUsd;
use crate::budget::Scope;
use crate::price::Rates;
use crate::usage::CallIdentity;

/// The running totals of one (tenant, provider, model).
#[derive(Debug)]
pub(crate) struct KeyTotals {
    pub(crate) tenant: String,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) cost: AtomicUsd,
    pub(crate) calls: AtomicU64,
}

impl KeyTotals {
    pub(crate) fn new(tenant: &str, provider: &str, model: &str) -> Self {
        KeyTotals {
            tenant: tenant.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            cost: AtomicUsd::default(),
            calls: AtomicU64::new(0),
        }
    }
}

/// What a priced key resolves to.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The model's price, flattened.
    pub(crate) rates: Rates,
    /// The provider reported on `llm.cost.calculated`: the event's, else the price table's.
    pub(crate) provider: Arc<str>,
    /// Where the cost adds up.
    pub(crate) totals: Arc<KeyTotals>,
    /// The budget scopes the tenant is charged to.
    pub(crate) scopes: Box<[Arc<Scope>]>,
}

/// One cached key: the event's strings as given, and what they resolve to (`None`: unpriced).
#[derive(Debug)]
pub(crate) struct KeyEntry {
    hash: u64,
    tenant: Box<str>,
    provider: Box<str>,
    model: Box<str>,
    pub(crate) resolved: Option<Resolved>,
}

impl KeyEntry {
    #[inline]
    fn is(&self, hash: u64, id: &CallIdentity<'_>) -> bool {
        self.hash == hash
            && same(self.model.as_bytes(), id.model.as_bytes())
            && same(self.tenant.as_bytes(), id.tenant.as_bytes())
            && same(self.provider.as_bytes(), id.provider.as_bytes())
    }
}

/// Byte equality with the short cases (up to 16 bytes: most tenants, providers and models)
/// done inline with two overlapping word loads instead of a call to `memcmp`.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[at..at + 4]);
        u32::from_le_bytes(w)
    };
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// How many keys of unpriced models are cached (past it, each call of a new unpriced key is
/// looked up again and counted as unpriced: they carry no cost, so nothing is lost).
pub const MAX_UNPRICED_KEYS: usize = 256;

/// The result of an insert.
pub(crate) enum Insert<'a> {
    /// The entry now in the table (this call's, or a racing insert's).
    Cached(&'a KeyEntry),
    /// The table is full; the resolution is handed back for one-off use.
    Full(Option<Box<Resolved>>),
}

/// The table.
pub(crate) struct KeyTable {
    slots: Box<[OnceLock<Box<KeyEntry>>]>,
    mask: usize,
    max_keys: usize,
    /// Keys of priced models (at most `max_keys`).
    len: AtomicUsize,
    /// Keys of unpriced models (at most [`MAX_UNPRICED_KEYS`]).
    unpriced: AtomicUsize,
    hasher: foldhash::fast::RandomState,
    insert: Mutex<()>,
}

impl KeyTable {
    /// A table for up to `max_keys` keys of priced models (at least 1) and
    /// [`MAX_UNPRICED_KEYS`] of unpriced ones, at most half full.
    pub(crate) fn new(max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let capacity = max_keys
            .saturating_add(MAX_UNPRICED_KEYS)
            .saturating_mul(2)
            .next_power_of_two();
        KeyTable {
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            mask: capacity - 1,
            max_keys,
            len: AtomicUsize::new(0),
            unpriced: AtomicUsize::new(0),
            hasher: foldhash::fast::RandomState::default(),
            insert: Mutex::new(()),
        }
    }

    /// The hash of a key.
    #[inline]
    pub(crate) fn hash(&self, id: &CallIdentity<'_>) -> u64 {
        self.hasher.hash_one((id.tenant, id.provider, id.model))
    }

    /// The cached entry for a key, without locking.
    #[inline]
    pub(crate) fn get(&self, hash: u64, id: &CallIdentity<'_>) -> Option<&KeyEntry> {
        let mut index = hash as usize & self.mask;
        // The table is at most half full, so an empty slot ends every probe.
        loop {
            let entry = self.slots[index].get()?;
            if entry.is(hash, id) {
                return Some(entry);
            }
            index = (index + 1) & self.mask;
        }
    }

    /// Resolves and caches a key (cold path). `resolve(room)` runs under the insert lock, told
    /// whether a priced key still has room, so it creates new totals only when the key will be
    /// cached: the cap holds however many threads race on first calls. It returns `None` for an
    /// unpriced model, which is cached against the unpriced cap instead.
    pub(crate) fn insert(
        &self,
        hash: u64,
        id: &CallIdentity<'_>,
        resolve: impl FnOnce(bool) -> Option<Resolved>,
    ) -> Insert<'_> {
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let mut index = hash as usize & self.mask;
        loop {
            match self.slots[index].get() {
                Some(entry) if entry.is(hash, id) => return Insert::Cached(entry),
                Some(_) => index = (index + 1) & self.mask,
                None => break,
            }
        }
        let room = self.len.load(Ordering::Relaxed) < self.max_keys;
        let resolved = resolve(room);
        let count = match &resolved {
            Some(_) if room => &self.len,
            Some(_) => return Insert::Full(resolved.map(Box::new)),
            None if self.unpriced.load(Ordering::Relaxed) < MAX_UNPRICED_KEYS => &self.unpriced,
            None => return Insert::Full(None),
        };
        let entry = Box::new(KeyEntry {
            hash,
            tenant: id.tenant.into(),
            provider: id.provider.into(),
            model: id.model.into(),
            resolved,
        });
        // Only inserts fill slots, and they hold the mutex: the slot is still empty.
        let slot = &self.slots[index];
        let _ = slot.set(entry);
        count.fetch_add(1, Ordering::Relaxed);
        match slot.get() {
            Some(entry) => Insert::Cached(entry),
            // Unreachable: the slot was filled just above and slots are never emptied.
            None => Insert::Full(None),
        }
    }

    /// How many keys of priced models are cached.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether priced keys have reached their cap.
    #[cfg(test)]
    fn is_full(&self) -> bool {
        self.len() >= self.max_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> Resolved {
        Resolved {
            rates: Rates::of(&crate::price::ModelPrice::default()),
            provider: Arc::from("p"),
            totals: Arc::new(KeyTotals::new("t", "p", "m")),
            scopes: Box::new([]),
        }
    }

    #[test]
    fn unpriced_keys_have_their_own_cap() {
        let table = KeyTable::new(2);
        for i in 0..MAX_UNPRICED_KEYS + 10 {
            let name = format!("junk-{i}");
            let key = id("t", &name);
            let inserted = table.insert(table.hash(&key), &key, |room| {
                assert!(room, "unpriced keys never take priced room");
                None
            });
            assert_eq!(matches!(inserted, Insert::Cached(_)), i < MAX_UNPRICED_KEYS);
        }
        assert_eq!(table.len(), 0);
        for name in ["a", "b", "c"] {
            let key = id("t", name);
            let inserted = table.insert(table.hash(&key), &key, |_| Some(resolved()));
            assert_eq!(matches!(inserted, Insert::Cached(_)), name != "c", "{name}");
        }
        assert!(table.is_full());
    }

    fn id<'a>(tenant: &'a str, model: &'a str) -> CallIdentity<'a> {
        CallIdentity {
            model,
            provider: "p",
            tenant,
        }
    }

    #[test]
    fn short_string_equality() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopqrstuvwxyz",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
            // Differ in one byte at each position.
            for i in 0..a.len() {
                let mut c = a.as_bytes().to_vec();
                c[i] ^= 1;
                assert!(!same(a.as_bytes(), &c), "{a} at {i}");
            }
        }
    }

    #[test]
    fn caches_up_to_the_cap() {
        let table = KeyTable::new(3);
        let names: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            let key = id(name, "m");
            let hash = table.hash(&key);
            assert!(table.get(hash, &key).is_none());
            let inserted = table.insert(hash, &key, |room| {
                assert_eq!(room, i < 3, "{i}");
                Some(resolved())
            });
            assert_eq!(matches!(inserted, Insert::Cached(_)), i < 3, "{i}");
        }
        assert_eq!(table.len(), 3);
        assert!(table.is_full());
        for name in &names[..3] {
            let key = id(name, "m");
            assert!(table.get(table.hash(&key), &key).is_some());
        }
        let other = id("t0", "other-model");
        assert!(table.get(table.hash(&other), &other).is_none());
    }
}
