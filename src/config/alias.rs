//! [`Alias`]: the names the seed systems (PMD, Cogniverse, TinyLLM) use for this crate's keys
//! (environment variables, `[tracing]` file keys and command-line flags), and how a value
//! written under such a name becomes the key's value.
//!
//! An alias is read in its own source (an environment variable in the environment layer, a
//! file key in the file layer, a flag with the command-line arguments), so the sources keep
//! their precedence. Within one source the project's own names win: a key's
//! `LLM_TELEMETRY_*` variable, then the handler's standard variables (`OTEL_*`,
//! `PHOENIX_COLLECTOR_ENDPOINT`, ...), then its aliases in the order of [`Alias::ALL`]; in the
//! file the key's own name beats its alias; on the command line `--set key=value` beats the
//! flag. When an alias loses to a name that gives the key another value, the build reports
//! exactly one [`super::ConfigWarning::AliasIgnored`] for it. Nothing here reads the
//! environment, files or arguments.

use std::net::SocketAddr;

use super::keys::{Invalid, Key, Raw};
use super::{Config, ConfigError, EndpointForm, Origin};

/// Which kind of name an alias is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AliasKind {
    /// An environment variable (`PHOENIX_ENDPOINT`).
    Env,
    /// A key of the TOML file, dotted (`tracing.phoenix_endpoint`).
    File,
    /// A command-line flag (`--otlp-endpoint`).
    Flag,
}

/// The system whose documentation uses the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seed {
    /// PMD (Phoenix tracing of an MLX search service).
    Pmd,
    /// Cogniverse (multi-tenant telemetry with Phoenix).
    Cogniverse,
    /// TinyLLM (an inference server with OTLP and Prometheus).
    TinyLlm,
}

impl Seed {
    /// The seed's name as written in the README.
    pub fn as_str(self) -> &'static str {
        match self {
            Seed::Pmd => "PMD",
            Seed::Cogniverse => "Cogniverse",
            Seed::TinyLlm => "TinyLLM",
        }
    }
}

/// How an alias's value becomes the key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Translate {
    /// The same value, checked as the key checks it.
    Same,
    /// A URL in Phoenix's collector forms (`/v1/traces` appended unless already there).
    PhoenixEndpoint,
    /// A boolean choosing one of two values of the key (`true` → the first).
    Choose(&'static str, &'static str),
    /// A boolean that only ever switches the key to `value` when false (`TELEMETRY_ENABLED=false`
    /// → `level = disabled`); `true` leaves the key alone.
    OffSwitch(&'static str),
    /// A port number replacing the port of the address in force (`--metrics-port`).
    Port,
    /// A flag given without a value means `true` (`--tracing`).
    Switch,
}

/// One alias: a seed's name for one of this crate's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The name as the seed writes it: `PHOENIX_ENDPOINT`, `tracing.phoenix_endpoint`,
    /// `--otlp-endpoint`.
    pub name: &'static str,
    /// Variable, file key or flag.
    pub kind: AliasKind,
    /// Whose name it is.
    pub seed: Seed,
    /// The key it sets.
    pub key: Key,
    /// How its value is read, in words (for the README table).
    pub meaning: &'static str,
    pub(crate) translate: Translate,
}

const fn alias(
    name: &'static str,
    kind: AliasKind,
    seed: Seed,
    key: Key,
    translate: Translate,
    meaning: &'static str,
) -> Alias {
    Alias {
        name,
        kind,
        seed,
        key,
        meaning,
        translate,
    }
}

use AliasKind::{Env, File, Flag};
use Seed::{Cogniverse, Pmd, TinyLlm};

