//! [`Key`]: every configuration key, with its environment variable, what it accepts, and how a
//! raw value (TOML or text) is checked and stored.
//!
//! The file reader, the environment reader and `key=value` arguments all go through
//! [`Key::apply`], so a value is checked the same way wherever it comes from. Nothing here reads
//! files or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{
    BudgetWindow, Choice, Config, ConfigError, EndpointForm, ExportMode, InferenceBackendKind,
    LogFormat, LogLevel, Origin, OtlpCompression, OtlpProtocol, TracingExporter,
};
use crate::instrument::TelemetryLevel;
use llm_telemetry_otel::config::standard::StandardSetting;

/// One configuration key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// `level`.
    Level,
    /// `tracing.enabled`.
    TracingEnabled,
    /// `tracing.endpoint`.
    TracingEndpoint,
    /// `tracing.protocol`.
    TracingProtocol,
    /// `tracing.service_name`.
    TracingServiceName,
    /// `tracing.service_version`.
    TracingServiceVersion,
    /// `tracing.sample_rate`.
    TracingSampleRate,
    /// `tracing.export`.
    TracingExport,
    /// `tracing.hide_inputs`.
    TracingHideInputs,
    /// `tracing.hide_outputs`.
    TracingHideOutputs,
    /// `tracing.exporter`.
    TracingExporter,
    /// `tracing.certificate`.
    TracingCertificate,
    /// `tracing.client_certificate`.
    TracingClientCertificate,
    /// `tracing.client_key`.
    TracingClientKey,
    /// `tracing.compression`.
    TracingCompression,
    /// `tracing.span_events`.
    TracingSpanEvents,
    /// `tracing.span_event_patterns`.
    TracingSpanEventPatterns,
    /// `tracing.environment`.
    TracingEnvironment,
    /// `tracing.tls`.
    TracingTls,
    /// `tracing.request_span_prefix`.
    TracingRequestSpanPrefix,
    /// `metrics.enabled`.
    MetricsEnabled,
    /// `metrics.listen`.
    MetricsListen,
    /// `metrics.max_label_value_bytes`.
    MetricsMaxLabelValueBytes,
    /// `metrics.tinyllm`.
    MetricsTinyllm,
    /// `log.enabled`.
    LogEnabled,
    /// `log.format`.
    LogFormat,
    /// `log.level`.
    LogLevel,
    /// `log.sample_rate`.
    LogSampleRate,
    /// `cost.enabled`.
    CostEnabled,
    /// `cost.budget_usd`.
    CostBudgetUsd,
    /// `cost.window`.
    CostWindow,
    /// `cost.tenant_budgets`.
    CostTenantBudgets,
    /// `inference.backend`.
    InferenceBackend,
    /// `inference.model`.
    InferenceModel,
    /// `inference.embed_model`.
    InferenceEmbedModel,
}

/// A value as given: text (environment, arguments) or TOML.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Raw<'a> {
    Text(&'a str),
    #[cfg(feature = "toml")]
    Toml(&'a toml::Value),
}

impl Raw<'_> {
    /// The value as it would be written back (strings quoted).
    pub(crate) fn shown(&self) -> String {
        match self {
            Raw::Text(text) => format!("{text:?}"),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => value.to_string(),
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Raw::Text(text) => Some(text.trim()),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => value.as_str(),
        }
    }
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            // The workspace's one boolean grammar, shared with the handlers' own readers.
            Raw::Text(text) => llm_telemetry_core::text::parse_bool(text),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => value.as_bool(),
        }
    }
    /// A list: comma-separated text, or a TOML array of strings (or one comma-separated string).
    fn as_list(&self) -> Option<Vec<String>> {
        let split = |text: &str| -> Vec<String> {
            text.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match self {
            Raw::Text(text) => Some(split(text)),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => match value {
                toml::Value::String(text) => Some(split(text)),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                    })
                    .collect(),
                _ => None,
            },
        }
    }
    /// What a boolean written here looks like (text's words, or TOML's `true`/`false`).
    pub(crate) fn bool_expected(&self) -> &'static str {
        match self {
            Raw::Text(_) => EXPECT_BOOL,
            #[cfg(feature = "toml")]
            Raw::Toml(_) => EXPECT_TOML_BOOL,
        }
    }
    /// A port number from 1 to 65535.
    pub(crate) fn as_port(&self) -> Option<u16> {
        let port = match self {
            Raw::Text(text) => text.trim().parse::<u16>().ok(),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => value.as_integer().and_then(|i| u16::try_from(i).ok()),
        };
        port.filter(|p| *p != 0)
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Raw::Text(text) => text.trim().parse().ok(),
            #[cfg(feature = "toml")]
            Raw::Toml(value) => value
                .as_float()
                .or_else(|| value.as_integer().map(|i| i as f64)),
        }
    }
}

