//! [`Config`]: the one configuration of llm-telemetry, from defaults, a TOML file, environment
//! variables and code, in that order of increasing precedence.
//!
//! Explicit settings (typed builder setters and `key=value` arguments from a command line) beat
//! the environment, which beats the file, which beats the defaults. A value a higher source
//! overrides (a `key=value` argument over a variable, a variable over the file) is never in
//! force and is not checked, so a stale bad value there is no error; a value in force is checked
//! wherever it comes from, and its error names the key, the source and what is allowed:
//!
//! ```
//! use llm_telemetry::config::{Config, LogFormat};
//! use llm_telemetry::instrument::TelemetryLevel;
//!
//! let file = r#"
//!     level = "verbose"
//!     [log]
//!     format = "json"
//!     level = "debug"
//! "#;
//! let env = |name: &str| (name == "LLM_TELEMETRY_LOG_LEVEL").then(|| "warn".to_owned());
//! let config = Config::builder()
//!     .toml_str(file)
//!     .env_with(env)
//!     .level(TelemetryLevel::Basic)
//!     .build()?;
//! assert_eq!(config.level, TelemetryLevel::Basic);       // code beats the file
//! assert_eq!(config.log.level.as_str(), "warn");         // the environment beats the file
//! assert_eq!(config.log.format, LogFormat::Json);        // the file beats the default
//! assert_eq!(config.metrics.listen.to_string(), "127.0.0.1:9568"); // the default
//! # Ok::<(), llm_telemetry::config::ConfigError>(())
//! ```
//!
//! Every key, its environment variables, its default and what it accepts is listed by
//! [`Key::ALL`] (rendered in the README's configuration reference). Invalid values and unknown
//! keys are [`ConfigError`]s naming the key, the value, where it came from and what is allowed.
//! Reading files needs the default-on `toml` feature.
//!
//! # Who reads which variable
//!
//! Each key has its own variable, `LLM_TELEMETRY_` and the key in upper case
//! ([`Key::env_var`]); this crate reads those. The standard variables of a handler's field
//! belong to that handler, which names them and applies their rules: the OpenTelemetry handler
//! reads `OTEL_*`, `PHOENIX_*` and `OPENINFERENCE_*` for the `tracing` keys
//! ([`llm_telemetry_otel::config::standard`]); this crate hands it the same captured
//! environment and stores what it found ([`Key::standard_env_vars`] lists them per key). The
//! Prometheus, log and cost handlers have no standard variables. Booleans written as text
//! (variables, `key=value` arguments), here and in every handler, use the one grammar of
//! [`llm_telemetry_core::text::parse_bool`] (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`,
//! any case); the TOML file uses TOML's own `true` and `false`.
//!
//! Within the environment layer, for each key:
//!
//! 1. its own `LLM_TELEMETRY_*` variable, when set, decides, and the handler's variables for that
//!    key are not read (so `LLM_TELEMETRY_TRACING_ENDPOINT` beats
//!    `OTEL_EXPORTER_OTLP_ENDPOINT`, and `LLM_TELEMETRY_TRACING_ENABLED` beats
//!    `OTEL_SDK_DISABLED`);
//! 2. otherwise the handler's variables decide by the handler's precedence:
//!    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a complete URL, kept as given), then
//!    `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL), then `PHOENIX_COLLECTOR_ENDPOINT` (Phoenix's
//!    forms); `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then `OTEL_EXPORTER_OTLP_PROTOCOL`;
//!    `OTEL_SERVICE_NAME`; `OPENINFERENCE_HIDE_INPUTS`/`_OUTPUTS`; and `OTEL_SDK_DISABLED=true`
//!    (any case; any other value is false, as the specification says), which turns
//!    `tracing.enabled` off (`false` leaves it as the file or default says).
//!
//! Either way the environment beats the file and explicit settings beat the environment. A bad
//! value in a variable that is read is an error naming the variable, the value, the key and what
//! the key accepts:
//!
//! ```
//! use std::collections::HashMap;
//! use llm_telemetry::config::Config;
//!
//! let env = HashMap::from([
//!     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
//!     ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces"),
//!     ("OTEL_SERVICE_NAME", "theirs"),
//!     ("LLM_TELEMETRY_TRACING_SERVICE_NAME", "ours"),
//! ]);
//! let config = Config::from_env_with(|name| env.get(name).map(|v| v.to_string()))?;
//! assert_eq!(config.exports_traces(), Some("http://traces:4318/v1/traces"));
//! assert_eq!(config.tracing.service_name, "ours");
//!
//! let bad = Config::from_env_with(|name| {
//!     (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "thrift".to_owned())
//! });
//! assert_eq!(
//!     bad.unwrap_err().to_string(),
//!     "environment variable OTEL_EXPORTER_OTLP_PROTOCOL: invalid value \"thrift\" for \
//!      `tracing.protocol`: expected one of \"grpc\", \"http/protobuf\", \"http/json\""
//! );
//! # Ok::<(), llm_telemetry::config::ConfigError>(())
//! ```
//!
//! # The seeds' names
//!
//! PMD's, Cogniverse's and TinyLLM's names for these keys (`PHOENIX_ENDPOINT`,
//! `TELEMETRY_LEVEL`, `[tracing] batch_export`, `--otlp-endpoint`, ...) are [`Alias`]es, read in
//! their own source after the project's names for the same key; an alias that loses to another
//! value is one [`ConfigWarning`] from [`ConfigBuilder::build_with_warnings`]:
//!
//! ```
//! use llm_telemetry::config::{Config, ConfigWarning, ExportMode};
//! let env = |name: &str| match name {
//!     "PHOENIX_SAMPLE_RATE" => Some("0.5".to_owned()),
//!     "TELEMETRY_SYNC_EXPORT" => Some("true".to_owned()),
//!     "LLM_TELEMETRY_TRACING_SAMPLE_RATE" => Some("0.1".to_owned()),
//!     _ => None,
//! };
//! let (config, warnings) = Config::builder().env_with(env).build_with_warnings()?;
//! assert_eq!(config.tracing.export, ExportMode::Simple);  // the alias, alone, decides
//! assert_eq!(config.tracing.sample_rate, 0.1);             // the project's name wins
//! assert!(matches!(&warnings[..], [ConfigWarning::AliasIgnored { alias, .. }] if alias == "PHOENIX_SAMPLE_RATE"));
//! # Ok::<(), llm_telemetry::config::ConfigError>(())
//! ```
//!
//! `tracing.endpoint` holds one URL and [`TracingConfig::endpoint_form`] says how the exporter
//! completes it: set in the file, by `LLM_TELEMETRY_TRACING_ENDPOINT` or in code it is a base
//! URL (for HTTP, `v1/traces` is appended to its path, keeping `/otlp`), as is
//! `OTEL_EXPORTER_OTLP_ENDPOINT`; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used exactly as given;
//! `PHOENIX_COLLECTOR_ENDPOINT` follows Phoenix's forms (a bare `host:4317` is gRPC).
//!
//! The core only carries this data: the handler crates read the sections that concern them
//! (`tracing` for OpenTelemetry, `metrics` for Prometheus, `log`, `cost`), and
//! [`Config::instrumentation`] reads `level`.

