//! The resolved configuration of the handler and how it is resolved: explicit builder settings
//! first, then the environment, then an optional config file, then defaults.
//!
//! The environment variables are the standard OpenTelemetry ones (`OTEL_EXPORTER_OTLP_*` in
//! their generic and `_TRACES_` forms, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`, `OTEL_SDK_DISABLED`), the OpenInference privacy
//! switches (`OPENINFERENCE_HIDE_INPUTS`/`_OUTPUTS`), Phoenix's (`PHOENIX_COLLECTOR_ENDPOINT`,
//! `PHOENIX_PROJECT_NAME`, `PHOENIX_API_KEY`, `PHOENIX_CLIENT_HEADERS`) and a few of this crate's
//! own (`LLM_TELEMETRY_OTEL_*`, listed in [`vars`]). A `_TRACES_` variable wins over its generic
//! form. The config file is a JSON object whose keys are those same variable names, so one parser
//! and one set of error messages serve both. An empty variable counts as unset, as the
//! OpenTelemetry specification asks. A value that cannot be parsed is a [`ConfigError`] naming the
//! variable (or file key), the value and what is allowed; it is never silently replaced by a
//! default — except where the specification says otherwise: an unknown sampler or sampler
//! argument is ignored (the default applies) and `OTEL_SDK_DISABLED` other than `true`/`false`
//! counts as `false`, each with a warning in [`OtelConfig::warnings`] that the handler writes
//! once when it attaches.
//!
//! Endpoint rules ([`EndpointForm`]): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (or
//! [`crate::OtelHandlerBuilder::traces_endpoint`]) is used as given and wins;
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or [`crate::OtelHandlerBuilder::endpoint`]) is a base URL to
//! which HTTP appends `v1/traces`, keeping its path; `PHOENIX_COLLECTOR_ENDPOINT` follows
//! Phoenix's forms. TLS ([`TlsConfig`]) follows the URL's scheme: `https://` verifies the
//! collector against the platform's root certificates, or against `OTEL_EXPORTER_OTLP_CERTIFICATE`
//! when set; a client certificate and key add mTLS. The PEM files are read and checked here, so
//! an unreadable or malformed one is a [`ConfigError`] naming the variable and the path.
//!
//! The standard variables a composing configuration also reads (the `llm-telemetry` facade's
//! `Config`: endpoint, protocol, service name, privacy switches, `OTEL_SDK_DISABLED`) are listed
//! with their precedence in [`standard`], once: [`standard::StandardEnv`] reads them for the
//! facade and the resolution here follows the same lists.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;
use crate::sampler::Sampler;
pub use endpoint::{Endpoint, EndpointForm, URL_EXPECTED, is_endpoint_url};
use endpoint::{parse_phoenix_url, parse_url};
use source::{
    Layer, Layers, parse_bool, parse_compression, parse_headers, parse_key_values, parse_millis,
    parse_path, parse_positive, parse_processor, parse_protocol, parse_ratio, parse_seconds,
    parse_template, parse_text,
};
use standard::{StandardSetting, endpoint_of, first_of, parse_sdk_disabled};
pub(crate) use tls::TlsMaterial;
pub use tls::{TlsConfig, TlsFile};

mod endpoint;
mod source;
pub mod standard;
mod tls;
pub mod vars;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (tonic), usually port 4317. Needs the cargo feature `grpc` (on by default).
    Grpc,
    /// OTLP/HTTP with protobuf bodies, usually port 4318 (Phoenix: its HTTP port) at `/v1/traces`.
    /// Needs the cargo feature `http` (on by default).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (`http/json`). Needs the cargo feature `http`.
    HttpJson,
}

impl Protocol {
    /// Its name in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// The cargo feature of this crate that builds its transport.
    pub fn cargo_feature(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf | Protocol::HttpJson => "http",
        }
    }

    /// Whether this build has its transport.
    pub fn is_built(self) -> bool {
        match self {
            Protocol::Grpc => cfg!(feature = "grpc"),
            Protocol::HttpProtobuf | Protocol::HttpJson => cfg!(feature = "http"),
        }
    }
}

/// Export compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Bodies are sent as they are (the default).
    #[default]
    None,
    /// gzip: `Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC.
    Gzip,
}

/// How finished spans reach the exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processor {
    /// Batched on the handler's export thread: a batch leaves when it is full or when the
    /// scheduled delay passes. The default.
    Batch,
    /// One synchronous export per span, on the bus's worker thread (scripts and tests).
    Simple,
}

/// Batching limits (the `OTEL_BSP_*` variables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans waiting for export at most; more are dropped and counted. Default 2048.
    pub max_queue_size: usize,
    /// A partial batch leaves after this long. Default 5 s.
    pub scheduled_delay: Duration,
    /// Spans per export at most. Default 512.
    pub max_export_batch_size: usize,
}

/// Which attribute conventions are written; each is switchable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conventions {
    /// OpenInference (`openinference.span.kind`, `llm.*`, `input.value`, …), read by Phoenix.
    pub openinference: bool,
    /// OpenTelemetry GenAI (`gen_ai.*`).
    pub genai: bool,
    /// The MLX seed systems' attributes (`mlx.*`, `gen_ai.prompt.length`, `embedding.*`), written
    /// for spans whose provider is `mlx`.
    pub mlx: bool,
}

impl Default for Conventions {
    fn default() -> Self {
        Self {
            openinference: true,
            genai: true,
            mlx: true,
        }
    }
}

/// Content privacy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    /// Replace `input.value` with `__REDACTED__`.
    pub hide_inputs: bool,
    /// Replace `output.value` with `__REDACTED__`.
    pub hide_outputs: bool,
    /// Cut `input.value` and `output.value` to at most this many bytes (on a char boundary).
    pub max_value_length: Option<usize>,
}

