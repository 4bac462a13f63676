//! Trace context: W3C-compatible ids, the `traceparent` header, and the current span.
//!
//! Ids are drawn from a per-thread SplitMix64 generator seeded from the standard library's
//! randomly keyed hasher, so making an id costs a few nanoseconds and no syscall, and is never all
//! zero (the W3C spec forbids that). The current span lives in a thread-local cell; futures carry it
//! across polls with [`crate::span::Instrumented`], so no async runtime is needed.
//!
//! Clocks live here too: `monotonic_time` is nanoseconds since the first telemetry clock read in
//! the process, `system_time` is nanoseconds since the Unix epoch. A span boundary reads one clock:
//! the wall-clock time of a span start is derived from its monotonic reading through a
//! process-wide anchor (see [`unix_nanos_at`]), as OpenTelemetry Java's `AnchoredClock` does.
//! On x86-64 Linux, when the kernel itself keeps time with an invariant TSC, that reading is the
//! time-stamp counter scaled by a rate re-measured against the OS monotonic clock every second
//! (~10 ns instead of ~22 ns for `clock_gettime` on a virtual machine); the two agree well
//! within a microsecond. Elsewhere, during a process's first second, and when the environment
//! sets `LLM_TELEMETRY_CLOCK=os`, it is `Instant::now`.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::baggage::Baggage;
use crate::error::TraceParentError;
use crate::nesting::{self, DEPTHS};

/// A 16-byte W3C trace id, never all zero when made here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

/// An 8-byte W3C span id, never all zero when made here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl TraceId {
    /// A fresh random, non-zero trace id.
    pub fn random() -> Self {
        let [high, low] = next_randoms();
        Self::from_halves(high, low)
    }

    fn from_halves(high: u64, low: u64) -> Self {
        match ((high as u128) << 64) | low as u128 {
            // All zero once in 2^128 draws: any fixed non-zero id will do.
            0 => Self(1),
            id => Self(id),
        }
    }
    /// Wraps raw bytes (big-endian, as on the wire). `None` for all zero.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        let v = u128::from_be_bytes(bytes);
        (v != 0).then_some(Self(v))
    }
    /// The bytes, big-endian, as OTLP and W3C carry them.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    /// The id as a number.
    pub fn to_u128(self) -> u128 {
        self.0
    }
}

impl SpanId {
    /// A fresh random, non-zero span id.
    pub fn random() -> Self {
        let [id] = next_randoms();
        Self::from_random(id)
    }

    fn from_random(id: u64) -> Self {
        // Zero once in 2^64 draws: any fixed non-zero id will do.
        Self(if id == 0 { 1 } else { id })
    }
    /// Wraps raw bytes (big-endian). `None` for all zero.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        let v = u64::from_be_bytes(bytes);
        (v != 0).then_some(Self(v))
    }
    /// The bytes, big-endian.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    /// The id as a number.
    pub fn to_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

/// The context every event emitted in a span carries: ids, parent and start time.
///
/// A stop event's context is enough to build a finished span: `start_unix_nanos` plus the stop
/// event's `duration` measurement give both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The enclosing span (local or remote), if any.
    pub parent_span_id: Option<SpanId>,
    /// When the span started, in nanoseconds since the Unix epoch (0 for a remote context).
    pub start_unix_nanos: u64,
    /// W3C trace flags (bit 0: sampled).
    pub trace_flags: u8,
    /// True when this context came from another process (a parsed `traceparent`).
    pub is_remote: bool,
    /// Values every span of the trace carries (see [`crate::baggage`]): inherited by children.
    pub baggage: Baggage,
}

impl SpanContext {
    /// A new root span context (new trace, no parent) starting now.
    pub fn new_root() -> Self {
        Self::new_child(None)
    }

    /// A child of `parent` (or a root if `None`), starting now.
    pub fn new_child(parent: Option<&SpanContext>) -> Self {
        Self::child_starting_at(parent, unix_nanos_at(Instant::now()))
    }