impl Alias {
    /// Every alias, in precedence order among aliases of the same key and kind (the first one
    /// set wins).
    pub const ALL: [Alias; 16] = [
        alias(
            "PHOENIX_TRACING",
            Env,
            Pmd,
            Key::TracingEnabled,
            Translate::Same,
            "the same boolean",
        ),
        alias(
            "PHOENIX_ENDPOINT",
            Env,
            Pmd,
            Key::TracingEndpoint,
            Translate::PhoenixEndpoint,
            "a Phoenix URL; `/v1/traces` is appended unless already there",
        ),
        alias(
            "PHOENIX_SAMPLE_RATE",
            Env,
            Pmd,
            Key::TracingSampleRate,
            Translate::Same,
            "the same rate",
        ),
        alias(
            "tracing.phoenix_endpoint",
            File,
            Pmd,
            Key::TracingEndpoint,
            Translate::PhoenixEndpoint,
            "a Phoenix URL; `/v1/traces` is appended unless already there",
        ),
        alias(
            "tracing.batch_export",
            File,
            Pmd,
            Key::TracingExport,
            Translate::Choose("batch", "simple"),
            "`true` = `batch`, `false` = `simple`",
        ),
        alias(
            "TELEMETRY_ENABLED",
            Env,
            Cogniverse,
            Key::Level,
            Translate::OffSwitch("disabled"),
            "`false` = `disabled`; `true` leaves the level as it is",
        ),
        alias(
            "TELEMETRY_LEVEL",
            Env,
            Cogniverse,
            Key::Level,
            Translate::Same,
            "the same level names",
        ),
        alias(
            "ENVIRONMENT",
            Env,
            Cogniverse,
            Key::TracingEnvironment,
            Translate::Same,
            "the same name (`development`, `production`, ...)",
        ),
        alias(
            "PHOENIX_ENABLED",
            Env,
            Cogniverse,
            Key::TracingEnabled,
            Translate::Same,
            "the same boolean",
        ),
        alias(
            "PHOENIX_USE_TLS",
            Env,
            Cogniverse,
            Key::TracingTls,
            Translate::Same,
            "the same boolean",
        ),
        alias(
            "SERVICE_VERSION",
            Env,
            Cogniverse,
            Key::TracingServiceVersion,
            Translate::Same,
            "the same text",
        ),
        alias(
            "TELEMETRY_SYNC_EXPORT",
            Env,
            Cogniverse,
            Key::TracingExport,
            Translate::Choose("simple", "batch"),
            "`true` = `simple`, `false` = `batch`",
        ),
        alias(
            "--tracing",
            Flag,
            TinyLlm,
            Key::TracingEnabled,
            Translate::Switch,
            "`--tracing` alone = `true`; `--tracing=false` also works",
        ),
        alias(
            "--otlp-endpoint",
            Flag,
            TinyLlm,
            Key::TracingEndpoint,
            Translate::Same,
            "the same base URL",
        ),
        alias(
            "--metrics-port",
            Flag,
            TinyLlm,
            Key::MetricsListen,
            Translate::Port,
            "a port; the address in force keeps its IP",
        ),
        alias(
            "--log-format",
            Flag,
            TinyLlm,
            Key::LogFormat,
            Translate::Same,
            "the same format names",
        ),
    ];

