//! The models the API serves: which names `/v1/chat/completions` and `/v1/embeddings` accept,
//! and the `/v1/models` listing.

use serde_json::json;

/// The chat and embedding models served.
#[derive(Clone, Debug)]
pub struct Models {
    /// Models `/v1/chat/completions` accepts.
    pub chat: Vec<String>,
    /// Models `/v1/embeddings` accepts.
    pub embedding: Vec<String>,
    /// Who `/v1/models` says owns them.
    pub owned_by: String,
}

impl Default for Models {
    /// The simulated backend's models: the workload's, which the cost handler prices.
    fn default() -> Self {
        Self {
            chat: vec!["gpt-4o-mini".to_owned(), "gpt-4o".to_owned()],
            embedding: vec!["text-embedding-3-small".to_owned()],
            owned_by: "llm-telemetry-simulated".to_owned(),
        }
    }
}

impl Models {
    /// Whether `model` is a served chat model.
    pub fn has_chat(&self, model: &str) -> bool {
        self.chat.iter().any(|m| m == model)
    }

    /// Whether `model` is a served embedding model.
    pub fn has_embedding(&self, model: &str) -> bool {
        self.embedding.iter().any(|m| m == model)
    }

    /// The `GET /v1/models` document; `created` is the server's start (Unix seconds).
    pub fn listing(&self, created: u64) -> serde_json::Value {
        let data: Vec<serde_json::Value> = self
            .chat
            .iter()
            .chain(&self.embedding)
            .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": self.owned_by}))
            .collect();
        json!({"object": "list", "data": data})
    }
}
