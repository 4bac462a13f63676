//! The environment variables (and config file keys, which have the same names) the handler
//! reads: the OpenTelemetry standard ones, OpenInference's privacy switches, Phoenix's, and this
//! crate's own `LLM_TELEMETRY_OTEL_*`.

/// Only `true` (any case) disables the SDK: nothing is exported (a composing configuration does
/// not attach the handler at all). Any other value leaves it enabled, with a warning unless it
/// is `false`.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Base OTLP endpoint: for HTTP, `v1/traces` is appended to its path (`https://h/otlp` →
/// `https://h/otlp/v1/traces`).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Traces-only OTLP endpoint, used as given; wins over the base one.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `grpc`, `http/protobuf` (the default) or `http/json`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Traces-only protocol; wins over the generic one.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `key=value,key2=value2` headers (values percent-decoded).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Traces-only headers; win over the generic ones (they are not merged).
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Traces-only export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `gzip` or `none` (the default): sent as `Content-Encoding` (HTTP) or `grpc-encoding`.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Traces-only compression.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// PEM file of the CA(s) trusted to verify the collector's certificate, instead of the
/// platform's roots.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// Traces-only CA file.
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// PEM file of the client certificate (chain) for mTLS; needs the client key.
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// Traces-only client certificate.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE";
/// PEM file of the client's private key for mTLS; needs the client certificate.
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// Traces-only client key.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY";
/// `service.name`.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `key=value,…` resource attributes.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on` (the default),
/// `parentbased_always_off`, `parentbased_traceidratio`; an unknown one is ignored with a
/// warning.
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// The ratio for the ratio samplers, in `[0, 1]`; an invalid one is ignored with a warning.
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
/// Phoenix's collector endpoint, in Phoenix's forms (a base URL, Phoenix Cloud's
/// `https://app.phoenix.arize.com/s/<space>`, or a bare `host:port`; `host:4317` means gRPC),
/// used when no OTLP endpoint is set.
pub const PHOENIX_COLLECTOR_ENDPOINT: &str = "PHOENIX_COLLECTOR_ENDPOINT";
/// The Phoenix project of spans without a tenant.
pub const PHOENIX_PROJECT_NAME: &str = "PHOENIX_PROJECT_NAME";
/// Sent as `authorization: Bearer <key>` unless a header already sets `authorization`.
pub const PHOENIX_API_KEY: &str = "PHOENIX_API_KEY";
/// Phoenix's client headers, `key=value,…` like the OTLP ones, added to them (an OTLP header of
/// the same name wins).
pub const PHOENIX_CLIENT_HEADERS: &str = "PHOENIX_CLIENT_HEADERS";
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
    OTEL_SDK_DISABLED,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
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
    PHOENIX_CLIENT_HEADERS,
    LLM_TELEMETRY_OTEL_PROCESSOR,
    LLM_TELEMETRY_OTEL_MAX_VALUE_LENGTH,
    LLM_TELEMETRY_OTEL_TENANT_PROJECTS,
    LLM_TELEMETRY_OTEL_TENANT_TEMPLATE,
    LLM_TELEMETRY_OTEL_TENANT_PREFIX,
    LLM_TELEMETRY_OTEL_TENANT_MAX,
    LLM_TELEMETRY_OTEL_TENANT_TTL,
    LLM_TELEMETRY_OTEL_SPAN_EVENTS,
];