/// Per-tenant projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantConfig {
    /// Whether spans with a `tenant` go to their tenant's project. Default true.
    pub enabled: bool,
    /// The project name template: `{prefix}`, `{tenant}` and `{service}` are replaced.
    /// Default `{prefix}-{tenant}-{service}`.
    pub project_template: String,
    /// The `{prefix}` value. Default `llm`.
    pub prefix: String,
    /// Most per-tenant exporters alive at once (least recently used evicted). Default 100.
    pub max_entries: usize,
    /// An exporter unused this long is evicted. Default 1 hour.
    pub ttl: Duration,
}

impl TenantConfig {
    /// The project name of `tenant` for service `service`.
    pub fn project_name(&self, tenant: &str, service: &str) -> String {
        self.project_template
            .replace("{prefix}", &self.prefix)
            .replace("{tenant}", tenant)
            .replace("{service}", service)
    }
}

/// How span names are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanNaming {
    /// MLX seed names (`mlx_lm.generate`, `mlx_embedding.embed`) when the provider is `mlx`,
    /// otherwise [`SpanNaming::GenAi`]. The default.
    Seed,
    /// GenAI: `{operation} {model}` (`chat gpt-4o`), the operation alone without a model, and the
    /// event prefix for spans that are not model calls.
    GenAi,
    /// The event prefix (`llm.chat`).
    EventPrefix,
}

/// The complete, resolved configuration (see [`crate::OtelHandlerBuilder`]).
///
/// Its `Debug` output shows header names only: header values are usually credentials.
#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    /// The OTLP endpoint, complete (`http://host:4318/v1/traces` for HTTP).
    pub endpoint: String,
    /// The transport.
    pub protocol: Protocol,
    /// Extra headers (gRPC metadata) on every export.
    pub headers: Vec<(String, String)>,
    /// The longest one export may take before it is abandoned and its spans counted as dropped.
    pub export_timeout: Duration,
    /// Body compression.
    pub compression: Compression,
    /// TLS material for `https://` endpoints.
    pub tls: TlsConfig,
    /// `OTEL_SDK_DISABLED=true`: nothing is exported (every span counts as sampled out).
    pub disabled: bool,
    /// Settings that were ignored as the specification says (an unknown sampler, a non-boolean
    /// `OTEL_SDK_DISABLED`), each a sentence naming the variable, the value and what is
    /// allowed; written once through the warning sink when the handler attaches.
    pub warnings: Vec<String>,
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `deployment.environment.name` (and the older `deployment.environment`).
    pub deployment_environment: Option<String>,
    /// Other resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// The Phoenix project of spans without a tenant (`openinference.project.name`).
    pub project_name: Option<String>,
    /// The sampler.
    pub sampler: Sampler,
    /// Batch or simple.
    pub processor: Processor,
    /// Batching limits.
    pub batch: BatchConfig,
    /// Attribute conventions.
    pub conventions: Conventions,
    /// Content privacy.
    pub privacy: Privacy,
    /// Per-tenant projects.
    pub tenants: TenantConfig,
    /// Span naming.
    pub span_naming: SpanNaming,
    /// Span name overrides by event prefix (`llm.chat` → `my chat`).
    pub span_names: Vec<(String, String)>,
    /// Put before the operation name of request spans (`llm.request`): `pmd.` makes a
    /// `hybrid_search` request span `pmd.hybrid_search`, PMD's `pmd.{operation}`.
    pub request_span_prefix: Option<String>,
    /// The bus patterns the handler attaches to (stop and exception events).
    pub patterns: Vec<String>,
    /// Whether events emitted inside a span become its span events (default true).
    pub span_events: bool,
    /// The events that become span events (default [`DEFAULT_SPAN_EVENT_PATTERNS`]).
    pub span_event_patterns: Vec<String>,
    /// The capacity of the handler's queue on the bus (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
    /// The handler id on the bus.
    pub handler_id: String,
}

/// The default capacity of the handler's queue on the bus: 131,072 stop events, twice the bus's
/// default, so that a burst of 100,000 spans is absorbed while the bus worker converts them
/// (about 100 MB at most, and only while the queue is full; the bus recycles the slots).
pub const DEFAULT_QUEUE_CAPACITY: usize = 131_072;

/// Default stop/exception patterns: one-, two- and three-segment span prefixes (`search`,
/// `llm.chat`, `llm.provider.request`).
pub const DEFAULT_PATTERNS: &[&str] = &[
    "*.stop",
    "*.exception",
    "*.*.stop",
    "*.*.exception",
    "*.*.*.stop",
    "*.*.*.exception",
];

/// Default span-event patterns: every event (`*`). Inside a span, any event that is not a span
/// start or end (first token, rate limits, cache operations, costs, the current-span helpers'
/// `span.event` and `span.attributes`, a program's own `myapp.retrieval.done`) becomes a span
/// event on it; outside every span the bus does not hand it to the handler at all. Narrow the
/// set with [`crate::OtelHandlerBuilder::span_event_patterns`].
pub const DEFAULT_SPAN_EVENT_PATTERNS: &[&str] = &["*"];

/// The catalog's events that happen inside a span: first token, rate limits, credential
/// refreshes, cache operations, costs, and the current-span helpers' `span.event` and
/// `span.attributes` (the default span-event patterns before every event became one). Give them
/// to [`crate::OtelHandlerBuilder::span_event_patterns`], with a program's own, to keep span
/// events to these.
pub const CATALOG_SPAN_EVENT_PATTERNS: &[&str] = &[
    "llm.stream.first_token",
    "llm.provider.rate_limit",
    "llm.provider.auth_refresh",
    "cache.*.*",
    "llm.cost.*",
    "span.event",
    "span.attributes",
];