/// Why a raw value was refused.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// The key below the setting's own, for table settings (`acme` in `cost.tenant_budgets.acme`).
    pub(crate) subkey: Option<String>,
    pub(crate) value: String,
    pub(crate) expected: String,
}

impl Invalid {
    pub(crate) fn of(raw: &Raw<'_>, expected: impl Into<String>) -> Self {
        Invalid {
            subkey: None,
            value: raw.shown(),
            expected: expected.into(),
        }
    }

    /// The error, for `key` set from `origin`.
    pub(crate) fn into_error(self, key: Key, origin: Origin) -> ConfigError {
        let key = match self.subkey {
            Some(sub) => format!("{}.{sub}", key.name()),
            None => key.name().to_owned(),
        };
        ConfigError::InvalidValue {
            origin,
            key,
            value: self.value,
            expected: self.expected,
        }
    }
}

/// The workspace's one boolean grammar, for text (variables, arguments).
const EXPECT_BOOL: &str = llm_telemetry_core::text::BOOL_WORDS;
/// A TOML file's booleans are TOML's own.
#[cfg(feature = "toml")]
const EXPECT_TOML_BOOL: &str = "a boolean (true or false, unquoted)";
const EXPECT_RATE: &str = "a number from 0 to 1";
const EXPECT_USD: &str = "a finite number of US dollars, 0 or more and at most 10^20";
const EXPECT_URL: &str = "an http:// or https:// URL with a host and, if given, a port from 1 to 65535, e.g. http://127.0.0.1:6006";
const EXPECT_NAME: &str = "a non-empty string";
const EXPECT_ADDR: &str = "an IP address and port, e.g. 127.0.0.1:9568";
const EXPECT_PATH: &str = "the path of a PEM file (a non-empty string)";
const EXPECT_DIR: &str = "the path of a model directory (a non-empty string)";
const EXPECT_PATTERNS: &str = "a non-empty list of event names or patterns (e.g. \"llm.*.first_token,myapp.*\"; in TOML an array of non-empty strings)";
const EXPECT_LABEL_BYTES: &str = "a whole number of bytes from 16 to 1048576";
const EXPECT_BUDGETS: &str =
    "a table of tenant = US dollars (0 or more), or text like \"acme=10,globex=2.5\"";

pub(crate) fn is_rate(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}
/// A budget the cost handler can count: finite, 0 or more, and within its exact money type's
/// range (the cost crate's own rule, [`llm_telemetry_cost::Usd::from_dollars_f64`]).
pub(crate) fn is_usd(x: f64) -> bool {
    x.is_finite() && x >= 0.0 && llm_telemetry_cost::Usd::from_dollars_f64(x).is_ok()
}
/// The workspace's one endpoint grammar, the OpenTelemetry handler's
/// ([`llm_telemetry_otel::config::is_endpoint_url`]): a host, a real port if one is given.
pub(crate) fn is_url(text: &str) -> bool {
    llm_telemetry_otel::config::is_endpoint_url(text)
}

