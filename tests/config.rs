//! Configuration: defaults, the TOML file, the environment (injected, never the process's),
//! explicit settings, their precedence, and every error path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use llm_telemetry::config::{
    BudgetWindow, Config, ConfigError, CostConfig, ExportMode, InferenceBackendKind,
    InferenceConfig, Key, LogConfig, LogFormat, LogLevel, MetricsConfig, Origin, OtlpCompression,
    OtlpProtocol, TracingConfig, TracingExporter,
};
use llm_telemetry::instrument::TelemetryLevel;

#[path = "../handlers/otel/tests/support/certs.rs"]
mod certs;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A unique temporary file holding `text`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "llm-telemetry-config-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const FULL_FILE: &str = r#"
level = "verbose"

[tracing]
enabled = false
endpoint = "http://127.0.0.1:6006/"
protocol = "grpc"
service_name = "inference-service"
service_version = "1.2.3"
sample_rate = 0.25
export = "simple"
hide_inputs = true
hide_outputs = true

[metrics]
enabled = false
listen = "0.0.0.0:9100"
max_label_value_bytes = 1024

[log]
enabled = false
format = "json"
level = "debug"
sample_rate = 0.5

[cost]
enabled = false
budget_usd = 100
window = "month"

[cost.tenant_budgets]
acme = 10.5
globex = 2

[inference]
backend = "mlx"
model = "/models/tiny-llama"
embed_model = "/models/minilm"
"#;

fn full_config() -> Config {
    Config {
        level: TelemetryLevel::Verbose,
        tracing: TracingConfig {
            enabled: false,
            endpoint: Some("http://127.0.0.1:6006".into()),
            endpoint_form: llm_telemetry::config::EndpointForm::Base,
            protocol: OtlpProtocol::Grpc,
            service_name: "inference-service".into(),
            service_version: Some("1.2.3".into()),
            sample_rate: 0.25,
            export: ExportMode::Simple,
            hide_inputs: true,
            hide_outputs: true,
            ..TracingConfig::default()
        },
        metrics: MetricsConfig {
            enabled: false,
            listen: "0.0.0.0:9100".parse().unwrap(),
            max_label_value_bytes: 1024,
            tinyllm: false,
        },
        log: LogConfig {
            enabled: false,
            format: LogFormat::Json,
            level: LogLevel::Debug,
            sample_rate: 0.5,
        },
        cost: CostConfig {
            enabled: false,
            budget_usd: Some(100.0),
            window: BudgetWindow::Month,
            tenant_budgets: [("acme".to_owned(), 10.5), ("globex".to_owned(), 2.0)].into(),
        },
        inference: InferenceConfig {
            backend: InferenceBackendKind::Mlx,
            model: Some("/models/tiny-llama".into()),
            embed_model: Some("/models/minilm".into()),
        },
    }
}

