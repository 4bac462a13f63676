//! The queued lane: a bounded lock-free queue per queued handler and the worker thread that
//! drains it.
//!
//! Producers claim room in the lane's [`Ring`] (one contiguous byte buffer) with one
//! compare-and-swap and copy the event into it as a record: no allocation (only events too big for
//! the ring are boxed). A full ring refuses the push and the bus counts the drop, so an emitter
//! never waits. The worker hands each event to the handler as a view of its record, then zeroes and
//! releases the record. When the ring runs dry the worker spins for a few microseconds on the next
//! record's header, then parks; a producer unparks it only when it has announced that it sleeps,
//! so a busy lane costs producers no syscall. Flushing waits until the ring is empty and the worker
//! is idle.
//!
//! The lane's capacity counts events, exactly (`Delivery::Queued`); the ring's bytes are sized
//! from it ([`ring_bytes_for`]), and an event that finds the bytes used up is refused like one
//! that finds the count reached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::ring::{Ring, ring_bytes_for};

/// How long a sleeping worker waits before it looks at its queue again on its own: a safety net;
/// producers wake it explicitly.
const PARK_TIMEOUT: Duration = Duration::from_millis(50);

/// How many pause instructions an idle worker waits between two looks at the next record's header
/// (about a microsecond).
const POLL_PAUSES: u32 = 32;

/// How many handled events the worker counts before it publishes the count (it always publishes
/// before it goes idle).
pub(crate) const DELIVERED_BATCH: u64 = 256;

/// How long a failed handler's worker waits for records that producers claimed before the
/// lane closed, so that it can count them as abandoned.
const ABANDON_WAIT: Duration = Duration::from_millis(100);

/// How long an idle worker spins before it parks: long enough that a steady stream of events
/// never needs a wake-up syscall, short enough not to burn a core when the stream stops.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

#[repr(align(128))]
struct WorkerState {
    /// The worker holds no event: together with an empty queue, everything pushed was handled.
    idle: AtomicBool,
    /// The worker is inside the handler (its event still occupies its record in the ring).
    handling: AtomicBool,
}

