//! A bounded multi-producer, single-consumer ring of variable-length event records in one
//! contiguous byte buffer: the queued lane's queue.
//!
//! The design is Agrona's `ManyToOneRingBuffer`. The buffer is a power of two of bytes, 8-byte
//! aligned and zeroed. A producer claims room for its record with one compare-and-swap on `tail`,
//! copies the event into the claimed bytes, then publishes the record by storing its header
//! (length and kind, never 0) with `Release`. The single consumer reads the header at `head`
//! (`Acquire`): 0 means "nothing published here yet". It hands the handler an [`Event`] that
//! borrows the record in place, then zeroes the record's bytes and advances `head`. Because every
//! byte outside a claimed record is zero, the header of the next record reads 0 until its producer
//! publishes it. A record that would cross the end of the buffer is preceded by a padding record
//! that fills the rest of the lap. Nothing is allocated per event, and an event costs a few
//! consecutive cache lines instead of a slot plus three heap buffers.
//!
//! # Layout of a record
//!
//! ```text
//! header   u64   length in bytes (multiple of 8) | kind | has span | metadata count
//! info     8 B   event name | depth | measurement count
//! span     48 B  trace id, span id, parent span id, start time, flags (only if present)
//! measurements   n × (&'static str, f64), exactly as the caller's slice: handed out in place
//! metadata       n × 24 B: key (&'static str pointer and length), value tag, value or string span
//! strings        the metadata's string bytes, padded to 8
//! ```
//!
//! A record larger than 1/8 of the ring, at most 16 KiB), or with more than
//! 65,535 measurements or metadata entries, *spills*: the producer boxes an [`OwnedEvent`] and the
//! record carries the pointer; the consumer drops the box after handling it. Spilled bytes in
//! flight are bounded by a budget (the ring's size, at least 16 MiB); past it a spilled event is
//! refused like a full queue. Nothing is ever truncated.
//!
//! # The position words
//!
//! `tail` packs three fields in one `u64`, so that one compare-and-swap claims both the bytes and
//! one event of the event-count limit: bit 0 the *reset flag* (below), bits 1..41 the byte
//! position in 8-byte units (modulo 2^40, i.e. 8 TiB), bits 41..64 the number of events claimed
//! (modulo 2^23). `head` has the same layout (flag always 0): position and events consumed. The
//! events waiting are `count(tail) - count(head)`, so the event limit is exact and costs no extra
//! atomic. Positions only move forward, so a producer holding a stale `tail` can only win its
//! compare-and-swap if the word has come round to the same value: 8 TiB of positions *and* a
//! multiple of 2^23 events later, while the producer was suspended between two adjacent
//! instructions. That is the usual tagged-word argument; no practical run gets there.
//!
//! Producers check free space against `head_cache`, a copy of `head` kept beside `tail` (on the
//! line they write anyway); only when the cached value says "full" do they read the consumer's
//! `head` line, and store what they read back into the cache. A cached head is always at or behind
//! the real one, so the check can only be too pessimistic, never too optimistic. Before refusing,
//! a producer re-reads `tail`: if it has not moved, the (`tail`, `head`) pair it checked was a
//! consistent snapshot and the ring really was full; if it moved, it retries. A producer never
//! waits for anyone.
//!
//! # Back to the start
//!
//! A lane whose handler keeps up would still sweep its whole buffer, touching cold memory on every
//! event. So when the consumer finds the ring drained and its position is past
//! [`RESET_THRESHOLD`] into the lap, it moves both positions to the start of the next lap
//! (index 0): a compare-and-swap of `tail` from the drained position (which fails if any producer
//! claimed meanwhile; then nothing happens), then a store of `head`. The jumped-over bytes were
//! already zero. The new `tail` carries the reset flag, which means "this lap began with nothing
//! queued". Between the two steps a producer can see the new `tail` with the old `head`; the flag
//! tells it that nothing before the lap start is queued, so it counts free space from
//! `max(head, lap start)`: exactly the truth, hence no spurious "full" however long the consumer
//! is descheduled in between. The event counts need no such care (a reset moves no events). The
//! flag is dropped by the claim whose record ends at or past the end of that lap: such a claim
//! passed its check with a head at or past the lap start, so by then the consumer has finished the
//! reset. A lane whose handler keeps up thus writes the same few hot KiB over and over.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use smallvec::SmallVec;

