//! A bounded multi-producer, single-consumer ring of [`OwnedEvent`] slots, filled and read in
//! place: the queued lane's queue.
//!
//! The algorithm is Dmitry Vyukov's bounded queue (the one `crossbeam_queue::ArrayQueue` uses),
//! with two changes. Producers copy the event straight into the slot they claimed, so an event
//! costs no allocation and no extra pointer chase once the slot's buffers have grown; and the
//! single consumer handles the event *in its slot* and releases the slot only afterwards, then
//! advances `head`. A producer therefore never waits for the consumer: a slot still held by the
//! consumer reads as "full" and the push is refused (and counted by the caller).
//!
//! Each slot carries a stamp: `stamp == tail` means free for the producer at `tail`;
//! `stamp == head + 1` means filled for the consumer at `head`. Winning the compare-and-swap on
//! `tail` while the stamp says free gives a producer exclusive access to the slot until it
//! publishes `tail + 1`; seeing `head + 1` gives the consumer exclusive access until it publishes
//! `head + one_lap`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crate::event::OwnedEvent;

/// Keeps `head` and `tail` on separate cache lines.
#[repr(align(128))]
struct Padded<T>(T);

struct Slot {
    stamp: AtomicUsize,
    event: UnsafeCell<OwnedEvent>,
}

pub(crate) struct Ring {
    head: Padded<AtomicUsize>,
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot]>,
    one_lap: usize,
}

// SAFETY: the slots' events are only touched by the one thread the stamp protocol (module docs)
// grants them to; everything else is atomics.
unsafe impl Sync for Ring {}
// SAFETY: as above; `OwnedEvent` is `Send`.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring of `capacity` slots (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                event: UnsafeCell::new(OwnedEvent::placeholder()),
            })
            .collect();
        Self {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            slots,
            one_lap: (capacity + 1).next_power_of_two(),
        }
    }

    /// Claims a slot and lets `fill` write the event into it. False when the ring is full
    /// (including a slot the consumer still holds); then `fill` is not called.
    #[inline]
    pub(crate) fn push(&self, fill: impl FnOnce(&mut OwnedEvent)) -> bool {
        let mut tail = self.tail.0.load(Ordering::Relaxed);
        loop {
            let index = tail & (self.one_lap - 1);
            let lap = tail & !(self.one_lap - 1);
            let slot = &self.slots[index];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if tail == stamp {
                let next = if index + 1 < self.slots.len() {
                    tail + 1
                } else {
                    lap.wrapping_add(self.one_lap)
                };
                match self.tail.0.compare_exchange_weak(
                    tail,
                    next,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: we won `tail` while the slot's stamp said "free for `tail`":
                        // no other producer can claim it, and the consumer will not read it
                        // before the stamp below says "filled".
                        fill(unsafe { &mut *slot.event.get() });
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return true;
                    }
                    Err(current) => {
                        tail = current;
                        std::hint::spin_loop();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's event: full, unless the consumer moved on.
                fence(Ordering::SeqCst);
                let head = self.head.0.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return false;
                }
                std::hint::spin_loop();
                tail = self.tail.0.load(Ordering::Relaxed);
            } else {
                // Another producer moved `tail` on: try the new one.
                std::hint::spin_loop();
                tail = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Hands the oldest event to `handle` in place, clears it and releases its slot. `None` when
    /// the ring is empty. Only one thread (the lane's worker) may call this.
    pub(crate) fn pop_with<R>(&self, handle: impl FnOnce(&OwnedEvent) -> R) -> Option<R> {
        let mut spins = 0u32;
        loop {
            let head = self.head.0.load(Ordering::Relaxed);
            let index = head & (self.one_lap - 1);
            let lap = head & !(self.one_lap - 1);
            let slot = &self.slots[index];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                // SAFETY: the stamp says "filled for `head`" and this is the only consumer: the
                // producer has published, and no producer reclaims the slot before the release
                // store below.
                let event = unsafe { &mut *slot.event.get() };
                let result = handle(event);
                event.clear();
                let next = if index + 1 < self.slots.len() {
                    head + 1
                } else {
                    lap.wrapping_add(self.one_lap)
                };
                // Release the slot before moving `head`, so a producer that sees the old stamp
                // also sees the old head and reports "full" instead of waiting.
                slot.stamp
                    .store(head.wrapping_add(self.one_lap), Ordering::Release);
                self.head.0.store(next, Ordering::SeqCst);
                return Some(result);
            }
            if stamp == head {
                fence(Ordering::SeqCst);
                if self.tail.0.load(Ordering::Relaxed) == head {
                    return None;
                }
            }
            // A producer claimed the slot and is still writing: it is about to publish.
            spins += 1;
            if spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Whether the oldest slot holds a published event (the consumer's cheap readiness check:
    /// it reads only the slot's stamp, not `tail`, so a waiting consumer does not pull the
    /// producers' `tail` line away from them).
    pub(crate) fn has_ready(&self) -> bool {
        let head = self.head.0.load(Ordering::Relaxed);
        let slot = &self.slots[head & (self.one_lap - 1)];
        slot.stamp.load(Ordering::Acquire) == head + 1
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.0.load(Ordering::SeqCst);
        let tail = self.tail.0.load(Ordering::SeqCst);
        head == tail
    }

    /// Events queued now (a snapshot).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.0.load(Ordering::SeqCst);
            let head = self.head.0.load(Ordering::SeqCst);
            if self.tail.0.load(Ordering::SeqCst) == tail {
                let mask = self.one_lap - 1;
                let (hix, tix) = (head & mask, tail & mask);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.slots.len() - hix + tix
                } else if tail == head {
                    0
                } else {
                    self.slots.len()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Value};
    use crate::name::EventName;
    use std::sync::Arc;

    fn fill_with(n: f64) -> impl FnOnce(&mut OwnedEvent) {
        move |slot: &mut OwnedEvent| {
            let name = EventName::new("test.ring.event").unwrap();
            let text = format!("value-{n}");
            slot.fill_from(
                &Event::new(name, &[("n", n)], &[("text", Value::Str(&text))], None),
                0,
            );
        }
    }

    #[test]
    fn fills_to_capacity_then_refuses_and_recovers() {
        let ring = Ring::new(3);
        assert!(ring.is_empty());
        for n in 0..3 {
            assert!(ring.push(fill_with(n as f64)));
        }
        assert_eq!(ring.len(), 3);
        assert!(!ring.push(fill_with(99.0)), "full");
        let first = ring.pop_with(|e| (e.measurement("n"), e.str("text").map(str::to_owned)));
        assert_eq!(first, Some((Some(0.0), Some("value-0".to_owned()))));
        assert!(ring.push(fill_with(3.0)));
        let rest: Vec<f64> =
            std::iter::from_fn(|| ring.pop_with(|e| e.measurement("n").unwrap())).collect();
        assert_eq!(rest, [1.0, 2.0, 3.0]);
        assert!(ring.is_empty());
        assert_eq!(ring.pop_with(|_| ()), None);
    }

    #[test]
    fn many_producers_one_consumer_lose_nothing() {
        let ring = Arc::new(Ring::new(64));
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        let value = f64::from(p * 100_000 + i);
                        while !ring.push(fill_with(value)) {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u32; 3];
        let mut received = 0;
        while received < 60_000 {
            if let Some(v) = ring.pop_with(|e| {
                assert_eq!(
                    e.str("text").map(str::to_owned),
                    Some(format!("value-{}", e.measurement("n").unwrap()))
                );
                e.measurement("n").unwrap() as u32
            }) {
                let (p, i) = ((v / 100_000) as usize, v % 100_000);
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
