//! The seeds' names for the configuration keys (PMD's and Cogniverse's variables, PMD's
//! `[tracing]` file keys, TinyLLM's flags): one test per alias that it sets its key, and that
//! when the project's own name says otherwise the project's name wins with exactly one warning.

use std::collections::HashMap;

use llm_telemetry::config::{
    Alias, AliasKind, Config, ConfigError, ConfigWarning, EndpointForm, ExportMode, Key, LogFormat,
    Origin,
};
use llm_telemetry::instrument::TelemetryLevel;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn from_env(pairs: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
    Config::builder()
        .env_with(env(pairs))
        .build_with_warnings()
        .unwrap()
}

fn from_file(text: &str) -> (Config, Vec<ConfigWarning>) {
    Config::builder()
        .toml_str(text)
        .build_with_warnings()
        .unwrap()
}

fn flag(name: &str) -> &'static Alias {
    Alias::find(AliasKind::Flag, name).unwrap()
}

/// The one warning in `warnings`: the alias, the key, and who won with which value.
fn one_warning(warnings: &[ConfigWarning]) -> (String, Key, String, Option<String>) {
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let ConfigWarning::AliasIgnored {
        alias,
        key,
        winner,
        value_in_force,
        ..
    } = warnings[0].clone()
    else {
        panic!("{warnings:?}")
    };
    (alias, key, winner, value_in_force)
}

// ---------------------------------------------------------------------------------------------
// PMD
// ---------------------------------------------------------------------------------------------

#[test]
fn pmd_phoenix_tracing_sets_tracing_enabled() {
    let (c, w) = from_env(&[("PHOENIX_TRACING", "0")]);
    assert!(!c.tracing.enabled);
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("PHOENIX_TRACING", "0"),
        ("LLM_TELEMETRY_TRACING_ENABLED", "true"),
    ]);
    assert!(c.tracing.enabled, "the project's variable wins");
    assert_eq!(
        one_warning(&w),
        (
            "PHOENIX_TRACING".into(),
            Key::TracingEnabled,
            "LLM_TELEMETRY_TRACING_ENABLED".into(),
            Some("true".into())
        )
    );
}

