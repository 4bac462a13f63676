//! The environment variables (and config file keys, which have the same names) the handler
//! reads: the OpenTelemetry standard ones, OpenInference's privacy switches, Phoenix's, and this
//! crate's own `LLM_TELEMETRY_OTEL_*`.

/// `true` disables the SDK (span export). Read only through [`super::standard::StandardEnv`],
/// for a composing configuration: the handler itself is attached or not by its owner.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Base OTLP endpoint (`/v1/traces` is appended for HTTP when the URL has no path).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Traces-only OTLP endpoint, used as given.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `grpc` or `http/protobuf`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Traces-only protocol.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `key=value,key2=value2` headers (values percent-decoded).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `service.name`.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `key=value,…` resource attributes.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
/// `parentbased_always_off`, `parentbased_traceidratio`.
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// The ratio for the ratio samplers, in `[0, 1]`.
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// Batch scheduled delay, milliseconds.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Batch export timeout, milliseconds.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// Spans waiting for export at most.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Spans per export at most.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// `true` replaces `input.value` with `__REDACTED__`.
pub const OPENINFERENCE_HIDE_INPUTS: &str = "OPENINFERENCE_HIDE_INPUTS";
/// `true` replaces `output.value` with `__REDACTED__`.
pub const OPENINFERENCE_HIDE_OUTPUTS: &str = "OPENINFERENCE_HIDE_OUTPUTS";
/// Phoenix's collector endpoint (a base URL), used when no OTLP endpoint is set.
pub const PHOENIX_COLLECTOR_ENDPOINT: &str = "PHOENIX_COLLECTOR_ENDPOINT";
/// The Phoenix project of spans without a tenant.
pub const PHOENIX_PROJECT_NAME: &str = "PHOENIX_PROJECT_NAME";
/// Sent as `authorization: Bearer <key>`.
pub const PHOENIX_API_KEY: &str = "PHOENIX_API_KEY";
/// Path of the JSON config file.
pub const LLM_TELEMETRY_OTEL_CONFIG: &str = "LLM_TELEMETRY_OTEL_CONFIG";
/// `batch` or `simple`.
pub const LLM_TELEMETRY_OTEL_PROCESSOR: &str = "LLM_TELEMETRY_OTEL_PROCESSOR";
/// Longest `input.value` / `output.value` in bytes (cut on a character boundary).
pub const LLM_TELEMETRY_OTEL_MAX_VALUE_LENGTH: &str = "LLM_TELEMETRY_OTEL_MAX_VALUE_LENGTH";
/// `true`/`false`: give each tenant its own project.
pub const LLM_TELEMETRY_OTEL_TENANT_PROJECTS: &str = "LLM_TELEMETRY_OTEL_TENANT_PROJECTS";
/// Project name template with `{prefix}`, `{tenant}`, `{service}`.
pub const LLM_TELEMETRY_OTEL_TENANT_TEMPLATE: &str = "LLM_TELEMETRY_OTEL_TENANT_TEMPLATE";
/// The `{prefix}` of the template.
pub const LLM_TELEMETRY_OTEL_TENANT_PREFIX: &str = "LLM_TELEMETRY_OTEL_TENANT_PREFIX";
/// Most per-tenant exporters alive at once.
pub const LLM_TELEMETRY_OTEL_TENANT_MAX: &str = "LLM_TELEMETRY_OTEL_TENANT_MAX";
/// Seconds an unused per-tenant exporter lives.
pub const LLM_TELEMETRY_OTEL_TENANT_TTL: &str = "LLM_TELEMETRY_OTEL_TENANT_TTL";

/// `true`/`false`: events emitted inside a span become its span events (default true).
pub const LLM_TELEMETRY_OTEL_SPAN_EVENTS: &str = "LLM_TELEMETRY_OTEL_SPAN_EVENTS";

/// Every variable the handler's own resolution reads from the environment, and every key its
/// config file accepts (the config path itself and [`OTEL_SDK_DISABLED`] excluded).
pub const ALL: &[&str] = &[
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_SERVICE_NAME,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OPENINFERENCE_HIDE_INPUTS,
    OPENINFERENCE_HIDE_OUTPUTS,
    PHOENIX_COLLECTOR_ENDPOINT,
    PHOENIX_PROJECT_NAME,
    PHOENIX_API_KEY,
    LLM_TELEMETRY_OTEL_PROCESSOR,
    LLM_TELEMETRY_OTEL_MAX_VALUE_LENGTH,
    LLM_TELEMETRY_OTEL_TENANT_PROJECTS,
    LLM_TELEMETRY_OTEL_TENANT_TEMPLATE,
    LLM_TELEMETRY_OTEL_TENANT_PREFIX,
    LLM_TELEMETRY_OTEL_TENANT_MAX,
    LLM_TELEMETRY_OTEL_TENANT_TTL,
    LLM_TELEMETRY_OTEL_SPAN_EVENTS,
];