fn invalid(result: Result<Config, ConfigError>) -> (Origin, String, String, String) {
    match result {
        Err(ConfigError::InvalidValue {
            origin,
            key,
            value,
            expected,
        }) => (origin, key, value, expected),
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

fn inline() -> Origin {
    Origin::File {
        path: PathBuf::from("<inline>"),
    }
}

fn from_env(var: &str) -> Origin {
    Origin::Env {
        var: var.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// sources
// ---------------------------------------------------------------------------------------------

#[test]
fn the_defaults() {
    let c = Config::builder().build().unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.level, TelemetryLevel::Detailed);
    assert!(c.tracing.enabled);
    assert_eq!(c.tracing.endpoint, None);
    assert_eq!(c.tracing.export_endpoint(), None, "no endpoint, no export");
    assert_eq!(c.tracing.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(c.tracing.service_name, "llm-telemetry");
    assert_eq!(c.tracing.sample_rate, 1.0);
    assert_eq!(c.tracing.export, ExportMode::Batch);
    assert_eq!(
        c.metrics.listen,
        "127.0.0.1:9568".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.log.format, LogFormat::Console);
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.cost.budget_usd, None);
    assert_eq!(c.cost.window, BudgetWindow::Day);
}

#[test]
fn a_file_sets_every_key() {
    assert_eq!(Config::from_toml_str(FULL_FILE).unwrap(), full_config());
    let file = TempFile::new("full", FULL_FILE);
    assert_eq!(Config::from_file(&file.0).unwrap(), full_config());
}

#[test]
fn the_environment_sets_every_key() {
    let c = Config::from_env_with(env(&[
        ("LLM_TELEMETRY_LEVEL", "VERBOSE"),
        ("LLM_TELEMETRY_TRACING_ENABLED", "no"),
        ("LLM_TELEMETRY_TRACING_ENDPOINT", "http://127.0.0.1:6006/"),
        ("LLM_TELEMETRY_TRACING_PROTOCOL", "grpc"),
        ("LLM_TELEMETRY_TRACING_SERVICE_NAME", "inference-service"),
        ("LLM_TELEMETRY_TRACING_SERVICE_VERSION", "1.2.3"),
        ("LLM_TELEMETRY_TRACING_SAMPLE_RATE", "0.25"),
        ("LLM_TELEMETRY_TRACING_EXPORT", "simple"),
        ("LLM_TELEMETRY_TRACING_HIDE_INPUTS", "true"),
        ("LLM_TELEMETRY_TRACING_HIDE_OUTPUTS", "1"),
        ("LLM_TELEMETRY_METRICS_ENABLED", "off"),
        ("LLM_TELEMETRY_METRICS_LISTEN", "0.0.0.0:9100"),
        ("LLM_TELEMETRY_METRICS_MAX_LABEL_VALUE_BYTES", "1024"),
        ("LLM_TELEMETRY_LOG_ENABLED", "false"),
        ("LLM_TELEMETRY_LOG_FORMAT", "json"),
        ("LLM_TELEMETRY_LOG_LEVEL", "debug"),
        ("LLM_TELEMETRY_LOG_SAMPLE_RATE", "0.5"),
        ("LLM_TELEMETRY_COST_ENABLED", "0"),
        ("LLM_TELEMETRY_COST_BUDGET_USD", "100"),
        ("LLM_TELEMETRY_COST_WINDOW", "month"),
        ("LLM_TELEMETRY_COST_TENANT_BUDGETS", "acme=10.5, globex=2"),
        ("LLM_TELEMETRY_INFERENCE_BACKEND", "MLX"),
        ("LLM_TELEMETRY_INFERENCE_MODEL", "/models/tiny-llama"),
        ("LLM_TELEMETRY_INFERENCE_EMBED_MODEL", "/models/minilm"),
    ]))
    .unwrap();
    assert_eq!(c, full_config());
}

#[test]
fn arguments_set_every_key() {
    let c = Config::builder()
        .set_all([
            "level=verbose",
            "tracing.enabled=false",
            "tracing.endpoint=http://127.0.0.1:6006",
            "tracing.protocol=grpc",
            "tracing.service_name=inference-service",
            "tracing.service_version=1.2.3",
            "tracing.sample_rate=0.25",
            "tracing.export=simple",
            "tracing.hide_inputs=true",
            "tracing.hide_outputs=true",
            "metrics.enabled=false",
            "metrics.listen=0.0.0.0:9100",
            "metrics.max_label_value_bytes=1024",
            "log.enabled=false",
            "log.format=json",
            "log.level=debug",
            "log.sample_rate=0.5",
            "cost.enabled=false",
            "cost.budget_usd=100",
            "cost.window=month",
            "cost.tenant_budgets=acme=10.5,globex=2",
            "inference.backend=mlx",
            "inference.model=/models/tiny-llama",
            "inference.embed_model=/models/minilm",
        ])
        .build()
        .unwrap();
    assert_eq!(c, full_config());
}

#[test]
fn typed_setters_set_every_key() {
    let c = Config::builder()
        .level(TelemetryLevel::Verbose)
        .tracing_enabled(false)
        .tracing_endpoint("http://127.0.0.1:6006")
        .tracing_protocol(OtlpProtocol::Grpc)
        .service_name("inference-service")
        .service_version("1.2.3")
        .tracing_sample_rate(0.25)
        .tracing_export(ExportMode::Simple)
        .hide_inputs(true)
        .hide_outputs(true)
        .metrics_enabled(false)
        .metrics_listen("0.0.0.0:9100".parse().unwrap())
        .metrics_max_label_value_bytes(1024)
        .log_enabled(false)
        .log_format(LogFormat::Json)
        .log_level(LogLevel::Debug)
        .log_sample_rate(0.5)
        .cost_enabled(false)
        .budget_usd(100.0)
        .budget_window(BudgetWindow::Month)
        .tenant_budget("acme", 10.5)
        .tenant_budget("globex", 2.0)
        .inference_backend(InferenceBackendKind::Mlx)
        .inference_model("/models/tiny-llama")
        .inference_embed_model("/models/minilm")
        .build()
        .unwrap();
    assert_eq!(c, full_config());
}

#[test]
fn typed_setters_of_the_export_keys_equal_their_key_value_forms() {
    let typed = Config::builder()
        .tracing_endpoint("https://collector.example:4318")
        .tracing_exporter(TracingExporter::Console)
        .tracing_compression(OtlpCompression::Gzip)
        .tracing_certificate("/etc/ca.pem")
        .tracing_client_identity("/etc/client.pem", "/etc/client.key")
        .span_events(false)
        .span_event_patterns(["myapp.*", "llm.stream.first_token"])
        .environment("production")
        .tracing_tls(true)
        .request_span_prefix("pmd.")
        .metrics_tinyllm(true)
        .build()
        .unwrap();
    let written = Config::builder()
        .set_all([
            "tracing.endpoint=https://collector.example:4318",
            "tracing.exporter=console",
            "tracing.compression=gzip",
            "tracing.certificate=/etc/ca.pem",
            "tracing.client_certificate=/etc/client.pem",
            "tracing.client_key=/etc/client.key",
            "tracing.span_events=false",
            "tracing.span_event_patterns=myapp.*,llm.stream.first_token",
            "tracing.environment=production",
            "tracing.tls=true",
            "tracing.request_span_prefix=pmd.",
            "metrics.tinyllm=true",
        ])
        .build()
        .unwrap();
    assert_eq!(typed, written);
    assert_eq!(typed.tracing.exporter, TracingExporter::Console);
    assert_eq!(typed.tracing.compression, Some(OtlpCompression::Gzip));
    assert_eq!(
        typed.tracing.client_key.as_deref(),
        Some(std::path::Path::new("/etc/client.key"))
    );
    assert_eq!(typed.tracing.request_span_prefix.as_deref(), Some("pmd."));
}

#[test]
fn the_written_toml_reads_back_unchanged() {
    for config in [Config::default(), full_config()] {
        let text = config.to_toml_string();
        assert_eq!(Config::from_toml_str(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn every_key_has_its_systematic_environment_variable() {
    for key in Key::ALL {
        let expected = format!(
            "LLM_TELEMETRY_{}",
            key.name().to_ascii_uppercase().replace('.', "_")
        );
        assert_eq!(key.env_var(), expected);
        assert_eq!(Key::from_name(key.name()), Some(key));
        assert!(!key.expected().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// precedence
// ---------------------------------------------------------------------------------------------

#[test]
fn code_beats_environment_beats_file_beats_defaults() {
    let file = r#"
        level = "basic"
        [log]
        level = "debug"
        format = "json"
        [tracing]
        sample_rate = 0.1
    "#;
    let environment = env(&[
        ("LLM_TELEMETRY_LEVEL", "verbose"),
        ("LLM_TELEMETRY_LOG_LEVEL", "warn"),
    ]);
    // Explicit settings given first still win: precedence does not depend on call order.
    let c = Config::builder()
        .level(TelemetryLevel::Disabled)
        .set("tracing.sample_rate=0.75")
        .env_with(environment)
        .toml_str(file)
        .build()
        .unwrap();
    assert_eq!(c.level, TelemetryLevel::Disabled, "code > env > file");
    assert_eq!(c.tracing.sample_rate, 0.75, "argument > file");
    assert_eq!(c.log.level, LogLevel::Warn, "env > file");
    assert_eq!(c.log.format, LogFormat::Json, "file > default");
    assert_eq!(c.log.sample_rate, 1.0, "default");

    // Each layer alone.
    assert_eq!(
        Config::from_toml_str(file).unwrap().level,
        TelemetryLevel::Basic
    );
    let env_only = Config::from_env_with(env(&[("LLM_TELEMETRY_LEVEL", "verbose")])).unwrap();
    assert_eq!(env_only.level, TelemetryLevel::Verbose);
}

#[test]
fn later_explicit_settings_override_earlier_ones() {
    let c = Config::builder()
        .set("log.level=error")
        .log_level(LogLevel::Trace)
        .set("level=basic")
        .level(TelemetryLevel::Verbose)
        .set("level=detailed")
        .build()
        .unwrap();
    assert_eq!(c.log.level, LogLevel::Trace);
    assert_eq!(c.level, TelemetryLevel::Detailed);
}

#[test]
fn standard_variables_are_honoured_below_our_own() {
    let phoenix = Config::from_env_with(env(&[(
        "PHOENIX_COLLECTOR_ENDPOINT",
        "http://127.0.0.1:6006",
    )]))
    .unwrap();
    assert_eq!(
        phoenix.tracing.export_endpoint(),
        Some("http://127.0.0.1:6006")
    );

    let both = Config::from_env_with(env(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_SERVICE_NAME", "svc"),
        ("OPENINFERENCE_HIDE_INPUTS", "true"),
    ]))
    .unwrap();
    assert_eq!(
        both.tracing.endpoint.as_deref(),
        Some("http://127.0.0.1:4318")
    );
    assert_eq!(both.tracing.protocol, OtlpProtocol::Grpc);
    // The protocol is the OpenTelemetry handler's own type: what it cannot export is refused
    // when the configuration is read, naming what it accepts (http/json is the third).
    let json = Config::from_env_with(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).unwrap();
    assert_eq!(json.tracing.protocol, OtlpProtocol::HttpJson);
    let thrift = Config::from_env_with(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]))
        .unwrap_err()
        .to_string();
    assert!(
        thrift.contains("\"grpc\", \"http/protobuf\", \"http/json\""),
        "{thrift}"
    );
    assert_eq!(both.tracing.service_name, "svc");
    assert!(both.tracing.hide_inputs);

    let ours = Config::from_env_with(env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        (
            "LLM_TELEMETRY_TRACING_ENDPOINT",
            "https://collector.example:4318",
        ),
        ("OTEL_SERVICE_NAME", "svc"),
        ("LLM_TELEMETRY_TRACING_SERVICE_NAME", "ours"),
    ]))
    .unwrap();
    assert_eq!(
        ours.tracing.endpoint.as_deref(),
        Some("https://collector.example:4318")
    );
    assert_eq!(ours.tracing.service_name, "ours");
}

#[test]
fn otel_sdk_disabled_turns_tracing_off_unless_ours_says_otherwise() {
    let off = Config::from_env_with(env(&[("OTEL_SDK_DISABLED", "true")])).unwrap();
    assert!(!off.tracing.enabled);
    let on = Config::from_env_with(env(&[("OTEL_SDK_DISABLED", "false")])).unwrap();
    assert!(on.tracing.enabled);
    let ours = Config::from_env_with(env(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("LLM_TELEMETRY_TRACING_ENABLED", "true"),
    ]))
    .unwrap();
    assert!(ours.tracing.enabled);
}

#[test]
fn our_variable_beats_the_handlers_standard_one_for_every_tracing_key() {
    // (our variable, our value, the handler's variable, its value, the key)
    let cases: &[(&str, &str, &str, &str, Key)] = &[
        (
            "LLM_TELEMETRY_TRACING_ENDPOINT",
            "http://ours:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://theirs:4318/v1/traces",
            Key::TracingEndpoint,
        ),
        (
            "LLM_TELEMETRY_TRACING_PROTOCOL",
            "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/protobuf",
            Key::TracingProtocol,
        ),
        (
            "LLM_TELEMETRY_TRACING_SERVICE_NAME",
            "ours",
            "OTEL_SERVICE_NAME",
            "theirs",
            Key::TracingServiceName,
        ),
        (
            "LLM_TELEMETRY_TRACING_HIDE_INPUTS",
            "true",
            "OPENINFERENCE_HIDE_INPUTS",
            "false",
            Key::TracingHideInputs,
        ),
        (
            "LLM_TELEMETRY_TRACING_HIDE_OUTPUTS",
            "false",
            "OPENINFERENCE_HIDE_OUTPUTS",
            "true",
            Key::TracingHideOutputs,
        ),
        (
            "LLM_TELEMETRY_TRACING_ENABLED",
            "true",
            "OTEL_SDK_DISABLED",
            "true",
            Key::TracingEnabled,
        ),
    ];
    for (ours, our_value, theirs, their_value, key) in cases {
        assert!(key.standard_env_vars().contains(theirs), "{key}: {theirs}");
        let alone = Config::from_env_with(env(&[(theirs, their_value)])).unwrap();
        let both = Config::from_env_with(env(&[(ours, our_value), (theirs, their_value)])).unwrap();
        let ours_alone = Config::from_env_with(env(&[(ours, our_value)])).unwrap();
        assert_ne!(
            key.value_in(&alone),
            key.value_in(&ours_alone),
            "{key}: the case must tell the two apart"
        );
        assert_eq!(
            key.value_in(&both),
            key.value_in(&ours_alone),
            "{key}: ours wins"
        );
        // Once ours is set the handler's variable is not read: a broken one is not an error.
        let broken = Config::from_env_with(env(&[(ours, our_value), (theirs, "no such value")]));
        assert_eq!(
            key.value_in(&broken.unwrap()),
            key.value_in(&ours_alone),
            "{key}"
        );
    }
}

#[test]
fn the_traces_endpoint_beats_the_generic_one_and_phoenix() {
    let generic = env(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"),
    ]);
    let c = Config::from_env_with(generic).unwrap();
    // A base URL, kept with its form: the exporter appends v1/traces to its path.
    assert_eq!(c.exports_traces(), Some("http://generic:4318/"));
    assert_eq!(
        c.tracing.endpoint_form,
        llm_telemetry::config::EndpointForm::Base
    );

    let c = Config::from_env_with(env(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:4318/custom/path/",
        ),
    ]))
    .unwrap();
    // A complete URL, kept as given, and said to be one.
    assert_eq!(c.exports_traces(), Some("http://traces:4318/custom/path/"));
    assert_eq!(
        c.tracing.endpoint_form,
        llm_telemetry::config::EndpointForm::Traces
    );

    let c = Config::from_env_with(env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
    ]))
    .unwrap();
    assert_eq!(c.tracing.protocol, OtlpProtocol::Grpc);

    // The environment (standard variables included) beats the file; arguments beat both.
    let file = "[tracing]\nendpoint = \"http://file:4318\"\nprotocol = \"grpc\"\n";
    let standard = || {
        env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://env:4318/v1/traces",
        )])
    };
    let c = Config::builder()
        .toml_str(file)
        .env_with(standard())
        .build()
        .unwrap();
    assert_eq!(
        c.tracing.endpoint.as_deref(),
        Some("http://env:4318/v1/traces")
    );
    assert_eq!(
        c.tracing.protocol,
        OtlpProtocol::Grpc,
        "the file's, untouched"
    );
    let c = Config::builder()
        .toml_str(file)
        .env_with(standard())
        .set("tracing.endpoint=http://cli:4318")
        .build()
        .unwrap();
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://cli:4318"));
}

