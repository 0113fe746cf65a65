//! `POST /v1/messages/count_tokens` through the gateway: the upstream's own count where its API
//! has one, the local count otherwise, never a made-up figure, and no effect on health.

use serde_json::{Value, json};
use switchyard_testkit::{TestEnv, header};

const HAIKU: &str = "anthropic/claude-3-5-haiku";

fn body(model: &str, with_tools: bool) -> Value {
    let mut b = json!({
        "model": model,
        "system": "You are terse and answer in one line.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    });
    if with_tools {
        b["tools"] = json!([{
            "name": "get_weather",
            "description": "Current weather for a city, in degrees Celsius.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}
        }]);
    }
    b
}

async fn count(env: &TestEnv, b: &Value) -> (u16, reqwest::Response) {
    let r = env
        .client()
        .post(env.url("/v1/messages/count_tokens?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .json(b)
        .send()
        .await
        .expect("gateway answers");
    (r.status().as_u16(), r)
}

#[tokio::test]
async fn anthropic_models_are_counted_by_the_upstream_as_messages_would_bill() {
    let env = TestEnv::demo().await;
    for with_tools in [false, true] {
        let b = body(HAIKU, with_tools);
        let (status, r) = count(&env, &b).await;
        assert_eq!(status, 200);
        assert_eq!(header(&r, "x-switchyard-token-count"), "upstream");
        assert_eq!(header(&r, "x-switchyard-model"), HAIKU);
        let counted = r.json::<Value>().await.expect("json")["input_tokens"]
            .as_u64()
            .expect("input_tokens");
        let mut msg = b.clone();
        msg["max_tokens"] = json!(16);
        let billed: Value = env
            .client()
            .post(env.url("/v1/messages"))
            .json(&msg)
            .send()
            .await
            .expect("gateway answers")
            .json()
            .await
            .expect("json");
        assert_eq!(
            Some(counted),
            billed["usage"]["input_tokens"].as_u64(),
            "tools {with_tools}: {billed}"
        );
    }
    let plain = count(&env, &body(HAIKU, false))
        .await
        .1
        .json::<Value>()
        .await;
    let tooled = count(&env, &body(HAIKU, true))
        .await
        .1
        .json::<Value>()
        .await;
    assert!(
        tooled.expect("json")["input_tokens"].as_u64()
            > plain.expect("json")["input_tokens"].as_u64(),
        "tool definitions are part of the prompt"
    );
}

#[tokio::test]
async fn other_models_are_counted_locally_with_system_and_tools() {
    let env = TestEnv::demo().await;
    let (status, r) = count(&env, &body("openai/gpt-4o-mini", false)).await;
    assert_eq!(status, 200);
    let method = header(&r, "x-switchyard-token-count");
    assert!(method == "exact" || method == "estimate", "{method}");
    let plain = r.json::<Value>().await.expect("json")["input_tokens"]
        .as_u64()
        .expect("input_tokens");
    let (_, r) = count(&env, &body("openai/gpt-4o-mini", true)).await;
    let tooled = r.json::<Value>().await.expect("json")["input_tokens"]
        .as_u64()
        .expect("input_tokens");
    assert!(plain > 10, "system and user text are counted: {plain}");
    assert!(tooled > plain, "{tooled} vs {plain}");
    assert_eq!(env.sim_stats().await["total"], 0, "no upstream call");
}

#[tokio::test]
async fn a_failing_upstream_count_falls_back_locally_and_leaves_health_alone() {
    let env = TestEnv::demo().await;
    env.inject(&json!({"model": "claude-3-5-haiku", "kind": "500", "rate": 1}))
        .await;
    for _ in 0..20 {
        let (status, r) = count(&env, &body(HAIKU, false)).await;
        assert_eq!(status, 200);
        assert_eq!(header(&r, "x-switchyard-token-count"), "estimate");
        assert_eq!(header(&r, "x-switchyard-model"), HAIKU);
        let n = r.json::<Value>().await.expect("json")["input_tokens"].as_u64();
        assert!(n.is_some_and(|n| n > 0), "never a made-up zero: {n:?}");
    }
    assert_eq!(
        env.sim_requests("claude-3-5-haiku").await,
        20,
        "each count was tried upstream"
    );
    env.sim.reset();
    // Twenty failed counts opened no breaker: the next message goes to the same model, once.
    let mut msg = body(HAIKU, false);
    msg["max_tokens"] = json!(16);
    let r = env
        .client()
        .post(env.url("/v1/messages"))
        .json(&msg)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-attempts"), format!("{HAIKU}:ok"));
}

#[tokio::test]
async fn count_bodies_are_checked_like_anthropic_checks_them() {
    let env = TestEnv::demo().await;
    let mut extra = body(HAIKU, false);
    extra["max_tokens"] = json!(16);
    let (status, r) = count(&env, &extra).await;
    assert_eq!(status, 400);
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["type"], "error", "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("max_tokens"),
        "{b}"
    );
    let (status, r) = count(&env, &body("nobody/unknown-model", false)).await;
    assert_eq!(status, 404, "{:?}", r.text().await);
    let mut empty = body(HAIKU, false);
    empty["messages"] = json!([]);
    assert_eq!(count(&env, &empty).await.0, 400);
    assert_eq!(
        env.sim_stats().await["total"],
        0,
        "nothing reached a provider"
    );
}