    /// A child of `parent` (or a root if `None`) that started at `start_unix_nanos`: one draw
    /// from this thread's id generator, no clock read.
    #[inline]
    pub(crate) fn child_starting_at(parent: Option<&SpanContext>, start_unix_nanos: u64) -> Self {
        match parent {
            None => {
                let [high, low, span] = next_randoms();
                Self {
                    trace_id: TraceId::from_halves(high, low),
                    span_id: SpanId::from_random(span),
                    parent_span_id: None,
                    start_unix_nanos,
                    trace_flags: 1,
                    is_remote: false,
                    baggage: Baggage::EMPTY,
                }
            }
            Some(p) => {
                let [span] = next_randoms();
                Self {
                    trace_id: p.trace_id,
                    span_id: SpanId::from_random(span),
                    parent_span_id: Some(p.span_id),
                    start_unix_nanos,
                    trace_flags: p.trace_flags,
                    is_remote: false,
                    baggage: p.baggage,
                }
            }
        }
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.trace_flags & 1 == 1
    }

    /// This context with `baggage` (e.g. a remote context given a tenant before it is entered).
    pub fn with_baggage(self, baggage: Baggage) -> Self {
        Self { baggage, ..self }
    }

    /// The `traceparent` header that continues this span in another service.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            trace_flags: self.trace_flags,
        }
    }
}

/// A parsed W3C `traceparent` header: `00-<trace id>-<parent id>-<flags>`.
///
/// ```
/// use llm_telemetry_core::TraceParent;
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let tp: TraceParent = header.parse().unwrap();
/// assert_eq!(tp.to_string(), header);
/// assert!(tp.is_sampled());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The remote trace id.
    pub trace_id: TraceId,
    /// The remote span id, the parent of spans started under it here.
    pub parent_id: SpanId,
    /// W3C trace flags.
    pub trace_flags: u8,
}

impl TraceParent {
    /// Parses a header value. Versions other than `00` are accepted as the spec asks (future
    /// versions may append fields after the four known ones); `ff` is rejected.
    pub fn parse(header: &str) -> Result<Self, TraceParentError> {
        let header = header.trim();
        let bad = || TraceParentError::Malformed(header.to_owned());
        if !header.is_ascii() {
            // Also guarantees that the byte offsets below are char boundaries.
            return Err(TraceParentError::NotHex(header.to_owned()));
        }
        let bytes = header.as_bytes();
        if bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
            return Err(bad());
        }
        let version = &header[0..2];
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(bad());
        }
        if version == "00" && bytes.len() != 55 {
            return Err(bad());
        }
        let hex = |s: &str| -> Result<(), TraceParentError> {
            if s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                Ok(())
            } else {
                Err(TraceParentError::NotHex(header.to_owned()))
            }
        };
        let (trace, parent, flags) = (&header[3..35], &header[36..52], &header[53..55]);
        for field in [version, trace, parent, flags] {
            hex(field)?;
        }
        if version == "ff" {
            return Err(TraceParentError::ForbiddenVersion(header.to_owned()));
        }
        let trace_id = u128::from_str_radix(trace, 16).map_err(|_| bad())?;
        let parent_id = u64::from_str_radix(parent, 16).map_err(|_| bad())?;
        let trace_flags = u8::from_str_radix(flags, 16).map_err(|_| bad())?;
        if trace_id == 0 || parent_id == 0 {
            return Err(TraceParentError::ZeroId(header.to_owned()));
        }
        Ok(Self {
            trace_id: TraceId(trace_id),
            parent_id: SpanId(parent_id),
            trace_flags,
        })
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.trace_flags & 1 == 1
    }

    /// The remote context, to make current with [`enter`] so that local spans continue the trace.
    pub fn to_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.parent_id,
            parent_span_id: None,
            start_unix_nanos: 0,
            trace_flags: self.trace_flags,
            is_remote: true,
            baggage: Baggage::EMPTY,
        }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.trace_flags
        )
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// The current span
// ---------------------------------------------------------------------------------------------

