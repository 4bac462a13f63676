//! llm-telemetry handler crate: otel (being built; see its issue).