mod alias;
mod builder;
mod env;
mod error;
#[cfg(feature = "toml")]
mod file;
mod keys;
mod otel;
mod standard;
mod warning;

use std::net::{Ipv4Addr, SocketAddr};

pub use alias::{Alias, AliasKind, Seed, aliases_markdown};
pub use builder::ConfigBuilder;
pub use error::{ConfigError, Origin};
pub use keys::{Key, reference_markdown};
/// `[cost]`: the cost handler's own settings.
pub use llm_telemetry_cost::{CostSettings as CostConfig, Window as BudgetWindow};
/// `log.level` and `log.format`: the log handler's own types.
pub use llm_telemetry_log::{Format as LogFormat, Level as LogLevel};
/// `tracing.protocol` and `tracing.export`: the OpenTelemetry handler's own types; how the
/// endpoint is completed ([`TracingConfig::endpoint_form`]).
/// `tracing.compression` is the handler's [`llm_telemetry_otel::Compression`].
pub use llm_telemetry_otel::{
    Compression as OtlpCompression, EndpointForm, Processor as ExportMode, Protocol as OtlpProtocol,
};
pub use warning::ConfigWarning;

use std::path::PathBuf;

use crate::instrument::TelemetryLevel;

/// The environment variable that names a configuration file for [`ConfigBuilder::process_env`].
pub const CONFIG_FILE_VAR: &str = "LLM_TELEMETRY_CONFIG";