thread_local! {
    static CURRENT: Cell<Option<SpanContext>> = const { Cell::new(None) };
    /// Per handler depth: the span that was current when the dispatch running handlers at that
    /// depth began, saved by the first [`enter`] of one of those handlers.
    static SAVED: [Cell<Option<SpanContext>>; DEPTHS] = const { [const { Cell::new(None) }; DEPTHS] };
}

/// The span that was current when the dispatch whose handlers run at `depth` began: what an
/// event emitted without an explicit span belongs to. The bus does not copy it per event; a
/// handler that makes another span current first saves the dispatch's span (in [`enter`]).
pub(crate) fn span_at(depth: u8) -> Option<SpanContext> {
    if nesting::is_saved(depth) {
        if let Some(span) = SAVED.with(|s| s.get(usize::from(depth)).map(Cell::get)) {
            return span;
        }
    }
    current()
}

/// The span current on this thread, if any.
#[inline]
pub fn current() -> Option<SpanContext> {
    CURRENT.with(Cell::get)
}

/// Makes `context` current until the returned guard drops (then the previous one is restored).
///
/// Use it to continue a remote trace:
/// ```
/// use llm_telemetry_core::{context, Bus, TraceParent};
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// let _guard = context::enter(Some(tp.to_context()));
/// assert_eq!(context::current().unwrap().trace_id, tp.trace_id);
/// ```
#[must_use = "the context is current only while the guard lives"]
#[inline]
pub fn enter(context: Option<SpanContext>) -> ContextGuard {
    let previous = CURRENT.with(|c| c.replace(context));
    // Inside a handler, the first change saves the span current at dispatch, so the events
    // being handled keep reporting it.
    if let Some(depth) = nesting::mark_saved() {
        SAVED.with(|saved| saved[depth].set(previous));
    }
    ContextGuard {
        previous,
        _not_send: std::marker::PhantomData,
    }
}

/// Restores the previous current span when dropped. Not `Send`: it belongs to its thread.
pub struct ContextGuard {
    previous: Option<SpanContext>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness and clocks
// ---------------------------------------------------------------------------------------------

thread_local! {
    // 0 means "not seeded yet" (a const initializer keeps each access to one TLS load with no
    // lazy-init check); a stream that reaches 0 is simply reseeded.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

#[cold]
#[inline(never)]
fn seed() -> u64 {
    // `RandomState` is keyed from OS randomness once per thread; hashing the thread id and a
    // clock reading on top makes each thread's stream distinct.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(unix_nanos_now());
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    hasher.finish()
}

/// `N` draws of SplitMix64 (fast, full-period, good enough for ids, not for secrets) with one
/// access to the thread-local state.
#[inline]
fn next_randoms<const N: usize>() -> [u64; N] {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let out = std::array::from_fn(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        });
        state.set(s);
        out
    })
}

#[inline]
fn anchor() -> Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

/// Nanoseconds since the process's telemetry anchor: the scale of the `monotonic_time`
/// measurement (spans read it through the cheaper telemetry clock of the module docs, which
/// agrees with this well within a microsecond).
#[inline]
pub fn monotonic_nanos(at: Instant) -> u64 {
    at.saturating_duration_since(anchor()).as_nanos() as u64
}

/// The `Instant` of a [`monotonic_now`] reading (within the clocks' agreement, well under a
/// microsecond).
pub(crate) fn instant_at(monotonic: u64) -> Instant {
    let anchor = anchor();
    // Overflows only ~584 years after the anchor; `anchor` is then as good an answer as any.
    anchor
        .checked_add(std::time::Duration::from_nanos(monotonic))
        .unwrap_or(anchor)
}

/// The telemetry clock now, in [`monotonic_nanos`] units: what a span reads at each end.
///
/// On x86-64 Linux, when the kernel itself keeps time with an invariant TSC, this is the TSC
/// scaled by a factor re-measured against the OS monotonic clock every second (see the `tsc`
/// module below): about 10 ns instead of the ~22 ns of a `clock_gettime` on a virtual machine.
/// Elsewhere, and until the first calibration (a second after the first span), it is
/// `monotonic_nanos(Instant::now())`.
#[inline]
pub(crate) fn monotonic_now() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some(now) = tsc::now() {
        return now;
    }
    monotonic_now_from_os()
}

