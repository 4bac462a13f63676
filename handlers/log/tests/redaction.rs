//! The redaction corpus: secret shapes in keys, in values, embedded mid-string and in measurement
//! names never reach the output, in either format; token counts and ordinary text do.

use llm_telemetry_core::{Event, EventName, SpanContext, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{ColorChoice, Level, Logger, MemoryWriter, Redactor, Sink};

/// Secrets as they appear in the wild (all fake). Each must vanish from every line.
const SECRETS: &[&str] = &[
    "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf",
    "sk-1234567890abcdefghijklmnopqrstuvwxyzABCD",
    "sk_live_51H8xYzAbCdEfGhIjKl",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "glpat-xxxxXXXXxxxxXXXXxxxx",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "d2hhdGV2ZXI6c2VjcmV0cGFzcw==",
    "Zm9vYmFyYmF6cXV4MTIzNDU2",
    "hunter2-Correct-Horse",
    "s3cr3t-db-pass",
    "MIIEowIBAAKCAQEA7bq98ZPx",
    "my-session-cookie-value-123",
    "tenant-signing-material-xyz",
];

/// Builds one event per way a secret can hide, for secret `s`.
fn log_corpus(logger: &Logger, s: &'static str) {
    let span = Some(SpanContext::new_root());
    let name = EventName::new("corpus.secret.test").unwrap();
    let cases: Vec<Vec<(&'static str, Value<'_>)>> = vec![
        // As the value of sensitive keys, in several spellings.
        vec![("api_key", Value::Str(s))],
        vec![("Authorization", Value::Str(s))],
        vec![("x-api-key", Value::Str(s))],
        vec![("password", Value::Str(s))],
        vec![("client_secret", Value::Str(s))],
        vec![("access_token", Value::Str(s))],
        vec![("refreshToken", Value::Str(s))],
        vec![("cookie", Value::Str(s))],
        vec![("session_id", Value::Str(s))],
        vec![("signature", Value::Str(s))],
        // Embedded mid-string under innocent keys, in the shapes they take in messages.
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("request failed: Authorization: Bearer {s} was rejected").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("retrying with Authorization: Basic {s}").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("GET https://api.example.com/v1?model=x&api_key={s}&stream=true")
                    .into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("config: {{\"password\": \"{s}\", \"user\": \"bob\"}}").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("connecting to postgres://app:{s}@db.internal:5432/main").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("env OPENAI_API_KEY={s} set").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("set-cookie: session={s}; HttpOnly").into_boxed_str(),
            )),
        )],
        vec![(
            keys::ERROR,
            Value::Str(Box::leak(
                format!("-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----")
                    .into_boxed_str(),
            )),
        )],
        // As prompt or response content.
        vec![(
            keys::INPUT,
            Value::Str(Box::leak(format!("my password is {s}").into_boxed_str())),
        )],
        vec![(keys::OUTPUT, Value::Str(s))],
    ];
    for metadata in &cases {
        logger.log(&Event::new(
            name,
            &[(keys::INPUT_TOKENS, 3.0)],
            metadata,
            span,
        ));
    }
    // As a numeric value under a sensitive measurement name.
    logger.log(&Event::new(name, &[("api_key", 12345.0)], &[], span));
}

/// Prefix-shaped secrets that the scanner recognises anywhere, even under innocent keys and as
/// bare words.
const BARE_SECRETS: &[&str] = &[
    "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
];

fn log_bare(logger: &Logger, s: &'static str) {
    let name = EventName::new("corpus.bare.test").unwrap();
    let message: &'static str = Box::leak(format!("prefix({s})suffix and more").into_boxed_str());
    logger.log(&Event::new(
        name,
        &[],
        &[(keys::ERROR, Value::Str(s))],
        None,
    ));
    logger.log(&Event::new(
        name,
        &[],
        &[(keys::ERROR, Value::Str(message))],
        None,
    ));
    logger.log(&Event::new(
        name,
        &[],
        &[(keys::MODEL, Value::Str(s))],
        None,
    ));
    // Leaked into a metadata key or a measurement name (both are `&'static str`).
    let leaked_key: &'static str = Box::leak(format!("header_{s}").into_boxed_str());
    let measurement_key: &'static str = Box::leak(format!("latency.{s}").into_boxed_str());
    logger.log(&Event::new(
        name,
        &[],
        &[(leaked_key, Value::Str("v"))],
        None,
    ));
    logger.log(&Event::new(name, &[(measurement_key, 1.0)], &[], None));
}

