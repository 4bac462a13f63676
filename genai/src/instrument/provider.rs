//! Provider helpers: the `llm.provider.request.*` span around one HTTP request to a provider
//! ([`ProviderRequestSpan`]), `llm.provider.rate_limit` (with `retry_after` in seconds) and
//! `llm.provider.auth_refresh`.
//!
//! `status` carries the HTTP status code as text (`"200"`, `"429"`); a failing status also sets
//! a low-cardinality `error.type` ([`error_type_for_status`]). The rate-limit and auth events
//! belong to the current span.

use std::time::Duration;

use smallvec::SmallVec;

use super::Instrumentation;
use super::call::Call;
use crate::catalog::{self, keys};
use llm_telemetry_core::event::Value;

/// The `error.type` of an HTTP status: `None` below 400, else `rate_limit` (429), `auth`
/// (401, 403), `timeout` (408, 504), `client_error` (other 4xx) or `server_error`.
///
/// ```
/// use llm_telemetry_genai::instrument::error_type_for_status;
/// assert_eq!(error_type_for_status(200), None);
/// assert_eq!(error_type_for_status(429), Some("rate_limit"));
/// assert_eq!(error_type_for_status(503), Some("server_error"));
/// ```
pub fn error_type_for_status(status: u16) -> Option<&'static str> {
    match status {
        0..=399 => None,
        429 => Some("rate_limit"),
        401 | 403 => Some("auth"),
        408 | 504 => Some("timeout"),
        400..=499 => Some("client_error"),
        _ => Some("server_error"),
    }
}

/// One request to a provider in progress. End it with [`ProviderRequestSpan::finish`] (any
/// HTTP status), [`ProviderRequestSpan::rate_limited`] or [`ProviderRequestSpan::fail`] (no
/// response at all); dropping it unfinished emits stop with `status = "cancelled"`.
///
/// ```
/// use std::time::Duration;
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["llm.provider.*"]).unwrap();
/// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
///
/// let attempt = telemetry.start_provider_request("openai", Some("gpt-4o"));
/// attempt.rate_limited(Duration::from_secs(2));
///
/// assert_eq!(capture.names(), ["llm.provider.request.start", "llm.provider.rate_limit", "llm.provider.request.stop"]);
/// assert_eq!(capture.events()[1].measurement("retry_after"), Some(2.0));
/// assert_eq!(capture.events()[2].str("status"), Some("429"));
/// ```
#[derive(Debug)]
pub struct ProviderRequestSpan {
    call: Call,
    /// Set when `rate_limited` may need to emit.
    rate_limit: Option<(Instrumentation, String)>,
}

impl ProviderRequestSpan {
    crate::instrument::call::call_accessors!();

    /// Ends the span with stop and `status` = the HTTP status (plus `error.type` from 400 on).
    pub fn finish(mut self, status: u16) {
        if let Some(mut span) = self.call.span.take() {
            if let Some(error_type) = error_type_for_status(status) {
                span.recorder().set(keys::ERROR_TYPE, error_type);
            }
            let status = status.to_string();
            span.stop_with(&[(keys::STATUS, Value::Str(&status))]);
        }
    }

    /// The provider answered 429: emits `llm.provider.rate_limit` in this span, then ends it
    /// with status 429.
    pub fn rate_limited(mut self, retry_after: Duration) {
        if let Some((telemetry, provider)) = self.rate_limit.take() {
            let _entered = self.enter();
            telemetry.rate_limited(&provider, retry_after);
        }
        self.finish(429);
    }

    /// No response (connection refused, timeout, …): ends the span with an exception
    /// (`error.type` = `exception.type` = `error_type`).
    pub fn fail(mut self, error_type: &str, message: &str) {
        self.call.fail(error_type, error_type, message);
    }
}

impl Instrumentation {
    /// Starts an `llm.provider.request` span for one request to `provider` (for `model`, when
    /// the request is for one).
    pub fn start_provider_request(
        &self,
        provider: &str,
        model: Option<&str>,
    ) -> ProviderRequestSpan {
        let rate_limit = self
            .is_listening(&catalog::LLM_PROVIDER_RATE_LIMIT)
            .then(|| (self.clone(), provider.to_owned()));
        if !self.is_listening_span(&catalog::LLM_PROVIDER_REQUEST) {
            return ProviderRequestSpan {
                call: Call::none(),
                rate_limit,
            };
        }
        let mut metadata: SmallVec<[(&'static str, Value<'_>); 2]> = SmallVec::new();
        metadata.push((keys::PROVIDER, Value::Str(provider)));
        if let Some(model) = model {
            metadata.push((keys::MODEL, Value::Str(model)));
        }
        ProviderRequestSpan {
            call: Call::from_span(
                self.bus()
                    .start_span(&catalog::LLM_PROVIDER_REQUEST, &metadata),
            ),
            rate_limit,
        }
    }

    /// Emits `llm.provider.rate_limit`: `provider` asked to wait `retry_after` (measured in
    /// seconds), with `status = "429"`.
    pub fn rate_limited(&self, provider: &str, retry_after: Duration) {
        if !self.is_listening(&catalog::LLM_PROVIDER_RATE_LIMIT) {
            return;
        }
        self.bus().execute(
            &catalog::LLM_PROVIDER_RATE_LIMIT,
            &[(keys::RETRY_AFTER, retry_after.as_secs_f64())],
            &[
                (keys::PROVIDER, Value::Str(provider)),
                (keys::STATUS, Value::Str("429")),
            ],
        );
    }

    /// Emits `llm.provider.auth_refresh`: credentials for `provider` were refreshed.
    pub fn auth_refreshed(&self, provider: &str) {
        if !self.is_listening(&catalog::LLM_PROVIDER_AUTH_REFRESH) {
            return;
        }
        self.bus().execute(
            &catalog::LLM_PROVIDER_AUTH_REFRESH,
            &[],
            &[(keys::PROVIDER, Value::Str(provider))],
        );
    }
}
