//! How deep this thread is inside handlers: one `u64` of thread state that every dispatch saves
//! on entry and stores back on exit (one load and two stores).
//!
//! The word holds the handler nesting depth (low 7 bits, checked against [`MAX_DEPTH`]), a bit
//! saying that fields are bound on this thread (bit 7, kept by `bound.rs`), the number of inline
//! dispatches running on this thread (frames, high half: the snapshot cache frees replaced tables
//! only from an outermost frame), and one bit per depth saying that a handler at that depth made
//! another span current, so the span of the events it is handling was saved
//! (`context::span_at` reads it). Nothing here knows about tables, spans or bound fields; it only
//! keeps the counts and bits.
//!
//! A dispatch tests one mask, [`UNUSUAL`], against the word it loads anyway: "too deep" and
//! "fields bound" together cost the branch the depth check alone cost. A frame stores back the
//! word it entered with, bound bit included; binding scopes are guards that end inside the
//! handler that began them, so the bit is the same at a frame's exit as at its entry.

use std::cell::Cell;

/// How deep handlers may nest emits (a handler emitting an event whose handler emits, …).
pub const MAX_DEPTH: u8 = 8;

/// The low 7 bits of the thread state: the handler nesting depth.
pub(crate) const DEPTH_MASK: u64 = 0x7f;
/// Bit 7: fields are bound on this thread (see `bound.rs`).
const BOUND: u64 = 0x80;
/// The bits that send a dispatch off the common path: a depth of [`MAX_DEPTH`] or more, or
/// fields bound on this thread. One `test` of the state word.
pub(crate) const UNUSUAL: u64 = BOUND | (DEPTH_MASK & !(MAX_DEPTH as u64 - 1));
// "depth >= MAX_DEPTH" is "a depth bit at or above MAX_DEPTH's is set" only for a power of two,
// and the deepest depth a handler runs at must fit under the bound bit.
const _: () = assert!(MAX_DEPTH.is_power_of_two() && (DEPTHS as u64) <= DEPTH_MASK);
/// Bits 8..8+DEPTHS: "the span current at depth d's dispatch was saved".
const SAVED_SHIFT: u32 = 8;
/// Depths a handler can run at (1..=MAX_DEPTH+1 on a worker thread).
pub(crate) const DEPTHS: usize = MAX_DEPTH as usize + 2;
/// One inline dispatch frame plus one level of depth.
const FRAME: u64 = (1 << 32) + 1;
/// The frame count bits.
const FRAMES_MASK: u64 = 0xffff_ffff << 32;

thread_local! {
    /// Depth, saved-span bits and frames (see the module docs).
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// This thread's state word (depth in the low byte).
#[inline(always)]
pub(crate) fn state() -> u64 {
    STATE.with(Cell::get)
}

/// Whether [`UNUSUAL`] bits of `state` mean "too deep" (else they mean "fields bound").
#[inline(always)]
pub(crate) fn too_deep(state: u64) -> bool {
    state & DEPTH_MASK >= u64::from(MAX_DEPTH)
}

/// Records whether fields are bound on this thread (`bound.rs`, whenever its binding changes).
#[inline]
pub(crate) fn set_bound(bound: bool) {
    STATE.with(|s| {
        let state = s.get() & !BOUND;
        s.set(if bound { state | BOUND } else { state });
    });
}

/// Whether the state word says fields are bound on this thread.
#[cfg(test)]
pub(crate) fn is_bound() -> bool {
    state() & BOUND != 0
}

/// The nesting depth of the events being handled on this thread: 0 outside any handler, else
/// the depth their dispatch ran at (handlers themselves run one level deeper). Read only when a
/// handler copies an event, never on the dispatch path.
pub(crate) fn emitted_depth() -> u8 {
    ((state() & DEPTH_MASK) as u8).saturating_sub(1)
}

/// Whether exactly one inline dispatch is running on this thread (the caller's own).
pub(crate) fn in_outermost_frame() -> bool {
    state() & FRAMES_MASK == FRAME & FRAMES_MASK
}

/// Whether a handler running at `depth` saved the span current at its dispatch.
pub(crate) fn is_saved(depth: u8) -> bool {
    state() & (1 << (SAVED_SHIFT + u32::from(depth))) != 0
}

/// Inside a handler whose dispatch's span is not saved yet: marks it saved and returns the
/// handlers' depth, where the caller stores that span. `None` outside handlers or when it was
/// saved already.
#[inline]
pub(crate) fn mark_saved() -> Option<usize> {
    STATE.with(|s| {
        let state = s.get();
        let depth = (state & DEPTH_MASK) as u32;
        let bit = 1u64 << (SAVED_SHIFT + depth);
        if depth > 0 && (depth as usize) < DEPTHS && state & bit == 0 {
            s.set(state | bit);
            Some(depth as usize)
        } else {
            None
        }
    })
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