#[test]
fn pmd_phoenix_endpoint_sets_tracing_endpoint_in_phoenix_form() {
    let (c, w) = from_env(&[("PHOENIX_ENDPOINT", "http://127.0.0.1:6006/v1/traces")]);
    assert_eq!(
        c.tracing.endpoint.as_deref(),
        Some("http://127.0.0.1:6006/v1/traces")
    );
    assert_eq!(c.tracing.endpoint_form, EndpointForm::Phoenix);
    assert!(w.is_empty());
    // Completed as Phoenix does: no second `/v1/traces`, and one added to a bare base URL.
    let resolved = c.otel_builder().unwrap().read_env(false).resolve().unwrap();
    assert_eq!(resolved.endpoint, "http://127.0.0.1:6006/v1/traces");
    let (c, _) = from_env(&[("PHOENIX_ENDPOINT", "http://127.0.0.1:6006")]);
    let resolved = c.otel_builder().unwrap().read_env(false).resolve().unwrap();
    assert_eq!(resolved.endpoint, "http://127.0.0.1:6006/v1/traces");

    // A standard variable outranks the alias too.
    let (c, w) = from_env(&[
        ("PHOENIX_ENDPOINT", "http://pmd:6006"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
    ]);
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://otel:4318"));
    let (alias, key, winner, value) = one_warning(&w);
    assert_eq!(
        (alias.as_str(), key, winner.as_str(), value.as_deref()),
        (
            "PHOENIX_ENDPOINT",
            Key::TracingEndpoint,
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            Some("http://otel:4318")
        )
    );
}

#[test]
fn pmd_phoenix_sample_rate_sets_tracing_sample_rate() {
    let (c, w) = from_env(&[("PHOENIX_SAMPLE_RATE", "0.5")]);
    assert_eq!(c.tracing.sample_rate, 0.5);
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("PHOENIX_SAMPLE_RATE", "0.5"),
        ("LLM_TELEMETRY_TRACING_SAMPLE_RATE", "0.25"),
    ]);
    assert_eq!(c.tracing.sample_rate, 0.25);
    assert_eq!(one_warning(&w).0, "PHOENIX_SAMPLE_RATE");
    // Agreeing names are no warning.
    let (_, w) = from_env(&[
        ("PHOENIX_SAMPLE_RATE", "0.5"),
        ("LLM_TELEMETRY_TRACING_SAMPLE_RATE", "0.50"),
    ]);
    assert!(w.is_empty(), "{w:?}");
    // A bad value, when in force, is an error naming the alias and the key.
    let error = Config::from_env_with(env(&[("PHOENIX_SAMPLE_RATE", "2")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable PHOENIX_SAMPLE_RATE: invalid value \"2\" for \
         `PHOENIX_SAMPLE_RATE (alias of `tracing.sample_rate`)`: expected a number from 0 to 1"
    );
}

#[test]
fn pmd_file_key_phoenix_endpoint_sets_tracing_endpoint() {
    let (c, w) = from_file("[tracing]\nphoenix_endpoint = \"http://127.0.0.1:6006\"");
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://127.0.0.1:6006"));
    assert_eq!(c.tracing.endpoint_form, EndpointForm::Phoenix);
    assert!(w.is_empty());
    let (c, w) = from_file(
        "[tracing]\nphoenix_endpoint = \"http://pmd:6006\"\nendpoint = \"http://ours:4318\"",
    );
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://ours:4318"));
    assert_eq!(c.tracing.endpoint_form, EndpointForm::Base);
    let (alias, key, winner, _) = one_warning(&w);
    assert_eq!(
        (alias.as_str(), key, winner.as_str()),
        (
            "tracing.phoenix_endpoint",
            Key::TracingEndpoint,
            "tracing.endpoint"
        )
    );
    assert!(
        matches!(
            &w[0],
            ConfigWarning::AliasIgnored {
                origin: Origin::File { .. },
                ..
            }
        ),
        "{w:?}"
    );
}

#[test]
fn pmd_file_key_batch_export_sets_tracing_export() {
    let (c, w) = from_file("[tracing]\nbatch_export = false");
    assert_eq!(c.tracing.export, ExportMode::Simple);
    assert!(w.is_empty());
    let (c, _) = from_file("[tracing]\nbatch_export = true");
    assert_eq!(c.tracing.export, ExportMode::Batch);
    let (c, w) = from_file("[tracing]\nbatch_export = false\nexport = \"batch\"");
    assert_eq!(c.tracing.export, ExportMode::Batch);
    assert_eq!(one_warning(&w).0, "tracing.batch_export");
    // A string is not a TOML boolean: the error names the alias.
    let error = Config::from_toml_str("[tracing]\nbatch_export = \"no\"").unwrap_err();
    assert_eq!(
        error.key(),
        Some("tracing.batch_export (alias of `tracing.export`)")
    );
}

#[test]
fn an_environment_alias_beats_the_files_own_key_by_layer() {
    let (c, w) = Config::builder()
        .toml_str("[tracing]\nsample_rate = 0.1")
        .env_with(env(&[("PHOENIX_SAMPLE_RATE", "0.5")]))
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.tracing.sample_rate, 0.5, "the environment beats the file");
    assert!(w.is_empty(), "layers are not a disagreement: {w:?}");
}

// ---------------------------------------------------------------------------------------------
// Cogniverse
// ---------------------------------------------------------------------------------------------

#[test]
fn cogniverse_telemetry_enabled_false_disables_the_level() {
    let (c, w) = from_env(&[("TELEMETRY_ENABLED", "false")]);
    assert_eq!(c.level, TelemetryLevel::Disabled);
    assert!(w.is_empty());
    let (c, w) = from_env(&[("TELEMETRY_ENABLED", "true")]);
    assert_eq!(c.level, TelemetryLevel::Detailed, "true leaves the level");
    assert!(w.is_empty());
    // `true` does not override the file's level; `false` does.
    let (c, _) = Config::builder()
        .toml_str("level = \"basic\"")
        .env_with(env(&[("TELEMETRY_ENABLED", "true")]))
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.level, TelemetryLevel::Basic);
    let (c, w) = from_env(&[
        ("TELEMETRY_ENABLED", "false"),
        ("LLM_TELEMETRY_LEVEL", "verbose"),
    ]);
    assert_eq!(c.level, TelemetryLevel::Verbose);
    assert_eq!(
        one_warning(&w),
        (
            "TELEMETRY_ENABLED".into(),
            Key::Level,
            "LLM_TELEMETRY_LEVEL".into(),
            Some("verbose".into())
        )
    );
}

#[test]
fn cogniverse_telemetry_level_sets_level() {
    let (c, w) = from_env(&[("TELEMETRY_LEVEL", "basic")]);
    assert_eq!(c.level, TelemetryLevel::Basic);
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("TELEMETRY_LEVEL", "basic"),
        ("LLM_TELEMETRY_LEVEL", "verbose"),
    ]);
    assert_eq!(c.level, TelemetryLevel::Verbose);
    assert_eq!(one_warning(&w).0, "TELEMETRY_LEVEL");
    // Two aliases of one key: the first in the table wins, the other is the warning.
    let (c, w) = from_env(&[("TELEMETRY_ENABLED", "false"), ("TELEMETRY_LEVEL", "basic")]);
    assert_eq!(c.level, TelemetryLevel::Disabled);
    let (alias, _, winner, _) = one_warning(&w);
    assert_eq!(
        (alias.as_str(), winner.as_str()),
        ("TELEMETRY_LEVEL", "TELEMETRY_ENABLED")
    );
}