impl std::fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtelConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("header_names", &header_names)
            .field("export_timeout", &self.export_timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .field("disabled", &self.disabled)
            .field("warnings", &self.warnings)
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("deployment_environment", &self.deployment_environment)
            .field("resource_attributes", &self.resource_attributes)
            .field("project_name", &self.project_name)
            .field("sampler", &self.sampler)
            .field("processor", &self.processor)
            .field("batch", &self.batch)
            .field("conventions", &self.conventions)
            .field("privacy", &self.privacy)
            .field("tenants", &self.tenants)
            .field("span_naming", &self.span_naming)
            .field("span_names", &self.span_names)
            .field("request_span_prefix", &self.request_span_prefix)
            .field("patterns", &self.patterns)
            .field("queue_capacity", &self.queue_capacity)
            .field("handler_id", &self.handler_id)
            .finish()
    }
}

/// The explicit builder settings (all optional), resolved by [`resolve`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub endpoint: Option<String>,
    pub traces_endpoint: Option<String>,
    pub phoenix_endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    pub headers: Option<Vec<(String, String)>>,
    pub export_timeout: Option<Duration>,
    pub compression: Option<Compression>,
    pub certificate: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub service_name: Option<String>,
    pub service_version: Option<String>,
    pub deployment_environment: Option<String>,
    pub resource_attributes: Option<Vec<(String, String)>>,
    pub project_name: Option<String>,
    pub sampler: Option<Sampler>,
    pub processor: Option<Processor>,
    pub max_queue_size: Option<usize>,
    pub scheduled_delay: Option<Duration>,
    pub max_export_batch_size: Option<usize>,
    pub conventions: Option<Conventions>,
    pub hide_inputs: Option<bool>,
    pub hide_outputs: Option<bool>,
    pub max_value_length: Option<usize>,
    pub tenants_enabled: Option<bool>,
    pub tenant_template: Option<String>,
    pub tenant_prefix: Option<String>,
    pub tenant_max_entries: Option<usize>,
    pub tenant_ttl: Option<Duration>,
    pub span_naming: Option<SpanNaming>,
    pub span_names: Vec<(String, String)>,
    pub request_span_prefix: Option<String>,
    pub patterns: Option<Vec<String>>,
    pub span_events: Option<bool>,
    pub span_event_patterns: Option<Vec<String>>,
    pub queue_capacity: Option<usize>,
    pub handler_id: Option<String>,
    pub config_file: Option<PathBuf>,
    pub read_env: Option<bool>,
}

/// Picks the builder value, else the first layer's, else the default.
fn pick<T>(
    explicit: Option<T>,
    layers: &Layers,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String> + Copy,
    default: impl FnOnce() -> T,
) -> Result<T, ConfigError> {
    match explicit {
        Some(v) => Ok(v),
        None => Ok(layers.get(key, parse)?.unwrap_or_else(default)),
    }
}

/// Resolves `settings` against the process environment and the config file.
pub(crate) fn resolve(settings: &Settings) -> Result<OtelConfig, ConfigError> {
    let env = if settings.read_env.unwrap_or(true) {
        Layer::from_env()
    } else {
        Layer::empty()
    };
    resolve_with(settings, env)
}