#[test]
fn otel_sdk_disabled_stops_span_export_whatever_the_endpoint() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    for (value, exports) in [
        // As the specification says: only `true`, in any case, disables; anything else is false
        // (the handler warns about it when it attaches).
        ("true", false),
        ("TRUE", false),
        ("on", true),
        ("1", true),
        ("sometimes", true),
        ("false", true),
        ("off", true),
        ("0", true),
    ] {
        let c = Config::from_env_with(env(&[("OTEL_SDK_DISABLED", value), endpoint])).unwrap();
        assert_eq!(c.tracing.enabled, exports, "OTEL_SDK_DISABLED={value}");
        assert_eq!(
            c.exports_traces().is_some(),
            exports,
            "OTEL_SDK_DISABLED={value}"
        );
    }
    // It only switches off: a file that disables tracing stays disabled when it says false.
    let c = Config::builder()
        .toml_str("[tracing]\nenabled = false\n")
        .env_with(env(&[("OTEL_SDK_DISABLED", "false"), endpoint]))
        .build()
        .unwrap();
    assert!(!c.tracing.enabled);
}

#[test]
fn a_bad_handler_variable_is_an_error_naming_it_and_its_value() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "collector:4318",
            "tracing.endpoint",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://", "tracing.endpoint"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/xml",
            "tracing.protocol",
        ),
        ("OPENINFERENCE_HIDE_INPUTS", "maybe", "tracing.hide_inputs"),
        ("OPENINFERENCE_HIDE_OUTPUTS", "2", "tracing.hide_outputs"),
    ];
    for (var, raw, want_key) in cases {
        let result = Config::from_env_with(env(&[(var, raw)]));
        let (origin, key, value, expected) = invalid(result);
        assert_eq!(origin, from_env(var));
        assert_eq!(&key, want_key, "{var}");
        assert_eq!(value, format!("{raw:?}"), "{var}");
        let own = Key::from_name(want_key).unwrap();
        assert_eq!(expected, own.expected(), "{var}: the key's own wording");
        let message = Config::from_env_with(env(&[(var, raw)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!(
                "environment variable {var}: invalid value {raw:?} for `{want_key}`: expected {expected}"
            )
        );
    }
}

#[test]
fn one_boolean_grammar_for_every_source_of_every_boolean_key() {
    let words = [
        ("on", true),
        ("off", false),
        ("1", true),
        ("0", false),
        ("Yes", true),
        ("no", false),
        (" TRUE ", true),
        ("False", false),
    ];
    let bool_keys: Vec<Key> = Key::ALL
        .into_iter()
        .filter(|k| {
            k.value_in(&Config::default())
                .is_some_and(|v| v == "true" || v == "false")
        })
        .collect();
    assert_eq!(bool_keys.len(), 8, "{bool_keys:?}");
    for key in &bool_keys {
        for (word, want) in words {
            let from_env = Config::from_env_with(env(&[(key.env_var(), word)])).unwrap();
            let from_arg = Config::builder()
                .set(format!("{}={word}", key.name()))
                .build()
                .unwrap();
            assert_eq!(
                key.value_in(&from_env),
                Some(want.to_string()),
                "{key}={word}"
            );
            assert_eq!(
                key.value_in(&from_arg),
                Some(want.to_string()),
                "{key}={word}"
            );
            for standard in key.standard_env_vars() {
                let c = Config::from_env_with(env(&[(standard, word)])).unwrap();
                // OTEL_SDK_DISABLED is inverted, only switches off, and only for `true`.
                let want = if *key == Key::TracingEnabled {
                    !word.trim().eq_ignore_ascii_case("true")
                } else {
                    want
                };
                assert_eq!(
                    key.value_in(&c),
                    Some(want.to_string()),
                    "{standard}={word}"
                );
            }
        }
        let (_, _, _, expected) = invalid(Config::from_env_with(env(&[(key.env_var(), "yep")])));
        assert_eq!(expected, llm_telemetry_core::text::BOOL_WORDS, "{key}");
    }
}

#[test]
fn empty_variables_count_as_unset() {
    let c = Config::from_env_with(env(&[
        ("LLM_TELEMETRY_LEVEL", ""),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "  "),
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
    ]))
    .unwrap();
    assert_eq!(c.level, TelemetryLevel::Detailed);
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://127.0.0.1:6006"));
}

