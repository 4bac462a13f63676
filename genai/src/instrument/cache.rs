//! Cache helpers: [`CacheTelemetry`] emits `cache.lookup.{hit,miss}` and
//! `cache.entry.{put,evicted}` with the cache's name and a hash of the key.
//!
//! The raw key is never emitted (it may hold a prompt): only
//! [`KeyHasher::hash_hex`](super::KeyHasher::hash_hex) of it, computed only when someone
//! listens. The events belong to whatever span is current (a lookup inside an `llm.request`
//! span is its child).

use std::sync::Arc;

use super::Instrumentation;
use crate::catalog::{self, keys};
use llm_telemetry_core::event::Value;
use llm_telemetry_core::name::StaticEventName;

/// The events of one named cache.
///
/// ```
/// use llm_telemetry_core::{Bus, testing::Capture};
/// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
/// let bus = Bus::new();
/// let capture = Capture::attach(&bus, ["cache.*"]).unwrap();
/// let prompts = Instrumentation::new(&bus, TelemetryLevel::Basic).cache("prompts");
///
/// prompts.miss("Summarise my medical record");
/// prompts.put("Summarise my medical record", Some(2048));
/// prompts.hit("Summarise my medical record", Some(2048));
///
/// assert_eq!(capture.names(), ["cache.lookup.miss", "cache.entry.put", "cache.lookup.hit"]);
/// let hit = &capture.events()[2];
/// assert_eq!(hit.str("cache.name"), Some("prompts"));
/// assert_eq!(hit.str("cache.key_hash").unwrap().len(), 16);
/// assert_eq!(hit.measurement("size_bytes"), Some(2048.0));
/// ```
#[derive(Clone, Debug)]
pub struct CacheTelemetry {
    telemetry: Instrumentation,
    name: Arc<str>,
}

impl CacheTelemetry {
    /// The cache's name (`cache.name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A lookup found `key`; `size_bytes` is the entry's size, when known.
    pub fn hit(&self, key: impl AsRef<[u8]>, size_bytes: Option<u64>) {
        self.emit(&catalog::CACHE_LOOKUP_HIT, key.as_ref(), size_bytes);
    }

    /// A lookup did not find `key`.
    pub fn miss(&self, key: impl AsRef<[u8]>) {
        self.emit(&catalog::CACHE_LOOKUP_MISS, key.as_ref(), None);
    }

    /// An entry was stored under `key`.
    pub fn put(&self, key: impl AsRef<[u8]>, size_bytes: Option<u64>) {
        self.emit(&catalog::CACHE_ENTRY_PUT, key.as_ref(), size_bytes);
    }

    /// The entry under `key` was evicted.
    pub fn evicted(&self, key: impl AsRef<[u8]>, size_bytes: Option<u64>) {
        self.emit(&catalog::CACHE_ENTRY_EVICTED, key.as_ref(), size_bytes);
    }

    /// A lookup of `key`: a hit when `found` is `Some(size_bytes)`, else a miss.
    pub fn lookup(&self, key: impl AsRef<[u8]>, found: Option<Option<u64>>) {
        match found {
            Some(size_bytes) => self.hit(key, size_bytes),
            None => self.miss(key),
        }
    }

    fn emit(&self, name: &StaticEventName, key: &[u8], size_bytes: Option<u64>) {
        if !self.telemetry.is_listening(name) {
            return;
        }
        let hash = self.telemetry.key_hasher().hash_hex(key);
        let metadata = [
            (keys::CACHE_NAME, Value::Str(&self.name)),
            (keys::KEY_HASH, Value::Str(hash.as_str())),
        ];
        match size_bytes {
            Some(size) => {
                self.telemetry
                    .bus()
                    .execute(name, &[(keys::SIZE_BYTES, size as f64)], &metadata)
            }
            None => self.telemetry.bus().execute(name, &[], &metadata),
        }
    }
}

impl Instrumentation {
    /// The event helpers of the cache named `name`.
    pub fn cache(&self, name: &str) -> CacheTelemetry {
        CacheTelemetry {
            telemetry: self.clone(),
            name: Arc::from(name),
        }
    }
}
