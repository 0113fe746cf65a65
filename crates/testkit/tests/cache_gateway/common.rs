//! Shared by the cache_* tests: a small config with the cache on, a simulator whose model is
//! slow enough (300 ms to first token, 16 tokens at 100/s) that concurrent requests overlap.

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::TestEnv;

pub const BASE: &str = r#"
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:sim-key-1"]

[models."openai/gpt-4o-mini"]
provider = "openai"
upstream = "gpt-4o-mini"

[models."openai/gpt-4o"]
provider = "openai"
upstream = "gpt-4o"

[routes.r]
strategy = "ordered"
candidates = ["openai/gpt-4o-mini"]
baseline = "openai/gpt-4o"

[routes.short]
strategy = "ordered"
candidates = ["openai/gpt-4o-mini"]
baseline = "openai/gpt-4o"
[routes.short.cache]
ttl = "300ms"

[routes.sem]
strategy = "ordered"
candidates = ["openai/gpt-4o-mini"]
baseline = "openai/gpt-4o"
[routes.sem.cache]
semantic = true
"#;

pub fn sim() -> SimConfig {
    let mut s = SimConfig::default_models();
    for m in &mut s.models {
        if m.name == "gpt-4o-mini" {
            m.ttft_ms = 300;
            m.tokens_per_s = 100.0;
        }
    }
    s
}

pub async fn env(extra: &str) -> TestEnv {
    TestEnv::start(sim(), &format!("{BASE}\n{extra}")).await
}

pub async fn env_cached() -> TestEnv {
    env("[cache]\nenabled = true\n").await
}

pub fn body(route: &str, q: &str, stream: bool) -> Value {
    let mut b =
        json!({"model": route, "temperature": 0, "messages": [{"role": "user", "content": q}]});
    if stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

pub async fn upstream_calls(env: &TestEnv) -> u64 {
    env.sim_stats().await["total"].as_u64().unwrap_or(0)
}

pub struct Answer {
    pub status: u16,
    pub cache: String,
    /// `x-switchyard-attempts`.
    pub attempts: String,
    pub text: String,
    /// For streams: the content of each chunk, in order (the chunking shape).
    pub deltas: Vec<String>,
    pub usage: Option<Value>,
    pub json: Value,
}

pub async fn send(env: &TestEnv, b: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut r = env.client().post(env.url("/v1/chat/completions")).json(b);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("gateway answers");
    let status = resp.status().as_u16();
    let cache = resp
        .headers()
        .get("x-switchyard-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let attempts = resp
        .headers()
        .get("x-switchyard-attempts")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let stream = b["stream"].as_bool().unwrap_or(false);
    let text = resp.text().await.expect("body");
    if !stream || status != 200 {
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        return Answer {
            status,
            cache,
            attempts,
            text: json["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            deltas: Vec::new(),
            usage: json.get("usage").cloned(),
            json,
        };
    }
    let events = switchyard_testkit::sse_data(&text);
    let mut deltas = Vec::new();
    let mut usage = None;
    let mut done = false;
    let mut error = Value::Null;
    for e in &events {
        if e == "[DONE]" {
            done = true;
            continue;
        }
        if e.get("error").is_some() {
            error = e.clone();
        }
        if let Some(c) = e["choices"][0]["delta"]["content"].as_str() {
            deltas.push(c.to_owned());
        }
        if e.get("usage").is_some_and(|u| !u.is_null()) {
            usage = e.get("usage").cloned();
        }
    }
    Answer {
        status: if done && error.is_null() { status } else { 599 },
        cache,
        attempts,
        text: deltas.concat(),
        deltas,
        usage,
        json: error,
    }
}
