//! llm-telemetry handler crate: cost (being built; see its issue).