#[test]
fn the_environment_can_name_the_file_and_an_explicit_file_beats_it() {
    let named = TempFile::new("named", "level = \"basic\"\n");
    let explicit = TempFile::new("explicit", "level = \"verbose\"\n");
    let lookup = |path: &PathBuf| {
        let path = path.to_string_lossy().into_owned();
        env(&[("LLM_TELEMETRY_CONFIG", path.as_str())])
    };
    let c = Config::builder()
        .env_with(lookup(&named.0))
        .build()
        .unwrap();
    assert_eq!(c.level, TelemetryLevel::Basic);
    let c = Config::builder()
        .env_with(lookup(&named.0))
        .file(&explicit.0)
        .build()
        .unwrap();
    assert_eq!(c.level, TelemetryLevel::Verbose);
}

#[test]
fn instrumentation_takes_its_level_from_the_config() {
    let config = Config::builder()
        .level(TelemetryLevel::Basic)
        .build()
        .unwrap();
    let telemetry = config.instrumentation(&llm_telemetry::Bus::new());
    assert_eq!(telemetry.level(), TelemetryLevel::Basic);
}

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_file_names_its_path() {
    let path = std::env::temp_dir().join("llm-telemetry-config-does-not-exist.toml");
    let error = Config::from_file(&path).unwrap_err();
    assert!(matches!(&error, ConfigError::Read { path: p, .. } if *p == path));
    assert!(
        error
            .to_string()
            .contains("llm-telemetry-config-does-not-exist.toml")
    );
}

#[test]
fn bad_toml_names_the_file_and_the_line() {
    let file = TempFile::new("syntax", "level = \"basic\"\n[tracing\nenabled = true\n");
    let error = Config::from_file(&file.0).unwrap_err();
    let ConfigError::Syntax { path, message } = &error else {
        panic!("expected Syntax, got {error:?}")
    };
    assert_eq!(path, &file.0);
    assert!(message.contains("line 2"), "{message}");
    assert!(error.to_string().contains(&*file.0.to_string_lossy()));
}