/// [`monotonic_now`] from `Instant::now`, giving the counter's calibration its chance.
#[inline(never)]
fn monotonic_now_from_os() -> u64 {
    let now = monotonic_nanos(Instant::now());
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    tsc::observe(now);
    now
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    //! A calibrated time-stamp counter: the cheap clock behind [`super::monotonic_now`].
    //!
    //! Used only when the CPU reports an invariant TSC and the kernel's current clocksource is
    //! `tsc` (the kernel has then checked that the counter is synchronized across CPUs and does
    //! not stop or change rate). The mapping `monotonic = mono0 + (tsc - tsc0) * mult / 2^32` is
    //! re-measured once a second against `Instant` (the OS monotonic clock, which NTP slews), so
    //! the two clocks stay within the change of the counter's rate over one second plus the
    //! ~10 ns between the reads of a calibration pair: in practice well under a microsecond. A
    //! reading that falls more than a second after the mapping's anchor goes to the OS clock,
    //! which re-measures. A new mapping starts from the OS clock's reading, so at a re-measure
    //! the telemetry clock may step by that same disagreement (tens of nanoseconds; durations
    //! never go negative, they saturate at 0). The mapping is published under a sequence lock of
    //! atomics, so readers never block and never see a torn mapping.

    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, fence};
    use std::time::Instant;

    use super::monotonic_nanos;

    /// How long a mapping is used before it is re-measured.
    const RECALIBRATE_NANOS: u64 = 1_000_000_000;
    /// Plausible counter rates: 100 MHz to 20 GHz, as 32.32 fixed-point nanoseconds per tick.
    const MULT_MAX: u64 = 10 << 32;
    const MULT_MIN: u64 = (1 << 32) / 20;

    const UNKNOWN: u8 = 0;
    const USABLE: u8 = 1;
    const UNUSABLE: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Odd while the mapping below is being written.
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    static TSC0: AtomicU64 = AtomicU64::new(0);
    static MONO0: AtomicU64 = AtomicU64::new(0);
    /// Nanoseconds per tick, 32.32 fixed point; 0 until the first calibration.
    static MULT: AtomicU64 = AtomicU64::new(0);

    /// The last (tsc, monotonic) calibration point; `POINT_MONO == 0` before the first.
    static POINT_TSC: AtomicU64 = AtomicU64::new(0);
    static POINT_MONO: AtomicU64 = AtomicU64::new(0);
    /// The last measured rate, published or not; 0 before the first.
    static LAST_MULT: AtomicU64 = AtomicU64::new(0);
    /// Held by the one thread measuring a new mapping.
    static MEASURING: AtomicBool = AtomicBool::new(false);
    /// Two consecutive one-second rates further apart than this (1/1000: twice NTP's largest
    /// slew) mean the counter jumped or changed rate: that second is left to the OS clock.
    const RATE_CHANGE_DIVISOR: u64 = 1_000;

    #[inline]
    fn read() -> u64 {
        // SAFETY: `rdtsc` exists on every x86-64 CPU, has no preconditions and touches no
        // memory; it only reads the time-stamp counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The current mapping's reading, or `None` (not calibrated, being re-measured, or due).
    #[inline]
    pub(super) fn now() -> Option<u64> {
        let sequence = SEQUENCE.load(Ordering::Acquire);
        let tsc0 = TSC0.load(Ordering::Relaxed);
        let mono0 = MONO0.load(Ordering::Relaxed);
        let mult = MULT.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if mult == 0 || sequence & 1 == 1 || SEQUENCE.load(Ordering::Relaxed) != sequence {
            return None;
        }
        map(read(), tsc0, mono0, mult)
    }

    /// A counter reading through a mapping; `None` when it falls outside the mapping's second.
    /// A counter behind `tsc0` (read on another CPU a moment before a re-measure, or reset by a
    /// suspend) goes to the OS clock rather than freezing time at `mono0`; the measurement that
    /// then comes due finds the counter gone backwards and retires it.
    #[inline]
    fn map(tsc: u64, tsc0: u64, mono0: u64, mult: u64) -> Option<u64> {
        let ticks = tsc.checked_sub(tsc0)?;
        let elapsed =
            u64::try_from((u128::from(ticks) * u128::from(mult)) >> 32).unwrap_or(u64::MAX);
        (elapsed < RECALIBRATE_NANOS).then(|| mono0 + elapsed)
    }

    /// Called with each OS-clock reading of [`super::monotonic_now`]: measures a mapping when
    /// one is due. Costs two loads when not.
    #[inline]
    pub(super) fn observe(monotonic: u64) {
        match STATE.load(Ordering::Relaxed) {
            UNUSABLE => {}
            USABLE
                if POINT_MONO.load(Ordering::Relaxed) != 0
                    && monotonic.saturating_sub(POINT_MONO.load(Ordering::Relaxed))
                        < RECALIBRATE_NANOS => {}
            _ => measure(),
        }
    }

    /// Whether the counter can be trusted as a clock here. `LLM_TELEMETRY_CLOCK=os` forbids it
    /// (every span boundary then reads `Instant::now`).
    fn usable() -> bool {
        use core::arch::x86_64::__cpuid;
        if std::env::var_os("LLM_TELEMETRY_CLOCK").is_some_and(|v| v == "os") {
            return false;
        }
        if __cpuid(0x8000_0000).eax < 0x8000_0007 {
            return false;
        }
        let invariant = __cpuid(0x8000_0007).edx & (1 << 8) != 0;
        invariant
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|source| source.trim() == "tsc")
    }

    /// Takes a calibration point and, one second after the previous one, publishes the mapping
    /// measured between the two.
    #[cold]
    #[inline(never)]
    fn measure() {
        if MEASURING.swap(true, Ordering::Acquire) {
            return;
        }
        if STATE.load(Ordering::Relaxed) == UNKNOWN {
            let state = if usable() { USABLE } else { UNUSABLE };
            STATE.store(state, Ordering::Relaxed);
        }
        if STATE.load(Ordering::Relaxed) == USABLE {
            let (tsc, mono) = point();
            let (last_tsc, last_mono) = (
                POINT_TSC.load(Ordering::Relaxed),
                POINT_MONO.load(Ordering::Relaxed),
            );
            if last_mono == 0 {
                POINT_TSC.store(tsc, Ordering::Relaxed);
                POINT_MONO.store(mono, Ordering::Relaxed);
            } else if mono.saturating_sub(last_mono) >= RECALIBRATE_NANOS {
                match mult_between((last_tsc, last_mono), (tsc, mono)) {
                    Some(mult) => {
                        let last = LAST_MULT.swap(mult, Ordering::Relaxed);
                        if steady(last, mult) {
                            publish(tsc, mono, mult);
                        } else {
                            // A jump or a new rate (a migrated VM, say): the OS clock for this
                            // second; the next measurement confirms the new rate or not.
                            publish(0, 0, 0);
                        }
                    }
                    // A counter that went backwards or an implausible rate: back to the OS
                    // clock for good.
                    None => {
                        publish(0, 0, 0);
                        STATE.store(UNUSABLE, Ordering::Relaxed);
                    }
                }
                POINT_TSC.store(tsc, Ordering::Relaxed);
                POINT_MONO.store(mono, Ordering::Relaxed);
            }
        }
        MEASURING.store(false, Ordering::Release);
    }

    /// A (counter, OS monotonic) pair read as close together as possible: the counter between
    /// two OS readings, paired with their midpoint. Never 0 as monotonic time.
    fn point() -> (u64, u64) {
        let before = Instant::now();
        let tsc = read();
        let after = Instant::now();
        let (before, after) = (monotonic_nanos(before), monotonic_nanos(after));
        (tsc, (before + (after.saturating_sub(before)) / 2).max(1))
    }

    /// The 32.32 nanoseconds-per-tick rate between two points, if plausible.
    pub(super) fn mult_between(from: (u64, u64), to: (u64, u64)) -> Option<u64> {
        let ticks = to.0.checked_sub(from.0).filter(|&t| t > 0)?;
        let nanos = to.1.checked_sub(from.1)?;
        let mult = u64::try_from((u128::from(nanos) << 32) / u128::from(ticks)).ok()?;
        (MULT_MIN..=MULT_MAX).contains(&mult).then_some(mult)
    }

    /// Whether `mult` agrees with the previous measurement `last` (0: there was none).
    fn steady(last: u64, mult: u64) -> bool {
        last == 0 || last.abs_diff(mult) <= last / RATE_CHANGE_DIVISOR
    }

    fn publish(tsc0: u64, mono0: u64, mult: u64) {
        // Sequence lock, writer side (only the `MEASURING` holder writes): odd, fields, even.
        SEQUENCE.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        TSC0.store(tsc0, Ordering::Relaxed);
        MONO0.store(mono0, Ordering::Relaxed);
        MULT.store(mult, Ordering::Relaxed);
        SEQUENCE.fetch_add(1, Ordering::Release);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rates_are_measured_between_points_and_checked() {
            // 3 GHz: 1/3 ns per tick.
            let mult = mult_between((1_000, 10), (3_000_001_000, 1_000_000_010)).unwrap();
            assert_eq!(mult, (1u64 << 32) / 3);
            assert_eq!(mult_between((5, 10), (5, 2_000_000_000)), None, "no ticks");
            assert_eq!(mult_between((9, 10), (5, 2_000_000_000)), None, "backwards");
            assert_eq!(mult_between((0, 10), (10, 1_000_000_010)), None, "10 Hz");
            assert_eq!(
                mult_between((0, 10), (1 << 40, 1_000_000_010)),
                None,
                "1 THz"
            );
        }

        #[test]
        fn readings_map_inside_their_second_only() {
            let mult = 1u64 << 32; // 1 ns per tick
            assert_eq!(map(1_500, 1_000, 7, mult), Some(507));
            assert_eq!(map(999, 1_000, 7, mult), None, "behind the anchor");
            assert_eq!(map(1_000 + RECALIBRATE_NANOS, 1_000, 7, mult), None, "due");
            assert_eq!(map(u64::MAX, 0, 7, mult), None, "far past");
            assert_eq!(
                map(u64::MAX, 0, 7, MULT_MAX),
                None,
                "far past, slowest rate"
            );
        }

        #[test]
        fn a_rate_change_is_not_trusted_until_confirmed() {
            let mult = (1u64 << 32) / 3;
            assert!(steady(0, mult), "the first measurement");
            assert!(steady(mult, mult + mult / 2_000), "500 ppm of slew");
            assert!(!steady(mult, mult + mult / 500), "0.2 %");
            assert!(!steady(mult, mult / 2));
        }

        #[test]
        fn the_telemetry_clock_uses_the_counter_exactly_where_usable_and_agrees_with_the_os_clock()
        {
            let usable = usable();
            // A first calibration point, then another one second later publishes a mapping.
            super::super::monotonic_now();
            std::thread::sleep(std::time::Duration::from_millis(1_050));
            let published = (0..100).any(|_| {
                super::super::monotonic_now();
                let used = now().is_some();
                if !used {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                used
            });
            // Where the counter is not trusted, the telemetry clock must stay the OS clock (and
            // the agreement below checks exactly that).
            assert_eq!(
                published, usable,
                "the counter is used after a second exactly when it is usable here"
            );
            // Far enough into the mapping's second that a wrong rate would show.
            std::thread::sleep(std::time::Duration::from_millis(200));
            for _ in 0..1_000 {
                let before = monotonic_nanos(Instant::now());
                let counter = super::super::monotonic_now();
                let after = monotonic_nanos(Instant::now());
                assert!(
                    counter + 100_000 >= before && counter <= after + 100_000,
                    "counter {counter} outside [{before}, {after}]"
                );
            }
            if usable {
                // The rate arithmetic on its own: a mapping measured over 20 ms.
                let first = point();
                std::thread::sleep(std::time::Duration::from_millis(20));
                let second = point();
                let mult = mult_between(first, second).unwrap();
                for _ in 0..1_000 {
                    let before = monotonic_nanos(Instant::now());
                    let ticks = read() - second.0;
                    let counter = second.1 + ((u128::from(ticks) * u128::from(mult)) >> 32) as u64;
                    let after = monotonic_nanos(Instant::now());
                    // 20 ms of calibration leaves ~1e-6 of rate error; 100 µs is generous, and
                    // a wrong scale (ticks for nanoseconds) is off by far more.
                    assert!(
                        counter + 100_000 >= before && counter <= after + 100_000,
                        "counter {counter} outside [{before}, {after}]"
                    );
                }
            }
        }
    }
}

