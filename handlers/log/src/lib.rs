//! llm-telemetry handler crate: log (being built; see its issue).