/// Resolves `settings` against an explicit environment layer (tests use this).
pub(crate) fn resolve_with(settings: &Settings, env: Layer) -> Result<OtelConfig, ConfigError> {
    let file_path = match &settings.config_file {
        Some(p) => Some(p.clone()),
        None if settings.read_env.unwrap_or(true) => {
            std::env::var_os(vars::LLM_TELEMETRY_OTEL_CONFIG)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        }
        None => None,
    };
    let file = match file_path {
        Some(path) => Layer::from_file(&path)?,
        None => Layer::empty(),
    };
    let layers = Layers { env, file };
    validate_settings(settings)?;

    let endpoint = resolve_endpoint(settings, &layers)?;
    let protocol = match settings.protocol {
        Some(p) => p,
        None => standard_value(&layers, StandardSetting::Protocol, parse_protocol)?
            .or_else(|| endpoint.as_ref().and_then(Endpoint::implied_protocol))
            .unwrap_or(Protocol::HttpProtobuf),
    };
    if !protocol.is_built() {
        return Err(ConfigError::TransportLeftOut {
            protocol: protocol.as_str(),
            feature: protocol.cargo_feature(),
        });
    }
    let endpoint = match endpoint {
        Some(endpoint) => endpoint.for_protocol(protocol),
        None => match protocol {
            Protocol::Grpc => "http://localhost:4317".to_owned(),
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                "http://localhost:4318/v1/traces".to_owned()
            }
        },
    };

    let headers = resolve_headers(settings, &layers)?;
    let pair_origin = |pair: [&str; 2]| pair.iter().any(|v| layers.origin_of(v).is_some());
    let export_timeout = match settings.export_timeout {
        Some(t) => Some(t),
        None => pick_pair(&layers, TIMEOUT, parse_millis)?,
    };
    let compression = match settings.compression {
        Some(c) => c,
        None => pick_pair(&layers, COMPRESSION, parse_compression)?.unwrap_or_default(),
    };
    let tls = resolve_tls(settings, &layers)?;
    let mut warnings = Vec::new();
    let disabled = match layers.get(vars::OTEL_SDK_DISABLED, parse_text)? {
        Some(value) => {
            let disabled = parse_sdk_disabled(&value).unwrap_or(false);
            if !disabled && !value.eq_ignore_ascii_case("false") {
                warnings.push(format!(
                    "{}={value:?} is neither true nor false: the SDK stays enabled (only \
                     \"true\", in any case, disables it)",
                    vars::OTEL_SDK_DISABLED
                ));
            }
            disabled
        }
        None => false,
    };

    let mut resource_attributes = pick(
        settings.resource_attributes.clone(),
        &layers,
        vars::OTEL_RESOURCE_ATTRIBUTES,
        parse_key_values,
        Vec::new,
    )?;
    let mut take_attr = |key: &str| -> Option<String> {
        let at = resource_attributes.iter().position(|(k, _)| k == key)?;
        Some(resource_attributes.remove(at).1)
    };
    let attr_service = take_attr("service.name");
    let attr_version = take_attr("service.version");
    let attr_env = take_attr("deployment.environment.name").or(take_attr("deployment.environment"));
    let service_name = match &settings.service_name {
        Some(s) => s.clone(),
        None => standard_value(&layers, StandardSetting::ServiceName, parse_text)?
            .or(attr_service)
            .unwrap_or_else(|| "unknown_service".to_owned()),
    };
    let service_version = settings.service_version.clone().or(attr_version);
    let deployment_environment = settings.deployment_environment.clone().or(attr_env);
    let project_name = match &settings.project_name {
        Some(p) => Some(p.clone()),
        None => layers.get(vars::PHOENIX_PROJECT_NAME, |s| Ok(s.to_owned()))?,
    };

    let sampler = match settings.sampler {
        Some(s) => s,
        None => resolve_sampler(&layers, &mut warnings)?,
    };
    let sampler = if disabled {
        Sampler::AlwaysOff
    } else {
        sampler
    };
    let processor = pick(
        settings.processor,
        &layers,
        vars::LLM_TELEMETRY_OTEL_PROCESSOR,
        parse_processor,
        || Processor::Batch,
    )?;
    let batch = BatchConfig {
        max_queue_size: pick(
            settings.max_queue_size,
            &layers,
            vars::OTEL_BSP_MAX_QUEUE_SIZE,
            parse_positive,
            || 2048,
        )?,
        scheduled_delay: pick(
            settings.scheduled_delay,
            &layers,
            vars::OTEL_BSP_SCHEDULE_DELAY,
            parse_millis,
            || Duration::from_secs(5),
        )?,
        max_export_batch_size: pick(
            settings.max_export_batch_size,
            &layers,
            vars::OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            parse_positive,
            || 512,
        )?,
    };
    // OTEL_BSP_EXPORT_TIMEOUT applies when no OTLP timeout was given anywhere.
    let export_timeout = match export_timeout {
        Some(timeout) => timeout,
        None if !pair_origin(TIMEOUT) => layers
            .get(vars::OTEL_BSP_EXPORT_TIMEOUT, parse_millis)?
            .unwrap_or(DEFAULT_EXPORT_TIMEOUT),
        None => DEFAULT_EXPORT_TIMEOUT,
    };
    let batch = BatchConfig {
        max_export_batch_size: batch.max_export_batch_size.min(batch.max_queue_size),
        ..batch
    };

    let hide = |explicit: Option<bool>, setting| -> Result<bool, ConfigError> {
        match explicit {
            Some(hide) => Ok(hide),
            None => Ok(standard_value(&layers, setting, parse_bool)?.unwrap_or(false)),
        }
    };
    let privacy = Privacy {
        hide_inputs: hide(settings.hide_inputs, StandardSetting::HideInputs)?,
        hide_outputs: hide(settings.hide_outputs, StandardSetting::HideOutputs)?,
        max_value_length: match settings.max_value_length {
            Some(n) => Some(n),
            None => layers.get(vars::LLM_TELEMETRY_OTEL_MAX_VALUE_LENGTH, parse_positive)?,
        },
    };
    let tenants = TenantConfig {
        enabled: pick(
            settings.tenants_enabled,
            &layers,
            vars::LLM_TELEMETRY_OTEL_TENANT_PROJECTS,
            parse_bool,
            || true,
        )?,
        project_template: pick(
            settings.tenant_template.clone(),
            &layers,
            vars::LLM_TELEMETRY_OTEL_TENANT_TEMPLATE,
            parse_template,
            || "{prefix}-{tenant}-{service}".to_owned(),
        )?,
        prefix: pick(
            settings.tenant_prefix.clone(),
            &layers,
            vars::LLM_TELEMETRY_OTEL_TENANT_PREFIX,
            |s| Ok(s.to_owned()),
            || "llm".to_owned(),
        )?,
        max_entries: pick(
            settings.tenant_max_entries,
            &layers,
            vars::LLM_TELEMETRY_OTEL_TENANT_MAX,
            parse_positive,
            || 100,
        )?,
        ttl: pick(
            settings.tenant_ttl,
            &layers,
            vars::LLM_TELEMETRY_OTEL_TENANT_TTL,
            parse_seconds,
            || Duration::from_secs(3600),
        )?,
    };

    Ok(OtelConfig {
        endpoint,
        protocol,
        headers,
        export_timeout,
        compression,
        tls,
        disabled,
        warnings,
        service_name,
        service_version,
        deployment_environment,
        resource_attributes,
        project_name,
        sampler,
        processor,
        batch,
        conventions: settings.conventions.unwrap_or_default(),
        privacy,
        tenants,
        span_naming: settings.span_naming.unwrap_or(SpanNaming::Seed),
        span_names: settings.span_names.clone(),
        request_span_prefix: settings.request_span_prefix.clone(),
        patterns: settings
            .patterns
            .clone()
            .unwrap_or_else(|| DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect()),
        span_events: pick(
            settings.span_events,
            &layers,
            vars::LLM_TELEMETRY_OTEL_SPAN_EVENTS,
            parse_bool,
            || true,
        )?,
        span_event_patterns: settings.span_event_patterns.clone().unwrap_or_else(|| {
            DEFAULT_SPAN_EVENT_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        }),
        queue_capacity: settings.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY),
        handler_id: settings
            .handler_id
            .clone()
            .unwrap_or_else(|| "llm-telemetry-otel".to_owned()),
    })
}

