//! The HTTP API of a real Prometheus started by `common::PrometheusServer`, and gzip bodies:
//! helpers of this crate's server tests (kept out of `common`, which the facade's
//! `tests/deploy.rs` includes with its own query helpers and without flate2).
#![allow(dead_code)]

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::{PrometheusServer, percent_encode, try_get_plain};

/// Queries of a running Prometheus.
pub trait PrometheusApi {
    /// Runs an instant query; `None` while Prometheus is not up or has no result yet.
    fn query(&self, promql: &str) -> Option<serde_json::Value>;
    /// `GET path` on the HTTP API: the `data` of a successful answer, else `None`.
    fn api(&self, path: &str) -> Option<serde_json::Value>;
    /// Every raw sample of `up{job="llm"}` over the last `seconds`, oldest first.
    fn up_samples(&self, seconds: u64) -> Vec<f64>;
    /// Polls `promql` (every 250 ms, at most 60 s) until `accept` holds for its result.
    fn wait_for(
        &mut self,
        promql: &str,
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value;
}

impl PrometheusApi for PrometheusServer {
    /// Runs an instant query; `None` while Prometheus is not up or has no result yet.
    fn query(&self, promql: &str) -> Option<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let response = try_get_plain(self.addr, &path).ok()?;
        if response.status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
        let result = json["data"]["result"].as_array()?.clone();
        (!result.is_empty()).then_some(serde_json::Value::Array(result))
    }

    /// `GET path` on the HTTP API: the `data` of a successful answer, else `None`.
    fn api(&self, path: &str) -> Option<serde_json::Value> {
        let response = try_get_plain(self.addr, path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
        (json["status"] == "success").then(|| json["data"].clone())
    }

    /// Every raw sample of `up{job="llm"}` over the last `seconds`, oldest first.
    fn up_samples(&self, seconds: u64) -> Vec<f64> {
        let query = percent_encode(&format!("up{{job=\"llm\"}}[{seconds}s]"));
        let data = self
            .api(&format!("/api/v1/query?query={query}"))
            .unwrap_or_else(|| panic!("querying up samples failed; log:\n{}", self.log()));
        data["result"][0]["values"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .map(|v| v[1].as_str().unwrap().parse::<f64>().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls `promql` (every 250 ms, at most 60 s) until `accept` holds for its result.
    fn wait_for(
        &mut self,
        promql: &str,
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < deadline {
            self.assert_running();
            if let Some(result) = self.query(promql) {
                if accept(&result) {
                    return result;
                }
                last = Some(result);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "prometheus never answered {promql:?} as expected; last result: {last:?}\nlog:\n{}",
            self.log()
        );
    }
}

/// Decompresses a gzip body.
pub fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a valid gzip body");
    text
}
