//! The console span exporter chosen by configuration alone (TinyLLM's `exporter="console"`):
//! a program started with `LLM_TELEMETRY_TRACING_EXPORTER=console` and no endpoint prints each
//! span as a readable block on its standard output, with the chat's model, tenant and token
//! counts, and its first-token span event; nothing else changes in the program.
//!
//! The program is this test binary itself, re-run as a child process (so its stdout is
//! captured whole and its environment is its own).

use std::process::Command;
use std::time::Duration;

use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, Completion, GenerateRequest, Instrumentation, TelemetryLevel,
};
use llm_telemetry::{Bus, Config};

const CHILD: &str = "LLM_TELEMETRY_CONSOLE_EXPORTER_CHILD";
const TEST: &str = "a_program_configured_with_the_console_exporter_prints_its_spans_on_stdout";

/// The child: configuration from the environment, one chat and one streamed generation.
fn child() {
    let config = Config::from_env().expect("the configuration");
    let bus = Bus::new();
    let mut telemetry = config.attach(&bus).expect("attach");
    let helpers = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let chat = ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("hi")])
        .provider("openai")
        .tenant("acme");
    helpers
        .chat(&chat, || {
            Ok::<_, std::io::Error>(Completion::new("hello", 7, 3))
        })
        .expect("the chat");
    let request = GenerateRequest::new("llama-3.1-8b", "count").provider("local");
    let text: String = helpers.stream_generate(&request, ["one", " two"]).collect();
    assert_eq!(text, "one two");
    let report = telemetry.shutdown(Duration::from_secs(5));
    eprintln!("child shutdown: {report:?}");
}

#[test]
fn a_program_configured_with_the_console_exporter_prints_its_spans_on_stdout() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().expect("this test binary");
    let out = Command::new(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LLM_TELEMETRY_TRACING_EXPORTER", "console")
        .env("LLM_TELEMETRY_METRICS_ENABLED", "false")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // One block per span: a header line naming the operation, the model and where the span
    // belongs, then indented lines. (The test harness may print its own `test … ` before the
    // first header on the same line.)
    let headers: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("  (service ") || l.contains("  (project "))
        .collect();
    assert_eq!(
        headers.len(),
        2,
        "two span headers expected\nstdout:\n{stdout}"
    );
    assert!(headers[0].contains("chat gpt-4o-mini  ("), "{stdout}");
    assert!(
        headers[1].contains("text_completion llama-3.1-8b  ("),
        "{stdout}"
    );
    for needle in [
        "  trace ",
        "gen_ai.request.model = gpt-4o-mini",
        "tenant.id = acme",
        "gen_ai.usage.input_tokens = 7",
        "gen_ai.usage.output_tokens = 3",
        "llm.stream.first_token",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing\nstdout:\n{stdout}"
        );
    }
}