/// Rejects builder values that no layer could fix.
fn validate_settings(settings: &Settings) -> Result<(), ConfigError> {
    let positive = |setting: &'static str, v: Option<usize>| match v {
        Some(0) => Err(ConfigError::InvalidSetting {
            setting,
            value: "0".to_owned(),
            allowed: "a positive number".to_owned(),
        }),
        _ => Ok(()),
    };
    positive("max_queue_size", settings.max_queue_size)?;
    positive("max_export_batch_size", settings.max_export_batch_size)?;
    positive("max_value_length", settings.max_value_length)?;
    positive("tenant_max_entries", settings.tenant_max_entries)?;
    positive("queue_capacity", settings.queue_capacity)?;
    if let Some(t) = &settings.tenant_template {
        parse_template(t).map_err(|allowed| ConfigError::InvalidSetting {
            setting: "tenant_project_template",
            value: t.clone(),
            allowed,
        })?;
    }
    for (setting, url) in [
        ("endpoint", &settings.endpoint),
        ("traces_endpoint", &settings.traces_endpoint),
    ] {
        if let Some(e) = url {
            parse_url(e.trim()).map_err(|allowed| ConfigError::InvalidSetting {
                setting,
                value: e.clone(),
                allowed,
            })?;
        }
    }
    if let Some(p) = &settings.patterns
        && p.is_empty()
    {
        return Err(ConfigError::InvalidSetting {
            setting: "patterns",
            value: "[]".to_owned(),
            allowed: "at least one stop or exception pattern such as \"*.*.stop\"".to_owned(),
        });
    }
    Ok(())
}

/// The value of `setting`'s first variable set (in the environment, else the file), by the
/// precedence [`standard`] gives.
fn standard_value<T>(
    layers: &Layers,
    setting: StandardSetting,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    Ok(first_of(setting, |variable| layers.get(variable, parse))?.map(|found| found.value))
}

/// The default export timeout (the specification's 10 s).
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The traces-only variable, then the generic one.
const HEADERS: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    vars::OTEL_EXPORTER_OTLP_HEADERS,
];
const TIMEOUT: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    vars::OTEL_EXPORTER_OTLP_TIMEOUT,
];
const COMPRESSION: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    vars::OTEL_EXPORTER_OTLP_COMPRESSION,
];
const CERTIFICATE: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    vars::OTEL_EXPORTER_OTLP_CERTIFICATE,
];
const CLIENT_CERTIFICATE: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    vars::OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
];
const CLIENT_KEY: [&str; 2] = [
    vars::OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    vars::OTEL_EXPORTER_OTLP_CLIENT_KEY,
];

