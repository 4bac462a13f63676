//! [`ConfigWarning`]: what a build of the configuration accepted but the user should hear
//! about, returned by [`super::ConfigBuilder::build_with_warnings`] (and written once each to
//! standard error by [`super::ConfigBuilder::build`]).

use std::fmt;

use super::{Key, Origin};

/// Something the configuration accepted but ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// A seed's alias ([`super::Alias`]) was set, but a name that outranks it in the same
    /// source (the project's own name, a handler's standard variable, or an earlier alias) gave
    /// the key another value, which is in force; the alias's value was ignored.
    AliasIgnored {
        /// The alias as written (`PHOENIX_ENDPOINT`, `tracing.batch_export`, `--log-format`).
        alias: String,
        /// Where the alias was written.
        origin: Origin,
        /// Its value (quoted when text).
        alias_value: String,
        /// The key both names set.
        key: Key,
        /// The name that won (`LLM_TELEMETRY_TRACING_ENDPOINT`, `tracing.endpoint`,
        /// `--set tracing.endpoint`).
        winner: String,
        /// The key's value in force, as text (`None` when it is unset).
        value_in_force: Option<String>,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::AliasIgnored {
                alias,
                origin,
                alias_value,
                key,
                winner,
                value_in_force,
            } => write!(
                f,
                "{origin}: {alias} = {alias_value} is ignored: it is an alias of `{key}`, which \
                 {winner} sets to {}; remove one of the two",
                value_in_force
                    .as_deref()
                    .map_or_else(|| "nothing".to_owned(), |v| format!("{v:?}")),
            ),
        }
    }
}
