//! Typed errors of the OpenTelemetry handler: configuration that cannot be used and a handler that
//! cannot start.
//!
//! Every error names the bad value and where it came from (a builder call, an environment
//! variable, a config file key) and says what is allowed, so the fix is obvious from the message.
//! Nothing here is returned while spans flow: export failures are counted in
//! [`crate::OtelStats`] and reported through the rate-limited warning, never returned.

use std::path::PathBuf;

use thiserror::Error;

/// Why a configuration value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// An environment variable held a value that cannot be used.
    #[error("environment variable {variable}={value:?} is invalid: expected {allowed}")]
    InvalidEnv {
        /// The variable's name, e.g. `OTEL_TRACES_SAMPLER`.
        variable: String,
        /// The value it held.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A key of the config file held a value that cannot be used.
    #[error("config file {path}: key {key}={value:?} is invalid: expected {allowed}")]
    InvalidFileValue {
        /// The file.
        path: PathBuf,
        /// The key (named like the environment variable it mirrors).
        key: String,
        /// The value it held.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The config file could not be read.
    #[error(
        "cannot read config file {path}: {reason} (check the path given to `config_file` or LLM_TELEMETRY_OTEL_CONFIG)"
    )]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The config file is not a JSON object of string, number or bool values.
    #[error(
        "config file {path} is not valid: {reason} (expected a JSON object such as {{\"OTEL_SERVICE_NAME\": \"my-service\"}})"
    )]
    FileMalformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A TLS file (CA, client certificate or key) that cannot be read or holds no usable PEM.
    #[error("{from}={path:?}: {reason}; expected {expected}")]
    TlsFile {
        /// The variable or builder option that named the file.
        from: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What is expected.
        expected: String,
    },
    /// A client certificate without a key, or a key without a certificate.
    #[error("{given} is set but {missing} is not: mTLS needs both, or neither")]
    TlsIncomplete {
        /// The variable or option that is set.
        given: String,
        /// What is missing.
        missing: String,
    },
    /// The protocol's transport was left out of this build.
    #[error(
        "protocol {protocol} needs the cargo feature `{feature}` of llm-telemetry-otel, which this \
         build leaves out: enable it, or choose another protocol (OTEL_EXPORTER_OTLP_PROTOCOL)"
    )]
    TransportLeftOut {
        /// The protocol asked for.
        protocol: &'static str,
        /// The feature that builds its transport.
        feature: &'static str,
    },
    /// A builder argument that cannot be used.
    #[error("builder setting {setting} = {value:?} is invalid: expected {allowed}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
}

/// Why [`crate::OtelHandlerBuilder::attach`] failed.
#[derive(Debug, Error)]
pub enum OtelError {
    /// The configuration was invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The bus refused the handler (duplicate id, bad pattern, bus shut down).
    #[error("cannot attach the OpenTelemetry handler: {0}")]
    Attach(#[from] llm_telemetry_core::AttachError),
    /// The export thread or its runtime could not start.
    #[error(
        "cannot start the OpenTelemetry export thread: {0} (the process may be out of threads or memory)"
    )]
    Worker(String),
    /// The default exporter could not be built from the configuration.
    #[error(
        "cannot build the span exporter for endpoint {endpoint:?}: {reason} (check OTEL_EXPORTER_OTLP_ENDPOINT / PROTOCOL)"
    )]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the exporter builder said.
        reason: String,
    },
}