use crate::baggage::Baggage;
use crate::context::{SpanContext, SpanId, TraceId};
use crate::event::{Event, OwnedEvent, Value};
use crate::name::EventName;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Bytes of buffer per event of capacity: a typical LLM stop event (two or three measurements,
/// five metadata entries, short strings, a span context) takes 200 to 260 bytes.
pub(crate) const BYTES_PER_EVENT: usize = 256;
/// The smallest buffer.
pub(crate) const MIN_RING_BYTES: usize = 64 * 1024;
/// The largest buffer.
pub(crate) const MAX_RING_BYTES: usize = 1 << 30;
/// The largest event limit the 23-bit counts can hold exactly (larger capacities are clamped).
pub(crate) const MAX_EVENTS: usize = 1 << 22;
/// How far into a lap the consumer must be before a drained ring moves back to the start.
pub(crate) const RESET_THRESHOLD: usize = 32 * 1024;
/// The largest inline record, whatever the ring's size.
const MAX_INLINE_RECORD: usize = 16 * 1024;
/// The smallest budget of spilled bytes in flight.
const MIN_SPILL_BUDGET: usize = 16 << 20;
/// The buffer's alignment: a cache line pair, so that records start where lines do.
const BUFFER_ALIGN: usize = 128;

const WORD: usize = 8;
const FLAG_RESET: u64 = 1;
const POS_SHIFT: u32 = 1;
const POS_MASK: u64 = (1 << 40) - 1;
const COUNT_SHIFT: u32 = 41;
const COUNT_MASK: u64 = (1 << 23) - 1;

const KIND_EVENT: u64 = 1;
const KIND_PADDING: u64 = 2;
const KIND_SPILL: u64 = 3;

const TAG_STR: u32 = 0;
const TAG_INT: u32 = 1;
const TAG_FLOAT: u32 = 2;
const TAG_BOOL: u32 = 3;

/// Bytes of an event record before its span and measurements.
const FIXED_BYTES: usize = 16;
/// Bytes of a spill record: header, pointer, charged bytes.
const SPILL_BYTES: usize = 24;

fn position(word: u64) -> u64 {
    (word >> POS_SHIFT) & POS_MASK
}
fn count(word: u64) -> u64 {
    word >> COUNT_SHIFT
}
fn word(position: u64, count: u64, reset: bool) -> u64 {
    ((count & COUNT_MASK) << COUNT_SHIFT) | ((position & POS_MASK) << POS_SHIFT) | u64::from(reset)
}

/// The second word of an event record.
#[derive(Clone, Copy)]
#[repr(C)]
struct RecordInfo {
    name: EventName,
    depth: u8,
    _reserved: u8,
    measurements: u16,
}

/// A span context, as stored in a record.
#[derive(Clone, Copy)]
#[repr(C)]
struct SpanRecord {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    /// All zero for "no parent" (span ids are never zero).
    parent_span_id: [u8; 8],
    start_unix_nanos: u64,
    trace_flags: u8,
    is_remote: u8,
    _reserved: [u8; 2],
    baggage: u32,
}

impl SpanRecord {
    fn new(span: &SpanContext) -> Self {
        Self {
            trace_id: span.trace_id.to_bytes(),
            span_id: span.span_id.to_bytes(),
            parent_span_id: span.parent_span_id.map_or([0; 8], SpanId::to_bytes),
            start_unix_nanos: span.start_unix_nanos,
            trace_flags: span.trace_flags,
            is_remote: u8::from(span.is_remote),
            _reserved: [0; 2],
            baggage: span.baggage.to_raw(),
        }
    }

    fn context(&self) -> Option<SpanContext> {
        // The ids were copied from a live `SpanContext`, whose ids are never zero: `from_bytes`
        // cannot return `None` here.
        Some(SpanContext {
            trace_id: TraceId::from_bytes(self.trace_id)?,
            span_id: SpanId::from_bytes(self.span_id)?,
            parent_span_id: SpanId::from_bytes(self.parent_span_id),
            start_unix_nanos: self.start_unix_nanos,
            trace_flags: self.trace_flags,
            is_remote: self.is_remote != 0,
            baggage: Baggage::from_raw(self.baggage),
        })
    }
}

/// One metadata entry, as stored in a record.
#[derive(Clone, Copy)]
#[repr(C)]
struct MetaEntry {
    key: *const u8,
    key_len: u32,
    tag: u32,
    /// The integer, the float's bits, the bool, or a string's offset (low half) and length
    /// (high half) in the record's string bytes.
    payload: u64,
}

const SPAN_BYTES: usize = size_of::<SpanRecord>();
const MEASUREMENT_BYTES: usize = size_of::<(&'static str, f64)>();
const META_BYTES: usize = size_of::<MetaEntry>();

/// Copies `len` bytes from `src` to `dst` (not overlapping). Up to 64 bytes (the typical
/// metadata string, one or two measurements) with a few unaligned word moves, inline: a call to
/// `memcpy` per string costs the emitter more than the copy itself.
///
/// # Safety
/// As for [`ptr::copy_nonoverlapping`].
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: every read is within `src[..len]` and every write within `dst[..len]` (the
    // overlapping moves only rewrite bytes with the same values); unaligned moves need no
    // alignment.
    unsafe {
        let word = |at: usize| {
            dst.add(at)
                .cast::<u64>()
                .write_unaligned(src.add(at).cast::<u64>().read_unaligned());
        };
        match len {
            0 => {}
            1..=3 => {
                *dst = *src;
                *dst.add(len / 2) = *src.add(len / 2);
                *dst.add(len - 1) = *src.add(len - 1);
            }
            4..=7 => {
                dst.cast::<u32>()
                    .write_unaligned(src.cast::<u32>().read_unaligned());
                dst.add(len - 4)
                    .cast::<u32>()
                    .write_unaligned(src.add(len - 4).cast::<u32>().read_unaligned());
            }
            8..=16 => {
                word(0);
                word(len - 8);
            }
            17..=32 => {
                word(0);
                word(8);
                word(len - 16);
                word(len - 8);
            }
            33..=64 => {
                word(0);
                word(8);
                word(16);
                word(24);
                word(len - 32);
                word(len - 24);
                word(len - 16);
                word(len - 8);
            }
            _ => ptr::copy_nonoverlapping(src, dst, len),
        }
    }
}

/// Rounds up to a multiple of 8 (saturating).
fn round_up(bytes: usize) -> usize {
    bytes.saturating_add(WORD - 1) & !(WORD - 1)
}

/// The buffer size for a queue of `capacity` events: `capacity` × [`BYTES_PER_EVENT`], rounded
/// up to a power of two, between [`MIN_RING_BYTES`] and [`MAX_RING_BYTES`].
pub(crate) fn ring_bytes_for(capacity: usize) -> usize {
    capacity
        .saturating_mul(BYTES_PER_EVENT)
        .clamp(MIN_RING_BYTES, MAX_RING_BYTES)
        .next_power_of_two()
}

/// Keeps what producers write and what the consumer writes on separate cache lines.
#[repr(align(128))]
struct ProducerSide {
    tail: AtomicU64,
    /// A copy of `head` at or behind the real one (see the module docs).
    head_cache: AtomicU64,
}

#[repr(align(128))]
struct ConsumerSide {
    head: AtomicU64,
}

/// The ring (see the module docs).
#[repr(C)]
pub(crate) struct Ring {
    producer: ProducerSide,
    consumer: ConsumerSide,
    buffer: NonNull<u8>,
    layout: Layout,
    /// The buffer's size in 8-byte units (a power of two).
    units: u64,
    /// The most events in the ring at once (waiting plus the one being handled).
    event_limit: u64,
    max_inline: usize,
    reset_units: u64,
    /// Bytes held by spilled events not yet handled.
    spilled: AtomicUsize,
    spill_budget: usize,
    /// What loom needs to see the buffer (see [`Shadow`]); only under `--cfg loom`.
    #[cfg(loom)]
    shadow: Shadow,
}

/// The buffer as loom sees it, one entry per 8-byte word. Loom cannot model atomics made from
/// raw memory (`AtomicU64::from_ptr`) nor see races on raw bytes, so under `--cfg loom` the header
/// words live here as loom atomics, and every access to a word of a record (the producer's
/// writes, the consumer's reads and zeroing) is also recorded on that word's loom cell, which
/// fails the model on any two accesses not ordered by happens-before. The record bytes
/// themselves stay in the real buffer.
#[cfg(loom)]
struct Shadow {
    headers: Box<[AtomicU64]>,
    cells: Box<[loom::cell::UnsafeCell<()>]>,
}

#[cfg(loom)]
impl Shadow {
    fn new(words: usize) -> Self {
        Self {
            headers: (0..words).map(|_| AtomicU64::new(0)).collect(),
            cells: (0..words)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        }
    }

    /// The words of `len` bytes at byte offset `offset`.
    fn words(offset: usize, len: usize) -> std::ops::Range<usize> {
        offset / WORD..(offset + len) / WORD
    }

    /// Records a write of `len` bytes at `offset` (a producer filling its claim, or the consumer
    /// clearing a padding header).
    fn write(&self, offset: usize, len: usize) {
        for word in Self::words(offset, len) {
            self.cells[word].with_mut(|_| ());
        }
    }

    /// Records a read of `len` bytes at `offset` (the consumer reading a record).
    fn read(&self, offset: usize, len: usize) {
        for word in Self::words(offset, len) {
            self.cells[word].with(|_| ());
        }
    }

    /// The consumer's zeroing of a record: a write of every word, header words included.
    fn zero(&self, offset: usize, len: usize) {
        self.write(offset, len);
        for word in Self::words(offset, len) {
            self.headers[word].store(0, Ordering::Relaxed);
        }
    }
}

// SAFETY: the buffer is owned by the ring and only reached through it; which thread may touch
// which bytes when is the claim/publish/consume protocol of the module docs, with the ordering
// argued at each access. Spilled `OwnedEvent`s are `Send`.
unsafe impl Send for Ring {}
// SAFETY: as above: every access from `&self` follows that protocol.
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring that holds at most `event_limit` events (at least 1, at most [`MAX_EVENTS`]) in
    /// `bytes` bytes (rounded up to a power of two, between 256 bytes and [`MAX_RING_BYTES`]).
    pub(crate) fn new(event_limit: usize, bytes: usize) -> Self {
        let size = bytes.clamp(256, MAX_RING_BYTES).next_power_of_two();
        // Infallible: `size` is a power of two of at most 1 GiB and the alignment a power of two
        // smaller than it, so the layout is valid.
        let layout = Layout::from_size_align(size, BUFFER_ALIGN).expect("valid ring layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(buffer) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout);
        };
        Self {
            producer: ProducerSide {
                tail: AtomicU64::new(0),
                head_cache: AtomicU64::new(0),
            },
            consumer: ConsumerSide {
                head: AtomicU64::new(0),
            },
            buffer,
            layout,
            units: (size / WORD) as u64,
            event_limit: event_limit.clamp(1, MAX_EVENTS) as u64,
            max_inline: (size / 8).min(MAX_INLINE_RECORD),
            reset_units: (RESET_THRESHOLD.min(size / 4) / WORD) as u64,
            spilled: AtomicUsize::new(0),
            spill_budget: size.max(MIN_SPILL_BUDGET),
            #[cfg(loom)]
            shadow: Shadow::new(size / WORD),
        }
    }

    /// A ring like [`Ring::new`] whose positions start `units` words into the first lap (past
    /// the reset threshold, or just before the end of the buffer), so that a small loom model
    /// reaches a reset or a wrap in a few events.
    #[cfg(loom)]
    pub(crate) fn starting_at(event_limit: usize, bytes: usize, units: u64) -> Self {
        let ring = Self::new(event_limit, bytes);
        let start = word(units, 0, false);
        ring.producer.tail.store(start, Ordering::Relaxed);
        ring.producer.head_cache.store(start, Ordering::Relaxed);
        ring.consumer.head.store(start, Ordering::Relaxed);
        ring
    }

    /// The producers' byte offset in the buffer (for tests of the reset).
    #[cfg(loom)]
    pub(crate) fn tail_index(&self) -> usize {
        (position(self.producer.tail.load(Ordering::SeqCst)) & (self.units - 1)) as usize * WORD
    }

    /// The consumer's byte offset in the buffer (for tests of the reset).
    #[cfg(any(test, loom))]
    pub(crate) fn head_index(&self) -> usize {
        (position(self.consumer.head.load(Ordering::SeqCst)) & (self.units - 1)) as usize * WORD
    }

    /// The header word at byte offset `offset`.
    ///
    /// # Safety
    /// `offset` is a multiple of 8 below the buffer's size.
    #[cfg(not(loom))]
    unsafe fn header(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: in bounds and 8-aligned by the caller's promise (the buffer is 128-aligned);
        // the buffer lives as long as `self`. Header words are only ever accessed atomically
        // while other threads may access them; the non-atomic writes to the same bytes (a
        // record's body in another lap, the consumer's zeroing) are ordered with every atomic
        // access by the claim/publish/consume protocol.
        unsafe { AtomicU64::from_ptr(self.buffer.as_ptr().add(offset).cast::<u64>()) }
    }

    /// The header word at byte offset `offset`, as loom sees it (see [`Shadow`]).
    ///
    /// # Safety
    /// As for the real one (checked here: an out-of-bounds offset panics).
    #[cfg(loom)]
    unsafe fn header(&self, offset: usize) -> &AtomicU64 {
        debug_assert_eq!(offset % WORD, 0);
        &self.shadow.headers[offset / WORD]
    }

    /// Copies `event` into the ring. False when the ring is full (events or bytes) or, for a
    /// spilled event, the spill budget is spent; nothing is then copied.
    #[inline]
    pub(crate) fn push(&self, event: &Event<'_>, depth: u8) -> bool {
        let measurements = event.measurements();
        let metadata = event.metadata();
        let mut strings = 0usize;
        let mut widest_key = 0usize;
        for (key, value) in metadata {
            widest_key |= key.len();
            if let Value::Str(s) = value {
                strings = strings.saturating_add(s.len());
            }
        }
        let span = event.span();
        let len = FIXED_BYTES
            .saturating_add(if span.is_some() { SPAN_BYTES } else { 0 })
            .saturating_add(measurements.len().saturating_mul(MEASUREMENT_BYTES))
            .saturating_add(metadata.len().saturating_mul(META_BYTES))
            .saturating_add(round_up(strings));
        if len > self.max_inline
            || measurements.len() > usize::from(u16::MAX)
            || metadata.len() > usize::from(u16::MAX)
            || widest_key > u32::MAX as usize
        {
            return self.push_spilled(event, depth);
        }
        let Some(offset) = self.claim(len) else {
            return false;
        };
        #[cfg(loom)]
        self.shadow.write(offset, len);
        let base = self.buffer.as_ptr();
        // SAFETY: `claim` gave this producer exclusive use of `len` bytes at `offset` (in bounds,
        // 8-aligned, all zero) until it publishes the header. The layout fits in `len` bytes by
        // the computation above; every pointer written is 8-aligned or a byte pointer.
        unsafe {
            let record = base.add(offset);
            ptr::write(
                record.add(WORD).cast::<RecordInfo>(),
                RecordInfo {
                    name: event.name(),
                    depth,
                    _reserved: 0,
                    measurements: measurements.len() as u16,
                },
            );
            let mut at = FIXED_BYTES;
            if let Some(span) = &span {
                ptr::write(record.add(at).cast::<SpanRecord>(), SpanRecord::new(span));
                at += SPAN_BYTES;
            }
            copy_bytes(
                measurements.as_ptr().cast::<u8>(),
                record.add(at),
                measurements.len() * MEASUREMENT_BYTES,
            );
            at += measurements.len() * MEASUREMENT_BYTES;
            let entries = record.add(at).cast::<MetaEntry>();
            let strings_at = record.add(at + metadata.len() * META_BYTES);
            let mut string_offset = 0usize;
            for (i, (key, value)) in metadata.iter().enumerate() {
                let (tag, payload) = match *value {
                    Value::Str(s) => {
                        copy_bytes(s.as_ptr(), strings_at.add(string_offset), s.len());
                        // Both fit in 32 bits: the string bytes are under `max_inline`.
                        let payload = string_offset as u64 | ((s.len() as u64) << 32);
                        string_offset += s.len();
                        (TAG_STR, payload)
                    }
                    Value::Int(v) => (TAG_INT, v as u64),
                    Value::Float(v) => (TAG_FLOAT, v.to_bits()),
                    Value::Bool(v) => (TAG_BOOL, u64::from(v)),
                };
                ptr::write(
                    entries.add(i),
                    MetaEntry {
                        key: key.as_ptr(),
                        key_len: key.len() as u32,
                        tag,
                        payload,
                    },
                );
            }
            let header = len as u64
                | (KIND_EVENT << 32)
                | (u64::from(span.is_some()) << 40)
                | ((metadata.len() as u64) << 48);
            // Release: the consumer that reads this header (Acquire) sees the whole record.
            self.header(offset).store(header, Ordering::Release);
        }
        true
    }

    /// The cold path of [`Ring::push`] for an event too big to copy in: an owned copy on the
    /// heap, its pointer in the ring.
    #[cold]
    #[inline(never)]
    fn push_spilled(&self, event: &Event<'_>, depth: u8) -> bool {
        let cost = OwnedEvent::heap_bytes_for(event);
        let before = self.spilled.fetch_add(cost, Ordering::Relaxed);
        if before.saturating_add(cost) > self.spill_budget {
            self.spilled.fetch_sub(cost, Ordering::Relaxed);
            return false;
        }
        let owned = Box::new(OwnedEvent::from_event(event, depth));
        let Some(offset) = self.claim(SPILL_BYTES) else {
            drop(owned);
            self.spilled.fetch_sub(cost, Ordering::Relaxed);
            return false;
        };
        let raw = Box::into_raw(owned);
        #[cfg(loom)]
        self.shadow.write(offset, SPILL_BYTES);
        // SAFETY: `claim` gave this producer exclusive use of `SPILL_BYTES` bytes at `offset`
        // until it publishes the header; both words written are 8-aligned and in the claim. The
        // consumer takes the box back with `Box::from_raw` exactly once (or `Drop` does).
        unsafe {
            let record = self.buffer.as_ptr().add(offset);
            ptr::write(record.add(WORD).cast::<*mut OwnedEvent>(), raw);
            ptr::write(record.add(2 * WORD).cast::<usize>(), cost);
            self.header(offset)
                .store(SPILL_BYTES as u64 | (KIND_SPILL << 32), Ordering::Release);
        }
        true
    }

    /// Whether `next` (a claim planned from `tail`) fits, judged against `head` (a real or
    /// cached head word). Never too optimistic: see the module docs.
    #[inline]
    fn fits(&self, tail: u64, head: u64, next: u64) -> bool {
        let t = position(tail);
        let mut queued = t.wrapping_sub(position(head)) & POS_MASK;
        if tail & FLAG_RESET != 0 {
            // Nothing before the lap start is queued: count from max(head, lap start).
            queued = queued.min(t & (self.units - 1));
        }
        let claimed = position(next).wrapping_sub(t) & POS_MASK;
        let events = count(tail).wrapping_sub(count(head)) & COUNT_MASK;
        // `queued > units` only when `tail` is older than `head` (a stale tail): not a fit, so
        // the caller re-reads both.
        queued <= self.units && queued + claimed <= self.units && events < self.event_limit
    }

    /// Claims `len` bytes (a multiple of 8, at most 1/8 of the buffer) for one event, writing a
    /// padding record first if they would cross the end. Returns the byte offset of the claim,
    /// or `None` when the ring is full.
    #[inline]
    fn claim(&self, len: usize) -> Option<usize> {
        let units = (len / WORD) as u64;
        let mask = self.units - 1;
        let mut tail = self.producer.tail.load(Ordering::Acquire);
        let mut head = self.producer.head_cache.load(Ordering::Acquire);
        loop {
            let t = position(tail);
            let index = t & mask;
            let to_end = self.units - index;
            let padding = if units > to_end { to_end } else { 0 };
            let start = t.wrapping_add(padding) & POS_MASK;
            let end = start.wrapping_add(units) & POS_MASK;
            // The reset flag survives only while the tail stays inside the flagged lap.
            let lap_start = t - index;
            let keep_flag =
                tail & FLAG_RESET != 0 && (end.wrapping_sub(lap_start) & POS_MASK) < self.units;
            let next = word(end, count(tail) + 1, keep_flag);
            if !self.fits(tail, head, next) {
                // Acquire: pairs with the consumer's Release store, so the bytes it zeroed are
                // zero for us before we write them.
                let real = self.consumer.head.load(Ordering::Acquire);
                if self.fits(tail, real, next) {
                    self.producer.head_cache.store(real, Ordering::Release);
                    head = real;
                } else {
                    let fresh = self.producer.tail.load(Ordering::Acquire);
                    if fresh == tail {
                        // `head` was read while `tail` held still: a consistent snapshot, and
                        // the ring was full in it.
                        return None;
                    }
                    tail = fresh;
                    head = real;
                    continue;
                }
            }
            // SeqCst: pairs with the worker's SeqCst store of `sleeping` (see `queue.rs`). Its
            // Acquire half synchronises with the consumer's reset compare-and-swap (a release
            // sequence every claim extends), for the bytes a reset hands back.
            match self.producer.tail.compare_exchange_weak(
                tail,
                next,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if padding != 0 {
                        let padding_header = (padding * WORD as u64) | (KIND_PADDING << 32);
                        #[cfg(loom)]
                        self.shadow.write(index as usize * WORD, WORD);
                        // SAFETY: the padding bytes are part of this claim (index .. end of the
                        // buffer), so the header word at `index` is ours to publish.
                        unsafe {
                            self.header(index as usize * WORD)
                                .store(padding_header, Ordering::Release);
                        }
                    }
                    return Some((start & mask) as usize * WORD);
                }
                Err(current) => tail = current,
            }
        }
    }

    /// Hands the oldest event to `handle` in place (with its handler nesting depth), then zeroes
    /// its record and releases it. `None` when the next record is not published: nothing is
    /// queued, or its producer is still writing it ([`Ring::is_empty`] tells which). Only one
    /// thread (the lane's worker) may call this.
    pub(crate) fn pop_with<R>(&self, handle: impl FnOnce(&Event<'_>, u8) -> R) -> Option<R> {
        let mask = self.units - 1;
        let mut handle = Some(handle);
        loop {
            // Relaxed: only this thread writes `head`.
            let head = self.consumer.head.load(Ordering::Relaxed);
            let offset = (position(head) & mask) as usize * WORD;
            // SAFETY: `offset` is a multiple of 8 inside the buffer.
            let header = unsafe { self.header(offset) }.load(Ordering::Acquire);
            if header == 0 {
                // Nothing queued, or its producer is still writing it. Telling which takes a
                // read of `tail`, the producers' line: only worth it far into the lap, where a
                // drained ring moves back to the start.
                if position(head) & mask >= self.reset_units {
                    let tail = self.producer.tail.load(Ordering::SeqCst);
                    if count(tail) == count(head) {
                        self.maybe_reset(head, tail);
                    }
                }
                return None;
            }
            let len = (header & 0xffff_ffff) as usize;
            let kind = (header >> 32) & 0xff;
            if kind == KIND_PADDING {
                // Only its header was written.
                #[cfg(loom)]
                self.shadow.write(offset, WORD);
                // SAFETY: the padding record at `head` is the consumer's until `head` moves.
                unsafe { self.header(offset) }.store(0, Ordering::Relaxed);
                let next = word(position(head) + (len / WORD) as u64, count(head), false);
                // Release: publishes the zeroed header with the new head.
                self.consumer.head.store(next, Ordering::Release);
                continue;
            }
            // Taken once: every path from here returns.
            let handle = handle.take()?;
            #[cfg(loom)]
            self.shadow.read(offset + WORD, len - WORD);
            let result = if kind == KIND_SPILL {
                // SAFETY: the header was published (Release, read with Acquire) by the producer
                // that wrote the record; the pointer came from `Box::into_raw` and is taken back
                // exactly once, here.
                let (owned, cost) = unsafe {
                    let record = self.buffer.as_ptr().add(offset);
                    (
                        Box::from_raw(ptr::read(record.add(WORD).cast::<*mut OwnedEvent>())),
                        ptr::read(record.add(2 * WORD).cast::<usize>()),
                    )
                };
                let result = owned.with_event(|e| handle(e, owned.depth()));
                drop(owned);
                self.spilled.fetch_sub(cost, Ordering::Relaxed);
                result
            } else {
                // SAFETY: the header was published (Release, read with Acquire) by the producer
                // that wrote the whole record; no producer touches it again before `head` moves
                // past it below.
                unsafe { self.view(offset, header, handle) }
            };
            // SAFETY: these bytes belong to the record at `head`, which no producer may claim
            // until the store of `head` below (Release) publishes the zeroes with it.
            unsafe { ptr::write_bytes(self.buffer.as_ptr().add(offset), 0, len) };
            #[cfg(loom)]
            self.shadow.zero(offset, len);
            let next = word(position(head) + (len / WORD) as u64, count(head) + 1, false);
            self.consumer.head.store(next, Ordering::Release);
            return Some(result);
        }
    }

    /// The consumer found the ring drained at `head` (with `tail` read after): if it is far into
    /// the lap, moves both positions to the start of the next lap (see the module docs).
    fn maybe_reset(&self, head: u64, tail: u64) {
        let mask = self.units - 1;
        let h = position(head);
        if h & mask < self.reset_units || position(tail) != h {
            return;
        }
        let lap_start = (h - (h & mask) + self.units) & POS_MASK;
        let reset = word(lap_start, count(tail), true);
        // SeqCst like the producers' claims; Release so that producers claiming the start of the
        // buffer (Acquire) see this thread's zeroing of it in earlier laps.
        if self
            .producer
            .tail
            .compare_exchange(tail, reset, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.consumer
                .head
                .store(word(lap_start, count(head), false), Ordering::Release);
        }
    }

    /// Calls `handle` with a view of the event record at `offset`.
    ///
    /// # Safety
    /// A published event record starts at `offset`, and nothing writes it during the call.
    unsafe fn view<R>(
        &self,
        offset: usize,
        header: u64,
        handle: impl FnOnce(&Event<'_>, u8) -> R,
    ) -> R {
        // SAFETY: the record was written by `push` with this layout (the header's counts and
        // flag say which parts exist); every read is in the record and aligned; the measurement
        // tuples and keys are valid copies of the caller's `&'static str`s and `f64`s; the string
        // bytes are whole copies of `&str`s, hence UTF-8. The borrows end with this call,
        // before the record is zeroed.
        unsafe {
            let record = self.buffer.as_ptr().add(offset);
            let info = ptr::read(record.add(WORD).cast::<RecordInfo>());
            let mut at = FIXED_BYTES;
            let span = if (header >> 40) & 1 != 0 {
                let span = ptr::read(record.add(at).cast::<SpanRecord>());
                at += SPAN_BYTES;
                span.context()
            } else {
                None
            };
            let n_measurements = usize::from(info.measurements);
            let measurements = std::slice::from_raw_parts(
                record.add(at).cast::<(&'static str, f64)>(),
                n_measurements,
            );
            at += n_measurements * MEASUREMENT_BYTES;
            let n_metadata = (header >> 48) as usize;
            let entries =
                std::slice::from_raw_parts(record.add(at).cast::<MetaEntry>(), n_metadata);
            let strings = record.add(at + n_metadata * META_BYTES).cast_const();
            // Filled in place: a `SmallVec` returned by `collect` is moved whole (about 650
            // bytes, a `memcpy` per event even without metadata: a sixth of a queued
            // consumer's time in `perf`).
            let mut metadata: SmallVec<[(&'static str, Value<'_>); 16]> = SmallVec::new();
            metadata.extend(entries.iter().map(|entry| {
                let key: &'static str = std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    entry.key,
                    entry.key_len as usize,
                ));
                let value = match entry.tag {
                    TAG_STR => {
                        let start = (entry.payload & 0xffff_ffff) as usize;
                        let len = (entry.payload >> 32) as usize;
                        Value::Str(std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                            strings.add(start),
                            len,
                        )))
                    }
                    TAG_INT => Value::Int(entry.payload as i64),
                    TAG_FLOAT => Value::Float(f64::from_bits(entry.payload)),
                    _ => Value::Bool(entry.payload != 0),
                };
                (key, value)
            }));
            handle(
                &Event::new(info.name, measurements, &metadata, span),
                info.depth,
            )
        }
    }

    /// Whether the oldest record is published: the worker's cheap readiness check. It reads only
    /// that record's header, not `tail`, so a waiting worker does not pull the producers' `tail`
    /// line away from them.
    pub(crate) fn has_ready(&self) -> bool {
        let head = self.consumer.head.load(Ordering::Relaxed);
        let offset = (position(head) & (self.units - 1)) as usize * WORD;
        // SAFETY: `offset` is a multiple of 8 inside the buffer.
        unsafe { self.header(offset) }.load(Ordering::Acquire) != 0
    }

    /// Whether no event is queued (claimed and not yet consumed).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events in the ring now, including one being handled and ones still being written (a
    /// snapshot).
    pub(crate) fn len(&self) -> usize {
        // Head first: `tail` read later is at or past it.
        let head = self.consumer.head.load(Ordering::SeqCst);
        let tail = self.producer.tail.load(Ordering::SeqCst);
        (count(tail).wrapping_sub(count(head)) & COUNT_MASK) as usize
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Free what spilled events are still queued. No producer or consumer is left (`&mut`),
        // and every claim was published (a push never stops between claim and publish).
        while self.pop_with(|_, _| ()).is_some() {}
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { alloc::dealloc(self.buffer.as_ptr(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn name() -> EventName {
        EventName::new("test.ring.event").unwrap()
    }

    fn push_n(ring: &Ring, n: f64) -> bool {
        let text = format!("value-{n}");
        ring.push(
            &Event::new(
                name(),
                &[("n", n)],
                &[("text", Value::Str(&text)), ("flag", Value::Bool(true))],
                None,
            ),
            0,
        )
    }

    fn pop_n(ring: &Ring) -> Option<f64> {
        ring.pop_with(|e, _| {
            let n = e.measurement("n").unwrap();
            assert_eq!(e.str("text"), Some(format!("value-{n}").as_str()));
            assert_eq!(e.value("flag"), Some(Value::Bool(true)));
            n
        })
    }

    #[test]
    fn small_copies_copy_exactly() {
        let source: Vec<u8> = (1..=100).collect();
        for len in 0..=100 {
            let mut target = [0u8; 102];
            // SAFETY: `len` bytes of each, not overlapping.
            unsafe { copy_bytes(source.as_ptr(), target.as_mut_ptr().add(1), len) };
            assert_eq!(&target[1..=len], &source[..len], "{len}");
            assert_eq!(target[0], 0);
            assert!(target[len + 1..].iter().all(|b| *b == 0), "{len}");
        }
    }

    #[test]
    fn sizes_follow_the_documented_rule() {
        assert_eq!(ring_bytes_for(1), MIN_RING_BYTES);
        assert_eq!(ring_bytes_for(16_384), 4 << 20);
        assert_eq!(ring_bytes_for(131_072), 32 << 20);
        assert_eq!(ring_bytes_for(100_000), 32 << 20);
        assert_eq!(ring_bytes_for(usize::MAX), MAX_RING_BYTES);
        assert_eq!(size_of::<MetaEntry>(), 24);
        assert_eq!(size_of::<SpanRecord>(), 48);
        assert_eq!(size_of::<RecordInfo>(), 8);
    }

    #[test]
    fn fills_to_the_event_limit_then_refuses_and_recovers() {
        let ring = Ring::new(3, MIN_RING_BYTES);
        assert!(ring.is_empty());
        for n in 0..3 {
            assert!(push_n(&ring, f64::from(n)));
        }
        assert_eq!(ring.len(), 3);
        assert!(!push_n(&ring, 99.0), "full");
        assert_eq!(pop_n(&ring), Some(0.0));
        assert!(push_n(&ring, 3.0));
        assert!(!push_n(&ring, 98.0), "full again");
        let rest: Vec<f64> = std::iter::from_fn(|| pop_n(&ring)).collect();
        assert_eq!(rest, [1.0, 2.0, 3.0]);
        assert!(ring.is_empty());
        assert_eq!(ring.pop_with(|_, _| ()), None);
    }

    #[test]
    fn fills_to_the_byte_limit_then_refuses_and_recovers() {
        // 1 KiB and no event limit to speak of: bytes run out first.
        let ring = Ring::new(1000, 1024);
        let mut pushed = 0;
        while push_n(&ring, f64::from(pushed)) {
            pushed += 1;
        }
        // Each record is 16 + 24 + 2 * 24 + 8 = 96 bytes: ten fit in 1,024.
        assert_eq!(pushed, 10);
        assert!(!push_n(&ring, 9.0));
        assert_eq!(pop_n(&ring), Some(0.0));
        // 64 bytes of padding to the end, then the record at the start: 160 bytes, just free.
        assert!(
            push_n(&ring, 1.0),
            "room again after a pop (wrapping with padding)"
        );
        assert!(!push_n(&ring, 9.0));
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 1] {
            assert_eq!(pop_n(&ring), Some(f64::from(n)));
        }
        assert_eq!(pop_n(&ring), None);
    }

    #[test]
    fn records_wrap_with_padding_and_keep_their_contents() {
        let ring = Ring::new(1000, 4096);
        // Keep two or three in flight so that positions walk round the buffer many times with
        // records of varied sizes, most laps ending in a padding record.
        let mut next_pop = 0u32;
        for n in 0..2000u32 {
            let text = "é".repeat((n % 37) as usize);
            let md = [
                ("text", Value::Str(&text)),
                ("n", Value::Int(i64::from(n))),
                ("ratio", Value::Float(f64::from(n) / 2.0)),
            ];
            assert!(ring.push(&Event::new(name(), &[("n", f64::from(n))], &md, None), 3));
            while ring.len() > 2 || (n == 1999 && !ring.is_empty()) {
                let got = ring
                    .pop_with(|e, depth| {
                        assert_eq!(depth, 3);
                        let k = e.measurement("n").unwrap() as u32;
                        assert_eq!(e.str("text").unwrap(), "é".repeat((k % 37) as usize));
                        assert_eq!(e.value("n"), Some(Value::Int(i64::from(k))));
                        assert_eq!(e.value("ratio"), Some(Value::Float(f64::from(k) / 2.0)));
                        k
                    })
                    .unwrap();
                assert_eq!(got, next_pop);
                next_pop += 1;
            }
        }
        assert_eq!(next_pop, 2000);
        // 2,000 records of 100+ bytes through 4 KiB: the positions went round about 70 laps.
        let head = ring.consumer.head.load(Ordering::SeqCst);
        assert!(position(head) * 8 > 200 * 1024, "{}", position(head));
    }

    #[test]
    fn span_context_and_empty_values_round_trip() {
        let ring = Ring::new(8, MIN_RING_BYTES);
        let parent = SpanContext::new_root();
        let span = SpanContext::new_child(Some(&parent));
        let md = [
            ("empty", Value::Str("")),
            ("unicode", Value::Str("héllo 🌍")),
            ("neg", Value::Int(i64::MIN)),
            ("nan", Value::Float(f64::INFINITY)),
            ("no", Value::Bool(false)),
        ];
        assert!(ring.push(&Event::new(name(), &[], &md, Some(span)), 0));
        assert!(ring.push(&Event::new(name(), &[], &[], Some(parent)), 0));
        ring.pop_with(|e, _| {
            assert_eq!(e.span(), Some(span));
            assert_eq!(e.metadata(), &md[..]);
            assert_eq!(e.name(), name());
            assert!(e.measurements().is_empty());
        })
        .unwrap();
        ring.pop_with(|e, _| {
            assert_eq!(e.span(), Some(parent));
            assert!(e.metadata().is_empty());
        })
        .unwrap();
    }

    #[test]
    fn big_events_spill_and_round_trip() {
        let ring = Ring::new(8, MIN_RING_BYTES);
        let big = "ü🌍".repeat(1 << 18); // 1.5 MiB
        let many: Vec<(&'static str, f64)> = (0..70_000).map(|i| ("m", f64::from(i))).collect();
        assert!(ring.push(
            &Event::new(name(), &[("n", 1.0)], &[("prompt", Value::Str(&big))], None),
            2
        ));
        assert!(ring.push(&Event::new(name(), &many, &[], None), 0));
        assert!(push_n(&ring, 3.0));
        assert!(ring.spilled.load(Ordering::SeqCst) > big.len());
        ring.pop_with(|e, depth| {
            assert_eq!(depth, 2);
            assert_eq!(e.str("prompt"), Some(big.as_str()));
            assert_eq!(e.measurement("n"), Some(1.0));
        })
        .unwrap();
        ring.pop_with(|e, _| {
            assert_eq!(e.measurements().len(), 70_000);
            assert_eq!(e.measurements()[69_999], ("m", 69_999.0));
        })
        .unwrap();
        assert_eq!(pop_n(&ring), Some(3.0));
        assert_eq!(ring.spilled.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn spilled_bytes_are_bounded_and_freed_on_drop() {
        let ring = Ring::new(1000, MIN_RING_BYTES);
        let big = "x".repeat(4 << 20);
        let metadata = [("prompt", Value::Str(&big))];
        let event = Event::new(name(), &[], &metadata, None);
        let mut accepted = 0;
        while ring.push(&event, 0) {
            accepted += 1;
        }
        // A 16 MiB budget takes three 4 MiB events and change, not four.
        assert_eq!(accepted, 3);
        assert!(ring.spilled.load(Ordering::SeqCst) <= MIN_SPILL_BUDGET);
        assert!(push_n(&ring, 1.0), "small events still go in");
        drop(ring); // frees the three boxes (checked by valgrind / leak sanitizers)
    }

    #[test]
    fn a_drained_ring_moves_back_to_the_start() {
        let ring = Ring::new(10_000, 1 << 20);
        let threshold = RESET_THRESHOLD;
        let mut n = 0.0;
        while ring.head_index() < threshold {
            assert!(push_n(&ring, n));
            assert_eq!(pop_n(&ring), Some(n));
            n += 1.0;
        }
        // The pop that found the ring drained past the threshold moved it back.
        assert_eq!(pop_n(&ring), None);
        assert_eq!(ring.head_index(), 0, "reset to the start");
        let tail = ring.producer.tail.load(Ordering::SeqCst);
        assert_eq!(tail & FLAG_RESET, FLAG_RESET);
        assert!(push_n(&ring, n));
        assert_eq!(ring.len(), 1);
        assert_eq!(pop_n(&ring), Some(n));
        // Not drained: no reset while something is queued.
        while ring.head_index() < threshold {
            assert!(push_n(&ring, n));
            assert_eq!(pop_n(&ring), Some(n));
        }
        assert!(push_n(&ring, n));
        assert_eq!(pop_n(&ring), Some(n));
        assert!(ring.head_index() >= threshold);
        assert!(push_n(&ring, n));
        assert_eq!(pop_n(&ring), Some(n));
        assert!(
            ring.head_index() > 0,
            "moved on, since the ring was not found drained"
        );
    }

    #[test]
    fn the_reset_window_never_looks_full() {
        // Simulate the consumer descheduled between its two reset steps: tail reset, head not.
        let ring = Ring::new(10_000, 64 * 1024);
        let mut n = 0.0;
        while ring.head_index() < 3 * 64 * 1024 / 4 {
            assert!(push_n(&ring, n));
            assert_eq!(pop_n(&ring), Some(n));
            n += 1.0;
        }
        let head = ring.consumer.head.load(Ordering::SeqCst);
        let tail = ring.producer.tail.load(Ordering::SeqCst);
        let h = position(head);
        let lap_start = h - (h & (ring.units - 1)) + ring.units;
        ring.producer
            .tail
            .store(word(lap_start, count(tail), true), Ordering::SeqCst);
        // Producers can fill the whole buffer although `head` still says 3/4 of it is in use.
        let mut pushed = 0;
        while push_n(&ring, f64::from(pushed)) {
            pushed += 1;
        }
        // Records of 96 then 104 bytes: the whole buffer, no spurious full.
        let filled = position(ring.producer.tail.load(Ordering::SeqCst)) - lap_start;
        assert!(filled * 8 > 64 * 1024 - 104, "{filled} units");
        // The consumer finishes its reset; everything comes out in order.
        ring.consumer
            .head
            .store(word(lap_start, count(head), false), Ordering::SeqCst);
        for i in 0..pushed {
            assert_eq!(pop_n(&ring), Some(f64::from(i)));
        }
        assert!(ring.is_empty());
    }

    #[test]
    fn many_producers_one_consumer_lose_nothing_and_keep_order() {
        for (bytes, limit) in [(256, 1000), (4096, 16), (1 << 20, 100_000)] {
            let ring = Arc::new(Ring::new(limit, bytes));
            let producers: Vec<_> = (0..3)
                .map(|p| {
                    let ring = ring.clone();
                    std::thread::spawn(move || {
                        for i in 0..20_000u32 {
                            let value = f64::from(p * 100_000 + i);
                            while !push_n(&ring, value) {
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let mut next = [0u32; 3];
            let mut received = 0;
            while received < 60_000 {
                if let Some(v) = pop_n(&ring) {
                    let (p, i) = ((v as u32 / 100_000) as usize, v as u32 % 100_000);
                    assert_eq!(i, next[p], "per-producer order");
                    next[p] += 1;
                    received += 1;
                }
            }
            for p in producers {
                p.join().unwrap();
            }
            assert!(ring.is_empty());
        }
    }

    #[test]
    fn producers_racing_resets_never_corrupt_or_spuriously_drop() {
        // A ring sized so that the producers' bursts always fit: any refusal is spurious. The
        // consumer drains often (it is faster than bursts of 8), so resets happen all the time.
        let ring = Arc::new(Ring::new(100_000, 64 * 1024));
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    let mut refused = 0u32;
                    for i in 0..50_000u32 {
                        // At most 2 × 8 records of 104 bytes queued: far below 64 KiB.
                        while ring.len() > 8 {
                            std::thread::yield_now();
                        }
                        if !push_n(&ring, f64::from(p * 100_000 + i)) {
                            refused += 1;
                        }
                    }
                    refused
                })
            })
            .collect();
        let consumer = {
            let ring = ring.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut next = [0u32; 2];
                let mut received = 0u32;
                let mut resets = 0u32;
                let mut last_index = 0;
                while !(stop.load(Ordering::SeqCst) && ring.is_empty()) {
                    if let Some(v) = pop_n(&ring) {
                        let (p, i) = ((v as u32 / 100_000) as usize, v as u32 % 100_000);
                        assert_eq!(i, next[p], "per-producer order");
                        next[p] += 1;
                        received += 1;
                    }
                    let index = ring.head_index();
                    if index < last_index && last_index < 60 * 1024 {
                        resets += 1;
                    }
                    last_index = index;
                }
                (received, resets)
            })
        };
        let refused: Vec<u32> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        let (received, resets) = consumer.join().unwrap();
        assert_eq!(refused, [0, 0], "no spurious full");
        assert_eq!(received, 100_000);
        assert!(resets > 0, "the ring moved back to the start");
    }
}