#[test]
fn cogniverse_environment_sets_tracing_environment_and_the_resource() {
    let (c, w) = from_env(&[("ENVIRONMENT", "production")]);
    assert_eq!(c.tracing.environment.as_deref(), Some("production"));
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("ENVIRONMENT", "production"),
        ("LLM_TELEMETRY_TRACING_ENVIRONMENT", "staging"),
    ]);
    assert_eq!(c.tracing.environment.as_deref(), Some("staging"));
    assert_eq!(one_warning(&w).0, "ENVIRONMENT");
    let c = Config::builder()
        .tracing_endpoint("http://127.0.0.1:6006")
        .env_with(env(&[("ENVIRONMENT", "production")]))
        .build()
        .unwrap();
    let resolved = c.otel_builder().unwrap().read_env(false).resolve().unwrap();
    assert_eq!(
        resolved.deployment_environment.as_deref(),
        Some("production")
    );
}

#[test]
fn cogniverse_phoenix_enabled_sets_tracing_enabled() {
    let (c, w) = from_env(&[("PHOENIX_ENABLED", "false")]);
    assert!(!c.tracing.enabled);
    assert!(w.is_empty());
    let (c, w) = from_env(&[("PHOENIX_ENABLED", "false"), ("OTEL_SDK_DISABLED", "false")]);
    assert!(
        !c.tracing.enabled,
        "OTEL_SDK_DISABLED=false decides nothing"
    );
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("PHOENIX_ENABLED", "true"),
        ("LLM_TELEMETRY_TRACING_ENABLED", "false"),
    ]);
    assert!(!c.tracing.enabled);
    assert_eq!(one_warning(&w).0, "PHOENIX_ENABLED");
}

#[test]
fn cogniverse_phoenix_use_tls_sets_tracing_tls() {
    let (c, w) = from_env(&[
        ("PHOENIX_USE_TLS", "true"),
        ("PHOENIX_COLLECTOR_ENDPOINT", "collector.example:4317"),
    ]);
    assert!(c.tracing.tls);
    assert!(w.is_empty());
    let resolved = c.otel_builder().unwrap().read_env(false).resolve().unwrap();
    assert_eq!(resolved.endpoint, "https://collector.example:4317");
    let (c, w) = from_env(&[
        ("PHOENIX_USE_TLS", "true"),
        ("LLM_TELEMETRY_TRACING_TLS", "false"),
    ]);
    assert!(!c.tracing.tls);
    assert_eq!(one_warning(&w).0, "PHOENIX_USE_TLS");
}

#[test]
fn cogniverse_service_version_sets_tracing_service_version() {
    let (c, w) = from_env(&[("SERVICE_VERSION", "1.0.0")]);
    assert_eq!(c.tracing.service_version.as_deref(), Some("1.0.0"));
    assert!(w.is_empty());
    let (c, w) = from_env(&[
        ("SERVICE_VERSION", "1.0.0"),
        ("LLM_TELEMETRY_TRACING_SERVICE_VERSION", "2.0.0"),
    ]);
    assert_eq!(c.tracing.service_version.as_deref(), Some("2.0.0"));
    assert_eq!(one_warning(&w).0, "SERVICE_VERSION");
}

