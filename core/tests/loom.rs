//! Loom model checks of the crate's lock-free parts: the queued lane's ring (the real code, run on
//! loom's atomics through `llm_telemetry_core::loom_hooks`) and the publication of dispatch
//! snapshots (a model of the protocol of `bus.rs` and `snapshot.rs`, with the same orderings).
//!
//! Only built under `--cfg loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p llm-telemetry-core --release --test loom
//! ```
//!
//! Loom explores every interleaving of the threads (up to `LOOM_MAX_PREEMPTIONS` preemptions, 2
//! unless set) and every value a weak load may return, and fails on a causality violation (two
//! accesses to a record's bytes not ordered by happens-before), on a deadlock, or on a failed
//! assertion below.

#![cfg(loom)]

use std::sync::atomic::AtomicBool;

use llm_telemetry_core::loom_hooks::Ring;
use llm_telemetry_core::{Event, EventName};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The smallest ring: 32 words. Its reset threshold is 64 bytes (a quarter of the buffer), and its
/// largest inline record 32 bytes: an event with no measurements nor metadata is a 16-byte record,
/// one with a measurement spills (a 24-byte record pointing at a boxed copy).
const BYTES: usize = 256;
/// The ring's size in words.
const UNITS: u64 = (BYTES / 8) as u64;
/// The reset threshold in words.
const RESET_UNITS: u64 = 8;

/// Runs `f` under loom, with at most 2 preemptions per execution unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn name() -> EventName {
    EventName::new("test.loom.ring").unwrap()
}

/// What a producer pushes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A 16-byte record copied into the ring.
    Inline,
    /// An event too big for this ring: boxed, its pointer in a 24-byte record.
    Spilled,
}

/// Event `seq` of producer `producer`: the pair travels as the handler nesting depth.
fn tag(producer: usize, seq: usize) -> u8 {
    (producer * 16 + seq) as u8
}

fn push(ring: &Ring, kind: Kind, tag: u8) -> bool {
    match kind {
        Kind::Inline => ring.push(&Event::new(name(), &[], &[], None), tag),
        Kind::Spilled => ring.push(
            &Event::new(name(), &[("tag", f64::from(tag))], &[], None),
            tag,
        ),
    }
}

/// Pops one event, checking its contents; its tag.
fn pop(ring: &Ring) -> Option<u8> {
    ring.pop_with(|event, depth| {
        assert_eq!(event.name(), name());
        assert!(event.metadata().is_empty());
        match event.measurements() {
            [] => {}
            [("tag", value)] => assert_eq!(*value, f64::from(depth), "spilled contents"),
            other => panic!("corrupt record: {other:?}"),
        }
        depth
    })
}

/// Set when some execution saw the consumer move back to the start of the buffer.
static RESET_SEEN: AtomicBool = AtomicBool::new(false);
/// Set when some execution saw the consumer skip a padding record to the start of the buffer.
static WRAP_SEEN: AtomicBool = AtomicBool::new(false);

/// One pop attempt by the consumer, noting resets and wraps.
fn pop_noting(ring: &Ring) -> Option<u8> {
    let before = ring.head_index();
    let popped = pop(ring);
    let after = ring.head_index();
    if after < before {
        let flag = if popped.is_none() && after == 0 {
            &RESET_SEEN
        } else {
            &WRAP_SEEN
        };
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    popped
}

/// One model: producers push their events concurrently with a consumer making `pops` pop
/// attempts (each may find nothing); then, with every thread joined, the model thread drains the
/// rest as the consumer. Checks that every accepted event comes out exactly once, in its
/// producer's order, intact; that delivered + refused = attempted; that the ring ends empty; and,
/// if `all_fit`, that nothing was refused (the ring never looks full when it is not).
fn run(ring: Ring, producers: &'static [&'static [Kind]], pops: usize, all_fit: bool) {
    let ring = Arc::new(ring);
    let handles: Vec<_> = producers
        .iter()
        .enumerate()
        .map(|(p, kinds)| {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| push(&ring, *kind, tag(p, i)))
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let consumer = {
        let ring = Arc::clone(&ring);
        thread::spawn(move || {
            (0..pops)
                .filter_map(|_| pop_noting(&ring))
                .collect::<Vec<u8>>()
        })
    };
    let accepted: Vec<Vec<bool>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut delivered = consumer.join().unwrap();
    while let Some(tag) = pop_noting(&ring) {
        delivered.push(tag);
    }
    assert!(ring.is_empty(), "claimed but never delivered");
    assert!(!ring.has_ready());

    let attempted: usize = producers.iter().map(|kinds| kinds.len()).sum();
    let refused = accepted.iter().flatten().filter(|a| !**a).count();
    assert_eq!(delivered.len() + refused, attempted, "delivered + refused");
    for (p, accepted) in accepted.iter().enumerate() {
        let expected: Vec<u8> = (0..accepted.len())
            .filter(|i| accepted[*i])
            .map(|i| tag(p, i))
            .collect();
        let got: Vec<u8> = delivered
            .iter()
            .copied()
            .filter(|t| usize::from(*t / 16) == p)
            .collect();
        assert_eq!(got, expected, "producer {p}: exactly once, in order");
    }
    if all_fit {
        assert_eq!(refused, 0, "refused with room to spare");
    }
}

/// Two producers (one of them spilling an event) and the consumer from the start of the buffer:
/// claims racing each other and the consumer's reads and zeroing.
#[test]
fn producers_and_consumer_deliver_each_event_once_in_order() {
    model(|| {
        run(
            Ring::new(64, BYTES),
            &[&[Kind::Inline, Kind::Inline], &[Kind::Spilled]],
            2,
            true,
        );
    });
}

/// An event limit of 2. Three producers' pushes racing one pop: refusals happen, and are counted
/// exactly. Then three pushes and no pop: exactly one is refused, whichever the interleaving.
#[test]
fn a_full_ring_refuses_exactly() {
    model(|| {
        run(
            Ring::new(2, BYTES),
            &[&[Kind::Inline, Kind::Inline], &[Kind::Inline]],
            1,
            false,
        );
    });
    model(|| {
        let ring = Arc::new(Ring::new(2, BYTES));
        let other = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || push(&ring, Kind::Inline, tag(1, 0)))
        };
        // Two events fit whatever the other producer does, so the first push always goes in.
        assert!(push(&ring, Kind::Inline, tag(0, 0)));
        let second = push(&ring, Kind::Inline, tag(0, 1));
        let other = other.join().unwrap();
        // Exactly one of the other two is refused: never both (a spurious full), never
        // neither (three events in a ring of two).
        assert!(second != other, "second {second}, other {other}");
        assert_eq!(ring.len(), 2);
    });
}

