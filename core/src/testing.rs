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
use crate::category::{CATEGORY_KEY, Category, SEVERITY_KEY, Severity};
use crate::error::{AttachError, DetachError, PatternError};
use crate::event::{OwnedEvent, Value};
use crate::name::Pattern;
use crate::patterns::IntoPatterns;

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Records every event it is attached to (inline, in order).
#[derive(Clone)]
pub struct Capture {
    id: String,
    bus: Bus,
    /// Every event with the time it was recorded.
    events: Arc<Mutex<Vec<(Instant, OwnedEvent)>>>,
}

impl Capture {
    /// Attaches a new capture to `patterns` under a unique id.
    /// `patterns` is anything [`IntoPatterns`]: `"cache.*"`, `&["a.*", "b.*"]`, `&catalog::LLM_CHAT`, …
    pub fn attach(bus: &Bus, patterns: impl IntoPatterns) -> Result<Self, AttachError> {
        let id = format!("capture-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let events: Arc<Mutex<Vec<(Instant, OwnedEvent)>>> = Arc::default();
        let sink = Arc::clone(&events);
        bus.attach(id.clone(), patterns, move |e| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((Instant::now(), e.to_owned_event()))
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
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The names of every event so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, e)| e.name().as_str())
            .collect()
    }

    /// The events named `name`.
    pub fn named(&self, name: &str) -> Vec<OwnedEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, e)| e.name() == name)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// A query over the recorded events: by name pattern, metadata value (a category or
    /// severity, when the events carry one), time recorded and count, like TinyLLM's
    /// `BufferedEventHandler.get_events(category, severity, limit)`.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticEventName, Value, testing::Capture};
    /// static HIT: StaticEventName = StaticEventName::new("cache.lookup.hit");
    /// static MISS: StaticEventName = StaticEventName::new("cache.lookup.miss");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, "cache.*").unwrap();
    /// for i in 0..5 {
    ///     bus.execute(&HIT, &[], &[("severity", Value::Str("info")), ("n", Value::Int(i))]);
    ///     bus.execute(&MISS, &[], &[("severity", Value::Str("warn"))]);
    /// }
    /// let hits = capture.query().matching("cache.*.hit")?.limit(2).run();
    /// // The newest two, oldest first.
    /// assert_eq!(hits.iter().map(|e| e.value("n")).collect::<Vec<_>>(),
    ///            [Some(Value::Int(3)), Some(Value::Int(4))]);
    /// assert_eq!(capture.query().with("severity", Value::Str("warn")).run().len(), 5);
    /// # Ok::<(), llm_telemetry_core::PatternError>(())
    /// ```
    pub fn query(&self) -> CaptureQuery<'_> {
        CaptureQuery {
            capture: self,
            patterns: Vec::new(),
            equal: Vec::new(),
            categories: Vec::new(),
            severities: Vec::new(),
            min_severity: None,
            since: None,
            until: None,
            limit: None,
        }
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

/// A query over a [`Capture`]'s events ([`Capture::query`]); every condition must hold.
#[derive(Debug)]
#[must_use = "a query does nothing until run()"]
pub struct CaptureQuery<'c> {
    capture: &'c Capture,
    patterns: Vec<Pattern>,
    equal: Vec<(String, Value<'static>)>,
    categories: Vec<Category>,
    severities: Vec<Severity>,
    min_severity: Option<Severity>,
    since: Option<Instant>,
    until: Option<Instant>,
    limit: Option<usize>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CaptureQuery<'_> {
    /// Events whose name matches `pattern` (`llm.*`, `cache.lookup.hit`); given more than
    /// once, any of them. An invalid pattern is an error naming it.
    pub fn matching(mut self, pattern: &str) -> Result<Self, PatternError> {
        self.patterns.push(Pattern::parse(pattern)?);
        Ok(self)
    }

    /// Events whose metadata `key` equals `value` (a category, a severity, a tenant, …).
    pub fn with(mut self, key: impl Into<String>, value: Value<'static>) -> Self {
        self.equal.push((key.into(), value));
        self
    }

    /// Events of `category` ([`Category::of`]: their `event.category`, else their catalog's);
    /// given more than once, any of them.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, Category, Severity, StaticEventName, Value, testing::Capture};
    /// use llm_telemetry_core::category::{CATEGORY_KEY, SEVERITY_KEY};
    /// static LOGIN: StaticEventName = StaticEventName::new("app.login.denied");
    /// static PAGE: StaticEventName = StaticEventName::new("app.page.view");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, "app.*").unwrap();
    /// let denied = [(CATEGORY_KEY, Value::Str("security")), (SEVERITY_KEY, Value::Str("error"))];
    /// bus.execute(&LOGIN, &[], &denied);
    /// bus.execute(&PAGE, &[], &[(CATEGORY_KEY, Value::Str("user"))]);
    /// assert_eq!(capture.query().category(Category::Security).run().len(), 1);
    /// assert_eq!(capture.query().min_severity(Severity::Warning).run().len(), 1);
    /// assert_eq!(capture.query().severity(Severity::Info).category(Category::User).run().len(), 1);
    /// ```
    pub fn category(mut self, category: Category) -> Self {
        self.categories.push(category);
        self
    }

    /// Events of exactly `severity` ([`Severity::of`]: their `event.severity`, else their
    /// catalog's or their phase's); given more than once, any of them.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severities.push(severity);
        self
    }

    /// Events of `severity` or worse.
    pub fn min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = Some(severity);
        self
    }

    /// Events recorded at or after `at`.
    pub fn since(mut self, at: Instant) -> Self {
        self.since = Some(at);
        self
    }

    /// Events recorded before `at`.
    pub fn until(mut self, at: Instant) -> Self {
        self.until = Some(at);
        self
    }

    /// At most the newest `count` of the matching events.
    pub fn limit(mut self, count: usize) -> Self {
        self.limit = Some(count);
        self
    }

    /// The matching events, oldest first.
    pub fn run(self) -> Vec<OwnedEvent> {
        let events = self
            .capture
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<OwnedEvent> = events
            .iter()
            .filter(|(at, _)| self.since.is_none_or(|since| *at >= since))
            .filter(|(at, _)| self.until.is_none_or(|until| *at < until))
            .filter(|(_, e)| {
                self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(&e.name()))
            })
            .filter(|(_, e)| {
                self.equal
                    .iter()
                    .all(|(key, value)| e.value(key).as_ref() == Some(value))
            })
            .filter(|(_, e)| {
                self.categories.is_empty()
                    || Category::of(e.name(), e.str(CATEGORY_KEY))
                        .is_some_and(|c| self.categories.contains(&c))
            })
            .filter(|(_, e)| {
                let severity = || Severity::of(e.name(), e.str(SEVERITY_KEY));
                (self.severities.is_empty() || self.severities.contains(&severity()))
                    && self.min_severity.is_none_or(|min| severity() >= min)
            })
            .map(|(_, e)| e.clone())
            .collect();
        if let Some(limit) = self.limit {
            let skip = found.len().saturating_sub(limit);
            found.drain(..skip);
        }
        found
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
