//! [`StandardEnv`]: the standard variables of span export (OpenTelemetry's `OTEL_*`,
//! OpenInference's `OPENINFERENCE_*`, Phoenix's `PHOENIX_*`) read for a configuration that
//! composes this handler's settings with others — the `llm-telemetry` facade's `Config` — so
//! that this crate alone knows their names and rules.
//!
//! Each [`StandardSetting`] lists its variables in decreasing precedence; the first one set
//! decides and the ones after it are not read. The same lists drive the handler's own
//! resolution ([`crate::OtelHandlerBuilder::resolve`]), so the two never disagree:
//!
//! - endpoint: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a complete URL, used as given, also when
//!   the generic one is set), then `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: for HTTP,
//!   `v1/traces` is appended to its path, keeping `/otlp`), then `PHOENIX_COLLECTOR_ENDPOINT`
//!   (Phoenix's forms); see [`EndpointForm`];
//! - protocol: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then `OTEL_EXPORTER_OTLP_PROTOCOL`
//!   (`grpc`, `http/protobuf`, `http/json`), then the one a Phoenix endpoint implies (a bare
//!   `host:4317` is gRPC);
//! - `OTEL_SERVICE_NAME`, `OPENINFERENCE_HIDE_INPUTS`, `OPENINFERENCE_HIDE_OUTPUTS`;
//! - `OTEL_SDK_DISABLED`: only `true` (any case) turns span export off; any other value leaves
//!   it on (the handler warns about values other than `false`).
//!
//! The privacy switches use the workspace's one boolean grammar
//! ([`llm_telemetry_core::text::parse_bool`]). Empty
//! values count as unset, as the specification says. The environment is injected (a lookup
//! function), never read here, so tests do not touch the process's variables.
//!
//! ```
//! use llm_telemetry_otel::config::standard::{EndpointForm, StandardEnv, StandardSetting};
//! use llm_telemetry_otel::Protocol;
//!
//! let env = |name: &str| match name {
//!     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some("http://collector:4318/v1/traces".to_owned()),
//!     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://other:4318".to_owned()),
//!     "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
//!     _ => None,
//! };
//! let standard = StandardEnv::read(env);
//! let endpoint = standard.endpoint()?.expect("set");
//! assert_eq!(endpoint.variable, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
//! assert_eq!(endpoint.value.form, EndpointForm::Traces);
//! assert_eq!(standard.protocol()?.map(|p| p.value), Some(Protocol::Grpc));
//!
//! let bad = StandardEnv::read(|name| (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "thrift".to_owned()));
//! let error = bad.protocol().unwrap_err();
//! assert_eq!((error.setting, error.variable, error.value.as_str()),
//!            (StandardSetting::Protocol, "OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"));
//! # Ok::<(), llm_telemetry_otel::config::standard::StandardEnvError>(())
//! ```

use super::endpoint::{parse_phoenix_url, parse_url};
use super::source::{Layer, Rejected, parse_bool, parse_protocol, parse_text};
use super::{Protocol, vars};
use crate::error::ConfigError;

/// A setting that standard variables give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StandardSetting {
    /// Whether span export is switched off (`OTEL_SDK_DISABLED`).
    SdkDisabled,
    /// The OTLP endpoint ([`Endpoint`]).
    Endpoint,
    /// The OTLP transport ([`Protocol`]).
    Protocol,
    /// `service.name`.
    ServiceName,
    /// Leave prompts out of exported spans.
    HideInputs,
    /// Leave responses out of exported spans.
    HideOutputs,
}

impl StandardSetting {
    /// Every setting.
    pub const ALL: [StandardSetting; 6] = [
        StandardSetting::SdkDisabled,
        StandardSetting::Endpoint,
        StandardSetting::Protocol,
        StandardSetting::ServiceName,
        StandardSetting::HideInputs,
        StandardSetting::HideOutputs,
    ];

    /// Its variables, in decreasing precedence: the first one set decides.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            StandardSetting::SdkDisabled => &[vars::OTEL_SDK_DISABLED],
            StandardSetting::Endpoint => &[
                vars::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                vars::OTEL_EXPORTER_OTLP_ENDPOINT,
                vars::PHOENIX_COLLECTOR_ENDPOINT,
            ],
            StandardSetting::Protocol => &[
                vars::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
                vars::OTEL_EXPORTER_OTLP_PROTOCOL,
            ],
            StandardSetting::ServiceName => &[vars::OTEL_SERVICE_NAME],
            StandardSetting::HideInputs => &[vars::OPENINFERENCE_HIDE_INPUTS],
            StandardSetting::HideOutputs => &[vars::OPENINFERENCE_HIDE_OUTPUTS],
        }
    }

    /// Whether its variable means the opposite of "on": `OTEL_SDK_DISABLED=true` switches
    /// export off.
    pub fn inverts(self) -> bool {
        self == StandardSetting::SdkDisabled
    }

    /// The setting `variable` belongs to, if any.
    pub fn of_variable(variable: &str) -> Option<StandardSetting> {
        StandardSetting::ALL
            .into_iter()
            .find(|s| s.variables().contains(&variable))
    }

    /// Every variable of every setting.
    pub fn all_variables() -> impl Iterator<Item = &'static str> {
        StandardSetting::ALL
            .into_iter()
            .flat_map(|s| s.variables().iter().copied())
    }
}