/// Nanoseconds since the Unix epoch, read from the system clock now: 0 for a clock set before
/// 1970, `u64::MAX` past the year 2554.
pub fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How often the wall-clock anchor is re-read: at most this long after a step of the system
/// clock, span start times follow it.
pub const WALL_CLOCK_REFRESH_NANOS: u64 = 1_000_000_000;

/// `unix_nanos - monotonic_nanos` at the last anchoring; 0 until the first.
static WALL_OFFSET: AtomicU64 = AtomicU64::new(0);
/// `monotonic_nanos` at the last anchoring.
static WALL_ANCHORED_AT: AtomicU64 = AtomicU64::new(0);

/// The wall-clock time of `at` in nanoseconds since the Unix epoch (the `system_time`
/// measurement and span start times), without reading the system clock on the hot path.
///
/// The system clock is read at most once per [`WALL_CLOCK_REFRESH_NANOS`] to anchor a
/// (telemetry monotonic, wall) pair; in between, wall time is the anchor's plus the monotonic
/// time elapsed. Drift bound: a step of the wall clock (`settimeofday`, a large NTP correction)
/// shows up within one refresh interval; otherwise the error is the difference in rate between
/// the wall clock and the telemetry clock over at most one interval. On Linux the OS monotonic
/// clock is slewed by NTP together with the wall clock, and the TSC-based telemetry clock is
/// re-measured against it every second, so that difference is well under a microsecond; where
/// the monotonic clock is not slewed it is at most the slew rate times the interval (0.5 ms for
/// NTP's 500 ppm). Add the ~tens of nanoseconds between the two reads of an anchoring.
#[inline]
pub fn unix_nanos_at(at: Instant) -> u64 {
    unix_nanos_at_monotonic(monotonic_nanos(at))
}

