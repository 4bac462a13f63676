//! Projects: the default project and the per-route (tenant) projects, each with its own
//! resource; with OTLP one exporter per endpoint sends every project's spans (one resource per
//! project in the same request), with a user's exporter each project has its own exporter.
//!
//! A tenant's spans are exported with a resource that carries `openinference.project.name` made
//! from the tenant template (`{prefix}-{tenant}-{service}`), which is how Phoenix files them under
//! that project; `{service}` is the service the trace's root span named (`service.name`), else
//! the handler's, and that service is the resource's `service.name`. The resource also carries
//! `tenant.id`. Tenant projects live in a small LRU: at most `max_entries` (least recently used
//! evicted first) and none unused for longer than the TTL. An evicted project's own exporter is
//! shut down. A factory failure is counted and the tenant's spans are dropped and counted; the
//! next batch tries again. Only the export thread touches this type, so it needs no locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::attributes::names::TENANT_ID;
use crate::config::{OtelConfig, TenantConfig};
use crate::exporter::{DynSpanExporter, ExporterSource, Factory, MultiExporter};
use crate::otlp::encode::{self, EncodedAttribute};
use crate::route::Route;
use crate::stats::{Counters, add};

/// The resource attribute Phoenix reads the project from.
pub const PROJECT_NAME_ATTRIBUTE: &str = "openinference.project.name";

/// One project: its resource and, when each project has its own exporter, that exporter.
pub(crate) struct Project {
    /// The project's own exporter (a user's exporter); `None` when the endpoint's shared
    /// exporter sends every project.
    exporter: Option<Box<dyn DynSpanExporter>>,
    /// The project's resource: an OTLP `Resource` message, encoded.
    resource: Arc<[u8]>,
    last_used: Instant,
}

impl Project {
    /// The project's own exporter, when it has one.
    pub(crate) fn exporter(&self) -> Option<&dyn DynSpanExporter> {
        self.exporter.as_deref()
    }
    /// The project's resource.
    pub(crate) fn resource(&self) -> &Arc<[u8]> {
        &self.resource
    }
}

/// The default project, the tenant projects, and the exporters.
pub(crate) struct Projects {
    /// Makes each project's own exporter (a user's exporter); `None` with a shared one.
    factory: Option<Factory>,
    /// The endpoint's one exporter for every project (OTLP).
    shared: Option<Box<dyn MultiExporter>>,
    /// The attributes every resource starts from (one per key).
    base: Vec<KeyValue>,
    /// The same, encoded once.
    base_encoded: Vec<EncodedAttribute>,
    service_name: String,
    tenant_config: TenantConfig,
    default: Project,
    /// By [`route_key`].
    tenants: HashMap<String, Project>,
    project_name: Option<String>,
    counters: Arc<Counters>,
    last_sweep: Instant,
}

impl Projects {
    /// Makes the default project's exporter, or the shared one (its failure is the caller's
    /// error).
    pub(crate) fn new(
        config: &OtelConfig,
        source: ExporterSource,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        let base = last_wins(base_attributes(config));
        let (factory, shared) = match source {
            ExporterSource::PerProject(factory) => (Some(factory), None),
            ExporterSource::Shared(make) => (None, Some(make()?)),
        };
        let mut projects = Self {
            factory,
            shared,
            base_encoded: encode::attributes(&base),
            base,
            service_name: config.service_name.clone(),
            tenant_config: config.tenants.clone(),
            default: Project {
                exporter: None,
                resource: Arc::from(&[][..]),
                last_used: Instant::now(),
            },
            tenants: HashMap::new(),
            project_name: config.project_name.clone(),
            counters,
            last_sweep: Instant::now(),
        };
        projects.default = projects.make(&Route::default())?;
        Ok(projects)
    }

    /// Makes the project of `route`: its resource and, with a user's exporter, its own exporter
    /// (whose failure is returned).
    fn make(&self, route: &Route) -> Result<Project, String> {
        let service = route.service.as_deref();
        let project = match route.tenant.as_deref() {
            Some(tenant) => Some(
                self.tenant_config
                    .project_name(tenant, service.unwrap_or(&self.service_name)),
            ),
            None => self.project_name.clone(),
        };
        let extra: Vec<(&str, &str)> = [
            service.map(|s| (SERVICE_NAME, s)),
            project.as_deref().map(|p| (PROJECT_NAME_ATTRIBUTE, p)),
            route.tenant.as_deref().map(|t| (TENANT_ID, t)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let exporter = match &self.factory {
            Some(factory) => {
                let mut exporter = factory()?;
                let attrs = self.base.iter().cloned().chain(
                    extra
                        .iter()
                        .map(|(k, v)| KeyValue::new(*k, (*v).to_owned())),
                );
                exporter.set_resource(&sdk_resource(last_wins(attrs.collect())));
                Some(exporter)
            }
            None => None,
        };
        Ok(Project {
            exporter,
            resource: encode::resource(&self.base_encoded, &extra),
            last_used: Instant::now(),
        })
    }

    /// The endpoint's one exporter, when every project shares it.
    pub(crate) fn shared(&self) -> Option<&dyn MultiExporter> {
        self.shared.as_deref()
    }

    /// The project of `route` (the default one for the default route), made on first use.
    /// `None` when its own exporter cannot be made.
    pub(crate) fn project_for(&mut self, route: &Route) -> Option<&Project> {
        if route.is_default() {
            return Some(&self.default);
        }
        let key = route_key(route);
        let now = Instant::now();
        if self.tenants.contains_key(&key) {
            add(&self.counters.tenant_hits, 1);
            let entry = self.tenants.get_mut(&key)?;
            entry.last_used = now;
            return Some(entry);
        }
        add(&self.counters.tenant_misses, 1);
        let Ok(project) = self.make(route) else {
            add(&self.counters.tenant_failed_inits, 1);
            return None;
        };
        while self.tenants.len() >= self.tenant_config.max_entries.max(1) {
            self.evict_least_recent();
        }
        self.tenants.insert(key.clone(), project);
        self.counters.tenant_live.store(
            self.tenants.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.tenants.get(&key)
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
            if let Some(exporter) = entry.exporter {
                let _ = exporter.shutdown_with_timeout(Duration::from_millis(200));
            }
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

    /// Every project's own exporter (none when the projects share one).
    pub(crate) fn own_exporters(&self) -> impl Iterator<Item = &dyn DynSpanExporter> {
        std::iter::once(&self.default)
            .chain(self.tenants.values())
            .filter_map(Project::exporter)
    }

    /// Shuts every exporter down (each one, even after one fails); true when all succeeded.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let own = self
            .own_exporters()
            .map(|e| e.shutdown_with_timeout(timeout).is_ok())
            .filter(|ok| !ok)
            .count()
            == 0;
        let shared = self.shared.as_ref().is_none_or(|s| s.shutdown().is_ok());
        own && shared
    }
}

/// The attributes with one value per key, the last given (as the SDK's resource builder keeps
/// them), in the order each key first appeared.
fn last_wins(attrs: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut kept: Vec<KeyValue> = Vec::with_capacity(attrs.len());
    for kv in attrs {
        match kept.iter_mut().find(|k| k.key == kv.key) {
            Some(existing) => *existing = kv,
            None => kept.push(kv),
        }
    }
    kept
}

/// The SDK resource of a project's own exporter.
fn sdk_resource(attrs: Vec<KeyValue>) -> Resource {
    Resource::builder_empty().with_attributes(attrs).build()
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