fn parse_choice<C: Choice>(raw: &Raw<'_>) -> Result<C, Invalid> {
    raw.as_str()
        .and_then(C::parse)
        .ok_or_else(|| Invalid::of(raw, C::expected()))
}
fn parse_bool(raw: &Raw<'_>) -> Result<bool, Invalid> {
    raw.as_bool()
        .ok_or_else(|| Invalid::of(raw, raw.bool_expected()))
}
fn parse_rate(raw: &Raw<'_>) -> Result<f64, Invalid> {
    raw.as_f64()
        .filter(|x| is_rate(*x))
        .ok_or_else(|| Invalid::of(raw, EXPECT_RATE))
}
fn parse_usd(raw: &Raw<'_>) -> Result<f64, Invalid> {
    raw.as_f64()
        .filter(|x| is_usd(*x))
        .ok_or_else(|| Invalid::of(raw, EXPECT_USD))
}
fn parse_name(raw: &Raw<'_>) -> Result<String, Invalid> {
    raw.as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Invalid::of(raw, EXPECT_NAME))
}
fn parse_url(raw: &Raw<'_>) -> Result<String, Invalid> {
    raw.as_str()
        .filter(|s| is_url(s))
        .map(|s| s.trim_end_matches('/').to_owned())
        .ok_or_else(|| Invalid::of(raw, EXPECT_URL))
}
fn parse_path(raw: &Raw<'_>) -> Result<PathBuf, Invalid> {
    raw.as_str()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Invalid::of(raw, EXPECT_PATH))
}
fn parse_patterns(raw: &Raw<'_>) -> Result<Vec<String>, Invalid> {
    raw.as_list()
        .filter(|list| !list.is_empty())
        .ok_or_else(|| Invalid::of(raw, EXPECT_PATTERNS))
}
pub(crate) fn is_label_bytes(bytes: usize) -> bool {
    (llm_telemetry_prometheus::MIN_LABEL_VALUE_BYTES
        ..=llm_telemetry_prometheus::MAX_LABEL_VALUE_BYTES)
        .contains(&bytes)
}
fn parse_label_bytes(raw: &Raw<'_>) -> Result<usize, Invalid> {
    let bytes = match raw {
        Raw::Text(text) => text.trim().parse::<usize>().ok(),
        #[cfg(feature = "toml")]
        Raw::Toml(value) => value.as_integer().and_then(|i| usize::try_from(i).ok()),
    };
    bytes
        .filter(|b| is_label_bytes(*b))
        .ok_or_else(|| Invalid::of(raw, EXPECT_LABEL_BYTES))
}
fn parse_addr(raw: &Raw<'_>) -> Result<SocketAddr, Invalid> {
    raw.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Invalid::of(raw, EXPECT_ADDR))
}
fn parse_level(raw: &Raw<'_>) -> Result<TelemetryLevel, Invalid> {
    raw.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        Invalid::of(
            raw,
            "one of \"disabled\", \"basic\", \"detailed\", \"verbose\"",
        )
    })
}

