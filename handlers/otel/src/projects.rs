//! Projects: the default exporter and the per-tenant exporters, each with its own resource.
//!
//! A tenant's spans go to an exporter whose resource carries `openinference.project.name` made
//! from the tenant template (`{prefix}-{tenant}-{service}`), which is how Phoenix files them under
//! that project. Tenant exporters live in a small LRU: at most `max_entries` (least recently used
//! evicted first) and none unused for longer than the TTL. An evicted exporter is shut down. A
//! factory failure is counted and the tenant's spans are dropped and counted; the next batch
//! tries again. Only the export thread touches this type, so it needs no locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::config::{OtelConfig, TenantConfig};
use crate::exporter::{DynSpanExporter, Factory};
use crate::stats::{Counters, add};

/// The resource attribute Phoenix reads the project from.
pub const PROJECT_NAME_ATTRIBUTE: &str = "openinference.project.name";

/// The longest tenant name used in a project name (longer ones are cut on a char boundary).
pub const MAX_TENANT_LEN: usize = 128;

struct TenantEntry {
    exporter: Box<dyn DynSpanExporter>,
    last_used: Instant,
}

/// The default exporter and the tenant exporters.
pub(crate) struct Projects {
    factory: Factory,
    base: Vec<KeyValue>,
    service_name: String,
    tenant_config: TenantConfig,
    default: Box<dyn DynSpanExporter>,
    tenants: HashMap<Box<str>, TenantEntry>,
    counters: Arc<Counters>,
    last_sweep: Instant,
}

impl Projects {
    /// Makes the default exporter (its failure is the caller's error).
    pub(crate) fn new(
        config: &OtelConfig,
        factory: Factory,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        let base = base_attributes(config);
        let mut default = factory()?;
        let mut attrs = base.clone();
        if let Some(project) = &config.project_name {
            attrs.push(KeyValue::new(PROJECT_NAME_ATTRIBUTE, project.clone()));
        }
        default.set_resource(&Resource::builder_empty().with_attributes(attrs).build());
        Ok(Self {
            factory,
            base,
            service_name: config.service_name.clone(),
            tenant_config: config.tenants.clone(),
            default,
            tenants: HashMap::new(),
            counters,
            last_sweep: Instant::now(),
        })
    }

    /// The exporter for `tenant` (`None`: the default project). `None` when it cannot be made.
    pub(crate) fn exporter_for(&mut self, tenant: Option<&str>) -> Option<&dyn DynSpanExporter> {
        let Some(tenant) = tenant else {
            return Some(self.default.as_ref());
        };
        let now = Instant::now();
        if self.tenants.contains_key(tenant) {
            add(&self.counters.tenant_hits, 1);
            let entry = self.tenants.get_mut(tenant)?;
            entry.last_used = now;
            return Some(entry.exporter.as_ref());
        }
        add(&self.counters.tenant_misses, 1);
        let mut exporter = match (self.factory)() {
            Ok(e) => e,
            Err(_) => {
                add(&self.counters.tenant_failed_inits, 1);
                return None;
            }
        };
        let mut attrs = self.base.clone();
        attrs.push(KeyValue::new(
            PROJECT_NAME_ATTRIBUTE,
            self.tenant_config.project_name(tenant, &self.service_name),
        ));
        attrs.push(KeyValue::new("tenant", tenant.to_owned()));
        exporter.set_resource(&Resource::builder_empty().with_attributes(attrs).build());
        while self.tenants.len() >= self.tenant_config.max_entries {
            self.evict_least_recent();
        }
        self.tenants.insert(
            Box::from(tenant),
            TenantEntry {
                exporter,
                last_used: now,
            },
        );
        self.counters.tenant_live.store(
            self.tenants.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.tenants.get(tenant).map(|e| e.exporter.as_ref())
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .tenants
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            self.evict(&key);
        }
    }

    fn evict(&mut self, key: &str) {
        if let Some(entry) = self.tenants.remove(key) {
            // Exports are synchronous here, so nothing is pending in the evicted exporter.
            let _ = entry
                .exporter
                .shutdown_with_timeout(Duration::from_millis(200));
            add(&self.counters.tenant_evictions, 1);
        }
        self.counters.tenant_live.store(
            self.tenants.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Evicts tenants unused for longer than the TTL (at most once a second).
    pub(crate) fn sweep(&mut self) {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_sweep) < Duration::from_secs(1)
            && self.tenant_config.ttl >= Duration::from_secs(1)
        {
            return;
        }
        self.last_sweep = now;
        let ttl = self.tenant_config.ttl;
        let expired: Vec<Box<str>> = self
            .tenants
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_used) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.evict(&key);
        }
    }

    /// Every live exporter.
    pub(crate) fn all(&self) -> impl Iterator<Item = &dyn DynSpanExporter> {
        std::iter::once(self.default.as_ref())
            .chain(self.tenants.values().map(|e| e.exporter.as_ref()))
    }
}

/// service.name, service.version, deployment environment and the configured attributes.
fn base_attributes(config: &OtelConfig) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new("service.name", config.service_name.clone()),
        KeyValue::new("telemetry.sdk.name", "llm-telemetry"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(v) = &config.service_version {
        attrs.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(env) = &config.deployment_environment {
        attrs.push(KeyValue::new("deployment.environment.name", env.clone()));
        attrs.push(KeyValue::new("deployment.environment", env.clone()));
    }
    for (k, v) in &config.resource_attributes {
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    attrs
}
