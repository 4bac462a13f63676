//! The handler lifecycle: `Bus::flush` and `Bus::shutdown` drain the queued lanes, then call
//! every handler's `flush` / `shutdown` under one deadline (shutdown in reverse attach order),
//! and report every handler that did not finish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llm_telemetry_core::{
    AttachError, Bus, Delivery, Event, Handler, LifecycleError, StaticEventName,
};

static PING: StaticEventName = StaticEventName::new("test.lifecycle.ping");

/// What a recording handler does when asked to shut down.
#[derive(Clone, Copy)]
enum OnShutdown {
    Finish,
    Panic,
    MissDeadline,
}

struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    seen: Arc<AtomicU64>,
    on_shutdown: OnShutdown,
}

impl Handler for Recorder {
    fn handle(&self, _event: &Event<'_>) {
        self.seen.fetch_add(1, Ordering::SeqCst);
    }
    fn flush(&self, _deadline: Instant) -> Result<(), LifecycleError> {
        let seen = self.seen.load(Ordering::SeqCst);
        self.log
            .lock()
            .unwrap()
            .push(format!("flush {} after {seen}", self.name));
        Ok(())
    }
    fn shutdown(&self, deadline: Instant) -> Result<(), LifecycleError> {
        let seen = self.seen.load(Ordering::SeqCst);
        self.log
            .lock()
            .unwrap()
            .push(format!("shutdown {} after {seen}", self.name));
        match self.on_shutdown {
            OnShutdown::Finish => Ok(()),
            OnShutdown::Panic => panic!("shutdown of {} exploded", self.name),
            OnShutdown::MissDeadline => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                Err(LifecycleError::DeadlinePassed { pending: 7 })
            }
        }
    }
}

fn recorder(
    bus: &Bus,
    name: &'static str,
    log: &Arc<Mutex<Vec<String>>>,
    delivery: Delivery,
    on_shutdown: OnShutdown,
) {
    let handler = Recorder {
        name,
        log: log.clone(),
        seen: Arc::default(),
        on_shutdown,
    };
    bus.attach_with(name, &PING, handler, delivery).unwrap();
}

#[test]
fn flush_drains_lanes_then_flushes_every_handler_in_attach_order() {
    let bus = Bus::new();
    let log = Arc::default();
    recorder(&bus, "a", &log, Delivery::Inline, OnShutdown::Finish);
    recorder(&bus, "b", &log, Delivery::queued(), OnShutdown::Finish);
    for _ in 0..1000 {
        bus.execute(&PING, &[], &[]);
    }
    let report = bus.flush(Duration::from_secs(10));
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.handlers, 2);
    // The queued handler had handled all 1,000 events before its flush was called.
    assert_eq!(
        *log.lock().unwrap(),
        ["flush a after 1000", "flush b after 1000"]
    );
}

#[test]
fn shutdown_goes_in_reverse_attach_order_and_reports_what_did_not_finish() {
    let bus = Bus::new();
    let log = Arc::default();
    recorder(&bus, "first", &log, Delivery::Inline, OnShutdown::Finish);
    recorder(&bus, "panics", &log, Delivery::queued(), OnShutdown::Panic);
    recorder(
        &bus,
        "late",
        &log,
        Delivery::Inline,
        OnShutdown::MissDeadline,
    );
    recorder(&bus, "last", &log, Delivery::queued(), OnShutdown::Finish);
    for _ in 0..500 {
        bus.execute(&PING, &[], &[]);
    }
    let started = Instant::now();
    let report = bus.shutdown(Duration::from_millis(300));
    let took = started.elapsed();
    assert!(report.lanes_drained);
    assert!(!report.is_complete());
    assert_eq!(report.handlers, 4);
    assert_eq!(report.unfinished.len(), 2, "{report}");
    assert_eq!(
        report.error_of("late"),
        Some(&LifecycleError::DeadlinePassed { pending: 7 })
    );
    assert!(matches!(
        report.error_of("panics"),
        Some(LifecycleError::Panicked(message)) if message.contains("exploded")
    ));
    assert_eq!(report.error_of("first"), None);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "shutdown last after 500",
            "shutdown late after 500",
            "shutdown panics after 500",
            "shutdown first after 500",
        ]
    );
    // One deadline for all: the handler that waited for it used it up, nobody got another.
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    // The report reads as one line per unfinished handler.
    let text = report.to_string();
    assert!(text.contains("late: the deadline passed"), "{text}");

    // No new handler after shutdown; a second shutdown shuts nothing down again.
    let err = bus.attach("again", &PING, |_| {}).unwrap_err();
    assert!(matches!(err, AttachError::ShutDown { .. }));
    let again = bus.shutdown(Duration::from_secs(1));
    assert_eq!(again.unfinished.len(), 4);
    assert!(
        again
            .unfinished
            .iter()
            .all(|u| u.error == LifecycleError::AlreadyShutDown)
    );
    // Stats still report every handler, with exact counts.
    let stats = bus.stats();
    assert_eq!(stats.handlers.len(), 4);
    assert!(stats.handlers.iter().all(|h| h.delivered == 500));
}

#[test]
fn a_lane_stuck_in_its_handler_does_not_hold_shutdown_past_the_deadline() {
    let bus = Bus::new();
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let gate = release.clone();
    bus.attach_with(
        "stuck",
        &PING,
        move |_: &Event<'_>| {
            let _wait = gate.lock();
        },
        Delivery::queued(),
    )
    .unwrap();
    for _ in 0..10 {
        bus.execute(&PING, &[], &[]);
    }
    let started = Instant::now();
    let report = bus.shutdown(Duration::from_millis(200));
    let took = started.elapsed();
    assert!(!report.lanes_drained);
    assert!(!report.is_complete());
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    drop(held);
}

#[test]
fn a_handle_flushes_and_detaches_its_own_handler() {
    let bus = Bus::new();
    let log = Arc::default();
    recorder(&bus, "mine", &log, Delivery::queued(), OnShutdown::Finish);
    recorder(&bus, "other", &log, Delivery::Inline, OnShutdown::Finish);
    bus.execute(&PING, &[], &[]);
    assert_eq!(
        bus.flush_handler("mine", Duration::from_secs(5)),
        Ok(Ok(()))
    );
    assert_eq!(
        bus.detach_and_shutdown("mine", Duration::from_secs(5)),
        Ok(Ok(()))
    );
    assert!(bus.flush_handler("mine", Duration::from_secs(1)).is_err());
    assert_eq!(
        *log.lock().unwrap(),
        ["flush mine after 1", "shutdown mine after 1"]
    );
    assert_eq!(bus.list_handlers("").len(), 1);
}