/// The ring starts at the reset threshold: the consumer finding it drained moves both positions
/// back to the start while producers claim. Nothing is lost, duplicated or refused, and some
/// execution does reset. Three 24-byte records claimed between the consumer's two reset steps
/// (new `tail`, old `head` 8 words into the previous lap) would look like 33 words queued in a
/// 32-word ring without the reset flag: this checks that the window never looks full.
#[test]
fn resets_racing_producers_lose_nothing() {
    RESET_SEEN.store(false, std::sync::atomic::Ordering::Relaxed);
    model(|| {
        run(
            Ring::starting_at(64, BYTES, RESET_UNITS),
            &[&[Kind::Spilled, Kind::Spilled], &[Kind::Spilled]],
            2,
            true,
        );
    });
    assert!(RESET_SEEN.load(std::sync::atomic::Ordering::Relaxed));
}

/// The ring starts three words before the end of the buffer: the second record does not fit
/// before the end, so its producer writes a padding record first; the consumer may also reset
/// meanwhile. Some execution does wrap.
#[test]
fn records_wrap_with_padding() {
    WRAP_SEEN.store(false, std::sync::atomic::Ordering::Relaxed);
    model(|| {
        run(
            Ring::starting_at(64, BYTES, UNITS - 3),
            &[&[Kind::Inline, Kind::Inline], &[Kind::Inline]],
            2,
            true,
        );
    });
    assert!(WRAP_SEEN.load(std::sync::atomic::Ordering::Relaxed));
}

/// Set when some execution accepted the push into the byte-full ring (it saw the pop's room).
static REUSE_SEEN: AtomicBool = AtomicBool::new(false);
/// Set when some execution refused it (the pop had not released its room yet).
static FULL_SEEN: AtomicBool = AtomicBool::new(false);

/// The ring is full by bytes (the event limit is far away): the model thread pushes records
/// until one is refused (16 records fill the 32 words). Then a producer pushes two records while
/// the consumer pops the oldest: the first push fits only in the popped record's words, at the
/// start of the buffer, and the second never fits. A push may reuse the words of a
/// popped record only after the consumer has read and zeroed them: loom fails on any access to
/// those bytes not ordered by the consumer's release of `head` and the producer's acquire of it.
/// Both outcomes happen in some execution, and the accounting is exact in each.
#[test]
fn a_byte_full_ring_reuses_room_only_after_the_consumer_released_it() {
    REUSE_SEEN.store(false, std::sync::atomic::Ordering::Relaxed);
    FULL_SEEN.store(false, std::sync::atomic::Ordering::Relaxed);
    model(|| {
        let ring = Arc::new(Ring::new(64, BYTES));
        let mut prefilled = 0;
        while push(&ring, Kind::Inline, tag(2, prefilled)) {
            prefilled += 1;
        }
        assert!(
            prefilled < 64,
            "byte-full before the event limit: {prefilled}"
        );
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || [tag(0, 0), tag(0, 1)].map(|t| push(&ring, Kind::Inline, t)))
        };
        let consumer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || pop(&ring))
        };
        let accepted = producer.join().unwrap();
        let popped = consumer.join().unwrap();
        assert_eq!(popped, Some(tag(2, 0)), "the oldest record comes out first");
        let mut delivered = vec![tag(2, 0)];
        while let Some(t) = pop(&ring) {
            delivered.push(t);
        }
        assert!(ring.is_empty());
        let mut expected: Vec<u8> = (0..prefilled).map(|i| tag(2, i)).collect();
        expected.extend(
            [tag(0, 0), tag(0, 1)]
                .iter()
                .zip(accepted)
                .filter(|(_, a)| *a)
                .map(|(t, _)| *t),
        );
        assert_eq!(delivered, expected, "exactly once, in order");
        let flag = if accepted[0] { &REUSE_SEEN } else { &FULL_SEEN };
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(REUSE_SEEN.load(std::sync::atomic::Ordering::Relaxed));
    assert!(FULL_SEEN.load(std::sync::atomic::Ordering::Relaxed));
}

