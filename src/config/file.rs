//! The TOML file layer (feature `toml`): reads a file into a [`Config`], rejecting unknown keys,
//! and writes a [`Config`] back as TOML.
//!
//! The file mirrors the keys of [`Key`]: `level` at the top, then `[tracing]`, `[metrics]`,
//! `[log]` and `[cost]` (with `[cost.tenant_budgets]`). The seeds' file keys
//! ([`super::Alias`] of kind [`super::AliasKind::File`], e.g. PMD's `[tracing]`
//! `phoenix_endpoint`) are read after the file's own keys and only for a key the file does not
//! name itself; when it does and they disagree, the alias is ignored with a [`ConfigWarning`].

use std::path::Path;

use toml::{Table, Value};

use super::alias::{Alias, AliasKind};
use super::env::ignored;
use super::keys::{Key, Raw, known_keys};
use super::{Choice, Config, ConfigError, ConfigWarning, Origin};

const SECTIONS: [&str; 5] = ["tracing", "metrics", "log", "cost", "inference"];

/// Applies the TOML `text` (read from `path`) to `config`.
pub(crate) fn apply(
    config: &mut Config,
    text: &str,
    path: &Path,
    overridden: &dyn Fn(Key) -> bool,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let origin = || Origin::File {
        path: path.to_owned(),
    };
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
    let mut named: Vec<Key> = Vec::new();
    let mut aliases: Vec<(&'static Alias, &Value)> = Vec::new();
    for (name, value) in &table {
        if SECTIONS.contains(&name.as_str()) {
            let Some(section) = value.as_table() else {
                return Err(ConfigError::InvalidValue {
                    origin: origin(),
                    key: name.clone(),
                    value: value.to_string(),
                    expected: format!("a table ([{name}])"),
                });
            };
            for (field, value) in section {
                let full = format!("{name}.{field}");
                if let Some(alias) = Alias::find(AliasKind::File, &full) {
                    aliases.push((alias, value));
                    continue;
                }
                let Some(key) = Key::from_name(&full) else {
                    return Err(ConfigError::UnknownKey {
                        origin: origin(),
                        key: full,
                        known: known_keys(Some(name)),
                    });
                };
                named.push(key);
                if overridden(key) {
                    continue;
                }
                key.apply(config, Raw::Toml(value))
                    .map_err(|invalid| invalid.into_error(key, origin()))?;
            }
        } else if let Some(key) = Key::from_name(name) {
            named.push(key);
            if overridden(key) {
                continue;
            }
            key.apply(config, Raw::Toml(value))
                .map_err(|invalid| invalid.into_error(key, origin()))?;
        } else {
            return Err(ConfigError::UnknownKey {
                origin: origin(),
                key: name.clone(),
                known: known_keys(None),
            });
        }
    }
    for (alias, value) in aliases {
        if overridden(alias.key) {
            continue;
        }
        let raw = Raw::Toml(value);
        if named.contains(&alias.key) {
            let winner = alias.key.name().to_owned();
            warnings.extend(ignored(alias, raw, origin(), config, winner));
        } else {
            alias.apply(config, raw, origin())?;
        }
    }
    Ok(())
}

/// `config` as a TOML document.
pub(crate) fn to_toml(config: &Config) -> String {
    let text = |s: &str| Value::String(s.to_owned());
    let mut root = Table::new();
    root.insert("level".into(), text(config.level.as_str()));

    let t = &config.tracing;
    let mut tracing = Table::new();
    tracing.insert("enabled".into(), Value::Boolean(t.enabled));
    if let Some(endpoint) = &t.endpoint {
        tracing.insert("endpoint".into(), text(endpoint));
    }
    tracing.insert("protocol".into(), text(t.protocol.as_str()));
    tracing.insert("service_name".into(), text(&t.service_name));
    if let Some(version) = &t.service_version {
        tracing.insert("service_version".into(), text(version));
    }
    tracing.insert("sample_rate".into(), Value::Float(t.sample_rate));
    tracing.insert("export".into(), text(t.export.as_str()));
    tracing.insert("hide_inputs".into(), Value::Boolean(t.hide_inputs));
    tracing.insert("hide_outputs".into(), Value::Boolean(t.hide_outputs));
    tracing.insert("exporter".into(), text(t.exporter.as_str()));
    for (name, path) in [
        ("certificate", &t.certificate),
        ("client_certificate", &t.client_certificate),
        ("client_key", &t.client_key),
    ] {
        if let Some(path) = path {
            tracing.insert(name.into(), text(&path.display().to_string()));
        }
    }
    if let Some(compression) = t.compression {
        tracing.insert("compression".into(), text(compression.as_str()));
    }
    if let Some(enabled) = t.span_events {
        tracing.insert("span_events".into(), Value::Boolean(enabled));
    }
    if let Some(patterns) = &t.span_event_patterns {
        let list = patterns.iter().map(|p| text(p)).collect();
        tracing.insert("span_event_patterns".into(), Value::Array(list));
    }
    if let Some(environment) = &t.environment {
        tracing.insert("environment".into(), text(environment));
    }
    tracing.insert("tls".into(), Value::Boolean(t.tls));
    if let Some(prefix) = &t.request_span_prefix {
        tracing.insert("request_span_prefix".into(), text(prefix));
    }
    root.insert("tracing".into(), Value::Table(tracing));

    let mut metrics = Table::new();
    metrics.insert("enabled".into(), Value::Boolean(config.metrics.enabled));
    metrics.insert("listen".into(), text(&config.metrics.listen.to_string()));
    metrics.insert(
        "max_label_value_bytes".into(),
        Value::Integer(config.metrics.max_label_value_bytes as i64),
    );
    metrics.insert("tinyllm".into(), Value::Boolean(config.metrics.tinyllm));
    root.insert("metrics".into(), Value::Table(metrics));

    let l = &config.log;
    let mut log = Table::new();
    log.insert("enabled".into(), Value::Boolean(l.enabled));
    log.insert("format".into(), text(l.format.as_str()));
    log.insert("level".into(), text(l.level.as_str()));
    log.insert("sample_rate".into(), Value::Float(l.sample_rate));
    root.insert("log".into(), Value::Table(log));

    let c = &config.cost;
    let mut cost = Table::new();
    cost.insert("enabled".into(), Value::Boolean(c.enabled));
    if let Some(budget) = c.budget_usd {
        cost.insert("budget_usd".into(), Value::Float(budget));
    }
    cost.insert("window".into(), text(c.window.as_str()));
    if !c.tenant_budgets.is_empty() {
        let budgets: Table = c
            .tenant_budgets
            .iter()
            .map(|(tenant, usd)| (tenant.clone(), Value::Float(*usd)))
            .collect();
        cost.insert("tenant_budgets".into(), Value::Table(budgets));
    }
    root.insert("cost".into(), Value::Table(cost));

    let i = &config.inference;
    let mut inference = Table::new();
    inference.insert("backend".into(), text(i.backend.as_str()));
    if let Some(model) = &i.model {
        inference.insert("model".into(), text(&model.display().to_string()));
    }
    if let Some(model) = &i.embed_model {
        inference.insert("embed_model".into(), text(&model.display().to_string()));
    }
    root.insert("inference".into(), Value::Table(inference));
    root.to_string()
}