fn parse_budgets(raw: &Raw<'_>) -> Result<Vec<(String, f64)>, Invalid> {
    let entry_error = |tenant: &str, value: String| Invalid {
        subkey: Some(tenant.to_owned()),
        value,
        expected: EXPECT_USD.to_owned(),
    };
    match raw {
        Raw::Text(text) => {
            let mut budgets = Vec::new();
            for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((tenant, usd)) = part.split_once('=') else {
                    return Err(Invalid::of(raw, EXPECT_BUDGETS));
                };
                let tenant = tenant.trim();
                if tenant.is_empty() {
                    return Err(Invalid::of(raw, EXPECT_BUDGETS));
                }
                let usd_text = usd.trim();
                if budgets.iter().any(|(t, _)| t == tenant) {
                    return Err(Invalid {
                        subkey: Some(tenant.to_owned()),
                        value: format!("{usd_text:?}"),
                        expected: format!("one budget per tenant: {tenant:?} is given twice"),
                    });
                }
                match usd_text.parse::<f64>().ok().filter(|x| is_usd(*x)) {
                    Some(usd) => budgets.push((tenant.to_owned(), usd)),
                    None => return Err(entry_error(tenant, format!("{usd_text:?}"))),
                }
            }
            Ok(budgets)
        }
        #[cfg(feature = "toml")]
        Raw::Toml(value) => {
            let table = value
                .as_table()
                .ok_or_else(|| Invalid::of(raw, EXPECT_BUDGETS))?;
            let mut budgets = Vec::new();
            for (tenant, usd) in table {
                let amount = Raw::Toml(usd).as_f64().filter(|x| is_usd(*x));
                match amount {
                    Some(usd) => budgets.push((tenant.clone(), usd)),
                    None => return Err(entry_error(tenant, usd.to_string())),
                }
            }
            Ok(budgets)
        }
    }
}

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 35] = [
        Key::Level,
        Key::TracingEnabled,
        Key::TracingEndpoint,
        Key::TracingProtocol,
        Key::TracingServiceName,
        Key::TracingServiceVersion,
        Key::TracingSampleRate,
        Key::TracingExport,
        Key::TracingHideInputs,
        Key::TracingHideOutputs,
        Key::TracingExporter,
        Key::TracingCertificate,
        Key::TracingClientCertificate,
        Key::TracingClientKey,
        Key::TracingCompression,
        Key::TracingSpanEvents,
        Key::TracingSpanEventPatterns,
        Key::TracingEnvironment,
        Key::TracingTls,
        Key::TracingRequestSpanPrefix,
        Key::MetricsEnabled,
        Key::MetricsListen,
        Key::MetricsMaxLabelValueBytes,
        Key::MetricsTinyllm,
        Key::LogEnabled,
        Key::LogFormat,
        Key::LogLevel,
        Key::LogSampleRate,
        Key::CostEnabled,
        Key::CostBudgetUsd,
        Key::CostWindow,
        Key::CostTenantBudgets,
        Key::InferenceBackend,
        Key::InferenceModel,
        Key::InferenceEmbedModel,
    ];

    /// The dotted name, as in the TOML file (`tracing.sample_rate`).
    pub fn name(self) -> &'static str {
        match self {
            Key::Level => "level",
            Key::TracingEnabled => "tracing.enabled",
            Key::TracingEndpoint => "tracing.endpoint",
            Key::TracingProtocol => "tracing.protocol",
            Key::TracingServiceName => "tracing.service_name",
            Key::TracingServiceVersion => "tracing.service_version",
            Key::TracingSampleRate => "tracing.sample_rate",
            Key::TracingExport => "tracing.export",
            Key::TracingHideInputs => "tracing.hide_inputs",
            Key::TracingHideOutputs => "tracing.hide_outputs",
            Key::TracingExporter => "tracing.exporter",
            Key::TracingCertificate => "tracing.certificate",
            Key::TracingClientCertificate => "tracing.client_certificate",
            Key::TracingClientKey => "tracing.client_key",
            Key::TracingCompression => "tracing.compression",
            Key::TracingSpanEvents => "tracing.span_events",
            Key::TracingSpanEventPatterns => "tracing.span_event_patterns",
            Key::TracingEnvironment => "tracing.environment",
            Key::TracingTls => "tracing.tls",
            Key::TracingRequestSpanPrefix => "tracing.request_span_prefix",
            Key::MetricsEnabled => "metrics.enabled",
            Key::MetricsListen => "metrics.listen",
            Key::MetricsMaxLabelValueBytes => "metrics.max_label_value_bytes",
            Key::MetricsTinyllm => "metrics.tinyllm",
            Key::LogEnabled => "log.enabled",
            Key::LogFormat => "log.format",
            Key::LogLevel => "log.level",
            Key::LogSampleRate => "log.sample_rate",
            Key::CostEnabled => "cost.enabled",
            Key::CostBudgetUsd => "cost.budget_usd",
            Key::CostWindow => "cost.window",
            Key::CostTenantBudgets => "cost.tenant_budgets",
            Key::InferenceBackend => "inference.backend",
            Key::InferenceModel => "inference.model",
            Key::InferenceEmbedModel => "inference.embed_model",
        }
    }

    /// The key with this dotted name.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its own environment variable: `LLM_TELEMETRY_` and the dotted name in upper case with
    /// `_` for `.` (`LLM_TELEMETRY_TRACING_SAMPLE_RATE`).
    pub fn env_var(self) -> &'static str {
        match self {
            Key::Level => "LLM_TELEMETRY_LEVEL",
            Key::TracingEnabled => "LLM_TELEMETRY_TRACING_ENABLED",
            Key::TracingEndpoint => "LLM_TELEMETRY_TRACING_ENDPOINT",
            Key::TracingProtocol => "LLM_TELEMETRY_TRACING_PROTOCOL",
            Key::TracingServiceName => "LLM_TELEMETRY_TRACING_SERVICE_NAME",
            Key::TracingServiceVersion => "LLM_TELEMETRY_TRACING_SERVICE_VERSION",
            Key::TracingSampleRate => "LLM_TELEMETRY_TRACING_SAMPLE_RATE",
            Key::TracingExport => "LLM_TELEMETRY_TRACING_EXPORT",
            Key::TracingHideInputs => "LLM_TELEMETRY_TRACING_HIDE_INPUTS",
            Key::TracingHideOutputs => "LLM_TELEMETRY_TRACING_HIDE_OUTPUTS",
            Key::TracingExporter => "LLM_TELEMETRY_TRACING_EXPORTER",
            Key::TracingCertificate => "LLM_TELEMETRY_TRACING_CERTIFICATE",
            Key::TracingClientCertificate => "LLM_TELEMETRY_TRACING_CLIENT_CERTIFICATE",
            Key::TracingClientKey => "LLM_TELEMETRY_TRACING_CLIENT_KEY",
            Key::TracingCompression => "LLM_TELEMETRY_TRACING_COMPRESSION",
            Key::TracingSpanEvents => "LLM_TELEMETRY_TRACING_SPAN_EVENTS",
            Key::TracingSpanEventPatterns => "LLM_TELEMETRY_TRACING_SPAN_EVENT_PATTERNS",
            Key::TracingEnvironment => "LLM_TELEMETRY_TRACING_ENVIRONMENT",
            Key::TracingTls => "LLM_TELEMETRY_TRACING_TLS",
            Key::TracingRequestSpanPrefix => "LLM_TELEMETRY_TRACING_REQUEST_SPAN_PREFIX",
            Key::MetricsEnabled => "LLM_TELEMETRY_METRICS_ENABLED",
            Key::MetricsListen => "LLM_TELEMETRY_METRICS_LISTEN",
            Key::MetricsMaxLabelValueBytes => "LLM_TELEMETRY_METRICS_MAX_LABEL_VALUE_BYTES",
            Key::MetricsTinyllm => "LLM_TELEMETRY_METRICS_TINYLLM",
            Key::LogEnabled => "LLM_TELEMETRY_LOG_ENABLED",
            Key::LogFormat => "LLM_TELEMETRY_LOG_FORMAT",
            Key::LogLevel => "LLM_TELEMETRY_LOG_LEVEL",
            Key::LogSampleRate => "LLM_TELEMETRY_LOG_SAMPLE_RATE",
            Key::CostEnabled => "LLM_TELEMETRY_COST_ENABLED",
            Key::CostBudgetUsd => "LLM_TELEMETRY_COST_BUDGET_USD",
            Key::CostWindow => "LLM_TELEMETRY_COST_WINDOW",
            Key::CostTenantBudgets => "LLM_TELEMETRY_COST_TENANT_BUDGETS",
            Key::InferenceBackend => "LLM_TELEMETRY_INFERENCE_BACKEND",
            Key::InferenceModel => "LLM_TELEMETRY_INFERENCE_MODEL",
            Key::InferenceEmbedModel => "LLM_TELEMETRY_INFERENCE_EMBED_MODEL",
        }
    }

    /// The standard variables also honoured when [`Key::env_var`] is unset, in decreasing
    /// precedence. They are named and read by the handler that owns the key (for `tracing.*`,
    /// the OpenTelemetry handler's
    /// [`StandardSetting::variables`](llm_telemetry_otel::config::standard::StandardSetting::variables)),
    /// not by this crate; `tracing.enabled`'s is inverted (`OTEL_SDK_DISABLED=true` turns it
    /// off).
    ///
    /// ```
    /// use llm_telemetry::config::Key;
    /// assert_eq!(Key::TracingProtocol.standard_env_vars().len(), 2); // traces-only, then generic
    /// assert!(Key::MetricsListen.standard_env_vars().is_empty());
    /// ```
    pub fn standard_env_vars(self) -> &'static [&'static str] {
        self.standard_setting()
            .map_or(&[], StandardSetting::variables)
    }

    /// The OpenTelemetry handler's setting whose standard variables also set this key, if any.
    pub(crate) fn standard_setting(self) -> Option<StandardSetting> {
        Some(match self {
            Key::TracingEnabled => StandardSetting::SdkDisabled,
            Key::TracingEndpoint => StandardSetting::Endpoint,
            Key::TracingProtocol => StandardSetting::Protocol,
            Key::TracingServiceName => StandardSetting::ServiceName,
            Key::TracingHideInputs => StandardSetting::HideInputs,
            Key::TracingHideOutputs => StandardSetting::HideOutputs,
            _ => return None,
        })
    }

    /// Whether the key's standard variable means the opposite of the key
    /// (`OTEL_SDK_DISABLED=true` is `tracing.enabled = false`).
    pub(crate) fn standard_inverts(self) -> bool {
        self.standard_setting()
            .is_some_and(StandardSetting::inverts)
    }

    /// What the key accepts.
    pub fn expected(self) -> String {
        match self {
            Key::Level => "one of \"disabled\", \"basic\", \"detailed\", \"verbose\"".to_owned(),
            Key::TracingEnabled
            | Key::TracingHideInputs
            | Key::TracingHideOutputs
            | Key::TracingSpanEvents
            | Key::TracingTls
            | Key::MetricsTinyllm
            | Key::MetricsEnabled
            | Key::LogEnabled
            | Key::CostEnabled => EXPECT_BOOL.to_owned(),
            Key::TracingEndpoint => EXPECT_URL.to_owned(),
            Key::TracingProtocol => OtlpProtocol::expected(),
            Key::TracingServiceName
            | Key::TracingServiceVersion
            | Key::TracingEnvironment
            | Key::TracingRequestSpanPrefix => EXPECT_NAME.to_owned(),
            Key::TracingSampleRate | Key::LogSampleRate => EXPECT_RATE.to_owned(),
            Key::TracingExport => ExportMode::expected(),
            Key::TracingExporter => TracingExporter::expected(),
            Key::TracingCertificate | Key::TracingClientCertificate | Key::TracingClientKey => {
                EXPECT_PATH.to_owned()
            }
            Key::TracingCompression => OtlpCompression::expected(),
            Key::TracingSpanEventPatterns => EXPECT_PATTERNS.to_owned(),
            Key::MetricsListen => EXPECT_ADDR.to_owned(),
            Key::MetricsMaxLabelValueBytes => EXPECT_LABEL_BYTES.to_owned(),
            Key::LogFormat => LogFormat::expected(),
            Key::LogLevel => LogLevel::expected(),
            Key::CostBudgetUsd => EXPECT_USD.to_owned(),
            Key::CostWindow => BudgetWindow::expected(),
            Key::CostTenantBudgets => EXPECT_BUDGETS.to_owned(),
            Key::InferenceBackend => InferenceBackendKind::expected(),
            Key::InferenceModel | Key::InferenceEmbedModel => EXPECT_DIR.to_owned(),
        }
    }

    /// Its section (`tracing`), or `None` for top-level keys.
    pub fn section(self) -> Option<&'static str> {
        self.name().split_once('.').map(|(section, _)| section)
    }

    /// The key's value in `config` as text (`None` when unset), in the form the environment
    /// accepts.
    ///
    /// ```
    /// use llm_telemetry::config::{Config, Key};
    /// let config = Config::default();
    /// assert_eq!(Key::MetricsListen.value_in(&config).as_deref(), Some("127.0.0.1:9568"));
    /// assert_eq!(Key::TracingEndpoint.value_in(&config), None);
    /// ```
    pub fn value_in(self, config: &Config) -> Option<String> {
        let t = &config.tracing;
        Some(match self {
            Key::Level => config.level.as_str().to_owned(),
            Key::TracingEnabled => t.enabled.to_string(),
            Key::TracingEndpoint => t.endpoint.clone()?,
            Key::TracingProtocol => t.protocol.as_str().to_owned(),
            Key::TracingServiceName => t.service_name.clone(),
            Key::TracingServiceVersion => t.service_version.clone()?,
            Key::TracingSampleRate => t.sample_rate.to_string(),
            Key::TracingExport => t.export.as_str().to_owned(),
            Key::TracingHideInputs => t.hide_inputs.to_string(),
            Key::TracingHideOutputs => t.hide_outputs.to_string(),
            Key::TracingExporter => t.exporter.as_str().to_owned(),
            Key::TracingCertificate => t.certificate.as_ref()?.display().to_string(),
            Key::TracingClientCertificate => t.client_certificate.as_ref()?.display().to_string(),
            Key::TracingClientKey => t.client_key.as_ref()?.display().to_string(),
            Key::TracingCompression => t.compression?.as_str().to_owned(),
            Key::TracingSpanEvents => t.span_events?.to_string(),
            Key::TracingSpanEventPatterns => t.span_event_patterns.as_ref()?.join(","),
            Key::TracingEnvironment => t.environment.clone()?,
            Key::TracingTls => t.tls.to_string(),
            Key::TracingRequestSpanPrefix => t.request_span_prefix.clone()?,
            Key::MetricsEnabled => config.metrics.enabled.to_string(),
            Key::MetricsListen => config.metrics.listen.to_string(),
            Key::MetricsMaxLabelValueBytes => config.metrics.max_label_value_bytes.to_string(),
            Key::MetricsTinyllm => config.metrics.tinyllm.to_string(),
            Key::LogEnabled => config.log.enabled.to_string(),
            Key::LogFormat => config.log.format.as_str().to_owned(),
            Key::LogLevel => config.log.level.as_str().to_owned(),
            Key::LogSampleRate => config.log.sample_rate.to_string(),
            Key::CostEnabled => config.cost.enabled.to_string(),
            Key::CostBudgetUsd => config.cost.budget_usd?.to_string(),
            Key::CostWindow => config.cost.window.as_str().to_owned(),
            Key::CostTenantBudgets => {
                if config.cost.tenant_budgets.is_empty() {
                    return None;
                }
                let entries: Vec<String> = config
                    .cost
                    .tenant_budgets
                    .iter()
                    .map(|(tenant, usd)| format!("{tenant}={usd}"))
                    .collect();
                entries.join(",")
            }
            Key::InferenceBackend => config.inference.backend.as_str().to_owned(),
            Key::InferenceModel => config.inference.model.as_ref()?.display().to_string(),
            Key::InferenceEmbedModel => {
                config.inference.embed_model.as_ref()?.display().to_string()
            }
        })
    }

    /// Checks `raw` and stores it in `config`.
    pub(crate) fn apply(self, config: &mut Config, raw: Raw<'_>) -> Result<(), Invalid> {
        let raw = &raw;
        match self {
            Key::Level => config.level = parse_level(raw)?,
            Key::TracingEnabled => config.tracing.enabled = parse_bool(raw)?,
            Key::TracingEndpoint => {
                config.tracing.endpoint = Some(parse_url(raw)?);
                config.tracing.endpoint_form = EndpointForm::Base;
            }
            Key::TracingProtocol => config.tracing.protocol = parse_choice(raw)?,
            Key::TracingServiceName => config.tracing.service_name = parse_name(raw)?,
            Key::TracingServiceVersion => config.tracing.service_version = Some(parse_name(raw)?),
            Key::TracingSampleRate => config.tracing.sample_rate = parse_rate(raw)?,
            Key::TracingExport => config.tracing.export = parse_choice(raw)?,
            Key::TracingHideInputs => config.tracing.hide_inputs = parse_bool(raw)?,
            Key::TracingHideOutputs => config.tracing.hide_outputs = parse_bool(raw)?,
            Key::TracingExporter => config.tracing.exporter = parse_choice(raw)?,
            Key::TracingCertificate => config.tracing.certificate = Some(parse_path(raw)?),
            Key::TracingClientCertificate => {
                config.tracing.client_certificate = Some(parse_path(raw)?)
            }
            Key::TracingClientKey => config.tracing.client_key = Some(parse_path(raw)?),
            Key::TracingCompression => config.tracing.compression = Some(parse_choice(raw)?),
            Key::TracingSpanEvents => config.tracing.span_events = Some(parse_bool(raw)?),
            Key::TracingSpanEventPatterns => {
                config.tracing.span_event_patterns = Some(parse_patterns(raw)?)
            }
            Key::TracingEnvironment => config.tracing.environment = Some(parse_name(raw)?),
            Key::TracingTls => config.tracing.tls = parse_bool(raw)?,
            Key::TracingRequestSpanPrefix => {
                config.tracing.request_span_prefix = Some(parse_name(raw)?)
            }
            Key::MetricsEnabled => config.metrics.enabled = parse_bool(raw)?,
            Key::MetricsListen => config.metrics.listen = parse_addr(raw)?,
            Key::MetricsMaxLabelValueBytes => {
                config.metrics.max_label_value_bytes = parse_label_bytes(raw)?
            }
            Key::MetricsTinyllm => config.metrics.tinyllm = parse_bool(raw)?,
            Key::LogEnabled => config.log.enabled = parse_bool(raw)?,
            Key::LogFormat => config.log.format = parse_choice(raw)?,
            Key::LogLevel => config.log.level = parse_choice(raw)?,
            Key::LogSampleRate => config.log.sample_rate = parse_rate(raw)?,
            Key::CostEnabled => config.cost.enabled = parse_bool(raw)?,
            Key::CostBudgetUsd => config.cost.budget_usd = Some(parse_usd(raw)?),
            Key::CostWindow => config.cost.window = parse_choice(raw)?,
            Key::CostTenantBudgets => {
                config.cost.tenant_budgets = parse_budgets(raw)?.into_iter().collect()
            }
            Key::InferenceBackend => config.inference.backend = parse_choice(raw)?,
            Key::InferenceModel => config.inference.model = Some(parse_path(raw)?),
            Key::InferenceEmbedModel => config.inference.embed_model = Some(parse_path(raw)?),
        }
        Ok(())
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The keys of `section` (or the top level when `None`), comma-separated, for error messages.
pub(crate) fn known_keys(section: Option<&str>) -> String {
    let mut names: Vec<&str> = Key::ALL
        .iter()
        .filter(|k| k.section() == section)
        .map(|k| k.name())
        .collect();
    if section.is_none() {
        names.extend(["tracing", "metrics", "log", "cost"]);
    }
    names.join(", ")
}

/// The configuration reference as a Markdown table: key, environment variables, default, and
/// what each key accepts (for the README).
pub fn reference_markdown() -> String {
    let defaults = Config::default();
    let mut out = String::from("| key | environment | default | accepts |\n|---|---|---|---|\n");
    for key in Key::ALL {
        let mut vars = vec![format!("`{}`", key.env_var())];
        vars.extend(key.standard_env_vars().iter().map(|v| format!("`{v}`")));
        if key.standard_inverts()
            && let Some(last) = vars.last_mut()
        {
            last.push_str(" (inverted)");
        }
        let default = key
            .value_in(&defaults)
            .map_or_else(|| "unset".to_owned(), |v| format!("`{v}`"));
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            key.name(),
            vars.join(", "),
            default,
            key.expected().replace('|', "\\|"),
        ));
    }
    out
}