#[test]
fn unknown_keys_in_a_file_are_rejected_with_the_key_named() {
    let file = TempFile::new("unknown", "[tracing]\nsampel_rate = 0.5\n");
    let error = Config::from_file(&file.0).unwrap_err();
    match &error {
        ConfigError::UnknownKey { origin, key, known } => {
            assert_eq!(
                origin,
                &Origin::File {
                    path: file.0.clone()
                }
            );
            assert_eq!(key, "tracing.sampel_rate");
            assert!(known.contains("tracing.sample_rate"), "{known}");
            assert!(
                !known.contains("log.level"),
                "only the section's keys: {known}"
            );
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("tracing.sampel_rate") && message.contains(&*file.0.to_string_lossy())
    );

    let error = Config::from_toml_str("levle = \"basic\"").unwrap_err();
    assert_eq!(error.key(), Some("levle"));
    assert!(
        error
            .to_string()
            .contains("level, tracing, metrics, log, cost")
    );

    let error = Config::from_toml_str("[tracng]\nenabled = true").unwrap_err();
    assert_eq!(error.key(), Some("tracng"));
}

#[test]
fn a_section_that_is_not_a_table_is_rejected() {
    let (origin, key, value, expected) = invalid(Config::from_toml_str("tracing = true"));
    assert_eq!(origin, inline());
    assert_eq!(key, "tracing");
    assert_eq!(value, "true");
    assert_eq!(expected, "a table ([tracing])");
}

#[test]
fn every_kind_of_bad_file_value_is_named_with_what_is_allowed() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("level = \"loud\"", "level", "\"loud\"", "\"verbose\""),
        (
            "[tracing]\nenabled = \"yes\"",
            "tracing.enabled",
            "\"yes\"",
            "a boolean",
        ),
        (
            "[tracing]\nendpoint = \"localhost:4317\"",
            "tracing.endpoint",
            "\"localhost:4317\"",
            "http://",
        ),
        (
            "[tracing]\nendpoint = \"http://\"",
            "tracing.endpoint",
            "\"http://\"",
            "with a host",
        ),
        (
            "[tracing]\nprotocol = \"udp\"",
            "tracing.protocol",
            "\"udp\"",
            "\"http/protobuf\"",
        ),
        (
            "[tracing]\nservice_name = \"\"",
            "tracing.service_name",
            "\"\"",
            "non-empty",
        ),
        (
            "[tracing]\nservice_version = 3",
            "tracing.service_version",
            "3",
            "non-empty string",
        ),
        (
            "[tracing]\nsample_rate = 1.5",
            "tracing.sample_rate",
            "1.5",
            "from 0 to 1",
        ),
        (
            "[tracing]\nsample_rate = \"half\"",
            "tracing.sample_rate",
            "\"half\"",
            "from 0 to 1",
        ),
        (
            "[tracing]\nexport = \"stream\"",
            "tracing.export",
            "\"stream\"",
            "\"batch\", \"simple\"",
        ),
        (
            "[tracing]\nhide_outputs = 1",
            "tracing.hide_outputs",
            "1",
            "a boolean",
        ),
        (
            "[metrics]\nlisten = \"localhost\"",
            "metrics.listen",
            "\"localhost\"",
            "127.0.0.1:9568",
        ),
        (
            "[log]\nformat = \"xml\"",
            "log.format",
            "\"xml\"",
            "\"console\", \"json\"",
        ),
        (
            "[log]\nlevel = \"loud\"",
            "log.level",
            "\"loud\"",
            "\"warn\"",
        ),
        (
            "[log]\nsample_rate = -0.1",
            "log.sample_rate",
            "-0.1",
            "from 0 to 1",
        ),
        (
            "[cost]\nbudget_usd = -5",
            "cost.budget_usd",
            "-5",
            "0 or more",
        ),
        (
            "[cost]\nbudget_usd = inf",
            "cost.budget_usd",
            "inf",
            "finite",
        ),
        (
            "[cost]\nwindow = \"week\"",
            "cost.window",
            "\"week\"",
            "\"lifetime\"",
        ),
        (
            "[cost]\ntenant_budgets = 5",
            "cost.tenant_budgets",
            "5",
            "a table of tenant",
        ),
        (
            "[cost.tenant_budgets]\nacme = \"lots\"",
            "cost.tenant_budgets.acme",
            "\"lots\"",
            "US dollars",
        ),
    ];
    for (text, want_key, want_value, want_expected) in cases {
        let (origin, key, value, expected) = invalid(Config::from_toml_str(text));
        assert_eq!(origin, inline(), "{text}");
        assert_eq!(&key, want_key, "{text}");
        assert_eq!(&value, want_value, "{text}");
        assert!(expected.contains(want_expected), "{text}: {expected}");
    }
}