/// A dispatch table snapshot, as in `bus.rs`: immutable once published; `contents` stands for
/// its handler lists (written when built, read by every dispatch that uses it).
struct Table {
    generation: u64,
    contents: UnsafeCell<u64>,
}

impl Table {
    fn new(generation: u64) -> Arc<Self> {
        Arc::new(Table {
            generation,
            contents: UnsafeCell::new(generation * 10),
        })
    }
}

const INTEREST_NONE: u8 = 1;
const INTEREST_SOME: u8 = 2;

/// A model of `BusInner`'s publication protocol. `bus.rs` and `snapshot.rs` cannot run under
/// loom as they are (the per-thread snapshot cache is a `std` thread-local read through raw
/// pointers, and the bus registers its names and counts in process-wide `std` statics), so this
/// restates it with the same orderings:
///
/// - `publish` (under the writer mutex): replace the authoritative table with a new one of
///   generation N+1, store the generation (`Release`), then the interest bytes (`Release`).
/// - `dispatch`: load the interest byte (`Relaxed`, `BusInner::emit`), load the generation
///   (`Acquire`); if the thread's cached snapshot has that generation use it, else adopt the
///   authoritative table under the writer mutex (`snapshot::adopt` via `current_table`) and cache
///   it under *the table's own* generation.
struct Bus {
    generation: AtomicU64,
    interest: AtomicU8,
    writer: Mutex<Arc<Table>>,
}

impl Bus {
    fn new() -> Self {
        Bus {
            generation: AtomicU64::new(0),
            interest: AtomicU8::new(INTEREST_NONE),
            writer: Mutex::new(Table::new(0)),
        }
    }

    fn publish(&self) {
        let mut writer = self.writer.lock().unwrap();
        let generation = writer.generation + 1;
        *writer = Table::new(generation);
        self.generation.store(generation, Ordering::Release);
        self.interest.store(INTEREST_SOME, Ordering::Release);
    }

    /// One dispatch with the thread's cache `cache`; the generation loaded and the table used.
    fn dispatch(&self, cache: &mut (u64, Arc<Table>)) -> (u8, u64, Arc<Table>) {
        let interest = self.interest.load(Ordering::Relaxed);
        let generation = self.generation.load(Ordering::Acquire);
        if cache.0 != generation {
            let table = Arc::clone(&self.writer.lock().unwrap());
            *cache = (table.generation, table);
        }
        let table = Arc::clone(&cache.1);
        // The table's contents are those it was built with (a racy read fails the model).
        let contents = table.contents.with(|c| {
            // SAFETY: `contents` is written only by `Table::new`, before the table is shared.
            unsafe { *c }
        });
        assert_eq!(contents, table.generation * 10);
        (interest, generation, table)
    }
}

/// A writer publishes generations 1 and 2 while two readers dispatch twice each, starting from a
/// cache of generation 0: a reader never uses a table older than the generation it loaded, its
/// tables never go back in time, and after the writer is joined a dispatch uses the newest table.
///
/// Not checked, because the real code does not guarantee it: that a reader which sees the new
/// interest byte also sees the new generation. `emit` loads interest `Relaxed`, so that is only
/// true on hardware that keeps loads in order (x86); elsewhere such a dispatch may use the
/// previous table, i.e. behave as if it ran just before the publication, which is harmless (the
/// previous table stays alive and valid in the thread's cache).
#[test]
fn a_reader_never_uses_a_table_older_than_the_generation_it_saw() {
    model(|| {
        let bus = Arc::new(Bus::new());
        let writer = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                bus.publish();
                bus.publish();
            })
        };
        let reader = || {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                // What an earlier dispatch adopted (under the table's own generation).
                let table = Arc::clone(&bus.writer.lock().unwrap());
                let mut cache = (table.generation, table);
                let mut last = 0;
                for _ in 0..2 {
                    let (_, generation, table) = bus.dispatch(&mut cache);
                    assert!(
                        table.generation >= generation,
                        "older than the generation seen"
                    );
                    assert!(table.generation >= last, "went back in time");
                    last = table.generation;
                }
            })
        };
        let readers = [reader(), reader()];
        writer.join().unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        let mut cache = (0, Table::new(0));
        let (interest, generation, table) = bus.dispatch(&mut cache);
        assert_eq!(
            (interest, generation, table.generation),
            (INTEREST_SOME, 2, 2)
        );
    });
}