/// The default metrics listen address: `127.0.0.1:9568`.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9568);

/// The default `tracing.service_name`.
pub const DEFAULT_SERVICE_NAME: &str = "llm-telemetry";

/// The whole configuration. Build it with [`Config::builder`], or take [`Config::default`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// How much the instrumentation helpers emit (`level`).
    pub level: TelemetryLevel,
    /// Span export (`[tracing]`).
    pub tracing: TracingConfig,
    /// The Prometheus endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Logging (`[log]`).
    pub log: LogConfig,
    /// Cost accounting and budgets (`[cost]`).
    pub cost: CostConfig,
    /// The inference backend a program built on the library serves from (`[inference]`): the
    /// main job reads it; the telemetry itself does not.
    pub inference: InferenceConfig,
}

/// The inference backend (`[inference]`), for programs that serve models themselves (the main
/// job: `--backend`, `--model` and `--embed-model` are its command-line forms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InferenceConfig {
    /// `simulated` (the default: providers simulated in process, nothing to install) or `mlx`
    /// (real models on MLX: `inference.backend`).
    pub backend: InferenceBackendKind,
    /// The text-generation model directory (`inference.model`; config.json, tokenizer.json,
    /// safetensors).
    pub model: Option<PathBuf>,
    /// The embedding model directory (`inference.embed_model`).
    pub embed_model: Option<PathBuf>,
}

/// Which backend serves inference (`inference.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InferenceBackendKind {
    /// Providers simulated in process (no model, no install).
    #[default]
    Simulated,
    /// Real models on MLX (`llm_telemetry::mlx`, feature `mlx` / `mlx-system`).
    Mlx,
}

/// Span export over OTLP (`[tracing]`).
#[derive(Clone, Debug, PartialEq)]
pub struct TracingConfig {
    /// Whether spans are exported at all (`tracing.enabled`, default `true`; export also needs an
    /// endpoint).
    pub enabled: bool,
    /// The OTLP collector's URL, e.g. `http://127.0.0.1:6006` (`tracing.endpoint`), completed
    /// by [`TracingConfig::endpoint_form`]. `None`: no export.
    pub endpoint: Option<String>,
    /// How the exporter completes `endpoint`: a base URL (the default: HTTP appends
    /// `v1/traces` to its path), the complete traces URL (from
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), or Phoenix's forms (from
    /// `PHOENIX_COLLECTOR_ENDPOINT`). Setting `tracing.endpoint` anywhere makes it a base URL.
    pub endpoint_form: EndpointForm,
    /// The OTLP protocol (`tracing.protocol`, default `http/protobuf`).
    pub protocol: OtlpProtocol,
    /// `service.name` (`tracing.service_name`, default `llm-telemetry`).
    pub service_name: String,
    /// `service.version` (`tracing.service_version`).
    pub service_version: Option<String>,
    /// The fraction of traces exported, 0 to 1 (`tracing.sample_rate`, default 1).
    pub sample_rate: f64,
    /// Batch or one-by-one export (`tracing.export`, default `batch`).
    pub export: ExportMode,
    /// Leave prompts out of exported spans (`tracing.hide_inputs`, default `false`).
    pub hide_inputs: bool,
    /// Leave responses out of exported spans (`tracing.hide_outputs`, default `false`).
    pub hide_outputs: bool,
    /// Where spans go (`tracing.exporter`, default `otlp`): the OTLP collector, or one readable
    /// block per span on standard output (`console`, no endpoint needed).
    pub exporter: TracingExporter,
    /// A PEM file of the CA certificate(s) that verify an `https://` collector
    /// (`tracing.certificate`). `None`: the handler's own rule (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
    /// else the platform's roots).
    pub certificate: Option<PathBuf>,
    /// A PEM file of the client certificate for mutual TLS (`tracing.client_certificate`); set
    /// together with `client_key` or not at all.
    pub client_certificate: Option<PathBuf>,
    /// A PEM file of the client's private key for mutual TLS (`tracing.client_key`).
    pub client_key: Option<PathBuf>,
    /// Body compression (`tracing.compression`). `None`: the handler's own rule
    /// (`OTEL_EXPORTER_OTLP_COMPRESSION`, else none).
    pub compression: Option<OtlpCompression>,
    /// Whether events inside a span become its span events (`tracing.span_events`). `None`:
    /// the handler's own rule (default true).
    pub span_events: Option<bool>,
    /// The events that become span events (`tracing.span_event_patterns`), narrowing the
    /// default. `None`: the handler's default, every event emitted inside a span
    /// ([`llm_telemetry_otel::config::DEFAULT_SPAN_EVENT_PATTERNS`]).
    pub span_event_patterns: Option<Vec<String>>,
    /// The deployment environment (`tracing.environment`, e.g. `production`), exported as the
    /// resource attribute `deployment.environment.name`. `None`: not exported.
    pub environment: Option<String>,
    /// Reach the collector over TLS even when its endpoint is written `http://` (or, in
    /// Phoenix's form, as a bare `host:port`): `tracing.tls`, default `false` (the endpoint's
    /// own scheme decides).
    pub tls: bool,
    /// A prefix for request spans' names (`tracing.request_span_prefix`, e.g. `pmd.` turns
    /// `hybrid_search` into `pmd.hybrid_search`). `None`: no prefix.
    pub request_span_prefix: Option<String>,
}