/// [`unix_nanos_at`] of the instant whose [`monotonic_nanos`] is `monotonic`.
#[inline]
pub(crate) fn unix_nanos_at_monotonic(monotonic: u64) -> u64 {
    // Two independent relaxed loads: a reader that pairs a fresh `WALL_ANCHORED_AT` with an
    // older `WALL_OFFSET` uses an offset at most one interval older, still within the bound.
    let offset = WALL_OFFSET.load(Ordering::Relaxed);
    let anchored_at = WALL_ANCHORED_AT.load(Ordering::Relaxed);
    if offset == 0 || monotonic.saturating_sub(anchored_at) >= WALL_CLOCK_REFRESH_NANOS {
        return monotonic.wrapping_add(reanchor());
    }
    monotonic.wrapping_add(offset)
}

/// Reads both clocks and publishes the new offset; returns it.
#[cold]
#[inline(never)]
fn reanchor() -> u64 {
    let unix = unix_nanos_now();
    let monotonic = monotonic_now();
    // Wrapping: a wall clock set before the process's anchor (absurd, but possible) still gives
    // back `unix` for this instant; 0 ("not anchored") is replaced by 1 ns of error.
    let offset = unix.wrapping_sub(monotonic).max(1);
    WALL_OFFSET.store(offset, Ordering::Relaxed);
    WALL_ANCHORED_AT.store(monotonic, Ordering::Relaxed);
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_nonzero_and_distinct() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert_ne!(a, b);
        assert_ne!(a.to_u128(), 0);
        assert_ne!(SpanId::random().to_u64(), 0);
        // The once-in-2^64 zero draws still give valid ids.
        assert_ne!(TraceId::from_halves(0, 0).to_u128(), 0);
        assert_eq!(TraceId::from_halves(1, 2).to_u128(), (1 << 64) | 2);
        assert_ne!(SpanId::from_random(0).to_u64(), 0);
        // One draw of three numbers gives three different ones.
        let [a, b, c] = next_randoms();
        assert!(a != b && b != c && a != c);
    }

    fn assert_near_system_clock(anchored: u64, before: u64, after: u64) {
        // Within the anchoring error; 50 ms leaves room for a loaded machine, not for a clock
        // that is wrong (0, monotonic only, or a stale anchor from another epoch).
        const SLACK: u64 = 50_000_000;
        assert!(
            anchored + SLACK >= before && anchored <= after + SLACK,
            "anchored {anchored} outside [{before}, {after}]"
        );
    }

    #[test]
    fn anchored_wall_time_follows_the_system_clock_and_reanchors() {
        let before = unix_nanos_now();
        let anchored = unix_nanos_at(Instant::now());
        let after = unix_nanos_now();
        assert_near_system_clock(anchored, before, after);

        // A reading one refresh interval after the anchoring re-reads the system clock.
        let anchored_at = WALL_ANCHORED_AT.load(Ordering::Relaxed);
        let later = anchored_at + WALL_CLOCK_REFRESH_NANOS;
        let at_later = unix_nanos_at_monotonic(later);
        assert_ne!(WALL_ANCHORED_AT.load(Ordering::Relaxed), anchored_at);
        assert_eq!(at_later, later + WALL_OFFSET.load(Ordering::Relaxed));

        let before = unix_nanos_now();
        let anchored = unix_nanos_at(Instant::now());
        let after = unix_nanos_now();
        assert_near_system_clock(anchored, before, after);
        let context = SpanContext::new_root();
        assert_near_system_clock(context.start_unix_nanos, before, unix_nanos_now());
    }

    #[test]
    fn traceparent_rejects_bad_headers() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(TraceParent::parse(ok).is_ok());
        assert!(matches!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Err(TraceParentError::ZeroId(_))
        ));
        assert!(matches!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Err(TraceParentError::ZeroId(_))
        ));
        assert!(matches!(
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Err(TraceParentError::NotHex(_))
        ));
        assert!(matches!(
            TraceParent::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Err(TraceParentError::ForbiddenVersion(_))
        ));
        assert!(matches!(
            TraceParent::parse("garbage"),
            Err(TraceParentError::Malformed(_))
        ));
        assert!(matches!(
            TraceParent::parse("\u{98eef}:Ѩi/.%'<\t`&\u{c3ae9},}x<&9 Ѩ%P\u{21732}{l\"~/¥=x"),
            Err(TraceParentError::NotHex(_))
        ));
        assert!(matches!(
            TraceParent::parse(&format!("{ok}-extra")),
            Err(TraceParentError::Malformed(_))
        ));
        // A future version may append fields.
        assert!(TraceParent::parse(&format!("01{}-extra", &ok[2..])).is_ok());
    }

    #[test]
    fn enter_restores_previous() {
        assert!(current().is_none());
        let outer = SpanContext::new_root();
        {
            let _g = enter(Some(outer));
            assert_eq!(current(), Some(outer));
            let inner = SpanContext::new_child(Some(&outer));
            {
                let _g2 = enter(Some(inner));
                assert_eq!(current().unwrap().parent_span_id, Some(outer.span_id));
            }
            assert_eq!(current(), Some(outer));
        }
        assert!(current().is_none());
    }
}