    /// The alias of `kind` named `name`, if there is one.
    ///
    /// ```
    /// use llm_telemetry::config::{Alias, AliasKind, Key};
    /// let flag = Alias::find(AliasKind::Flag, "--otlp-endpoint").unwrap();
    /// assert_eq!(flag.key, Key::TracingEndpoint);
    /// assert!(flag.takes_value());
    /// assert!(!Alias::find(AliasKind::Flag, "--tracing").unwrap().takes_value());
    /// ```
    pub fn find(kind: AliasKind, name: &str) -> Option<&'static Alias> {
        Alias::ALL.iter().find(|a| a.kind == kind && a.name == name)
    }

    /// The aliases of `key` of `kind`, in precedence order.
    pub fn of(key: Key, kind: AliasKind) -> impl Iterator<Item = &'static Alias> {
        Alias::ALL
            .iter()
            .filter(move |a| a.key == key && a.kind == kind)
    }

    /// Whether the flag needs a value (`--otlp-endpoint URL`); `--tracing` does not (but takes
    /// one written `--tracing=false`).
    pub fn takes_value(&self) -> bool {
        self.translate != Translate::Switch
    }

    /// Whether the alias replaces its key's whole value, so a lower source's value for the key
    /// is never in force. `--metrics-port` does not: it changes the port of the address the
    /// file or the environment gave.
    pub(crate) fn replaces_key(&self) -> bool {
        self.translate != Translate::Port
    }

    /// Where a value written under this alias came from (for errors and warnings).
    pub(crate) fn origin(&self, file: Option<&std::path::Path>) -> Origin {
        match self.kind {
            AliasKind::Env => Origin::Env {
                var: self.name.to_owned(),
            },
            AliasKind::File => Origin::File {
                path: file.map_or_else(|| "<inline>".into(), ToOwned::to_owned),
            },
            AliasKind::Flag => Origin::Argument,
        }
    }

    /// Whether `raw` sets the key at all (`TELEMETRY_ENABLED=true` does not).
    pub(crate) fn sets(&self, raw: Raw<'_>) -> bool {
        match self.translate {
            Translate::OffSwitch(_) => raw.as_bool() == Some(false),
            _ => true,
        }
    }

    /// Checks `raw` and stores the key's value it means in `config`. The error names the
    /// alias as written, the key it sets, and what the alias accepts.
    pub(crate) fn apply(
        &self,
        config: &mut Config,
        raw: Raw<'_>,
        origin: Origin,
    ) -> Result<(), ConfigError> {
        self.apply_raw(config, raw)
            .map_err(|invalid| ConfigError::InvalidValue {
                origin,
                key: format!("{} (alias of `{}`)", self.name, self.key.name()),
                value: invalid.value,
                expected: invalid.expected,
            })
    }

    fn apply_raw(&self, config: &mut Config, raw: Raw<'_>) -> Result<(), Invalid> {
        let as_bool = |raw: &Raw<'_>| {
            raw.as_bool()
                .ok_or_else(|| Invalid::of(raw, raw.bool_expected()))
        };
        match self.translate {
            Translate::Same => self.key.apply(config, raw),
            Translate::Switch => match raw {
                Raw::Text(text) if text.trim().is_empty() => {
                    self.key.apply(config, Raw::Text("true"))
                }
                _ => self.key.apply(config, raw),
            },
            Translate::PhoenixEndpoint => {
                self.key.apply(config, raw)?;
                config.tracing.endpoint_form = EndpointForm::Phoenix;
                Ok(())
            }
            Translate::Choose(when_true, when_false) => {
                let value = if as_bool(&raw)? {
                    when_true
                } else {
                    when_false
                };
                self.key.apply(config, Raw::Text(value))
            }
            Translate::OffSwitch(value) => {
                if !as_bool(&raw)? {
                    self.key.apply(config, Raw::Text(value))?;
                }
                Ok(())
            }
            Translate::Port => {
                let port = raw
                    .as_port()
                    .ok_or_else(|| Invalid::of(&raw, "a port number from 1 to 65535"))?;
                config.metrics.listen = SocketAddr::new(config.metrics.listen.ip(), port);
                Ok(())
            }
        }
    }
}

/// The aliases as a Markdown table (alias, kind, seed, key, how it is read), for the README.
pub fn aliases_markdown() -> String {
    let mut out = String::from("| alias | kind | seed | key | value |\n|---|---|---|---|---|\n");
    for alias in &Alias::ALL {
        let kind = match alias.kind {
            AliasKind::Env => "environment",
            AliasKind::File => "file key",
            AliasKind::Flag => "flag",
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {} | `{}` | {} |\n",
            alias.name,
            alias.seed.as_str(),
            alias.key.name(),
            alias.meaning,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_kind_and_never_a_key_or_its_variable() {
        for (i, a) in Alias::ALL.iter().enumerate() {
            assert!(
                Alias::ALL[i + 1..]
                    .iter()
                    .all(|b| (b.kind, b.name) != (a.kind, a.name)),
                "{} twice",
                a.name
            );
            assert!(Key::from_name(a.name).is_none(), "{} is a key", a.name);
            assert!(
                Key::ALL
                    .iter()
                    .all(|k| k.env_var() != a.name && !k.standard_env_vars().contains(&a.name)),
                "{} is a project variable",
                a.name
            );
        }
    }
}
