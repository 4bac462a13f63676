//! Where string settings come from and how they are parsed: the environment and the JSON config
//! file as [`Layer`]s keyed by variable name, and the parsers that turn their text into values or
//! into a [`ConfigError`] naming the variable (or file key), the value and what is allowed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Compression, Processor, Protocol, vars};
use crate::error::ConfigError;

/// Where a layer of string settings came from.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    Env,
    File(PathBuf),
}

/// One layer of settings keyed by variable name: the environment or the config file.
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    origin: Origin,
    values: HashMap<String, String>,
}

impl Layer {
    /// An empty layer (the environment when it is not read, or no config file).
    pub(super) fn empty() -> Self {
        Self {
            origin: Origin::Env,
            values: HashMap::new(),
        }
    }

    /// The process environment (empty values count as unset).
    pub(crate) fn from_env() -> Self {
        Self::from_pairs(
            vars::ALL
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v))),
        )
    }

    /// A layer from explicit pairs, treated as environment variables.
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            origin: Origin::Env,
            values: pairs
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        }
    }

    /// A JSON config file: an object of string, number or bool values keyed by variable name.
    pub(crate) fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let malformed = |reason: String| ConfigError::FileMalformed {
            path: path.to_owned(),
            reason,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        let object = json
            .as_object()
            .ok_or_else(|| malformed("the top level is not an object".to_owned()))?;
        let mut values = HashMap::new();
        for (key, value) in object {
            if !vars::ALL.contains(&key.as_str()) {
                return Err(malformed(format!(
                    "unknown key {key:?}; known keys: {}",
                    vars::ALL.join(", ")
                )));
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(malformed(format!(
                        "key {key:?} holds {other}; use a string, number or bool"
                    )));
                }
            };
            if !text.trim().is_empty() {
                values.insert(key.clone(), text);
            }
        }
        Ok(Self {
            origin: Origin::File(path.to_owned()),
            values,
        })
    }

    pub(super) fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|s| s.trim())
    }

    /// Parses `key` if present; a bad value is an error naming the source.
    pub(super) fn get<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.try_get(key, parse)
            .map_err(|rejected| self.invalid(key, &rejected.value, rejected.allowed))
    }

    /// Parses `key` if present; a bad value comes back as a [`Rejected`] for the caller to
    /// name.
    pub(super) fn try_get<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Rejected> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        parse(raw).map(Some).map_err(|allowed| Rejected {
            value: raw.to_owned(),
            allowed,
        })
    }

    pub(super) fn invalid(&self, key: &str, value: &str, allowed: String) -> ConfigError {
        match &self.origin {
            Origin::Env => ConfigError::InvalidEnv {
                variable: key.to_owned(),
                value: value.to_owned(),
                allowed,
            },
            Origin::File(path) => ConfigError::InvalidFileValue {
                path: path.clone(),
                key: key.to_owned(),
                value: value.to_owned(),
                allowed,
            },
        }
    }
}

/// A value a parser refused: the value (trimmed) and what would have been allowed.
#[derive(Clone, Debug)]
pub(super) struct Rejected {
    pub(super) value: String,
    pub(super) allowed: String,
}

/// The environment, then the file: the first layer holding `key` decides.
#[derive(Clone, Debug)]
pub(super) struct Layers {
    pub(super) env: Layer,
    pub(super) file: Layer,
}

impl Layers {
    pub(super) fn get<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String> + Copy,
    ) -> Result<Option<T>, ConfigError> {
        match self.env.get(key, parse)? {
            Some(v) => Ok(Some(v)),
            None => self.file.get(key, parse),
        }
    }

    pub(super) fn origin_of(&self, key: &str) -> Option<&Layer> {
        if self.env.raw(key).is_some() {
            Some(&self.env)
        } else if self.file.raw(key).is_some() {
            Some(&self.file)
        } else {
            None
        }
    }
}

pub(super) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s.to_ascii_lowercase().as_str() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" => Ok(Protocol::HttpJson),
        _ => Err("grpc, http/protobuf or http/json".to_owned()),
    }
}

pub(super) fn parse_compression(s: &str) -> Result<Compression, String> {
    match s.to_ascii_lowercase().as_str() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        _ => Err("gzip or none".to_owned()),
    }
}

/// A path (to a PEM file; read and checked when the configuration is resolved).
pub(super) fn parse_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

pub(super) fn parse_processor(s: &str) -> Result<Processor, String> {
    match s.to_ascii_lowercase().as_str() {
        "batch" => Ok(Processor::Batch),
        "simple" => Ok(Processor::Simple),
        _ => Err("batch or simple".to_owned()),
    }
}

/// Any text (already trimmed and non-empty: empty values count as unset).
pub(super) fn parse_text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

pub(super) fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| "a whole number of milliseconds such as 10000".to_owned())
}

pub(super) fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| "a whole number of seconds such as 3600".to_owned())
}

pub(super) fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("a positive whole number".to_owned()),
    }
}

/// The workspace's one boolean grammar ([`llm_telemetry_core::text::parse_bool`]).
pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    llm_telemetry_core::text::parse_bool(s)
        .ok_or_else(|| llm_telemetry_core::text::BOOL_WORDS.to_owned())
}

pub(super) fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("a number from 0 to 1 such as 0.25".to_owned()),
    }
}

pub(super) fn parse_template(s: &str) -> Result<String, String> {
    if s.contains("{tenant}") {
        Ok(s.to_owned())
    } else {
        Err("a template containing {tenant}, such as {prefix}-{tenant}-{service}".to_owned())
    }
}

/// `key=value,key2=value2`, values percent-decoded (the OTel header and resource format).
pub(super) fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let allowed =
        || "comma-separated key=value pairs such as api-key=secret,team=search".to_owned();
    s.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').ok_or_else(allowed)?;
            let k = k.trim();
            if k.is_empty() {
                return Err(allowed());
            }
            let value = percent_decode(v.trim()).ok_or_else(allowed)?;
            Ok((k.to_owned(), value))
        })
        .collect()
}

/// [`parse_key_values`] for headers: each name must be a valid HTTP header name and each value
/// a valid header value.
pub(super) fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let headers = parse_key_values(s)?;
    for (name, value) in &headers {
        check_header(name, value)?;
    }
    Ok(headers)
}

/// Whether `name: value` can be sent as an HTTP header (and gRPC metadata).
pub(super) fn check_header(name: &str, value: &str) -> Result<(), String> {
    if http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).is_err() {
        return Err(format!(
            "header names made of letters, digits and -_.!#$%&'*+^`|~ (not {name:?}), in \
             comma-separated key=value pairs such as api-key=secret,team=search"
        ));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "header values of visible characters (the value of {name:?} holds a control \
             character), in comma-separated key=value pairs such as api-key=secret"
        ));
    }
    Ok(())
}

pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
