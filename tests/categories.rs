//! Event categories and severities as catalog conventions: the catalog's defaults, an event's
//! own `event.category` / `event.severity`, `Capture` queries over both, and the log handler
//! writing each event at its severity's level (errors surviving `sample_rate = 0`).

use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::category::{CATEGORY_KEY, SEVERITY_KEY};
use llm_telemetry::log::{Level, Logger, MemoryWriter, Sink};
use llm_telemetry::testing::Capture;
use llm_telemetry::{Bus, Category, Severity, StaticEventName, Value};

static LOGIN_DENIED: StaticEventName = StaticEventName::new("app.login.denied");
static PAGE_VIEW: StaticEventName = StaticEventName::new("app.page.view");

const WAIT: Duration = Duration::from_secs(10);

/// One of each kind of catalog event, and two of the application's own.
fn emit_mix(bus: &Bus) {
    bus.span(&catalog::LLM_REQUEST, &[], |_| {
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::MODEL, Value::Str("m"))],
            |_| {},
        );
        bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]);
        bus.execute(&catalog::LLM_PROVIDER_RATE_LIMIT, &[], &[]);
        bus.execute(&catalog::LLM_COST_THRESHOLD_EXCEEDED, &[], &[]);
    });
    let _ = bus.try_span(&catalog::LLM_EMBED, &[], |_| {
        Err::<(), _>("model overloaded")
    });
    bus.execute(
        &LOGIN_DENIED,
        &[],
        &[
            (CATEGORY_KEY, Value::Str("security")),
            (SEVERITY_KEY, Value::Str("critical")),
        ],
    );
    bus.execute(&PAGE_VIEW, &[], &[(CATEGORY_KEY, Value::Str("user"))]);
}

#[test]
fn capture_queries_by_the_catalogs_categories_and_severities() {
    catalog::register_categories();
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.*", "cache.*", "app.*"]).unwrap();
    emit_mix(&bus);
    let names = |events: Vec<llm_telemetry::OwnedEvent>| -> Vec<String> {
        events
            .iter()
            .map(|e| e.name().as_str().to_owned())
            .collect()
    };
    let by_category = |c: Category| names(capture.query().category(c).run());
    assert_eq!(
        by_category(Category::Model),
        [
            "llm.chat.start",
            "llm.chat.stop",
            "llm.embed.start",
            "llm.embed.exception"
        ]
    );
    assert_eq!(
        by_category(Category::Execution),
        ["llm.request.start", "llm.request.stop"]
    );
    assert_eq!(by_category(Category::Cache), ["cache.lookup.hit"]);
    assert_eq!(
        by_category(Category::Integration),
        ["llm.provider.rate_limit"]
    );
    assert_eq!(
        by_category(Category::Performance),
        ["llm.cost.threshold_exceeded"]
    );
    assert_eq!(by_category(Category::Security), ["app.login.denied"]);
    assert_eq!(by_category(Category::User), ["app.page.view"]);
    assert!(by_category(Category::Data).is_empty());

    let by_severity = |s: Severity| names(capture.query().severity(s).run());
    assert_eq!(
        by_severity(Severity::Debug),
        ["llm.request.start", "llm.chat.start", "llm.embed.start"]
    );
    assert_eq!(
        by_severity(Severity::Warning),
        ["llm.provider.rate_limit", "llm.cost.threshold_exceeded"]
    );
    assert_eq!(by_severity(Severity::Error), ["llm.embed.exception"]);
    assert_eq!(by_severity(Severity::Critical), ["app.login.denied"]);
    assert_eq!(
        names(capture.query().min_severity(Severity::Error).limit(1).run()),
        ["app.login.denied"],
        "the newest one at error or worse"
    );
    assert_eq!(
        capture
            .query()
            .category(Category::Model)
            .min_severity(Severity::Warning)
            .run()
            .len(),
        1
    );
    // An event's own category beats its catalog's.
    bus.execute(
        &catalog::CACHE_LOOKUP_MISS,
        &[],
        &[(CATEGORY_KEY, Value::Str("data"))],
    );
    assert_eq!(by_category(Category::Data), ["cache.lookup.miss"]);
}

fn logger(
    bus: &Bus,
    level: Level,
    sample_rate: f64,
) -> (llm_telemetry::log::LogHandle, MemoryWriter) {
    let lines = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .level(level)
        .sample_rate(sample_rate)
        .sink(Sink::writer(lines.clone()))
        .flush_interval(Duration::ZERO)
        .attach(bus)
        .unwrap();
    (handle, lines)
}

/// (event, level) of every line written.
fn written(handle: &llm_telemetry::log::LogHandle, lines: &MemoryWriter) -> Vec<(String, String)> {
    handle.flush(WAIT).unwrap();
    lines
        .lines()
        .iter()
        .map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                json["event"].as_str().unwrap().to_owned(),
                json["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_log_handler_writes_each_event_at_its_severitys_level() {
    let bus = Bus::new();
    let (handle, lines) = logger(&bus, Level::Warn, 1.0);
    emit_mix(&bus);
    bus.execute(&PAGE_VIEW, &[], &[(SEVERITY_KEY, Value::Str("debug"))]);
    assert_eq!(
        written(&handle, &lines),
        [
            ("llm.provider.rate_limit".to_owned(), "warn".to_owned()),
            ("llm.cost.threshold_exceeded".to_owned(), "warn".to_owned()),
            ("llm.embed.exception".to_owned(), "error".to_owned()),
            // A plain event of the application's, raised by its own severity past `warn`.
            ("app.login.denied".to_owned(), "error".to_owned()),
        ]
    );
}

#[test]
fn a_severity_lowers_a_catalog_warning_but_a_users_override_wins() {
    let bus = Bus::new();
    let lines = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .level(Level::Debug)
        .level_for("app.login", Level::Info)
        .sink(Sink::writer(lines.clone()))
        .flush_interval(Duration::ZERO)
        .attach(&bus)
        .unwrap();
    bus.execute(
        &catalog::LLM_PROVIDER_RATE_LIMIT,
        &[],
        &[(SEVERITY_KEY, Value::Str("debug"))],
    );
    bus.execute(
        &LOGIN_DENIED,
        &[],
        &[(SEVERITY_KEY, Value::Str("critical"))],
    );
    assert_eq!(
        written(&handle, &lines),
        [
            ("llm.provider.rate_limit".to_owned(), "debug".to_owned()),
            ("app.login.denied".to_owned(), "info".to_owned()),
        ]
    );
}

#[test]
fn errors_by_severity_survive_sample_rate_zero() {
    let bus = Bus::new();
    let (handle, lines) = logger(&bus, Level::Info, 0.0);
    for _ in 0..10 {
        bus.execute(&PAGE_VIEW, &[], &[]);
        bus.execute(&LOGIN_DENIED, &[], &[(SEVERITY_KEY, Value::Str("error"))]);
    }
    let written = written(&handle, &lines);
    assert_eq!(written.len(), 10, "{written:?}");
    assert!(
        written
            .iter()
            .all(|(name, level)| name == "app.login.denied" && level == "error")
    );
}