#[test]
fn a_bad_file_value_error_names_the_path_key_value_and_allowed() {
    let file = TempFile::new("bad-value", "[log]\nformat = \"xml\"\n");
    let error = Config::from_file(&file.0).unwrap_err();
    let message = error.to_string();
    for part in [
        &*file.0.to_string_lossy(),
        "log.format",
        "\"xml\"",
        "\"console\", \"json\"",
    ] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("LLM_TELEMETRY_LEVEL", "loud", "level", "\"disabled\""),
        (
            "LLM_TELEMETRY_TRACING_SAMPLE_RATE",
            "2",
            "tracing.sample_rate",
            "from 0 to 1",
        ),
        (
            "LLM_TELEMETRY_TRACING_SAMPLE_RATE",
            "NaN",
            "tracing.sample_rate",
            "from 0 to 1",
        ),
        (
            "LLM_TELEMETRY_METRICS_ENABLED",
            "maybe",
            "metrics.enabled",
            "a boolean",
        ),
        (
            "LLM_TELEMETRY_METRICS_LISTEN",
            "9568",
            "metrics.listen",
            "IP address and port",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4317",
            "tracing.endpoint",
            "http://",
        ),
        (
            "PHOENIX_COLLECTOR_ENDPOINT",
            "ftp://x",
            "tracing.endpoint",
            "http://",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "thrift",
            "tracing.protocol",
            "\"grpc\"",
        ),
        (
            "LLM_TELEMETRY_COST_TENANT_BUDGETS",
            "acme",
            "cost.tenant_budgets",
            "acme=10",
        ),
        (
            "LLM_TELEMETRY_COST_TENANT_BUDGETS",
            "acme=-1",
            "cost.tenant_budgets.acme",
            "0 or more",
        ),
        (
            "LLM_TELEMETRY_COST_TENANT_BUDGETS",
            "=4",
            "cost.tenant_budgets",
            "acme=10",
        ),
    ];
    for (var, raw, want_key, want_expected) in cases {
        let result = Config::from_env_with(env(&[(var, raw)]));
        let (origin, key, value, expected) = invalid(result);
        assert_eq!(origin, from_env(var), "{var}={raw}");
        assert_eq!(&key, want_key, "{var}={raw}");
        assert!(
            value.contains(raw.split('=').next_back().unwrap()),
            "{var}={raw}: {value}"
        );
        assert!(expected.contains(want_expected), "{var}={raw}: {expected}");
    }
    let message = Config::from_env_with(env(&[("LLM_TELEMETRY_LOG_FORMAT", "xml")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "environment variable LLM_TELEMETRY_LOG_FORMAT: invalid value \"xml\" for `log.format`: \
         expected one of \"console\", \"json\""
    );
}

#[test]
fn bad_arguments_are_errors() {
    let error = Config::builder()
        .set("tracing.sample_rate")
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::MalformedArgument { argument } if argument == "tracing.sample_rate")
    );
    assert!(error.to_string().contains("key=value"));

    let error = Config::builder()
        .set("tracing.rate=0.5")
        .build()
        .unwrap_err();
    match &error {
        ConfigError::UnknownKey { origin, key, known } => {
            assert_eq!(origin, &Origin::Argument);
            assert_eq!(key, "tracing.rate");
            assert!(known.contains("tracing.sample_rate") && !known.contains("log."));
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    let error = Config::builder().set("verbosity=3").build().unwrap_err();
    let ConfigError::UnknownKey { known, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        known.contains("log.level") && known.contains("tracing.endpoint"),
        "{known}"
    );

    let (origin, key, value, _) = invalid(Config::builder().set("metrics.listen=nowhere").build());
    assert_eq!(
        (origin, key.as_str(), value.as_str()),
        (Origin::Argument, "metrics.listen", "\"nowhere\"")
    );
}

#[test]
fn bad_values_set_in_code_are_caught_at_build() {
    let cases: Vec<(llm_telemetry::config::ConfigBuilder, &str)> = vec![
        (
            Config::builder().tracing_sample_rate(1.5),
            "tracing.sample_rate",
        ),
        (
            Config::builder().log_sample_rate(f64::NAN),
            "log.sample_rate",
        ),
        (
            Config::builder().tracing_endpoint("127.0.0.1:4317"),
            "tracing.endpoint",
        ),
        (Config::builder().service_name("  "), "tracing.service_name"),
        (
            Config::builder().service_version(""),
            "tracing.service_version",
        ),
        (Config::builder().budget_usd(-1.0), "cost.budget_usd"),
        (
            Config::builder().tenant_budget("acme", f64::INFINITY),
            "cost.tenant_budgets.acme",
        ),
        (
            Config::builder().tenant_budget("", 1.0),
            "cost.tenant_budgets.",
        ),
    ];
    for (builder, want_key) in cases {
        let (origin, key, _, expected) = invalid(builder.build());
        assert_eq!(origin, Origin::Code);
        assert_eq!(key, want_key);
        assert!(!expected.is_empty());
    }
    let hand_built = Config {
        tracing: TracingConfig {
            sample_rate: -1.0,
            ..TracingConfig::default()
        },
        ..Config::default()
    };
    assert_eq!(
        hand_built.validate().unwrap_err().key(),
        Some("tracing.sample_rate")
    );
    assert!(Config::default().validate().is_ok());
}

#[test]
fn a_bad_value_a_higher_layer_overrides_is_not_in_force_and_not_an_error() {
    // The environment sets the key: the file's value is never in force, so it is not checked.
    let config = Config::builder()
        .toml_str("level = \"loud\"")
        .env_with(env(&[("LLM_TELEMETRY_LEVEL", "basic")]))
        .build()
        .expect("the environment overrides the file");
    assert_eq!(config.level, TelemetryLevel::Basic);
    // Without the override the same file is an error naming the file and the key.
    let (origin, key, _, _) = invalid(Config::builder().toml_str("level = \"loud\"").build());
    assert_eq!((origin, key.as_str()), (inline(), "level"));
}

#[test]
fn value_in_reads_back_what_an_argument_set() {
    let mut config = full_config();
    let t = &mut config.tracing;
    t.exporter = llm_telemetry::config::TracingExporter::Console;
    t.certificate = Some("/ca.pem".into());
    t.client_certificate = Some("/client.pem".into());
    t.client_key = Some("/client.key".into());
    t.compression = Some(llm_telemetry::config::OtlpCompression::Gzip);
    t.span_events = Some(false);
    t.span_event_patterns = Some(vec!["llm.*.first_token".into(), "myapp.*".into()]);
    t.environment = Some("production".into());
    t.tls = true;
    t.request_span_prefix = Some("pmd.".into());
    config.metrics.tinyllm = true;
    for key in Key::ALL {
        let text = key
            .value_in(&config)
            .unwrap_or_else(|| panic!("{key} is set in the full config"));
        // The mTLS pair is set together or not at all; the key under test is set last and wins.
        let rebuilt = Config::builder()
            .set("tracing.client_certificate=/client.pem")
            .set("tracing.client_key=/client.key")
            .set(format!("{}={text}", key.name()))
            .build()
            .unwrap_or_else(|e| panic!("{key}={text}: {e}"));
        assert_eq!(key.value_in(&rebuilt), Some(text), "{key}");
    }
}

#[test]
fn the_reference_table_lists_every_key_once() {
    let table = llm_telemetry::config::reference_markdown();
    assert_eq!(table.lines().count(), Key::ALL.len() + 2);
    for key in Key::ALL {
        assert_eq!(
            table.matches(&format!("| `{}` |", key.name())).count(),
            1,
            "{key}"
        );
        assert!(table.contains(key.env_var()));
    }
    assert!(table.contains(
        "`LLM_TELEMETRY_TRACING_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, \
         `OTEL_EXPORTER_OTLP_ENDPOINT`, `PHOENIX_COLLECTOR_ENDPOINT` |"
    ));
    assert!(table.contains("`OTEL_SDK_DISABLED` (inverted) |"));
    assert!(
        table.contains("| `metrics.listen` | `LLM_TELEMETRY_METRICS_LISTEN` | `127.0.0.1:9568` |")
    );
}

#[test]
fn the_level_decides_which_components_run() {
    let on = Config::builder()
        .tracing_endpoint("http://127.0.0.1:6006")
        .build()
        .unwrap();
    assert!(on.serves_metrics() && on.writes_logs() && on.tracks_cost());
    assert_eq!(on.exports_traces(), Some("http://127.0.0.1:6006"));

    let disabled = Config::builder()
        .tracing_endpoint("http://127.0.0.1:6006")
        .level(TelemetryLevel::Disabled)
        .build()
        .unwrap();
    assert!(!disabled.serves_metrics() && !disabled.writes_logs() && !disabled.tracks_cost());
    assert_eq!(disabled.exports_traces(), None);

    let parts_off = Config::builder()
        .tracing_endpoint("http://127.0.0.1:6006")
        .tracing_enabled(false)
        .metrics_enabled(false)
        .log_enabled(false)
        .cost_enabled(false)
        .build()
        .unwrap();
    assert!(!parts_off.serves_metrics() && !parts_off.writes_logs() && !parts_off.tracks_cost());
    assert_eq!(parts_off.exports_traces(), None);
}

#[test]
fn the_label_value_cap_is_checked_wherever_it_comes_from() {
    for bad in ["15", "1048577", "-1", "big"] {
        let err = Config::builder()
            .set(format!("metrics.max_label_value_bytes={bad}"))
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("metrics.max_label_value_bytes"), "{text}");
        assert!(text.contains(bad), "{text}");
        assert!(text.contains("16 to 1048576"), "{text}");
    }
    let err = Config::builder()
        .metrics_max_label_value_bytes(3)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("metrics.max_label_value_bytes"),
        "{err}"
    );
    assert_eq!(Config::default().metrics.max_label_value_bytes, 256);
}

