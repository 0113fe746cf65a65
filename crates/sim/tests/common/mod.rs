//! Shared helpers for the simulator's HTTP tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use serde_json::Value;
use switchyard_core::sse::{SseDecoder, SseEvent};
use switchyard_sim::{SimConfig, SimHandle};

/// The built-in models with all latency removed, so tests run in milliseconds.
pub fn fast_config() -> SimConfig {
    let mut c = SimConfig::default_models();
    for m in &mut c.models {
        m.ttft_ms = 0;
        m.tokens_per_s = 0.0;
    }
    c
}

pub async fn sim() -> SimHandle {
    switchyard_sim::spawn(fast_config())
        .await
        .expect("sim starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn openai(sim: &SimHandle, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", sim.url()))
        .bearer_auth("test-key")
        .json(&body)
        .send()
        .await
        .expect("request")
}

pub async fn anthropic(sim: &SimHandle, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/messages", sim.url()))
        .header("x-api-key", "test-key")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("request")
}

pub async fn gemini(sim: &SimHandle, model: &str, method: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1beta/models/{model}:{method}", sim.url()))
        .header("x-goog-api-key", "test-key")
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Reads a whole SSE body; returns the events and the raw text.
pub async fn sse(resp: reqwest::Response) -> (Vec<SseEvent>, String) {
    let raw = resp.text().await.expect("body");
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    d.push(raw.as_bytes(), &mut out);
    d.finish(&mut out);
    (out, raw)
}

pub fn json_events(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).expect("event json"))
        .collect()
}

pub async fn add_fault(sim: &SimHandle, rule: Value) {
    let r = client()
        .post(format!("{}/sim/faults", sim.url()))
        .json(&rule)
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}
