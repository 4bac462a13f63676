//! The environment layer: reads each key's own `LLM_TELEMETRY_*` variable, or when it is unset
//! the standard variables of the handler that owns the key (read by that handler's reader, with
//! its rules: [`super::standard`]), from an [`EnvSnapshot`].
//!
//! The seeds' variables ([`super::Alias`] of kind [`super::AliasKind::Env`]) are read last for
//! their key: only when neither the key's own variable nor a standard one is set; otherwise a
//! set alias that disagrees with the value in force is a [`ConfigWarning`].
//!
//! The environment is never read here directly: the builder takes a snapshot through a lookup
//! function (the process environment, or a map in tests), so tests never touch the process's
//! variables. Empty values count as unset, as the OpenTelemetry specification says.

use llm_telemetry_otel::config::standard::StandardEnv;

use super::alias::{Alias, AliasKind};
use super::keys::{Key, Raw};
use super::{CONFIG_FILE_VAR, Config, ConfigError, ConfigWarning, Origin, standard};

/// The variables the configuration reads, with their (non-empty) values.
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvSnapshot {
    vars: Vec<(&'static str, String)>,
    /// Variables whose value is not UTF-8 (process environment only), shown lossily.
    not_unicode: Vec<(&'static str, String)>,
}

/// Every variable the configuration reads: the keys' own, their handlers' standard ones, the
/// seeds' aliases, and the file's.
fn known_vars() -> impl Iterator<Item = &'static str> {
    Key::ALL
        .iter()
        .flat_map(|k| std::iter::once(k.env_var()).chain(k.standard_env_vars().iter().copied()))
        .chain(
            Alias::ALL
                .iter()
                .filter(|a| a.kind == AliasKind::Env)
                .map(|a| a.name),
        )
        .chain([CONFIG_FILE_VAR])
}

impl EnvSnapshot {
    /// Reads every variable the configuration knows through `lookup`.
    pub(crate) fn capture(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let vars = known_vars()
            .filter_map(|name| {
                lookup(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
            .collect();
        Self {
            vars,
            not_unicode: Vec::new(),
        }
    }

    /// Reads every variable the configuration knows from the process environment; a value
    /// that is not UTF-8 becomes an error at build time instead of being skipped.
    pub(crate) fn capture_process() -> Self {
        let mut snapshot = Self::default();
        for name in known_vars() {
            match std::env::var_os(name).map(|v| v.into_string()) {
                Some(Ok(value)) if !value.trim().is_empty() => snapshot.vars.push((name, value)),
                Some(Err(raw)) => snapshot
                    .not_unicode
                    .push((name, raw.to_string_lossy().into_owned())),
                _ => {}
            }
        }
        snapshot
    }

    /// Whether the environment gives `key` a value that replaces a file's: its own variable, a
    /// standard one (not `OTEL_SDK_DISABLED`, which only ever switches tracing off), or an alias
    /// that sets it (not `TELEMETRY_ENABLED=true`, which leaves the level alone).
    pub(crate) fn sets(&self, key: Key) -> bool {
        self.get(key.env_var()).is_some()
            || (!key.standard_inverts()
                && key
                    .standard_env_vars()
                    .iter()
                    .any(|v| self.get(v).is_some()))
            || Alias::of(key, AliasKind::Env).any(|a| {
                self.get(a.name)
                    .is_some_and(|value| a.sets(Raw::Text(value)))
            })
    }

    /// The project's variable that decides `key` in this environment, if one is set: its own,
    /// else the first standard one that sets it.
    fn deciding_var(&self, key: Key) -> Option<&'static str> {
        if self.get(key.env_var()).is_some() {
            return Some(key.env_var());
        }
        key.standard_env_vars().iter().copied().find(|var| {
            self.get(var).is_some_and(|value| {
                // `OTEL_SDK_DISABLED` decides only when it switches tracing off.
                !key.standard_inverts() || value.trim().eq_ignore_ascii_case("true")
            })
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Applies every variable found to `config`: for each key its own variable if set, else what
    /// its handler's standard variables give. Keys `overridden` by a higher source (an argument)
    /// are not read at all, so a bad value there is not an error.
    pub(crate) fn apply(
        &self,
        config: &mut Config,
        overridden: &dyn Fn(Key) -> bool,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        if let Some((var, lossy)) = self.not_unicode.first() {
            let key = Key::ALL
                .into_iter()
                .find(|k| k.env_var() == *var || k.standard_env_vars().contains(var))
                .or_else(|| Alias::find(AliasKind::Env, var).map(|a| a.key))
                .map_or_else(|| "configuration file".to_owned(), |k| k.name().to_owned());
            return Err(ConfigError::InvalidValue {
                origin: Origin::Env {
                    var: (*var).to_owned(),
                },
                key,
                value: format!("{lossy:?}"),
                expected: "valid UTF-8 text".to_owned(),
            });
        }
        let handlers = StandardEnv::read(|name| self.get(name).map(str::to_owned));
        for key in Key::ALL.into_iter().filter(|k| !overridden(*k)) {
            let var = key.env_var();
            match self.get(var) {
                Some(value) => key.apply(config, Raw::Text(value)).map_err(|invalid| {
                    invalid.into_error(
                        key,
                        Origin::Env {
                            var: var.to_owned(),
                        },
                    )
                })?,
                None => standard::apply(key, &handlers, config)?,
            }
            self.apply_aliases(key, config, warnings)?;
        }
        Ok(())
    }

    /// Applies `key`'s set aliases when no project variable decided it (the first that sets it
    /// wins); each other set alias that would give another value is a warning.
    fn apply_aliases(
        &self,
        key: Key,
        config: &mut Config,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let mut winner = self.deciding_var(key);
        for alias in Alias::of(key, AliasKind::Env) {
            let Some(value) = self.get(alias.name) else {
                continue;
            };
            let raw = Raw::Text(value);
            if !alias.sets(raw) {
                continue;
            }
            let origin = alias.origin(None);
            match winner {
                None => {
                    alias.apply(config, raw, origin)?;
                    winner = Some(alias.name);
                }
                Some(winner) => {
                    if let Some(warning) = ignored(alias, raw, origin, config, winner.to_owned()) {
                        warnings.push(warning);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The warning for `alias`, written `raw`, losing to `winner`: `None` when applying it would
/// leave the key's value in `config` as it is (the two names agree). An alias value the key
/// would refuse always disagrees.
pub(crate) fn ignored(
    alias: &Alias,
    raw: Raw<'_>,
    origin: Origin,
    config: &Config,
    winner: String,
) -> Option<ConfigWarning> {
    let in_force = alias.key.value_in(config);
    let mut scratch = config.clone();
    let agrees = alias.apply(&mut scratch, raw, origin.clone()).is_ok()
        && alias.key.value_in(&scratch) == in_force;
    (!agrees).then(|| ConfigWarning::AliasIgnored {
        alias: alias.name.to_owned(),
        origin,
        alias_value: raw.shown(),
        key: alias.key,
        winner,
        value_in_force: in_force,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_is_not_utf8_is_an_error_naming_the_variable() {
        let snapshot = EnvSnapshot {
            vars: Vec::new(),
            not_unicode: vec![("OTEL_SERVICE_NAME", "caf\u{fffd}".to_owned())],
        };
        let error = snapshot
            .apply(&mut Config::default(), &|_| false, &mut Vec::new())
            .unwrap_err();
        let ConfigError::InvalidValue {
            origin,
            key,
            expected,
            ..
        } = &error
        else {
            panic!("expected InvalidValue, got {error:?}")
        };
        assert_eq!(
            origin,
            &Origin::Env {
                var: "OTEL_SERVICE_NAME".to_owned()
            }
        );
        assert_eq!(key, "tracing.service_name");
        assert_eq!(expected, "valid UTF-8 text");
    }
}