/// Where spans are exported (`tracing.exporter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracingExporter {
    /// OTLP to `tracing.endpoint` (the default).
    #[default]
    Otlp,
    /// One JSON line per span on standard output
    /// ([`llm_telemetry_otel::ConsoleExporter::stdout`]); needs no endpoint.
    Console,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            endpoint: None,
            endpoint_form: EndpointForm::Base,
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            service_version: None,
            sample_rate: 1.0,
            export: ExportMode::Batch,
            hide_inputs: false,
            hide_outputs: false,
            exporter: TracingExporter::Otlp,
            certificate: None,
            client_certificate: None,
            client_key: None,
            compression: None,
            span_events: None,
            span_event_patterns: None,
            environment: None,
            tls: false,
            request_span_prefix: None,
        }
    }
}

impl TracingConfig {
    /// The endpoint to export to: `Some` when tracing is enabled and an endpoint is set.
    pub fn export_endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref().filter(|_| self.enabled)
    }
}

/// The Prometheus `/metrics` endpoint (`[metrics]`).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    /// Whether metrics are served (`metrics.enabled`, default `true`).
    pub enabled: bool,
    /// Where `/metrics` listens (`metrics.listen`, default `127.0.0.1:9568`).
    pub listen: SocketAddr,
    /// The cap on a label value's length in bytes (`metrics.max_label_value_bytes`, default
    /// 256): longer values are cut and marked (see
    /// `llm_telemetry_prometheus::ReporterBuilder::max_label_value_bytes`).
    pub max_label_value_bytes: usize,
    /// Also export TinyLLM's metric names (`metrics.tinyllm`, default `false`):
    /// `tinyllm_requests_total`, `tinyllm_request_latency_seconds`, … beside the default set
    /// ([`llm_telemetry_prometheus::tinyllm`]).
    pub tinyllm: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN,
            max_label_value_bytes: llm_telemetry_prometheus::DEFAULT_MAX_LABEL_VALUE_BYTES,
            tinyllm: false,
        }
    }
}

/// Logging (`[log]`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// Whether events are logged (`log.enabled`, default `true`).
    pub enabled: bool,
    /// Console lines or JSON lines (`log.format`, default `console`).
    pub format: LogFormat,
    /// The lowest level written (`log.level`, default `info`).
    pub level: LogLevel,
    /// The fraction of routine events written, 0 to 1 (`log.sample_rate`, default 1; errors are
    /// always written by the log handler).
    pub sample_rate: f64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            format: LogFormat::default(),
            level: LogLevel::Info,
            sample_rate: 1.0,
        }
    }
}

/// A closed set of named values (the enums below), parsed case-insensitively.
pub(crate) trait Choice: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
    fn expected() -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect();
        format!("one of {}", names.join(", "))
    }
}