pub(crate) struct Lane {
    queue: Ring,
    capacity: usize,
    /// The worker announced it is about to park: producers must unpark it.
    sleeping: AtomicBool,
    /// Stop once the queue is empty (detach, shutdown, bus dropped).
    closing: AtomicBool,
    /// Hand nothing more to the handler: what is queued is counted as abandoned (a shutdown
    /// whose deadline passed).
    discarding: AtomicBool,
    /// Flags only the worker writes, on a cache line of their own: producers read `sleeping`
    /// and `closing` on every push, and must not share a line the worker writes per event.
    worker_state: WorkerState,
    worker: OnceLock<Thread>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl Lane {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            // One event more than asked: the event the handler is working on stays in the ring,
            // and `capacity` counts the events waiting, as documented on `Delivery::Queued`.
            queue: Ring::new(capacity.saturating_add(1), ring_bytes_for(capacity)),
            capacity,
            sleeping: AtomicBool::new(false),
            worker_state: WorkerState {
                idle: AtomicBool::new(true),
                handling: AtomicBool::new(false),
            },
            closing: AtomicBool::new(false),
            discarding: AtomicBool::new(false),
            worker: OnceLock::new(),
            join: Mutex::new(None),
        }
    }

    /// Starts the worker; `deliver` handles one event (given with the handler nesting depth it
    /// was emitted at) and returns false to stop the lane (the handler failed); then
    /// `on_abandoned` is told how many queued events were discarded.
    ///
    /// `on_delivered` is told how many events `deliver` handled, in batches: every
    /// [`DELIVERED_BATCH`] events, and always before the worker reports itself idle (so a
    /// finished flush sees every count). Counting per event would have the worker write a line
    /// that producers read on every emit (the handler's entry) once per event.
    pub(crate) fn start(
        self: &Arc<Self>,
        thread_name: String,
        mut deliver: impl FnMut(&Event<'_>, u8) -> bool + Send + 'static,
        on_delivered: impl Fn(u64) + Send + 'static,
        on_abandoned: impl Fn(u64) + Send + 'static,
    ) -> std::io::Result<()> {
        let lane = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                if !lane.run(&mut deliver, &on_delivered, &on_abandoned) {
                    // The handler failed and was detached (which closes the lane). Producers
                    // that claimed a record before that may still be writing it: wait a little
                    // for them, so that every queued event is counted as abandoned.
                    let mut abandoned = 0;
                    let deadline = Instant::now() + ABANDON_WAIT;
                    loop {
                        while lane.queue.pop_with(|_, _| ()).is_some() {
                            abandoned += 1;
                        }
                        if lane.queue.is_empty() || Instant::now() >= deadline {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    lane.worker_state.idle.store(true, Ordering::SeqCst);
                    on_abandoned(abandoned);
                }
            })?;
        // Set before the lane is published to producers, so `wake` always finds it.
        let _ = self.worker.set(handle.thread().clone());
        *self.join.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        Ok(())
    }

    /// The worker loop. Returns false when `deliver` asked to stop.
    fn run(
        &self,
        deliver: &mut impl FnMut(&Event<'_>, u8) -> bool,
        on_delivered: &impl Fn(u64),
        on_abandoned: &impl Fn(u64),
    ) -> bool {
        let mut pending = 0u64;
        let mut discarded = 0u64;
        let publish = |pending: &mut u64, discarded: &mut u64| {
            if *pending > 0 {
                on_delivered(*pending);
                *pending = 0;
            }
            if *discarded > 0 {
                on_abandoned(*discarded);
                *discarded = 0;
            }
        };
        loop {
            self.worker_state.idle.store(false, Ordering::SeqCst);
            let mut handle = |event: &Event<'_>, depth: u8| {
                if self.discarding.load(Ordering::Relaxed) {
                    return None;
                }
                self.worker_state.handling.store(true, Ordering::Relaxed);
                let delivered = deliver(event, depth);
                self.worker_state.handling.store(false, Ordering::Relaxed);
                Some(delivered)
            };
            while let Some(delivered) = self.queue.pop_with(&mut handle) {
                match delivered {
                    None => discarded += 1,
                    Some(false) => {
                        publish(&mut pending, &mut discarded);
                        return false;
                    }
                    Some(true) => {
                        pending += 1;
                        if pending >= DELIVERED_BATCH {
                            publish(&mut pending, &mut discarded);
                        }
                    }
                }
            }
            publish(&mut pending, &mut discarded);
            if self.closing.load(Ordering::SeqCst) && self.queue.is_empty() {
                self.worker_state.idle.store(true, Ordering::SeqCst);
                return true;
            }
            let spin_started = Instant::now();
            let mut spins = 0u32;
            while !self.queue.has_ready() && !self.closing.load(Ordering::Relaxed) {
                // Look at the next header only every few pauses: a worker polling right behind
                // a producer takes the line the producer is writing away from it on every poll.
                for _ in 0..POLL_PAUSES {
                    std::hint::spin_loop();
                }
                spins = spins.wrapping_add(1);
                if spins % 16 == 0 && spin_started.elapsed() >= SPIN_BEFORE_PARK {
                    break;
                }
            }
            // `has_ready` first: a record to handle needs no look at `tail`. Not empty but not
            // ready: a producer is still writing; keep going.
            if self.queue.has_ready() || !self.queue.is_empty() {
                continue;
            }
            self.worker_state.idle.store(true, Ordering::SeqCst);
            self.sleeping.store(true, Ordering::SeqCst);
            if self.queue.is_empty() && !self.closing.load(Ordering::SeqCst) {
                std::thread::park_timeout(PARK_TIMEOUT);
            }
            self.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// Copies `event` onto the queue; false when the queue is full or closing (the caller
    /// counts the drop). Not inlined: it would be copied into every emit site.
    #[inline(never)]
    pub(crate) fn push(&self, event: &Event<'_>, depth: u8) -> bool {
        if self.closing.load(Ordering::Relaxed) {
            return false;
        }
        // A full ring refuses before anything is copied: dropping is the emitter's cheapest path.
        if !self.queue.push(event, depth) {
            return false;
        }
        // The push's compare-and-swap on `tail` is SeqCst; paired with the worker's SeqCst store of
        // `sleeping` before its last emptiness check, one of the two always sees the other.
        // Only the producer that flips the flag pays for the wake-up syscall.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake();
        }
        true
    }

    pub(crate) fn wake(&self) {
        if let Some(thread) = self.worker.get() {
            thread.unpark();
        }
    }

    /// Everything pushed so far has been handled.
    pub(crate) fn is_drained(&self) -> bool {
        self.queue.is_empty() && self.worker_state.idle.load(Ordering::SeqCst)
    }

    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Closes the lane and hands nothing more to the handler: the worker counts every queued
    /// event as abandoned and exits (once the handler returns from the event it is on).
    pub(crate) fn close_discarding(&self) {
        self.discarding.store(true, Ordering::SeqCst);
        self.close();
    }

    /// Waits for the worker to exit (call after `close`).
    pub(crate) fn join(&self) {
        let handle = self
            .join
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.thread().id() == std::thread::current().id() {
                return; // A handler shutting the bus down from its own worker.
            }
            let _ = handle.join();
        }
    }

    /// Events waiting (not counting the one the handler is working on).
    pub(crate) fn depth(&self) -> usize {
        let in_handler = usize::from(self.worker_state.handling.load(Ordering::Relaxed));
        self.queue
            .len()
            .saturating_sub(in_handler)
            .min(self.capacity)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;
    use crate::name::EventName;
    use std::sync::mpsc;

    fn wait_drained(lane: &Lane) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lane.is_drained() {
            assert!(Instant::now() < deadline, "lane did not drain");
            lane.wake();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn depth_capacity_flush_close_and_join() {
        let name = EventName::new("test.lane.event").unwrap();
        let lane = Arc::new(Lane::new(4));
        let (entered_tx, entered) = mpsc::channel::<f64>();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        lane.start(
            "test-lane".to_owned(),
            move |event, depth| {
                assert_eq!(depth, 1);
                let n = event.measurement("n").unwrap();
                entered_tx.send(n).unwrap();
                if n == 0.0 {
                    // The first event holds the worker until the test releases it.
                    released.lock().unwrap().recv().unwrap();
                }
                true
            },
            |_| (),
            |_| panic!("nothing is abandoned"),
        )
        .unwrap();
        assert!(lane.push(&Event::new(name, &[("n", 0.0)], &[], None), 1));
        assert_eq!(entered.recv().unwrap(), 0.0);
        // The worker is inside the handler: four more wait, the fifth is refused.
        let accepted = (1..=10)
            .filter(|n| lane.push(&Event::new(name, &[("n", f64::from(*n))], &[], None), 1))
            .count();
        assert_eq!(accepted, 4);
        assert_eq!(lane.depth(), 4);
        assert_eq!(lane.capacity(), 4);
        assert!(!lane.is_drained());
        release.send(()).unwrap();
        wait_drained(&lane);
        let order: Vec<f64> = entered.try_iter().collect();
        assert_eq!(order, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(lane.depth(), 0);
        lane.close();
        lane.join();
        assert!(
            !lane.push(&Event::new(name, &[("n", 9.0)], &[], None), 1),
            "closed"
        );
    }

    #[test]
    fn big_events_go_through_a_lane_whole() {
        let name = EventName::new("test.lane.big").unwrap();
        let lane = Arc::new(Lane::new(8));
        let (got_tx, got) = mpsc::channel::<String>();
        lane.start(
            "test-lane-big".to_owned(),
            move |event, _| {
                got_tx
                    .send(event.str("prompt").unwrap().to_owned())
                    .unwrap();
                true
            },
            |_| (),
            |_| (),
        )
        .unwrap();
        let big = "héllo 🌍 ".repeat(100_000); // 1.1 MiB
        let small = "short";
        for text in [big.as_str(), small, big.as_str()] {
            let metadata = [("prompt", Value::Str(text))];
            assert!(lane.push(&Event::new(name, &[], &metadata, None), 0));
        }
        wait_drained(&lane);
        let received: Vec<String> = got.try_iter().collect();
        assert_eq!(received, [big.clone(), small.to_owned(), big]);
        lane.close();
        lane.join();
    }
}