/// Every dotted key, comma-separated, for error messages.
pub(crate) fn all_keys() -> String {
    let names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
    names.join(", ")
}

/// Checks every value of a configuration built in code.
pub(crate) fn validate(config: &Config) -> Result<(), ConfigError> {
    let invalid = |key: Key, value: String| ConfigError::InvalidValue {
        origin: Origin::Code,
        key: key.name().to_owned(),
        value,
        expected: key.expected(),
    };
    if let Some(endpoint) = config.tracing.endpoint.as_ref().filter(|e| !is_url(e)) {
        return Err(invalid(Key::TracingEndpoint, format!("{endpoint:?}")));
    }
    if config.tracing.service_name.trim().is_empty() {
        return Err(invalid(
            Key::TracingServiceName,
            format!("{:?}", config.tracing.service_name),
        ));
    }
    if let Some(version) = config
        .tracing
        .service_version
        .as_ref()
        .filter(|v| v.trim().is_empty())
    {
        return Err(invalid(Key::TracingServiceVersion, format!("{version:?}")));
    }
    for (key, text) in [
        (Key::TracingEnvironment, &config.tracing.environment),
        (
            Key::TracingRequestSpanPrefix,
            &config.tracing.request_span_prefix,
        ),
    ] {
        if let Some(text) = text.as_ref().filter(|v| v.trim().is_empty()) {
            return Err(invalid(key, format!("{text:?}")));
        }
    }
    if !is_rate(config.tracing.sample_rate) {
        return Err(invalid(
            Key::TracingSampleRate,
            config.tracing.sample_rate.to_string(),
        ));
    }
    let t = &config.tracing;
    for (key, path) in [
        (Key::TracingCertificate, &t.certificate),
        (Key::TracingClientCertificate, &t.client_certificate),
        (Key::TracingClientKey, &t.client_key),
    ] {
        if let Some(path) = path.as_ref().filter(|p| p.as_os_str().is_empty()) {
            return Err(invalid(key, format!("{path:?}")));
        }
    }
    let half_pair = match (&t.client_certificate, &t.client_key) {
        (Some(path), None) => Some((Key::TracingClientCertificate, path, Key::TracingClientKey)),
        (None, Some(path)) => Some((Key::TracingClientKey, path, Key::TracingClientCertificate)),
        _ => None,
    };
    if let Some((key, path, missing)) = half_pair {
        return Err(ConfigError::IncompletePair {
            key: key.name().to_owned(),
            value: format!("{:?}", path.display().to_string()),
            missing: missing.name().to_owned(),
        });
    }
    if let Some(patterns) = t
        .span_event_patterns
        .as_ref()
        .filter(|p| p.is_empty() || p.iter().any(|s| s.trim().is_empty()))
    {
        return Err(invalid(
            Key::TracingSpanEventPatterns,
            format!("{patterns:?}"),
        ));
    }
    if !is_label_bytes(config.metrics.max_label_value_bytes) {
        return Err(invalid(
            Key::MetricsMaxLabelValueBytes,
            config.metrics.max_label_value_bytes.to_string(),
        ));
    }
    if !is_rate(config.log.sample_rate) {
        return Err(invalid(
            Key::LogSampleRate,
            config.log.sample_rate.to_string(),
        ));
    }
    if let Some(budget) = config.cost.budget_usd.filter(|b| !is_usd(*b)) {
        return Err(invalid(Key::CostBudgetUsd, budget.to_string()));
    }
    for (tenant, budget) in &config.cost.tenant_budgets {
        if tenant.trim().is_empty() || !is_usd(*budget) {
            return Err(ConfigError::InvalidValue {
                origin: Origin::Code,
                key: format!("{}.{tenant}", Key::CostTenantBudgets.name()),
                value: budget.to_string(),
                expected: EXPECT_BUDGETS.to_owned(),
            });
        }
    }
    Ok(())
}
