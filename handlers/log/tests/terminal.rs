//! The default logger on a real terminal: run this test binary again under `script(1)`, which
//! gives it a pseudo-terminal as stderr, and check that the console lines are coloured, and that
//! `NO_COLOR` turns the colour off. Skipped nowhere: `script` ships with util-linux.

use std::process::Command;
use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{Level, attach_default_logger};

/// Logs one event with the default logger to stderr. On its own it checks that the line was
/// written; `default_logger_colours_a_terminal_unless_no_color` runs it on a pseudo-terminal.
#[test]
fn child_logs_to_the_terminal() {
    let bus = Bus::new();
    let logger = attach_default_logger(&bus, Level::Info).unwrap();
    bus.execute(
        &catalog::CACHE_LOOKUP_HIT,
        &[(keys::SIZE_BYTES, 512.0)],
        &[(keys::CACHE_NAME, Value::Str("prompts"))],
    );
    logger.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(logger.stats().lines, 1);
}

/// Runs the child under `script` and returns what the terminal showed.
fn run_child_on_a_terminal(no_color: Option<&str>) -> String {
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "{} --exact child_logs_to_the_terminal --nocapture --test-threads=1",
        exe.display()
    );
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &command, "/dev/null"]);
    match no_color {
        Some(value) => script.env("NO_COLOR", value),
        None => script.env_remove("NO_COLOR"),
    };
    let output = script
        .output()
        .expect("script(1) from util-linux is needed to give the logger a terminal");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn default_logger_colours_a_terminal_unless_no_color() {
    let coloured = run_child_on_a_terminal(None);
    assert!(coloured.contains("cache.lookup.hit"), "{coloured:?}");
    assert!(coloured.contains("\x1b[32m INFO\x1b[0m"), "{coloured:?}");
    let plain = run_child_on_a_terminal(Some("1"));
    assert!(plain.contains("cache.lookup.hit"), "{plain:?}");
    assert!(!plain.contains("\x1b["), "{plain:?}");
}
