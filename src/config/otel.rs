//! [`Config::otel_builder`]: the `tracing` section turned into the OpenTelemetry handler's
//! builder, so the handler receives exactly what the configuration says (and tests can resolve
//! that builder to check it).
//!
//! Keys left unset (`None`) make no builder call, so the handler's own rules (its `OTEL_*`
//! variables, then its defaults) still apply to them.

use llm_telemetry_otel::{ConsoleExporter, OtelHandler, OtelHandlerBuilder};

use super::{Config, EndpointForm, TracingExporter};

impl Config {
    /// Whether spans should be exported, and to where: the handler's builder set from the
    /// `tracing` keys, or `None` when the level is `disabled`, `tracing.enabled` is false, or
    /// `tracing.exporter = "otlp"` and no endpoint is set (`console` needs none).
    ///
    /// ```
    /// use llm_telemetry::config::Config;
    /// let config = Config::builder()
    ///     .set("tracing.endpoint=http://127.0.0.1:4318")
    ///     .set("tracing.compression=gzip")
    ///     .build()?;
    /// let resolved = config.otel_builder().unwrap().read_env(false).resolve().unwrap();
    /// assert_eq!(resolved.compression, llm_telemetry::config::OtlpCompression::Gzip);
    /// # Ok::<(), llm_telemetry::config::ConfigError>(())
    /// ```
    pub fn otel_builder(&self) -> Option<OtelHandlerBuilder> {
        let t = &self.tracing;
        if !self.level.is_enabled() || !t.enabled {
            return None;
        }
        let builder = OtelHandler::builder();
        let builder = match (t.exporter, t.endpoint.as_deref()) {
            // The endpoint goes to the handler with its form, which decides how it is completed
            // (a traces URL is used as given; a base URL gets `v1/traces` for HTTP).
            (_, Some(endpoint)) => {
                let endpoint = with_tls(endpoint, t.tls);
                match t.endpoint_form {
                    EndpointForm::Traces => builder.traces_endpoint(endpoint),
                    EndpointForm::Phoenix => builder.phoenix_endpoint(endpoint),
                    _ => builder.endpoint(endpoint),
                }
            }
            (TracingExporter::Console, None) => builder,
            (_, None) => return None,
        };
        let mut builder = builder
            .service_name(t.service_name.clone())
            .protocol(t.protocol)
            // `tracing.export` holds the handler's own `Processor`.
            .processor(t.export)
            .hide_inputs(t.hide_inputs)
            .hide_outputs(t.hide_outputs);
        if t.sample_rate < 1.0 {
            builder = builder.sampler(llm_telemetry_otel::Sampler::ParentBased(t.sample_rate));
        }
        if let Some(version) = &t.service_version {
            builder = builder.service_version(version.clone());
        }
        if t.exporter == TracingExporter::Console {
            builder = builder.exporter(ConsoleExporter::stdout());
        }
        if let Some(path) = &t.certificate {
            builder = builder.certificate(path.clone());
        }
        if let Some(path) = &t.client_certificate {
            builder = builder.client_certificate(path.clone());
        }
        if let Some(path) = &t.client_key {
            builder = builder.client_key(path.clone());
        }
        if let Some(compression) = t.compression {
            builder = builder.compression(compression);
        }
        if let Some(enabled) = t.span_events {
            builder = builder.span_events(enabled);
        }
        if let Some(patterns) = &t.span_event_patterns {
            builder = builder.span_event_patterns(patterns.iter().cloned());
        }
        if let Some(environment) = &t.environment {
            builder = builder.deployment_environment(environment.clone());
        }
        if let Some(prefix) = &t.request_span_prefix {
            builder = builder.request_span_prefix(prefix.clone());
        }
        Some(builder)
    }
}

/// `endpoint`, with `http://` made `https://` when `tls` asks for TLS (`tracing.tls`).
fn with_tls(endpoint: &str, tls: bool) -> String {
    match endpoint.strip_prefix("http://") {
        Some(rest) if tls => format!("https://{rest}"),
        _ => endpoint.to_owned(),
    }
}