/// The first of a `_TRACES_` / generic pair that is set (the traces-only one wins).
fn pick_pair<T>(
    layers: &Layers,
    pair: [&'static str; 2],
    parse: impl Fn(&str) -> Result<T, String> + Copy,
) -> Result<Option<T>, ConfigError> {
    Ok(pick_pair_named(layers, pair, parse)?.map(|(value, _)| value))
}

/// [`pick_pair`], with the variable that held the value.
fn pick_pair_named<T>(
    layers: &Layers,
    pair: [&'static str; 2],
    parse: impl Fn(&str) -> Result<T, String> + Copy,
) -> Result<Option<(T, &'static str)>, ConfigError> {
    for variable in pair {
        if let Some(value) = layers.get(variable, parse)? {
            return Ok(Some((value, variable)));
        }
    }
    Ok(None)
}

/// The endpoint and its form: the builder's traces URL, else its base URL, else its Phoenix
/// URL, else the standard variables by their precedence; `None` when nothing is set (the protocol's default applies).
fn resolve_endpoint(settings: &Settings, layers: &Layers) -> Result<Option<Endpoint>, ConfigError> {
    if let Some(url) = &settings.traces_endpoint {
        return Ok(Some(Endpoint {
            url: url.trim().to_owned(),
            form: EndpointForm::Traces,
        }));
    }
    if let Some(url) = &settings.endpoint {
        return Ok(Some(Endpoint {
            url: url.trim().to_owned(),
            form: EndpointForm::Base,
        }));
    }
    if let Some(url) = &settings.phoenix_endpoint {
        return Ok(Some(Endpoint {
            url: parse_phoenix_url(url.trim()).map_err(|allowed| ConfigError::InvalidSetting {
                setting: "phoenix_endpoint",
                value: url.clone(),
                allowed,
            })?,
            form: EndpointForm::Phoenix,
        }));
    }
    Ok(endpoint_of(|variable, parse| layers.get(variable, parse))?.map(|found| found.value))
}

/// The OTLP headers (the traces-only list, else the generic one), then `PHOENIX_CLIENT_HEADERS`
/// for names not yet set, then `PHOENIX_API_KEY` as a bearer token unless `authorization` is
/// set. Builder headers replace all of these.
fn resolve_headers(
    settings: &Settings,
    layers: &Layers,
) -> Result<Vec<(String, String)>, ConfigError> {
    if let Some(headers) = &settings.headers {
        for (name, value) in headers {
            source::check_header(name, value).map_err(|allowed| ConfigError::InvalidSetting {
                setting: "headers",
                value: name.clone(),
                allowed,
            })?;
        }
        return Ok(headers.clone());
    }
    let mut headers = pick_pair(layers, HEADERS, parse_headers)?.unwrap_or_default();
    let has = |headers: &[(String, String)], name: &str| {
        headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    if let Some(phoenix) = layers.get(vars::PHOENIX_CLIENT_HEADERS, parse_headers)? {
        for (name, value) in phoenix {
            if !has(&headers, &name) {
                headers.push((name, value));
            }
        }
    }
    if let Some(key) = layers.get(vars::PHOENIX_API_KEY, parse_text)?
        && !has(&headers, "authorization")
    {
        let value = format!("Bearer {key}");
        source::check_header("authorization", &value).map_err(|allowed| {
            layers
                .origin_of(vars::PHOENIX_API_KEY)
                .unwrap_or(&layers.env)
                .invalid(vars::PHOENIX_API_KEY, "(hidden)", allowed)
        })?;
        headers.push(("authorization".to_owned(), value));
    }
    Ok(headers)
}

/// The TLS files (builder, else the traces-only variable, else the generic one), read and
/// checked now.
fn resolve_tls(settings: &Settings, layers: &Layers) -> Result<TlsConfig, ConfigError> {
    let file = |explicit: &Option<PathBuf>,
                option: &'static str,
                pair: [&'static str; 2]|
     -> Result<Option<TlsFile>, ConfigError> {
        if let Some(path) = explicit {
            return Ok(Some(TlsFile {
                path: path.clone(),
                from: format!("builder option {option}"),
            }));
        }
        Ok(
            pick_pair_named(layers, pair, parse_path)?.map(|(path, variable)| TlsFile {
                path,
                from: variable.to_owned(),
            }),
        )
    };
    let tls = TlsConfig {
        certificate: file(&settings.certificate, "certificate", CERTIFICATE)?,
        client_certificate: file(
            &settings.client_certificate,
            "client_certificate",
            CLIENT_CERTIFICATE,
        )?,
        client_key: file(&settings.client_key, "client_key", CLIENT_KEY)?,
    };
    tls.check()?;
    Ok(tls)
}

/// The sampler of `OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and its argument. An
/// unknown sampler or a bad argument is ignored with a warning, as the specification says.
fn resolve_sampler(layers: &Layers, warnings: &mut Vec<String>) -> Result<Sampler, ConfigError> {
    const DEFAULT: Sampler = Sampler::ParentBased(1.0);
    let Some(name) = layers.get(vars::OTEL_TRACES_SAMPLER, parse_text)? else {
        return Ok(DEFAULT);
    };
    let mut ratio = || -> f64 {
        match layers.get(vars::OTEL_TRACES_SAMPLER_ARG, parse_ratio) {
            Ok(ratio) => ratio.unwrap_or(1.0),
            Err(error) => {
                warnings.push(format!("{error}; ignored, the ratio is 1.0"));
                1.0
            }
        }
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatio(ratio()),
        "parentbased_always_on" => Sampler::ParentBased(1.0),
        "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => Sampler::ParentBased(ratio()),
        _ => {
            warnings.push(format!(
                "{}={name:?} is not a sampler this SDK knows (expected one of always_on, \
                 always_off, traceidratio, parentbased_always_on, parentbased_always_off, \
                 parentbased_traceidratio); ignored, the default parentbased_always_on applies",
                vars::OTEL_TRACES_SAMPLER
            ));
            DEFAULT
        }
    })
}

/// A build with one transport refuses the other's protocol with a typed error naming the feature.
#[cfg(all(test, not(all(feature = "grpc", feature = "http"))))]
mod single_transport_tests {
    use super::*;

    #[test]
    fn the_left_out_transport_is_a_typed_error_naming_its_feature() {
        let (asked, protocol, feature) = if cfg!(feature = "http") {
            (Some(Protocol::Grpc), "grpc", "grpc")
        } else {
            // The default protocol is http/protobuf.
            (None, "http/protobuf", "http")
        };
        let settings = Settings {
            read_env: Some(false),
            protocol: asked,
            ..Settings::default()
        };
        let err = resolve_with(&settings, Layer::from_pairs(std::iter::empty())).unwrap_err();
        assert!(
            matches!(err, ConfigError::TransportLeftOut { protocol: p, feature: f } if p == protocol && f == feature),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
    }
}

// These resolve the default protocol (http/protobuf), so they need the `http` transport; the
// ones that also resolve `grpc` need both.
#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Layer {
        Layer::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    fn no_file() -> Settings {
        Settings {
            read_env: Some(false),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_follow_the_specification() {
        let c = resolve_with(&no_file(), env(&[])).unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(c.export_timeout, Duration::from_secs(10));
        assert_eq!(c.batch.max_queue_size, 2048);
        assert_eq!(c.batch.max_export_batch_size, 512);
        assert_eq!(c.batch.scheduled_delay, Duration::from_secs(5));
        assert_eq!(
            c.sampler,
            Sampler::ParentBased(1.0),
            "parentbased_always_on"
        );
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.tls, TlsConfig::default());
        assert!(!c.disabled && c.warnings.is_empty());
        assert_eq!(c.processor, Processor::Batch);
        assert_eq!(c.tenants.max_entries, 100);
        assert_eq!(c.tenants.ttl, Duration::from_secs(3600));
        assert_eq!(c.service_name, "unknown_service");
    }

    #[test]
    fn booleans_follow_the_workspace_grammar() {
        // The same words the facade's configuration accepts: one grammar everywhere.
        for (text, hidden) in [("on", true), ("YES", true), (" 1 ", true), ("off", false)] {
            let c = resolve_with(&no_file(), env(&[("OPENINFERENCE_HIDE_INPUTS", text)])).unwrap();
            assert_eq!(c.privacy.hide_inputs, hidden, "{text:?}");
        }
        let err = resolve_with(&no_file(), env(&[("OPENINFERENCE_HIDE_INPUTS", "enabled")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("on or off"), "{err}");
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn environment_is_read_and_builder_wins() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,team=x"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_SERVICE_NAME", "from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.version=1.2,deployment.environment=prod,k=v",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OPENINFERENCE_HIDE_INPUTS", "true"),
        ]);
        let c = resolve_with(&no_file(), e.clone()).unwrap();
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://collector:4317");
        assert_eq!(
            c.headers,
            vec![
                ("api-key".into(), "a b".into()),
                ("team".into(), "x".into())
            ]
        );
        assert_eq!(c.export_timeout, Duration::from_millis(2500));
        assert_eq!(c.service_name, "from-env");
        assert_eq!(c.service_version.as_deref(), Some("1.2"));
        assert_eq!(c.deployment_environment.as_deref(), Some("prod"));
        assert_eq!(c.resource_attributes, vec![("k".into(), "v".into())]);
        assert_eq!(c.sampler, Sampler::ParentBased(0.25));
        assert_eq!(c.batch.max_queue_size, 100);
        assert_eq!(
            c.batch.max_export_batch_size, 100,
            "batch size capped by queue size"
        );
        assert_eq!(c.batch.scheduled_delay, Duration::from_millis(250));
        assert!(c.privacy.hide_inputs);
        assert!(!c.privacy.hide_outputs);

        let explicit = Settings {
            service_name: Some("explicit".into()),
            protocol: Some(Protocol::HttpProtobuf),
            hide_inputs: Some(false),
            ..no_file()
        };
        let c = resolve_with(&explicit, e).unwrap();
        assert_eq!(c.service_name, "explicit");
        assert_eq!(c.endpoint, "http://collector:4317/v1/traces");
        assert!(!c.privacy.hide_inputs);
    }

    #[test]
    fn phoenix_endpoint_is_a_fallback_base_url() {
        let c = resolve_with(
            &no_file(),
            env(&[("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006/")]),
        )
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:6006/v1/traces");
        let c = resolve_with(
            &no_file(),
            env(&[
                ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://other:1/custom",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.endpoint, "http://other:1/custom");
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn resolution_follows_the_standard_precedence() {
        // The same rules StandardEnv gives a composing configuration: the traces-only variables
        // beat the generic ones, and the traces endpoint is used as given even without a path.
        let c = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318"),
            ]),
        )
        .unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://traces:4318");
        let c = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4317"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.protocol, c.endpoint.as_str()),
            (Protocol::Grpc, "http://base:4317")
        );
    }

    #[test]
    fn invalid_environment_values_name_variable_value_and_allowed() {
        let cases = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=b,c"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x"),
            ("PHOENIX_CLIENT_HEADERS", "k=v%0Aw"),
            ("PHOENIX_COLLECTOR_ENDPOINT", "phoenix"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OPENINFERENCE_HIDE_OUTPUTS", "maybe"),
        ];
        for (var, value) in cases {
            let err = resolve_with(&no_file(), env(&[(var, value)])).unwrap_err();
            match &err {
                ConfigError::InvalidEnv {
                    variable,
                    value: v,
                    allowed,
                } => {
                    assert_eq!(variable, var);
                    assert_eq!(v, value);
                    assert!(!allowed.is_empty());
                }
                other => panic!("{var}: unexpected {other:?}"),
            }
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn otel_traces_sampler_invalid_name_or_argument_is_logged_once_and_ignored() {
        let c = resolve_with(&no_file(), env(&[("OTEL_TRACES_SAMPLER", "sometimes")])).unwrap();
        assert_eq!(c.sampler, Sampler::ParentBased(1.0));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("OTEL_TRACES_SAMPLER=\"sometimes\"")
                && c.warnings[0].contains("parentbased_traceidratio"),
            "{:?}",
            c.warnings
        );
        let c = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.sampler, Sampler::TraceIdRatio(1.0));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("OTEL_TRACES_SAMPLER_ARG"),
            "{:?}",
            c.warnings
        );
        let c = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ]),
        )
        .unwrap();
        assert_eq!(c.sampler, Sampler::ParentBased(0.5));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn otel_sdk_disabled_true_only_for_true_else_false_with_a_warning() {
        for value in ["true", "TRUE", "True"] {
            let c = resolve_with(&no_file(), env(&[("OTEL_SDK_DISABLED", value)])).unwrap();
            assert!(c.disabled, "{value}");
            assert_eq!(c.sampler, Sampler::AlwaysOff, "nothing is exported");
            assert!(c.warnings.is_empty());
        }
        let c = resolve_with(&no_file(), env(&[("OTEL_SDK_DISABLED", "False")])).unwrap();
        assert!(!c.disabled && c.warnings.is_empty());
        for value in ["1", "yes", "on", "disabled"] {
            let c = resolve_with(&no_file(), env(&[("OTEL_SDK_DISABLED", value)])).unwrap();
            assert!(!c.disabled, "{value}");
            assert_eq!(c.sampler, Sampler::ParentBased(1.0));
            assert_eq!(c.warnings.len(), 1, "{value}");
            assert!(
                c.warnings[0].contains("OTEL_SDK_DISABLED"),
                "{:?}",
                c.warnings
            );
        }
    }

    #[test]
    fn otel_exporter_otlp_traces_forms_win_over_the_generic_ones() {
        let c = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=generic"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=traces"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2000"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ]),
        )
        .unwrap();
        assert_eq!(c.headers, vec![("b".into(), "traces".into())], "not merged");
        assert_eq!(c.export_timeout, Duration::from_millis(2000));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
        let generic = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_BSP_EXPORT_TIMEOUT", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(generic.export_timeout, Duration::from_millis(1000));
        assert_eq!(generic.compression, Compression::Gzip);
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn otel_exporter_otlp_endpoint_is_a_base_and_http_appends_v1_traces_keeping_its_path() {
        for (base, want) in [
            (
                "https://otlp.example/otlp",
                "https://otlp.example/otlp/v1/traces",
            ),
            (
                "https://otlp.example/otlp/",
                "https://otlp.example/otlp/v1/traces",
            ),
            ("http://c:4318", "http://c:4318/v1/traces"),
        ] {
            let c =
                resolve_with(&no_file(), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)])).unwrap();
            assert_eq!(c.endpoint, want, "{base}");
            let grpc = resolve_with(
                &no_file(),
                env(&[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", base),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ]),
            )
            .unwrap();
            assert_eq!(grpc.endpoint, base, "gRPC uses the base as given");
        }
    }

    #[test]
    fn otel_exporter_otlp_traces_endpoint_is_used_as_is_and_wins_also_when_both_are_set() {
        let both = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/otlp"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318"),
            ]),
        )
        .unwrap();
        assert_eq!(both.endpoint, "http://traces:4318");
        let explicit = Settings {
            endpoint: Some("http://base:1/p".into()),
            traces_endpoint: Some("http://traces:2/exact".into()),
            ..no_file()
        };
        assert_eq!(
            resolve_with(&explicit, env(&[])).unwrap().endpoint,
            "http://traces:2/exact"
        );
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn phoenix_collector_endpoint_api_key_and_client_headers_in_phoenix_forms() {
        let c = resolve_with(
            &no_file(),
            env(&[
                (
                    "PHOENIX_COLLECTOR_ENDPOINT",
                    "https://app.phoenix.arize.com/s/acme",
                ),
                ("PHOENIX_API_KEY", "k1"),
                (
                    "PHOENIX_CLIENT_HEADERS",
                    "x-team=search,authorization=Other",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=otel"),
            ]),
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://app.phoenix.arize.com/s/acme/v1/traces");
        assert_eq!(
            c.headers,
            vec![
                ("x-team".into(), "otel".into()),
                ("authorization".into(), "Other".into()),
            ],
            "OTLP headers win, Phoenix's fill in, the API key does not replace authorization"
        );
        let grpc = resolve_with(
            &no_file(),
            env(&[("PHOENIX_COLLECTOR_ENDPOINT", "phoenix:4317")]),
        )
        .unwrap();
        assert_eq!(
            (grpc.protocol, grpc.endpoint.as_str()),
            (Protocol::Grpc, "http://phoenix:4317"),
            "a bare host:4317 means gRPC"
        );
        let http = resolve_with(
            &no_file(),
            env(&[
                ("PHOENIX_COLLECTOR_ENDPOINT", "phoenix:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ]),
        )
        .unwrap();
        assert_eq!(http.endpoint, "http://phoenix:4317/v1/traces");
    }

    #[test]
    fn tls_files_are_checked_and_named_in_errors() {
        let dir = std::env::temp_dir().join(format!("otel-tls-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = resolve_with(
            &no_file(),
            env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", missing.to_str().unwrap())]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, ConfigError::TlsFile { from, path, .. } if from == "OTEL_EXPORTER_OTLP_CERTIFICATE" && path == &missing),
            "{err:?}"
        );
        assert!(
            text.contains("missing.pem") && text.contains("PEM"),
            "{text}"
        );
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let err = resolve_with(
            &no_file(),
            env(&[(
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                garbage.to_str().unwrap(),
            )]),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::TlsFile { from, .. } if from == "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            "{err:?}"
        );
        let err = resolve_with(
            &no_file(),
            env(&[(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                garbage.to_str().unwrap(),
            )]),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::TlsIncomplete { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_file_sits_below_the_environment() {
        let dir = std::env::temp_dir().join(format!("otel-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("otel.json");
        std::fs::write(
            &path,
            r#"{"OTEL_SERVICE_NAME": "from-file", "OTEL_BSP_MAX_QUEUE_SIZE": 64, "OPENINFERENCE_HIDE_OUTPUTS": true}"#,
        )
        .unwrap();
        let settings = Settings {
            config_file: Some(path.clone()),
            ..no_file()
        };
        let c = resolve_with(&settings, env(&[("OTEL_SERVICE_NAME", "from-env")])).unwrap();
        assert_eq!(c.service_name, "from-env");
        assert_eq!(c.batch.max_queue_size, 64);
        assert!(c.privacy.hide_outputs);

        std::fs::write(&path, r#"{"OTEL_BSP_MAX_QUEUE_SIZE": "lots"}"#).unwrap();
        let err = resolve_with(&settings, env(&[])).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidFileValue { key, value, .. } if key == "OTEL_BSP_MAX_QUEUE_SIZE" && value == "lots"),
            "{err:?}"
        );
        std::fs::write(&path, r#"{"OTEL_SERVCE_NAME": "typo"}"#).unwrap();
        assert!(matches!(
            resolve_with(&settings, env(&[])),
            Err(ConfigError::FileMalformed { .. })
        ));
        let missing = Settings {
            config_file: Some(dir.join("missing.json")),
            ..no_file()
        };
        assert!(matches!(
            resolve_with(&missing, env(&[])),
            Err(ConfigError::FileUnreadable { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tenant_project_names_follow_the_template() {
        let c = resolve_with(&no_file(), env(&[("OTEL_SERVICE_NAME", "svc")])).unwrap();
        assert_eq!(
            c.tenants.project_name("acme", &c.service_name),
            "llm-acme-svc"
        );
        let err = resolve_with(
            &Settings {
                tenant_template: Some("{prefix}-static".into()),
                ..no_file()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidSetting {
                setting: "tenant_project_template",
                ..
            }
        ));
    }

    #[test]
    fn api_key_becomes_a_bearer_header() {
        let c = resolve_with(&no_file(), env(&[("PHOENIX_API_KEY", "k1")])).unwrap();
        assert_eq!(
            c.headers,
            vec![("authorization".into(), "Bearer k1".into())]
        );
    }
}
