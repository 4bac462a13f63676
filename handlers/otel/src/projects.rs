//! Projects: the default exporter and the per-route exporters, each with its own resource.
//!
//! A tenant's spans go to an exporter whose resource carries `openinference.project.name` made
//! from the tenant template (`{prefix}-{tenant}-{service}`), which is how Phoenix files them under
//! that project; `{service}` is the service the trace's root span named (`service.name`), else
//! the handler's, and that service is the resource's `service.name`. The resource also carries
//! `tenant.id`. Tenant exporters live in a small LRU: at most `max_entries` (least recently used
//! evicted first) and none unused for longer than the TTL. An evicted exporter is shut down. A
//! factory failure is counted and the tenant's spans are dropped and counted; the next batch
//! tries again. Only the export thread touches this type, so it needs no locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::attributes::names::TENANT_ID;
use crate::config::{OtelConfig, TenantConfig};
use crate::exporter::{DynSpanExporter, Factory};
use crate::route::Route;
use crate::stats::{Counters, add};

/// The resource attribute Phoenix reads the project from.
pub const PROJECT_NAME_ATTRIBUTE: &str = "openinference.project.name";

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
    /// By [`route_key`].
    tenants: HashMap<String, TenantEntry>,
    project_name: Option<String>,
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
            project_name: config.project_name.clone(),
            counters,
            last_sweep: Instant::now(),
        })
    }

    /// The exporter for `route` (the default one for the default route). `None` when it cannot
    /// be made.
    pub(crate) fn exporter_for(&mut self, route: &Route) -> Option<&dyn DynSpanExporter> {
        if route.is_default() {
            return Some(self.default.as_ref());
        }
        let key = route_key(route);
        let now = Instant::now();
        if self.tenants.contains_key(&key) {
            add(&self.counters.tenant_hits, 1);
            let entry = self.tenants.get_mut(&key)?;
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
        let service = route.service.as_deref().unwrap_or(&self.service_name);
        let mut attrs: Vec<KeyValue> = self
            .base
            .iter()
            .filter(|kv| route.service.is_none() || kv.key.as_str() != SERVICE_NAME)
            .cloned()
            .collect();
        if route.service.is_some() {
            attrs.push(KeyValue::new(SERVICE_NAME, service.to_owned()));
        }
        let project = match route.tenant.as_deref() {
            Some(tenant) => Some(self.tenant_config.project_name(tenant, service)),
            None => self.project_name.clone(),
        };
        if let Some(project) = project {
            attrs.push(KeyValue::new(PROJECT_NAME_ATTRIBUTE, project));
        }
        if let Some(tenant) = route.tenant.as_deref() {
            attrs.push(KeyValue::new(TENANT_ID, tenant.to_owned()));
        }
        exporter.set_resource(&Resource::builder_empty().with_attributes(attrs).build());
        while self.tenants.len() >= self.tenant_config.max_entries {
            self.evict_least_recent();
        }
        self.tenants.insert(
            key.clone(),
            TenantEntry {
                exporter,
                last_used: now,
            },
        );
        self.counters.tenant_live.store(
            self.tenants.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.tenants.get(&key).map(|e| e.exporter.as_ref())
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
        let expired: Vec<String> = self
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

/// The resource attribute of the service.
const SERVICE_NAME: &str = "service.name";

/// The key of a route in the exporter map (tenant and service, unit-separated).
fn route_key(route: &Route) -> String {
    format!(
        "{}\u{1f}{}",
        route.tenant.as_deref().unwrap_or(""),
        route.service.as_deref().unwrap_or("")
    )
}

/// service.name, service.version, deployment environment and the configured attributes.
fn base_attributes(config: &OtelConfig) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new(SERVICE_NAME, config.service_name.clone()),
        KeyValue::new("telemetry.sdk.name", "llm-telemetry"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(v) = &config.service_version {
        attrs.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(env) = &config.deployment_environment {
        attrs.push(KeyValue::new("deployment.environment.name", env.clone()));
        // The seed systems' name for it.
        attrs.push(KeyValue::new("environment", env.clone()));
    }
    for (k, v) in &config.resource_attributes {
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    attrs
}