// ---------------------------------------------------------------------------------------------
// values that validate but cannot work (issue 18, item 9)
// ---------------------------------------------------------------------------------------------

#[test]
fn an_endpoint_without_a_host_or_with_a_bad_port_is_refused() {
    for url in [
        "http://:4318",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0",
        "https://host:port",
        "http://[::1",
        "http://@/v1",
    ] {
        let result = Config::from_env_with(env(&[("LLM_TELEMETRY_TRACING_ENDPOINT", url)]));
        let (origin, key, value, _) = invalid(result);
        assert_eq!(
            (origin, key.as_str(), value),
            (
                from_env("LLM_TELEMETRY_TRACING_ENDPOINT"),
                "tracing.endpoint",
                format!("{url:?}")
            )
        );
    }
    for url in [
        "http://127.0.0.1:4318",
        "https://collector.example.com/otlp",
        "http://[::1]:4318/v1/traces",
        "http://localhost",
        "https://user@host:443",
    ] {
        let config = Config::from_env_with(env(&[("LLM_TELEMETRY_TRACING_ENDPOINT", url)]));
        assert!(config.is_ok(), "{url}: {config:?}");
    }
}

#[test]
fn a_budget_too_large_to_count_names_its_key_and_variable() {
    let result = Config::from_env_with(env(&[("LLM_TELEMETRY_COST_BUDGET_USD", "1e30")]));
    let message = result
        .expect_err("1e30 dollars cannot be counted")
        .to_string();
    assert!(
        message.contains("cost.budget_usd") && message.contains("LLM_TELEMETRY_COST_BUDGET_USD"),
        "{message}"
    );
}

#[test]
fn a_tenant_budget_given_twice_is_an_error() {
    let result = Config::from_env_with(env(&[(
        "LLM_TELEMETRY_COST_TENANT_BUDGETS",
        "acme=1,acme=2",
    )]));
    let message = result.expect_err("acme twice").to_string();
    assert!(message.contains("acme"), "{message}");
    assert!(
        message.contains("LLM_TELEMETRY_COST_TENANT_BUDGETS"),
        "{message}"
    );
}

#[test]
fn a_value_overridden_by_a_higher_source_is_not_validated() {
    let config = Config::builder()
        .env_with(env(&[("LLM_TELEMETRY_LOG_LEVEL", "loud")]))
        .set("log.level=warn")
        .build()
        .expect("the argument overrides the bad environment value");
    assert_eq!(config.log.level, LogLevel::Warn);
    // The bad value alone is still an error.
    assert!(Config::from_env_with(env(&[("LLM_TELEMETRY_LOG_LEVEL", "loud")])).is_err());
}

// ---------------------------------------------------------------------------------------------
// the OpenTelemetry handler's exporter, TLS, compression and span-event keys
// ---------------------------------------------------------------------------------------------

fn otel_file(certs: &certs::Certs) -> String {
    format!(
        r#"
[tracing]
endpoint = "https://127.0.0.1:4318"
exporter = "console"
certificate = "{}"
client_certificate = "{}"
client_key = "{}"
compression = "gzip"
span_events = false
span_event_patterns = ["llm.*.first_token", "myapp.*"]
"#,
        certs.ca.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    )
}

/// The builder `config` hands the handler, resolved without the process environment.
fn resolved(config: &Config) -> llm_telemetry_otel::config::OtelConfig {
    config
        .otel_builder()
        .expect("tracing is on")
        .read_env(false)
        .resolve()
        .unwrap()
}

fn assert_otel_keys_reached(config: &Config, certs: &certs::Certs) {
    use llm_telemetry::config::{OtlpCompression, TracingExporter};
    assert_eq!(config.tracing.exporter, TracingExporter::Console);
    let builder = config.otel_builder().unwrap();
    assert!(format!("{builder:?}").contains("custom_exporter: true"));
    let otel = resolved(config);
    assert_eq!(otel.compression, OtlpCompression::Gzip);
    let path = |f: &Option<llm_telemetry_otel::config::TlsFile>| f.as_ref().map(|f| f.path.clone());
    assert_eq!(path(&otel.tls.certificate), Some(certs.ca.clone()));
    assert_eq!(
        path(&otel.tls.client_certificate),
        Some(certs.client_cert.clone())
    );
    assert_eq!(path(&otel.tls.client_key), Some(certs.client_key.clone()));
    assert!(!otel.span_events);
    assert_eq!(otel.span_event_patterns, ["llm.*.first_token", "myapp.*"]);
}

#[test]
fn the_otel_keys_reach_the_handler_from_the_file() {
    let certs = certs::Certs::make("config-file");
    let c = Config::from_toml_str(&otel_file(&certs)).unwrap();
    assert_otel_keys_reached(&c, &certs);
    // The written TOML reads back unchanged, the list as an array.
    assert_eq!(Config::from_toml_str(&c.to_toml_string()).unwrap(), c);
}