#[test]
fn cogniverse_telemetry_sync_export_sets_tracing_export() {
    let (c, w) = from_env(&[("TELEMETRY_SYNC_EXPORT", "true")]);
    assert_eq!(c.tracing.export, ExportMode::Simple);
    assert!(w.is_empty());
    let (c, _) = from_env(&[("TELEMETRY_SYNC_EXPORT", "false")]);
    assert_eq!(c.tracing.export, ExportMode::Batch);
    let (c, w) = from_env(&[
        ("TELEMETRY_SYNC_EXPORT", "true"),
        ("LLM_TELEMETRY_TRACING_EXPORT", "batch"),
    ]);
    assert_eq!(c.tracing.export, ExportMode::Batch);
    assert_eq!(one_warning(&w).0, "TELEMETRY_SYNC_EXPORT");
    let error = Config::from_env_with(env(&[("TELEMETRY_SYNC_EXPORT", "sometimes")])).unwrap_err();
    assert!(
        matches!(&error, ConfigError::InvalidValue { origin: Origin::Env { var }, .. } if var == "TELEMETRY_SYNC_EXPORT"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// TinyLLM
// ---------------------------------------------------------------------------------------------

#[test]
fn tinyllm_tracing_flag_sets_tracing_enabled() {
    let off = Config::builder().tracing_enabled(false);
    let (c, w) = off
        .seed_flag(flag("--tracing"), "")
        .build_with_warnings()
        .unwrap();
    assert!(!c.tracing.enabled, "typed code beats the flag");
    assert!(w.is_empty());
    let (c, w) = Config::builder()
        .toml_str("[tracing]\nenabled = false")
        .seed_flag(flag("--tracing"), "")
        .build_with_warnings()
        .unwrap();
    assert!(c.tracing.enabled, "the flag beats the file");
    assert!(w.is_empty());
    let (c, w) = Config::builder()
        .seed_flag(flag("--tracing"), "")
        .set("tracing.enabled=false")
        .build_with_warnings()
        .unwrap();
    assert!(!c.tracing.enabled);
    assert_eq!(
        one_warning(&w),
        (
            "--tracing".into(),
            Key::TracingEnabled,
            "--set tracing.enabled".into(),
            Some("false".into())
        )
    );
}

#[test]
fn tinyllm_otlp_endpoint_flag_sets_tracing_endpoint() {
    let (c, w) = Config::builder()
        .env_with(env(&[(
            "LLM_TELEMETRY_TRACING_ENDPOINT",
            "http://env:4318",
        )]))
        .seed_flag(flag("--otlp-endpoint"), "http://127.0.0.1:4318")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
    assert!(w.is_empty(), "arguments beat the environment");
    let (c, w) = Config::builder()
        .seed_flag(flag("--otlp-endpoint"), "http://flag:4318")
        .set("tracing.endpoint=http://set:4318")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.tracing.endpoint.as_deref(), Some("http://set:4318"));
    assert_eq!(one_warning(&w).0, "--otlp-endpoint");
    let error = Config::builder()
        .seed_flag(flag("--otlp-endpoint"), "not a url")
        .build()
        .unwrap_err();
    assert_eq!(error.origin(), Some(&Origin::Argument));
}

#[test]
fn tinyllm_metrics_port_flag_sets_the_port_of_metrics_listen() {
    let (c, w) = Config::builder()
        .toml_str("[metrics]\nlisten = \"0.0.0.0:9568\"")
        .seed_flag(flag("--metrics-port"), "9100")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.metrics.listen.to_string(), "0.0.0.0:9100", "keeps the IP");
    assert!(w.is_empty());
    let (c, w) = Config::builder()
        .seed_flag(flag("--metrics-port"), "9100")
        .set("metrics.listen=127.0.0.1:9200")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.metrics.listen.to_string(), "127.0.0.1:9200");
    assert_eq!(one_warning(&w).0, "--metrics-port");
    let error = Config::builder()
        .seed_flag(flag("--metrics-port"), "70000")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "command-line setting: invalid value \"70000\" for `--metrics-port (alias of \
         `metrics.listen`)`: expected a port number from 1 to 65535"
    );
}

#[test]
fn tinyllm_log_format_flag_sets_log_format() {
    let (c, w) = Config::builder()
        .seed_flag(flag("--log-format"), "json")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.log.format, LogFormat::Json);
    assert!(w.is_empty());
    let (c, w) = Config::builder()
        .seed_flag(flag("--log-format"), "json")
        .set("log.format=console")
        .build_with_warnings()
        .unwrap();
    assert_eq!(c.log.format, LogFormat::Console);
    assert_eq!(one_warning(&w).0, "--log-format");
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

#[test]
fn every_alias_has_a_test_here_and_a_row_in_the_readme() {
    let tests = include_str!("config_aliases.rs");
    let readme = include_str!("../README.md");
    let keys = llm_telemetry::config::reference_markdown();
    assert!(
        readme.contains(&keys),
        "README.md's key table is out of date; paste:\n{keys}"
    );
    let table = llm_telemetry::config::aliases_markdown();
    assert_eq!(table.lines().count(), Alias::ALL.len() + 2);
    assert!(
        readme.contains(&table),
        "README.md's alias table is out of date; paste:\n{table}"
    );
    for alias in &Alias::ALL {
        let quoted = format!("\"{}\"", alias.name);
        let tested = tests.matches(&quoted).count();
        assert!(tested >= 1, "{} has no test here", alias.name);
    }
}

#[test]
fn the_request_span_prefix_key_reaches_the_handler() {
    let c = Config::builder()
        .set("tracing.endpoint=http://127.0.0.1:6006")
        .set("tracing.request_span_prefix=pmd.")
        .build()
        .unwrap();
    let resolved = c.otel_builder().unwrap().read_env(false).resolve().unwrap();
    assert_eq!(resolved.request_span_prefix.as_deref(), Some("pmd."));
    let error = Config::builder()
        .set("tracing.request_span_prefix= ")
        .build()
        .unwrap_err();
    assert_eq!(error.key(), Some("tracing.request_span_prefix"));
}
