//! The atomics the ring (`ring.rs`) is built from: `std`'s in every normal build, loom's under
//! `--cfg loom`, so that the model checks in `tests/loom.rs` drive the real ring code. Nothing
//! else changes between the two builds except what `ring.rs` marks `#[cfg(loom)]`: the header
//! words and the race tracking of the record bytes, which loom cannot see in a raw buffer.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