#[test]
fn the_otel_keys_reach_the_handler_from_the_environment() {
    let certs = certs::Certs::make("config-env");
    let (ca, cert, key) = (
        certs.ca.display().to_string(),
        certs.client_cert.display().to_string(),
        certs.client_key.display().to_string(),
    );
    let c = Config::from_env_with(env(&[
        ("LLM_TELEMETRY_TRACING_ENDPOINT", "https://127.0.0.1:4318"),
        ("LLM_TELEMETRY_TRACING_EXPORTER", "CONSOLE"),
        ("LLM_TELEMETRY_TRACING_CERTIFICATE", &ca),
        ("LLM_TELEMETRY_TRACING_CLIENT_CERTIFICATE", &cert),
        ("LLM_TELEMETRY_TRACING_CLIENT_KEY", &key),
        ("LLM_TELEMETRY_TRACING_COMPRESSION", "gzip"),
        ("LLM_TELEMETRY_TRACING_SPAN_EVENTS", "off"),
        (
            "LLM_TELEMETRY_TRACING_SPAN_EVENT_PATTERNS",
            "llm.*.first_token, myapp.*",
        ),
    ]))
    .unwrap();
    assert_otel_keys_reached(&c, &certs);
}

#[test]
fn the_otel_keys_reach_the_handler_from_arguments() {
    let certs = certs::Certs::make("config-args");
    let c = Config::builder()
        .set(format!("tracing.certificate={}", certs.ca.display()))
        .set(format!(
            "tracing.client_certificate={}",
            certs.client_cert.display()
        ))
        .set(format!("tracing.client_key={}", certs.client_key.display()))
        .set_all([
            "tracing.endpoint=https://127.0.0.1:4318",
            "tracing.exporter=console",
            "tracing.compression=gzip",
            "tracing.span_events=false",
            "tracing.span_event_patterns=llm.*.first_token,myapp.*",
        ])
        .build()
        .unwrap();
    assert_otel_keys_reached(&c, &certs);
}

#[test]
fn the_otel_keys_follow_the_precedence() {
    use llm_telemetry::config::OtlpCompression;
    let c = Config::builder()
        .toml_str("[tracing]\nendpoint = \"http://127.0.0.1:4318\"\ncompression = \"gzip\"\nspan_events = true")
        .env_with(env(&[("LLM_TELEMETRY_TRACING_SPAN_EVENTS", "false")]))
        .set("tracing.compression=none")
        .build()
        .unwrap();
    let otel = resolved(&c);
    assert_eq!(otel.compression, OtlpCompression::None); // argument beats file
    assert!(!otel.span_events); // environment beats file
}

#[test]
fn unset_otel_keys_leave_the_handler_defaults() {
    let c = Config::builder()
        .set("tracing.endpoint=http://127.0.0.1:4318")
        .build()
        .unwrap();
    let builder = c.otel_builder().unwrap();
    assert!(format!("{builder:?}").contains("custom_exporter: false"));
    let otel = resolved(&c);
    assert!(otel.span_events);
    let defaults: Vec<String> = llm_telemetry_otel::config::DEFAULT_SPAN_EVENT_PATTERNS
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(otel.span_event_patterns, defaults);
    assert!(otel.tls.certificate.is_none() && otel.tls.client_key.is_none());
}

#[test]
fn the_console_exporter_needs_no_endpoint() {
    let c = Config::builder()
        .set("tracing.exporter=console")
        .build()
        .unwrap();
    assert!(c.otel_builder().is_some());
    let otlp = Config::builder().build().unwrap();
    assert!(otlp.otel_builder().is_none());
}

#[test]
fn bad_otel_values_name_key_source_value_and_what_is_allowed() {
    let (origin, key, value, expected) = invalid(
        Config::builder()
            .env_with(env(&[("LLM_TELEMETRY_TRACING_EXPORTER", "jaeger")]))
            .build(),
    );
    assert_eq!(origin, from_env("LLM_TELEMETRY_TRACING_EXPORTER"));
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("tracing.exporter", "\"jaeger\"")
    );
    assert_eq!(expected, "one of \"otlp\", \"console\"");

    let (origin, key, value, expected) =
        invalid(Config::builder().set("tracing.compression=zstd").build());
    assert_eq!(origin, Origin::Argument);
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("tracing.compression", "\"zstd\"")
    );
    assert_eq!(expected, "one of \"none\", \"gzip\"");

    let (origin, key, value, _) =
        invalid(Config::from_toml_str("[tracing]\nspan_events = \"yes\""));
    assert_eq!(origin, inline());
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("tracing.span_events", "\"yes\"")
    );

    let (origin, key, value, expected) = invalid(Config::from_toml_str(
        "[tracing]\nspan_event_patterns = [\"a.*\", 3]",
    ));
    assert_eq!(origin, inline());
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("tracing.span_event_patterns", "[\"a.*\", 3]")
    );
    assert!(expected.contains("list of event names"), "{expected}");

    let (origin, key, _, _) = invalid(
        Config::builder()
            .env_with(env(&[("LLM_TELEMETRY_TRACING_SPAN_EVENT_PATTERNS", " , ")]))
            .build(),
    );
    assert_eq!(
        origin,
        from_env("LLM_TELEMETRY_TRACING_SPAN_EVENT_PATTERNS")
    );
    assert_eq!(key, "tracing.span_event_patterns");

    let (origin, key, value, expected) =
        invalid(Config::from_toml_str("[tracing]\ncertificate = \"\""));
    assert_eq!(origin, inline());
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("tracing.certificate", "\"\"")
    );
    assert!(expected.contains("PEM file"), "{expected}");
}

#[test]
fn a_client_certificate_without_its_key_is_an_error_either_way() {
    let err = Config::builder()
        .set("tracing.client_certificate=/etc/pki/client.pem")
        .build()
        .unwrap_err();
    match &err {
        ConfigError::IncompletePair {
            key,
            value,
            missing,
        } => {
            assert_eq!(key, "tracing.client_certificate");
            assert_eq!(value, "\"/etc/pki/client.pem\"");
            assert_eq!(missing, "tracing.client_key");
        }
        other => panic!("expected IncompletePair, got {other:?}"),
    }
    assert!(err.to_string().contains("set both"), "{err}");
    let err =
        Config::from_env_with(env(&[("LLM_TELEMETRY_TRACING_CLIENT_KEY", "/k.pem")])).unwrap_err();
    assert!(
        matches!(&err, ConfigError::IncompletePair { key, missing, .. }
            if key == "tracing.client_key" && missing == "tracing.client_certificate"),
        "{err:?}"
    );
    // Together from two sources is fine.
    let c = Config::builder()
        .toml_str("[tracing]\nclient_key = \"/k.pem\"")
        .set("tracing.client_certificate=/c.pem")
        .build()
        .unwrap();
    assert_eq!(c.tracing.client_key, Some(PathBuf::from("/k.pem")));
}
