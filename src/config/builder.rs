//! [`ConfigBuilder`]: layers defaults, a TOML file, the environment and explicit settings, in
//! increasing precedence, whatever order its methods are called in; the seeds' flags
//! ([`ConfigBuilder::seed_flag`]) count as arguments, below `--set key=value` for the same key.

use std::fmt;
use std::net::SocketAddr;
#[cfg(feature = "toml")]
use std::path::PathBuf;

use super::alias::Alias;
use super::env::{EnvSnapshot, ignored};
use super::keys::{Key, Raw, all_keys, known_keys};
use super::{
    BudgetWindow, CONFIG_FILE_VAR, Config, ConfigError, ConfigWarning, EndpointForm, ExportMode,
    InferenceBackendKind, LogFormat, LogLevel, Origin, OtlpCompression, OtlpProtocol,
    TracingExporter,
};
use crate::instrument::TelemetryLevel;

/// Where the file layer comes from.
#[cfg(feature = "toml")]
#[derive(Debug)]
enum FileSource {
    Path(PathBuf),
    Inline(String),
}

/// One explicit setting.
enum Explicit {
    /// `key=value` text, from a command line.
    Argument(String),
    /// A typed setter.
    Typed(Box<dyn FnOnce(&mut Config)>),
}

/// Builds a [`Config`]: defaults < file < environment < explicit settings.
///
/// The file is the one given to [`ConfigBuilder::file`], or else the one the environment names
/// in `LLM_TELEMETRY_CONFIG`. Explicit settings apply in the order given.
///
/// ```
/// use llm_telemetry::config::{Config, ConfigError, Origin};
/// // a command line: --set metrics.listen=0.0.0.0:9100 --set log.format=yaml
/// let result = Config::builder()
///     .set("metrics.listen=0.0.0.0:9100")
///     .set("log.format=yaml")
///     .build();
/// let Err(ConfigError::InvalidValue { origin, key, value, expected }) = result else { panic!() };
/// assert_eq!((origin, key.as_str(), value.as_str()), (Origin::Argument, "log.format", "\"yaml\""));
/// assert_eq!(expected, r#"one of "console", "json""#);
/// ```
#[derive(Default)]
pub struct ConfigBuilder {
    #[cfg(feature = "toml")]
    file: Option<FileSource>,
    env: Option<EnvSnapshot>,
    explicit: Vec<Explicit>,
    /// Seeds' flags ([`Alias`]) with their values, in the order given.
    flags: Vec<(&'static Alias, String)>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ConfigBuilder");
        #[cfg(feature = "toml")]
        s.field("file", &self.file);
        s.field("env", &self.env)
            .field("explicit_settings", &self.explicit.len())
            .field("seed_flags", &self.flags)
            .finish()
    }
}

