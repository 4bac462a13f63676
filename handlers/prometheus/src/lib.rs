//! llm-telemetry handler crate: prometheus (being built; see its issue).