macro_rules! choice_of {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl Choice for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

// The closed sets of values are the handlers' own types (not copies): each parses its
// configuration names here.
choice_of! {
    /// The inference backend (`inference.backend`).
    InferenceBackendKind { Simulated = "simulated", Mlx = "mlx" }
}
choice_of! {
    /// The OTLP transport (`tracing.protocol`).
    OtlpProtocol { Grpc = "grpc", HttpProtobuf = "http/protobuf", HttpJson = "http/json" }
}
choice_of! {
    /// How finished spans are exported (`tracing.export`).
    ExportMode { Batch = "batch", Simple = "simple" }
}
choice_of! {
    /// Where spans go (`tracing.exporter`).
    TracingExporter { Otlp = "otlp", Console = "console" }
}
choice_of! {
    /// Body compression (`tracing.compression`).
    OtlpCompression { None = "none", Gzip = "gzip" }
}
choice_of! {
    /// The log line format (`log.format`).
    LogFormat { Console = "console", Json = "json" }
}
choice_of! {
    /// The lowest log level written (`log.level`).
    LogLevel { Trace = "trace", Debug = "debug", Info = "info", Warn = "warn", Error = "error" }
}
choice_of! {
    /// The window a budget applies to (`cost.window`).
    BudgetWindow { Day = "day", Month = "month", Lifetime = "lifetime" }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// Defaults overridden by the process environment (and the file named by
    /// `LLM_TELEMETRY_CONFIG`, if set).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::builder().process_env().build()
    }

    /// Defaults overridden by the environment `lookup` returns (e.g. a map in tests).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use llm_telemetry::config::Config;
    /// let env = HashMap::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
    /// let config = Config::from_env_with(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.tracing.export_endpoint(), Some("http://127.0.0.1:4318"));
    /// # Ok::<(), llm_telemetry::config::ConfigError>(())
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::builder().env_with(lookup).build()
    }

    /// Defaults overridden by TOML `text` (errors name the file `<inline>`).
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Config::builder().toml_str(text).build()
    }

    /// Defaults overridden by the TOML file at `path`.
    #[cfg(feature = "toml")]
    pub fn from_file(path: impl Into<std::path::PathBuf>) -> Result<Config, ConfigError> {
        Config::builder().file(path).build()
    }

    /// The configuration as a TOML document that [`Config::from_toml_str`] reads back unchanged.
    #[cfg(feature = "toml")]
    pub fn to_toml_string(&self) -> String {
        file::to_toml(self)
    }

    /// The instrumentation helpers' handle: emits on `bus` at the configured `level`.
    pub fn instrumentation(&self, bus: &crate::Bus) -> crate::instrument::Instrumentation {
        crate::instrument::Instrumentation::new(bus, self.level)
    }

    /// Whether `/metrics` should be served: the level is not `disabled` and `metrics.enabled`.
    pub fn serves_metrics(&self) -> bool {
        self.level.is_enabled() && self.metrics.enabled
    }

    /// Where spans should be exported, if anywhere: the level is not `disabled`,
    /// `tracing.enabled`, and an endpoint is set.
    ///
    /// ```
    /// use llm_telemetry::config::Config;
    /// use llm_telemetry::instrument::TelemetryLevel;
    /// let config = Config::builder().tracing_endpoint("http://127.0.0.1:6006").build()?;
    /// assert_eq!(config.exports_traces(), Some("http://127.0.0.1:6006"));
    /// let off = Config::builder().tracing_endpoint("http://127.0.0.1:6006").level(TelemetryLevel::Disabled).build()?;
    /// assert_eq!(off.exports_traces(), None);
    /// # Ok::<(), llm_telemetry::config::ConfigError>(())
    /// ```
    pub fn exports_traces(&self) -> Option<&str> {
        self.tracing
            .export_endpoint()
            .filter(|_| self.level.is_enabled())
    }

    /// Whether events should be logged: the level is not `disabled` and `log.enabled`.
    pub fn writes_logs(&self) -> bool {
        self.level.is_enabled() && self.log.enabled
    }

    /// Whether costs should be tracked: the level is not `disabled` and `cost.enabled`.
    pub fn tracks_cost(&self) -> bool {
        self.level.is_enabled() && self.cost.enabled
    }

    /// Checks every value (the builder does this for values set in code). The error's origin
    /// is [`Origin::Code`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        keys::validate(self)
    }
}