fn logger(json: bool, memory: &MemoryWriter) -> Logger {
    let builder = Logger::builder()
        .sink(Sink::writer(memory.clone()))
        .level(Level::Trace)
        .color(ColorChoice::Never)
        .flush_every_line(true);
    if json { builder.json() } else { builder }.build().unwrap()
}

fn assert_clean(output: &str, secret: &str) {
    assert!(
        !output.contains(secret),
        "secret {secret:?} leaked:\n{output}"
    );
    // Also no long fragment of it (a partial cut would still leak).
    if secret.len() >= 16 {
        let middle = &secret[4..secret.len() - 4];
        assert!(
            !output.contains(middle),
            "part of {secret:?} leaked:\n{output}"
        );
    }
}

#[test]
fn no_secret_reaches_either_format() {
    for json in [false, true] {
        let memory = MemoryWriter::default();
        let logger = logger(json, &memory);
        for secret in SECRETS {
            log_corpus(&logger, secret);
        }
        for secret in BARE_SECRETS {
            log_bare(&logger, secret);
        }
        let output = memory.contents();
        let lines = memory.lines();
        assert_eq!(lines.len(), SECRETS.len() * 21 + BARE_SECRETS.len() * 5);
        for secret in SECRETS.iter().chain(BARE_SECRETS) {
            assert_clean(&output, secret);
        }
        assert!(output.contains("[REDACTED]"));
        // Token counts are not secrets.
        assert!(output.contains("input_tokens"));
        if json {
            for line in &lines {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(
                    value["measurements"]["input_tokens"].as_u64().unwrap_or(3),
                    3
                );
            }
        }
        assert!(logger.stats().redactions >= lines.len() as u64);
    }
}

#[test]
fn ordinary_values_pass_untouched() {
    let memory = MemoryWriter::default();
    let logger = logger(true, &memory);
    let metadata = [
        (keys::MODEL, Value::Str("gpt-4o-mini-2024-07-18")),
        (keys::PROVIDER, Value::Str("anthropic")),
        (keys::KEY_HASH, Value::Str("9f86d081884c7d65")),
        (
            keys::ERROR,
            Value::Str("task-force risk-free: desk lamp at 12:30, see https://example.com/a?b=c"),
        ),
        (keys::FINISH_REASONS, Value::Str("stop")),
    ];
    let measurements = [
        (keys::INPUT_TOKENS, 100.0),
        (keys::OUTPUT_TOKENS, 20.0),
        (keys::TOTAL_TOKENS, 120.0),
        (keys::TIME_TO_FIRST_TOKEN, 1.0),
        (keys::TIME_PER_OUTPUT_TOKEN, 2.0),
        (keys::TOKENS_PER_SECOND, 3.0),
        (keys::REASONING_TOKENS, 4.0),
    ];
    logger.log(&Event::new(
        catalog::LLM_CHAT_STOP.get(),
        &measurements,
        &metadata,
        None,
    ));
    let line: serde_json::Value = serde_json::from_str(&memory.lines()[0]).unwrap();
    for (key, value) in metadata {
        assert_eq!(line["metadata"][key], value.as_str().unwrap(), "{key}");
    }
    for (key, value) in measurements {
        assert_eq!(line["measurements"][key].as_f64(), Some(value), "{key}");
    }
    assert_eq!(logger.stats().redactions, 0);
}

#[test]
fn configured_rules_and_marker_apply() {
    let memory = MemoryWriter::default();
    let redactor = Redactor::builder()
        .marker("<hidden>")
        .sensitive_key("x-tenant-secret-header")
        .value_prefix("acme_live_", 12)
        .literal("the-one-real-key-from-env")
        .include_content(true)
        .build()
        .unwrap();
    let logger = Logger::builder()
        .json()
        .redactor(redactor)
        .sink(Sink::writer(memory.clone()))
        .flush_every_line(true)
        .build()
        .unwrap();
    logger.log(&Event::new(
        EventName::new("corpus.configured.test").unwrap(),
        &[],
        &[
            ("x-tenant-secret-header", Value::Str("abc")),
            (
                keys::ERROR,
                Value::Str("used acme_live_0123456789ab and the-one-real-key-from-env"),
            ),
            (keys::INPUT, Value::Str("hello there")),
        ],
        None,
    ));
    let line: serde_json::Value = serde_json::from_str(&memory.lines()[0]).unwrap();
    assert_eq!(line["metadata"]["x-tenant-secret-header"], "<hidden>");
    assert_eq!(line["metadata"]["error"], "used <hidden> and <hidden>");
    // Content logging was enabled: the prompt is kept (and still scanned).
    assert_eq!(line["metadata"]["input.value"], "hello there");
}
