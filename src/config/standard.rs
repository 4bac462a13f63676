//! The handlers' standard environment variables, composed into the facade's keys.
//!
//! The facade knows none of their names or rules: the OpenTelemetry handler owns `OTEL_*`,
//! `PHOENIX_*` and `OPENINFERENCE_*` ([`StandardEnv`], [`StandardSetting`]), and this module only
//! says which of its settings sets which [`Key`], and stores what the handler's reader found.
//! The Prometheus, log and cost handlers have no standard variables; their keys are read from
//! the facade's own `LLM_TELEMETRY_*` variables only.
//!
//! A key's standard variables are consulted only when its own `LLM_TELEMETRY_*` variable is
//! unset (the environment layer, [`super::env`], decides that); among them the handler's
//! precedence decides, and a bad value is a [`ConfigError`] naming the variable, the value, the
//! key and what the key accepts.

use llm_telemetry_otel::config::standard::{StandardEnv, StandardEnvError, StandardSetting};

use super::keys::Key;
use super::{Config, ConfigError, Origin};

/// Stores in `config` the value the handler's standard variables give for `key`, if any.
pub(crate) fn apply(key: Key, env: &StandardEnv, config: &mut Config) -> Result<(), ConfigError> {
    let Some(setting) = key.standard_setting() else {
        return Ok(());
    };
    let invalid = |e: StandardEnvError| ConfigError::InvalidValue {
        origin: Origin::Env {
            var: e.variable.to_owned(),
        },
        key: key.name().to_owned(),
        value: format!("{:?}", e.value),
        expected: key.expected(),
    };
    let tracing = &mut config.tracing;
    match setting {
        StandardSetting::SdkDisabled => {
            let disabled = env.sdk_disabled().map_err(invalid)?;
            if disabled.is_some_and(|d| d.value) {
                tracing.enabled = false;
            }
        }
        StandardSetting::Endpoint => {
            if let Some(found) = env.endpoint().map_err(invalid)? {
                // Kept as given, with its form: the handler completes it by the form's rule.
                tracing.endpoint = Some(found.value.url);
                tracing.endpoint_form = found.value.form;
            }
        }
        StandardSetting::Protocol => {
            if let Some(found) = env.protocol().map_err(invalid)? {
                tracing.protocol = found.value;
            }
        }
        StandardSetting::ServiceName => {
            if let Some(found) = env.service_name().map_err(invalid)? {
                tracing.service_name = found.value;
            }
        }
        StandardSetting::HideInputs => {
            if let Some(found) = env.hide_inputs().map_err(invalid)? {
                tracing.hide_inputs = found.value;
            }
        }
        StandardSetting::HideOutputs => {
            if let Some(found) = env.hide_outputs().map_err(invalid)? {
                tracing.hide_outputs = found.value;
            }
        }
        // A setting this facade does not compose yet.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_setting_sets_exactly_one_key() {
        for setting in StandardSetting::ALL {
            let keys: Vec<Key> = Key::ALL
                .into_iter()
                .filter(|k| k.standard_setting() == Some(setting))
                .collect();
            assert_eq!(keys.len(), 1, "{setting:?}: {keys:?}");
        }
    }

    #[test]
    fn only_tracing_keys_have_standard_variables() {
        for key in Key::ALL {
            let has = !key.standard_env_vars().is_empty();
            assert_eq!(has, key.standard_setting().is_some(), "{key}");
            if has {
                assert_eq!(key.section(), Some("tracing"), "{key}");
            }
        }
        assert!(Key::TracingEnabled.standard_inverts());
        assert!(!Key::TracingEndpoint.standard_inverts());
    }
}
