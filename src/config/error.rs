//! [`ConfigError`] and [`Origin`]: what went wrong while building a [`crate::config::Config`],
//! and where the bad value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A TOML file (or text given to [`crate::config::Config::from_toml_str`], named `<inline>`).
    File {
        /// The file's path.
        path: PathBuf,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A `key=value` argument given to [`crate::config::ConfigBuilder::set`] (e.g. from a CLI).
    Argument,
    /// A typed setter or a hand-built [`crate::config::Config`].
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path } => write!(f, "configuration file {}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Argument => f.write_str("command-line setting"),
            Origin::Code => f.write_str("configuration set in code"),
        }
    }
}

/// A configuration that could not be read or holds a bad value. Every variant names where the
/// problem is and what would be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("configuration file {} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file's path.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key nobody knows (usually a typo).
    #[error("{origin}: unknown key `{key}`; known keys: {known}")]
    UnknownKey {
        /// Where the key was found.
        origin: Origin,
        /// The full dotted key (`tracing.sampel_rate`).
        key: String,
        /// The keys that would be accepted at that place, comma-separated.
        known: String,
    },
    /// A value of the wrong type or outside the allowed range or set.
    #[error("{origin}: invalid value {value} for `{key}`: expected {expected}")]
    InvalidValue {
        /// Where the value came from.
        origin: Origin,
        /// The full dotted key (`tracing.sample_rate`).
        key: String,
        /// The value as given (strings quoted).
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// One of a pair of keys that must be set together (the mTLS client certificate and key)
    /// is set and the other is not, after every source is applied.
    #[error(
        "`{key}` is set to {value} but `{missing}` is not: set both (mutual TLS needs the client \
         certificate and its private key) or neither"
    )]
    IncompletePair {
        /// The key that is set.
        key: String,
        /// Its value (quoted).
        value: String,
        /// The key that is missing.
        missing: String,
    },
    /// A `key=value` argument without `=`.
    #[error("setting `{argument}` is not of the form key=value (e.g. tracing.sample_rate=0.5)")]
    MalformedArgument {
        /// The argument as given.
        argument: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::IncompletePair { key, .. } => Some(key),
            _ => None,
        }
    }
    /// Where the bad value came from, if the error is about one.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            ConfigError::UnknownKey { origin, .. } | ConfigError::InvalidValue { origin, .. } => {
                Some(origin)
            }
            _ => None,
        }
    }
}
