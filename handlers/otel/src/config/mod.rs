//! The resolved configuration of the handler and how it is resolved: explicit builder settings
//! first, then the environment, then an optional config file, then defaults.
//!
//! The environment variables are the standard OpenTelemetry ones (`OTEL_EXPORTER_OTLP_*`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`), the
//! OpenInference privacy switches (`OPENINFERENCE_HIDE_INPUTS`/`_OUTPUTS`), Phoenix's
//! (`PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_PROJECT_NAME`, `PHOENIX_API_KEY`) and a few of this
//! crate's own (`LLM_TELEMETRY_OTEL_*`, listed in [`vars`]). The config file is a JSON object whose
//! keys are those same variable names, so one parser and one set of error messages serve both.
//! An empty variable counts as unset, as the OpenTelemetry specification asks. A value that
//! cannot be parsed is a [`ConfigError`] naming the variable (or file key), the value and what is
//! allowed; it is never silently replaced by a default.
//!
//! The standard variables a composing configuration also reads (the `llm-telemetry` facade's
//! `Config`: endpoint, protocol, service name, privacy switches, `OTEL_SDK_DISABLED`) are listed
//! with their precedence in [`standard`], once: [`standard::StandardEnv`] reads them for the
//! facade and the resolution here follows the same lists.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;
use crate::sampler::Sampler;
use source::{
    Layer, Layers, parse_bool, parse_endpoint, parse_key_values, parse_millis, parse_positive,
    parse_processor, parse_protocol, parse_ratio, parse_seconds, parse_template, parse_text,
};
use standard::{StandardSetting, endpoint_of, first_of};

mod source;
pub mod standard;
pub mod vars;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (tonic), usually port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies, usually port 4318 (Phoenix: its HTTP port) at `/v1/traces`.
    HttpProtobuf,
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

/// Default span-event patterns: the catalog's events that happen inside a span (first token,
/// rate limits, credential refreshes, cache operations, costs) and the current-span helpers'
/// `span.event` and `span.attributes`. Add a program's own with
/// [`crate::OtelHandlerBuilder::span_event_patterns`].
pub const DEFAULT_SPAN_EVENT_PATTERNS: &[&str] = &[
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
    pub protocol: Option<Protocol>,
    pub headers: Option<Vec<(String, String)>>,
    pub export_timeout: Option<Duration>,
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

    let protocol = match settings.protocol {
        Some(p) => p,
        None => standard_value(&layers, StandardSetting::Protocol, parse_protocol)?
            .unwrap_or(Protocol::HttpProtobuf),
    };
    let endpoint = resolve_endpoint(settings, &layers, protocol)?;

    let mut headers = pick(
        settings.headers.clone(),
        &layers,
        vars::OTEL_EXPORTER_OTLP_HEADERS,
        parse_key_values,
        Vec::new,
    )?;
    if settings.headers.is_none()
        && let Some(key) = layers.get(vars::PHOENIX_API_KEY, |s| Ok(s.to_owned()))?
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        headers.push(("authorization".to_owned(), format!("Bearer {key}")));
    }
    let export_timeout = pick(
        settings.export_timeout,
        &layers,
        vars::OTEL_EXPORTER_OTLP_TIMEOUT,
        parse_millis,
        || Duration::from_secs(10),
    )?;

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
        None => resolve_sampler(&layers)?,
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
    let export_timeout = if settings.export_timeout.is_none()
        && layers.origin_of(vars::OTEL_EXPORTER_OTLP_TIMEOUT).is_none()
    {
        layers
            .get(vars::OTEL_BSP_EXPORT_TIMEOUT, parse_millis)?
            .unwrap_or(export_timeout)
    } else {
        export_timeout
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
    if let Some(e) = &settings.endpoint {
        parse_endpoint(e).map_err(|allowed| ConfigError::InvalidSetting {
            setting: "endpoint",
            value: e.clone(),
            allowed,
        })?;
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

fn resolve_endpoint(
    settings: &Settings,
    layers: &Layers,
    protocol: Protocol,
) -> Result<String, ConfigError> {
    if let Some(e) = &settings.endpoint {
        return Ok(complete_endpoint(e, protocol));
    }
    if let Some(found) = endpoint_of(|variable| layers.get(variable, parse_endpoint))? {
        return Ok(found.value.for_protocol(protocol));
    }
    Ok(match protocol {
        Protocol::Grpc => "http://localhost:4317".to_owned(),
        Protocol::HttpProtobuf => "http://localhost:4318/v1/traces".to_owned(),
    })
}

/// For HTTP, a URL without a path gets `/v1/traces`; gRPC URLs are used as given.
pub(crate) fn complete_endpoint(endpoint: &str, protocol: Protocol) -> String {
    let trimmed = endpoint.trim();
    match protocol {
        Protocol::Grpc => trimmed.to_owned(),
        Protocol::HttpProtobuf => {
            let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
            match after_scheme.find('/') {
                Some(at) if !after_scheme[at..].trim_end_matches('/').is_empty() => {
                    trimmed.to_owned()
                }
                _ => format!("{}/v1/traces", trimmed.trim_end_matches('/')),
            }
        }
    }
}

fn resolve_sampler(layers: &Layers) -> Result<Sampler, ConfigError> {
    let Some(name) = layers.get(vars::OTEL_TRACES_SAMPLER, |s| Ok(s.to_ascii_lowercase()))? else {
        return Ok(Sampler::AlwaysOn);
    };
    let ratio = || -> Result<f64, ConfigError> {
        Ok(layers
            .get(vars::OTEL_TRACES_SAMPLER_ARG, parse_ratio)?
            .unwrap_or(1.0))
    };
    Ok(match name.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatio(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(1.0),
        "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => Sampler::ParentBased(ratio()?),
        _ => {
            let origin = layers
                .origin_of(vars::OTEL_TRACES_SAMPLER)
                .unwrap_or(&layers.env);
            return Err(origin.invalid(
                vars::OTEL_TRACES_SAMPLER,
                &name,
                "one of always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off, parentbased_traceidratio"
                    .to_owned(),
            ));
        }
    })
}

#[cfg(test)]
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
        assert_eq!(c.sampler, Sampler::AlwaysOn);
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
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
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
        let err = resolve_with(
            &no_file(),
            env(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
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
