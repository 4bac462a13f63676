//! Test support: [`Capture`], a handler that records events so tests can assert on them, like
//! Elixir's `telemetry_test`.
//!
//! ```
//! use llm_telemetry_core::{Bus, StaticEventName, testing::Capture};
//! static CACHE_LOOKUP_HIT: StaticEventName = StaticEventName::new("cache.lookup.hit");
//! let bus = Bus::new();
//! let capture = Capture::attach(&bus, "cache.*").unwrap();
//! bus.execute(&CACHE_LOOKUP_HIT, &[], &[]);
//! assert_eq!(capture.names(), ["cache.lookup.hit"]);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::bus::Bus;
use crate::error::{AttachError, DetachError};
use crate::event::OwnedEvent;
use crate::patterns::IntoPatterns;

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Records every event it is attached to (inline, in order).
#[derive(Clone)]
pub struct Capture {
    id: String,
    bus: Bus,
    events: Arc<Mutex<Vec<OwnedEvent>>>,
}

impl Capture {
    /// Attaches a new capture to `patterns` under a unique id.
    /// `patterns` is anything [`IntoPatterns`]: `"cache.*"`, `&["a.*", "b.*"]`, `&catalog::LLM_CHAT`, …
    pub fn attach(bus: &Bus, patterns: impl IntoPatterns) -> Result<Self, AttachError> {
        let id = format!("capture-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let events: Arc<Mutex<Vec<OwnedEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        bus.attach(id.clone(), patterns, move |e| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(e.to_owned_event())
        })?;
        Ok(Self {
            id,
            bus: bus.clone(),
            events,
        })
    }

    /// The handler id it was attached under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<OwnedEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The names of every event so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|e| e.name().as_str())
            .collect()
    }

    /// The events named `name`.
    pub fn named(&self, name: &str) -> Vec<OwnedEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.name() == name)
            .cloned()
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Waits until at least `count` events were recorded (for events emitted from other
    /// threads); false on timeout.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
                >= count
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Detaches it from the bus.
    pub fn detach(&self) -> Result<(), DetachError> {
        self.bus.detach(&self.id)
    }
}

/// Checks the lifecycle promise of a handle whose work is held up (a worker stuck in its sink, a
/// collector that never answers): `flush(wait)` gives up at its deadline, not before and not
/// much after (2 s of slack for a loaded machine), and says what is still pending. Panics with
/// the result and the time taken otherwise; a helper for handler crates' tests.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use llm_telemetry_core::{Attachment, Bus, Delivery, Event, StaticEventName, testing};
/// static TICK: StaticEventName = StaticEventName::new("doc.flush.tick");
/// let bus = Bus::new();
/// let hold = Arc::new(AtomicBool::new(true));
/// let held = hold.clone();
/// let slow = move |_: &Event<'_>| {
///     while held.load(Ordering::SeqCst) {
///         std::thread::sleep(Duration::from_millis(1));
///     }
/// };
/// bus.attach_with("slow", &TICK, slow, Delivery::queued()).unwrap();
/// bus.execute(&TICK, &[], &[]);
/// bus.execute(&TICK, &[], &[]);
/// let place = Attachment::new(bus.clone(), "slow".to_owned());
/// testing::assert_flush_gives_up_at(Duration::from_millis(50), |wait| place.flush(wait));
/// hold.store(false, Ordering::SeqCst);
/// ```
pub fn assert_flush_gives_up_at(
    wait: Duration,
    flush: impl FnOnce(Duration) -> Result<(), crate::LifecycleError>,
) {
    let started = Instant::now();
    let result = flush(wait);
    let took = started.elapsed();
    assert!(
        matches!(result, Err(crate::LifecycleError::DeadlinePassed { pending }) if pending > 0),
        "expected the deadline to pass with work pending: {result:?}"
    );
    assert!(took >= wait, "returned before its deadline: {took:?}");
    assert!(
        took < wait + Duration::from_secs(2),
        "overran its deadline: {took:?}"
    );
}