/// A value and the variable it came from (for error messages and diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The parsed value.
    pub value: T,
    /// The variable that held it.
    pub variable: &'static str,
}

pub use super::endpoint::{Endpoint, EndpointForm};

/// A standard variable holding a value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {variable}={value:?} is invalid: expected {allowed}")]
pub struct StandardEnvError {
    /// The setting the variable gives.
    pub setting: StandardSetting,
    /// The variable.
    pub variable: &'static str,
    /// The value it held (trimmed).
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl From<StandardEnvError> for ConfigError {
    fn from(e: StandardEnvError) -> Self {
        ConfigError::InvalidEnv {
            variable: e.variable.to_owned(),
            value: e.value,
            allowed: e.allowed,
        }
    }
}

/// The first of `setting`'s variables that `get` finds, with its name: the one precedence rule
/// of the standard variables, for [`StandardEnv`] and the handler's own resolution.
pub(super) fn first_of<T, E>(
    setting: StandardSetting,
    mut get: impl FnMut(&'static str) -> Result<Option<T>, E>,
) -> Result<Option<Sourced<T>>, E> {
    for &variable in setting.variables() {
        if let Some(value) = get(variable)? {
            return Ok(Some(Sourced { value, variable }));
        }
    }
    Ok(None)
}

/// The endpoint `get` finds ([`StandardSetting::Endpoint`]'s rule): `get` is given each
/// variable with the parser of its form.
pub(super) fn endpoint_of<E>(
    mut get: impl FnMut(&'static str, UrlParser) -> Result<Option<String>, E>,
) -> Result<Option<Sourced<Endpoint>>, E> {
    first_of(StandardSetting::Endpoint, |variable| {
        let (form, parse) = endpoint_form(variable);
        Ok(get(variable, parse)?.map(|url| Endpoint { url, form }))
    })
}

/// A parser of endpoint text.
type UrlParser = fn(&str) -> Result<String, String>;

/// The form and parser of an endpoint variable.
fn endpoint_form(variable: &str) -> (EndpointForm, UrlParser) {
    match variable {
        vars::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT => (EndpointForm::Traces, parse_url),
        vars::PHOENIX_COLLECTOR_ENDPOINT => (EndpointForm::Phoenix, parse_phoenix_url),
        _ => (EndpointForm::Base, parse_url),
    }
}

/// `OTEL_SDK_DISABLED`'s rule: only `true` (any case) disables; any other value leaves the SDK
/// enabled (the handler warns about values other than `false`).
pub(super) fn parse_sdk_disabled(s: &str) -> Result<bool, String> {
    Ok(s.trim().eq_ignore_ascii_case("true"))
}

/// The standard variables, captured from an injected environment; each accessor parses one
/// setting's variables by their precedence.
#[derive(Clone, Debug)]
pub struct StandardEnv {
    env: Layer,
}

impl StandardEnv {
    /// Captures every standard variable through `lookup` (called once per variable, now);
    /// empty values count as unset.
    pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let pairs = StandardSetting::all_variables()
            .filter_map(|name| lookup(name).map(|value| (name.to_owned(), value)));
        StandardEnv {
            env: Layer::from_pairs(pairs),
        }
    }

    fn find<T>(
        &self,
        setting: StandardSetting,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<Sourced<T>>, StandardEnvError> {
        first_of(setting, |variable| self.parse(setting, variable, parse))
    }

    fn parse<T>(
        &self,
        setting: StandardSetting,
        variable: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, StandardEnvError> {
        self.env
            .try_get(variable, parse)
            .map_err(|Rejected { value, allowed }| StandardEnvError {
                setting,
                variable,
                value,
                allowed,
            })
    }

    /// `OTEL_SDK_DISABLED`: `Some(true)` means span export is off. As the specification says,
    /// only `true` (any case) disables; every other value is `false`, never an error (the
    /// handler warns about values other than `false` when it attaches).
    pub fn sdk_disabled(&self) -> Result<Option<Sourced<bool>>, StandardEnvError> {
        self.find(StandardSetting::SdkDisabled, parse_sdk_disabled)
    }

    /// The OTLP endpoint: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as given), else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL), else `PHOENIX_COLLECTOR_ENDPOINT` (Phoenix's
    /// forms); see [`EndpointForm`].
    pub fn endpoint(&self) -> Result<Option<Sourced<Endpoint>>, StandardEnvError> {
        endpoint_of(|variable, parse| self.parse(StandardSetting::Endpoint, variable, parse))
    }

    /// The OTLP transport: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf` or `http/json`), else the one a
    /// Phoenix endpoint implies (a bare `host:4317` is gRPC; the variable named is then
    /// `PHOENIX_COLLECTOR_ENDPOINT`).
    pub fn protocol(&self) -> Result<Option<Sourced<Protocol>>, StandardEnvError> {
        if let Some(found) = self.find(StandardSetting::Protocol, parse_protocol)? {
            return Ok(Some(found));
        }
        // A bad endpoint is the endpoint's error, not the protocol's.
        Ok(self.endpoint().ok().flatten().and_then(|found| {
            found.value.implied_protocol().map(|value| Sourced {
                value,
                variable: found.variable,
            })
        }))
    }

    /// `OTEL_SERVICE_NAME`.
    pub fn service_name(&self) -> Result<Option<Sourced<String>>, StandardEnvError> {
        self.find(StandardSetting::ServiceName, parse_text)
    }

    /// `OPENINFERENCE_HIDE_INPUTS`.
    pub fn hide_inputs(&self) -> Result<Option<Sourced<bool>>, StandardEnvError> {
        self.find(StandardSetting::HideInputs, parse_bool)
    }

    /// `OPENINFERENCE_HIDE_OUTPUTS`.
    pub fn hide_outputs(&self) -> Result<Option<Sourced<bool>>, StandardEnvError> {
        self.find(StandardSetting::HideOutputs, parse_bool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard(pairs: &[(&str, &str)]) -> StandardEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StandardEnv::read(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_traces_endpoint_beats_the_base_ones_and_is_used_as_given() {
        let both = standard(&[
            ("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/custom",
            ),
        ]);
        let found = both.endpoint().unwrap().unwrap();
        assert_eq!(found.variable, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        assert_eq!(
            found.value.for_protocol(Protocol::HttpProtobuf),
            "http://traces:4318/custom"
        );
        // Even without a path the traces URL is complete: nothing is appended.
        let bare = standard(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318")]);
        let found = bare.endpoint().unwrap().unwrap();
        assert_eq!(found.value.form, EndpointForm::Traces);
        assert_eq!(
            found.value.for_protocol(Protocol::HttpProtobuf),
            "http://traces:4318"
        );

        let base = standard(&[
            ("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
        ]);
        let found = base.endpoint().unwrap().unwrap();
        assert_eq!(found.variable, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert_eq!(found.value.form, EndpointForm::Base);
        assert_eq!(
            found.value.for_protocol(Protocol::HttpProtobuf),
            "http://base:4318/v1/traces"
        );
        assert_eq!(found.value.for_protocol(Protocol::Grpc), "http://base:4318");

        let phoenix = standard(&[("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006")]);
        let found = phoenix.endpoint().unwrap().unwrap();
        assert_eq!(found.variable, "PHOENIX_COLLECTOR_ENDPOINT");
        assert_eq!(standard(&[]).endpoint().unwrap(), None);
    }

    #[test]
    fn the_traces_protocol_beats_the_generic_one() {
        let env = standard(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]);
        let found = env.protocol().unwrap().unwrap();
        assert_eq!(
            (found.value, found.variable),
            (Protocol::HttpProtobuf, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        );
        let generic = standard(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC")]);
        assert_eq!(generic.protocol().unwrap().unwrap().value, Protocol::Grpc);
    }

    #[test]
    fn the_first_variable_set_decides_and_later_ones_are_not_read() {
        // A broken lower-precedence variable does not matter once a higher one is set.
        let env = standard(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ]);
        assert_eq!(
            env.endpoint().unwrap().unwrap().value.form,
            EndpointForm::Traces
        );
        // Empty counts as unset: the next variable decides.
        let env = standard(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "  "),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
        ]);
        assert_eq!(
            env.endpoint().unwrap().unwrap().variable,
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        );
    }

    #[test]
    fn otel_sdk_disabled_is_true_only_for_true() {
        for (text, disabled) in [
            ("true", true),
            ("TRUE", true),
            (" True ", true),
            ("false", false),
            ("1", false),
            ("yes", false),
            ("on", false),
            ("sometimes", false),
        ] {
            let env = standard(&[("OTEL_SDK_DISABLED", text)]);
            let found = env.sdk_disabled().expect("never an error").unwrap();
            assert_eq!(found.value, disabled, "{text}");
        }
        assert_eq!(standard(&[]).sdk_disabled().unwrap(), None);
    }

    #[test]
    fn a_bare_phoenix_host_4317_means_grpc() {
        let env = standard(&[("PHOENIX_COLLECTOR_ENDPOINT", "phoenix:4317")]);
        let endpoint = env.endpoint().unwrap().unwrap();
        assert_eq!(endpoint.value.url, "http://phoenix:4317");
        assert_eq!(endpoint.value.form, EndpointForm::Phoenix);
        let protocol = env.protocol().unwrap().unwrap();
        assert_eq!(
            (protocol.value, protocol.variable),
            (Protocol::Grpc, "PHOENIX_COLLECTOR_ENDPOINT")
        );
        // An explicit protocol wins over the implied one.
        let env = standard(&[
            ("PHOENIX_COLLECTOR_ENDPOINT", "phoenix:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(
            env.protocol().unwrap().unwrap().value,
            Protocol::HttpProtobuf
        );
        let json = standard(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]);
        assert_eq!(json.protocol().unwrap().unwrap().value, Protocol::HttpJson);
    }

    #[test]
    fn the_privacy_switches_use_the_one_boolean_grammar() {
        for (text, want) in [
            ("true", true),
            ("ON", true),
            ("1", true),
            ("yes", true),
            ("false", false),
            ("off", false),
            ("0", false),
            ("No", false),
        ] {
            let env = standard(&[
                ("OPENINFERENCE_HIDE_INPUTS", text),
                ("OPENINFERENCE_HIDE_OUTPUTS", text),
            ]);
            assert_eq!(env.hide_inputs().unwrap().unwrap().value, want, "{text}");
            assert_eq!(env.hide_outputs().unwrap().unwrap().value, want, "{text}");
        }
    }

    #[test]
    fn a_bad_value_is_a_typed_error_naming_setting_variable_and_value() {
        let cases = [
            (
                StandardSetting::Endpoint,
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "collector:4318",
            ),
            (
                StandardSetting::Endpoint,
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http:///v1",
            ),
            (
                StandardSetting::Endpoint,
                "PHOENIX_COLLECTOR_ENDPOINT",
                "ftp://x",
            ),
            (
                StandardSetting::Protocol,
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "http/xml",
            ),
            (
                StandardSetting::Protocol,
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "thrift",
            ),
            (
                StandardSetting::HideInputs,
                "OPENINFERENCE_HIDE_INPUTS",
                "maybe",
            ),
            (
                StandardSetting::HideOutputs,
                "OPENINFERENCE_HIDE_OUTPUTS",
                "2",
            ),
        ];
        for (setting, variable, value) in cases {
            let env = standard(&[(variable, value)]);
            let result = match setting {
                StandardSetting::SdkDisabled => env.sdk_disabled().map(|_| ()),
                StandardSetting::Endpoint => env.endpoint().map(|_| ()),
                StandardSetting::Protocol => env.protocol().map(|_| ()),
                StandardSetting::ServiceName => env.service_name().map(|_| ()),
                StandardSetting::HideInputs => env.hide_inputs().map(|_| ()),
                StandardSetting::HideOutputs => env.hide_outputs().map(|_| ()),
            };
            let error = result.unwrap_err();
            assert_eq!(error.setting, setting, "{variable}");
            assert_eq!(error.variable, variable);
            assert_eq!(error.value, value);
            let message = error.to_string();
            assert!(
                message.contains(variable) && message.contains(value),
                "{message}"
            );
            assert_eq!(StandardSetting::of_variable(variable), Some(setting));
            let converted = ConfigError::from(error);
            assert!(
                matches!(&converted, ConfigError::InvalidEnv { variable: v, value: x, .. } if v == variable && x == value),
                "{converted:?}"
            );
        }
    }

    #[test]
    fn every_variable_belongs_to_exactly_one_setting() {
        let all: Vec<&str> = StandardSetting::all_variables().collect();
        for variable in &all {
            assert_eq!(
                all.iter().filter(|v| *v == variable).count(),
                1,
                "{variable}"
            );
            assert!(StandardSetting::of_variable(variable).is_some());
        }
        assert_eq!(all.len(), 9);
        assert_eq!(
            StandardSetting::of_variable("OTEL_BSP_MAX_QUEUE_SIZE"),
            None
        );
    }
}
