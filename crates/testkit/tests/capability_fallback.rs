//! A candidate whose adapter cannot express the request (a capability gap found before any
//! upstream call) hands the request to the next candidate, JSON and streaming alike; the
//! client gets a 400 explaining why only when no candidate can serve it. A real rejection by
//! an upstream still stops the request as before.

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{TestEnv, header, sse_data};

/// Route `fast` starts with Gemini, which cannot carry a conversation without a user or
/// assistant turn: the request moves on to gpt-4o-mini, and Gemini is never called.
#[tokio::test]
async fn a_capability_gap_moves_on_to_the_next_candidate() {
    let env = TestEnv::demo().await;
    for messages in [
        json!([{"role": "system", "content": "only system"}]),
        json!([{"role": "user", "content": ""}]),
    ] {
        for stream in [false, true] {
            let body = json!({"model": "fast", "stream": stream, "messages": messages});
            let r = env.chat(&body).await;
            assert_eq!(r.status(), 200, "stream={stream} {messages}");
            assert_eq!(
                header(&r, "x-switchyard-attempts"),
                "google/gemini-2.0-flash:unsupported,openai/gpt-4o-mini:ok",
                "stream={stream}"
            );
            assert_eq!(header(&r, "x-switchyard-model"), "openai/gpt-4o-mini");
            let text = r.text().await.unwrap();
            if stream {
                assert!(!sse_data(&text).is_empty());
            } else {
                let b: Value = serde_json::from_str(&text).unwrap();
                assert!(b["choices"][0]["message"]["content"].is_string(), "{b}");
            }
        }
    }
    assert_eq!(env.sim_requests("gemini-2.0-flash").await, 0);
}

/// Routing knows up front that Anthropic's API has no `n > 1`: Claude is excluded with a
/// reason, and the fallback answers with both choices.
#[tokio::test]
async fn n_above_one_is_excluded_at_routing_and_served_by_a_fallback() {
    let env = TestEnv::demo().await;
    let body = json!({"model": "claude", "models": ["deepseek/deepseek-chat"], "n": 2,
        "messages": [{"role": "user", "content": "hi"}]});
    let plan = env.explain(&body, &[]).await;
    let text = plan.to_string();
    assert!(text.contains("missing_capability"), "{plan}");
    assert!(text.contains("n>1"), "{plan}");
    for stream in [false, true] {
        let mut body = body.clone();
        body["stream"] = json!(stream);
        let r = env.chat(&body).await;
        assert_eq!(r.status(), 200, "stream={stream}");
        assert_eq!(header(&r, "x-switchyard-model"), "deepseek/deepseek-chat");
        if !stream {
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["choices"].as_array().unwrap().len(), 2, "{b}");
        }
    }
    // After a real failure of the primary, the fallbacks that cannot do n>1 (Anthropic, Groq)
    // are not in the way of the one that can.
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "500", "rate": 1}))
        .await;
    let body = json!({"model": "gpt-4o-mini",
        "models": ["claude", "groq/llama-3.1-8b-instant", "deepseek/deepseek-chat"], "n": 2,
        "messages": [{"role": "user", "content": "hi"}]});
    let r = env.chat(&body).await;
    assert_eq!(r.status(), 200);
    let attempts = header(&r, "x-switchyard-attempts");
    assert!(attempts.starts_with("openai/gpt-4o-mini:500"), "{attempts}");
    assert!(
        attempts.ends_with("deepseek/deepseek-chat:ok"),
        "{attempts}"
    );
    assert_eq!(env.sim_requests("claude-sonnet-4-5").await, 0);
    assert_eq!(env.sim_requests("llama-3.1-8b-instant").await, 0);
}

/// When no candidate can serve the request, the 400 says why.
#[tokio::test]
async fn no_capable_candidate_is_a_400_that_says_why() {
    let env = TestEnv::demo().await;
    for stream in [false, true] {
        let body = json!({"model": "google/gemini-2.0-flash", "stream": stream,
            "messages": [{"role": "system", "content": "only system"}]});
        let r = env.chat(&body).await;
        assert_eq!(r.status(), 400, "stream={stream}");
        assert_eq!(
            header(&r, "x-switchyard-attempts"),
            "google/gemini-2.0-flash:unsupported"
        );
        let b: Value = r.json().await.unwrap();
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("at least one user or assistant message"),
            "{b}"
        );
        assert_eq!(b["error"]["code"], "unsupported", "{b}");
    }
    let body = json!({"model": "claude", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    let r = env.chat(&body).await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"]["message"].as_str().unwrap().contains("n>1"),
        "{b}"
    );
}

const REJECT_TOML: &str = r#"
[providers.prim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k1"]

[models."prim/missing"]
provider = "prim"
upstream = "no-such-model"
price_id = "openai/gpt-4o-mini"

[models."prim/gpt-4o-mini"]
provider = "prim"
upstream = "gpt-4o-mini"
price_id = "openai/gpt-4o-mini"

[routes.r]
strategy = "ordered"
candidates = ["prim/missing", "prim/gpt-4o-mini"]
"#;

/// An upstream that rejects the request itself (a 404 for an unknown model) still stops the
/// request with the upstream's answer: that is not a capability gap.
#[tokio::test]
async fn a_real_upstream_rejection_still_stops() {
    let env = TestEnv::start(SimConfig::default_models(), REJECT_TOML).await;
    let body = json!({"model": "r", "switchyard": {"task": "chat"},
        "messages": [{"role": "user", "content": "hi"}]});
    let r = env.chat(&body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "x-switchyard-attempts"), "prim/missing:404");
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rejected the request"),
        "{b}"
    );
    assert_eq!(env.sim_requests("gpt-4o-mini").await, 0);
}