macro_rules! typed_setters {
    ($($(#[$meta:meta])* $name:ident($ty:ty) => |$config:ident, $value:ident| $body:expr;)*) => {
        $(
            $(#[$meta])*
            pub fn $name(self, $value: $ty) -> Self {
                self.with(move |$config: &mut Config| $body)
            }
        )*
    };
}

impl ConfigBuilder {
    /// A builder starting from the defaults, with no file and no environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the TOML file at `path` (the file layer).
    #[cfg(feature = "toml")]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(FileSource::Path(path.into()));
        self
    }

    /// Reads TOML `text` as the file layer (errors name it `<inline>`).
    #[cfg(feature = "toml")]
    pub fn toml_str(mut self, text: impl Into<String>) -> Self {
        self.file = Some(FileSource::Inline(text.into()));
        self
    }

    /// Reads the process environment (the environment layer).
    pub fn process_env(mut self) -> Self {
        self.env = Some(EnvSnapshot::capture_process());
        self
    }

    /// Reads the environment through `lookup` (called once per known variable, right now).
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.env = Some(EnvSnapshot::capture(&lookup));
        self
    }

    /// An explicit `key=value` setting, as a command line would pass it
    /// (`tracing.sample_rate=0.25`); checked like an environment value when building.
    pub fn set(mut self, argument: impl Into<String>) -> Self {
        self.explicit.push(Explicit::Argument(argument.into()));
        self
    }

    /// Explicit settings from `key=value` arguments.
    pub fn set_all<I, S>(mut self, arguments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.explicit
            .extend(arguments.into_iter().map(|a| Explicit::Argument(a.into())));
        self
    }

    /// A seed's command-line flag ([`Alias::find`] with [`super::AliasKind::Flag`]) and its
    /// value (`""` for a switch given alone, `--tracing`): an argument, applied before the
    /// `key=value` ones, so `--set` for the same key wins (and, when the two disagree, the
    /// build reports one [`ConfigWarning`]).
    ///
    /// ```
    /// use llm_telemetry::config::{Alias, AliasKind, Config, ConfigWarning, LogFormat};
    /// let flag = |name| Alias::find(AliasKind::Flag, name).unwrap();
    /// let (config, warnings) = Config::builder()
    ///     .seed_flag(flag("--metrics-port"), "9100")
    ///     .seed_flag(flag("--log-format"), "json")
    ///     .set("log.format=console")
    ///     .build_with_warnings()?;
    /// assert_eq!(config.metrics.listen.to_string(), "127.0.0.1:9100");
    /// assert_eq!(config.log.format, LogFormat::Console); // the project's name wins
    /// assert!(matches!(&warnings[..], [ConfigWarning::AliasIgnored { alias, .. }] if alias == "--log-format"));
    /// # Ok::<(), llm_telemetry::config::ConfigError>(())
    /// ```
    pub fn seed_flag(mut self, alias: &'static Alias, value: impl Into<String>) -> Self {
        self.flags.push((alias, value.into()));
        self
    }

    /// An explicit change made by `f` (checked by [`Config::validate`] when building).
    pub fn with(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.explicit.push(Explicit::Typed(Box::new(f)));
        self
    }

    typed_setters! {
        /// Sets `level`.
        level(TelemetryLevel) => |c, v| c.level = v;
        /// Sets `tracing.enabled`.
        tracing_enabled(bool) => |c, v| c.tracing.enabled = v;
        /// Sets `tracing.protocol`.
        tracing_protocol(OtlpProtocol) => |c, v| c.tracing.protocol = v;
        /// Sets `tracing.sample_rate`.
        tracing_sample_rate(f64) => |c, v| c.tracing.sample_rate = v;
        /// Sets `tracing.export`.
        tracing_export(ExportMode) => |c, v| c.tracing.export = v;
        /// Sets `tracing.hide_inputs`.
        hide_inputs(bool) => |c, v| c.tracing.hide_inputs = v;
        /// Sets `tracing.hide_outputs`.
        hide_outputs(bool) => |c, v| c.tracing.hide_outputs = v;
        /// Sets `metrics.enabled`.
        metrics_enabled(bool) => |c, v| c.metrics.enabled = v;
        /// Sets `metrics.listen`.
        metrics_listen(SocketAddr) => |c, v| c.metrics.listen = v;
        /// Sets `metrics.max_label_value_bytes`.
        metrics_max_label_value_bytes(usize) => |c, v| c.metrics.max_label_value_bytes = v;
        /// Sets `metrics.tinyllm` (TinyLLM's metric names besides the default set).
        metrics_tinyllm(bool) => |c, v| c.metrics.tinyllm = v;
        /// Sets `log.enabled`.
        log_enabled(bool) => |c, v| c.log.enabled = v;
        /// Sets `log.format`.
        log_format(LogFormat) => |c, v| c.log.format = v;
        /// Sets `log.level`.
        log_level(LogLevel) => |c, v| c.log.level = v;
        /// Sets `log.sample_rate`.
        log_sample_rate(f64) => |c, v| c.log.sample_rate = v;
        /// Sets `cost.enabled`.
        cost_enabled(bool) => |c, v| c.cost.enabled = v;
        /// Sets `cost.budget_usd`.
        budget_usd(f64) => |c, v| c.cost.budget_usd = Some(v);
        /// Sets `cost.window`.
        budget_window(BudgetWindow) => |c, v| c.cost.window = v;
        /// Sets `tracing.exporter` (`Console` prints spans on standard output, no endpoint needed).
        tracing_exporter(TracingExporter) => |c, v| c.tracing.exporter = v;
        /// Sets `tracing.compression` (gzip: `Content-Encoding` over HTTP, `grpc-encoding` over gRPC).
        tracing_compression(OtlpCompression) => |c, v| c.tracing.compression = Some(v);
        /// Sets `tracing.span_events` (events inside a span become span events on it).
        span_events(bool) => |c, v| c.tracing.span_events = Some(v);
        /// Sets `tracing.tls` (reach the collector over TLS even when its endpoint is written
        /// `http://` or as a bare `host:port`).
        tracing_tls(bool) => |c, v| c.tracing.tls = v;
    }

    /// Sets `inference.backend` (`Simulated` or `Mlx`).
    pub fn inference_backend(self, backend: InferenceBackendKind) -> Self {
        self.with(move |c| c.inference.backend = backend)
    }

    /// Sets `inference.model`: the text-generation model directory.
    pub fn inference_model(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.with(move |c| c.inference.model = Some(dir))
    }

    /// Sets `inference.embed_model`: the embedding model directory.
    pub fn inference_embed_model(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.with(move |c| c.inference.embed_model = Some(dir))
    }

    /// Sets `tracing.certificate`: a PEM file of the CA(s) that signed the collector's
    /// certificate (a private CA), trusted besides the platform's roots.
    pub fn tracing_certificate(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.with(move |c| c.tracing.certificate = Some(path))
    }

    /// Sets `tracing.client_certificate` and `tracing.client_key` together (mTLS: the PEM
    /// certificate chain and private key this process presents to the collector).
    pub fn tracing_client_identity(
        self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        let (certificate, key) = (certificate.into(), key.into());
        self.with(move |c| {
            c.tracing.client_certificate = Some(certificate);
            c.tracing.client_key = Some(key);
        })
    }

    /// Sets `tracing.span_event_patterns`: the events that become span events, replacing the
    /// default (every event emitted inside a span) with these names or patterns only (such as
    /// `myapp.*`); still only events inside a span, never span starts or ends.
    pub fn span_event_patterns<S: Into<String>>(
        self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).collect();
        self.with(move |c| c.tracing.span_event_patterns = Some(patterns))
    }

    /// Sets `tracing.environment` (`deployment.environment.name` on every span).
    pub fn environment(self, environment: impl Into<String>) -> Self {
        let environment = environment.into();
        self.with(move |c| c.tracing.environment = Some(environment))
    }

    /// Sets `tracing.request_span_prefix`: request spans are named `{prefix}{operation}`
    /// (PMD's `pmd.` gives `pmd.hybrid_search`).
    pub fn request_span_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.with(move |c| c.tracing.request_span_prefix = Some(prefix))
    }

    /// Sets `tracing.endpoint`, a base URL (for HTTP, `v1/traces` is appended to its path).
    pub fn tracing_endpoint(self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        self.with(move |c| {
            c.tracing.endpoint = Some(endpoint);
            c.tracing.endpoint_form = EndpointForm::Base;
        })
    }

    /// Sets `tracing.service_name`.
    pub fn service_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(move |c| c.tracing.service_name = name)
    }

    /// Sets `tracing.service_version`.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.with(move |c| c.tracing.service_version = Some(version))
    }

    /// Sets one tenant's budget in `cost.tenant_budgets`.
    pub fn tenant_budget(self, tenant: impl Into<String>, usd: f64) -> Self {
        let tenant = tenant.into();
        self.with(move |c| {
            c.cost.tenant_budgets.insert(tenant, usd);
        })
    }

    /// Layers everything and checks the result; each [`ConfigWarning`] is written once to
    /// standard error (use [`ConfigBuilder::build_with_warnings`] to handle them yourself).
    pub fn build(self) -> Result<Config, ConfigError> {
        let (config, warnings) = self.build_with_warnings()?;
        for warning in &warnings {
            eprintln!("llm-telemetry: warning: {warning}");
        }
        Ok(config)
    }

    /// Layers everything, checks the result, and returns it with what was accepted but
    /// ignored (a seed's alias that a project name outranks with another value).
    pub fn build_with_warnings(self) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        let mut warnings = Vec::new();
        let mut config = Config::default();
        // A value a higher source overrides is never read, so a bad one there is no error:
        // arguments override the environment and the file, the environment the file.
        let argued: Vec<Key> = self
            .explicit
            .iter()
            .filter_map(|e| match e {
                Explicit::Argument(a) => a
                    .split_once('=')
                    .and_then(|(n, _)| Key::from_name(n.trim())),
                Explicit::Typed(_) => None,
            })
            .collect();
        let flagged: Vec<Key> = self
            .flags
            .iter()
            .filter(|(alias, value)| alias.replaces_key() && alias.sets(Raw::Text(value)))
            .map(|(alias, _)| alias.key)
            .collect();
        let by_argument = |key: Key| argued.contains(&key) || flagged.contains(&key);
        let by_env_or_argument =
            |key: Key| by_argument(key) || self.env.as_ref().is_some_and(|env| env.sets(key));
        #[cfg(feature = "toml")]
        {
            let named = self
                .env
                .as_ref()
                .and_then(|env| env.get(CONFIG_FILE_VAR))
                .map(|path| FileSource::Path(PathBuf::from(path)));
            match self.file.or(named) {
                Some(FileSource::Path(path)) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    super::file::apply(
                        &mut config,
                        &text,
                        &path,
                        &by_env_or_argument,
                        &mut warnings,
                    )?;
                }
                Some(FileSource::Inline(text)) => {
                    super::file::apply(
                        &mut config,
                        &text,
                        std::path::Path::new("<inline>"),
                        &by_env_or_argument,
                        &mut warnings,
                    )?;
                }
                None => {}
            }
        }
        #[cfg(not(feature = "toml"))]
        if let Some(path) = self.env.as_ref().and_then(|env| env.get(CONFIG_FILE_VAR)) {
            return Err(ConfigError::InvalidValue {
                origin: Origin::Env {
                    var: CONFIG_FILE_VAR.to_owned(),
                },
                key: "file".to_owned(),
                value: format!("{path:?}"),
                expected: "no file: this build lacks the `toml` feature".to_owned(),
            });
        }
        if let Some(env) = &self.env {
            env.apply(&mut config, &by_argument, &mut warnings)?;
        }
        let mut outranked = Vec::new();
        for (alias, value) in &self.flags {
            if argued.contains(&alias.key) {
                outranked.push((*alias, value));
            } else {
                alias.apply(&mut config, Raw::Text(value), Origin::Argument)?;
            }
        }
        for explicit in self.explicit {
            match explicit {
                Explicit::Argument(argument) => apply_argument(&mut config, &argument)?,
                Explicit::Typed(f) => f(&mut config),
            }
        }
        for (alias, value) in outranked {
            let winner = format!("--set {}", alias.key.name());
            warnings.extend(ignored(
                alias,
                Raw::Text(value),
                Origin::Argument,
                &config,
                winner,
            ));
        }
        config.validate()?;
        Ok((config, warnings))
    }
}

fn apply_argument(config: &mut Config, argument: &str) -> Result<(), ConfigError> {
    let Some((name, value)) = argument.split_once('=') else {
        return Err(ConfigError::MalformedArgument {
            argument: argument.to_owned(),
        });
    };
    let name = name.trim();
    let Some(key) = Key::from_name(name) else {
        let section = name.split_once('.').map(|(s, _)| s);
        let known_section = section.filter(|s| ["tracing", "metrics", "log", "cost"].contains(s));
        return Err(ConfigError::UnknownKey {
            origin: Origin::Argument,
            key: name.to_owned(),
            known: match known_section {
                Some(section) => known_keys(Some(section)),
                None => all_keys(),
            },
        });
    };
    key.apply(config, Raw::Text(value))
        .map_err(|invalid| invalid.into_error(key, Origin::Argument))
}
