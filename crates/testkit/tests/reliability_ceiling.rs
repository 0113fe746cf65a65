//! Cost ceilings across attempts: a fallback that would break the request's ceiling is not
//! tried and the client is told why; a hedge that would break it is not started (the primary
//! is waited for instead), and when the primary then fails the fallback still runs, because
//! alone it fits.

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::TestEnv;

const CEILING_TOML: &str = r#"
[providers.sim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k"]
first_byte_timeout = "600ms"

[models."sim/gpt-4o-mini"]
provider = "sim"
upstream = "gpt-4o-mini"
price_id = "openai/gpt-4o-mini"

[models."sim/gpt-4o"]
provider = "sim"
upstream = "gpt-4o"
price_id = "openai/gpt-4o"

[routes.r]
strategy = "ordered"
candidates = ["sim/gpt-4o-mini", "sim/gpt-4o"]

[routes.h]
strategy = "ordered"
candidates = ["sim/gpt-4o-mini", "sim/gpt-4o"]
[routes.h.hedging]
delay = "100ms"

[breaker]
enabled = false
"#;

fn body(route: &str) -> Value {
    // ~12 prompt tokens + 100 output: gpt-4o-mini ~$0.00006, gpt-4o ~$0.001.
    json!({"model": route, "max_tokens": 100, "switchyard": {"task": "chat"},
        "messages": [{"role": "user", "content": "Summarise the release"}]})
}

async fn post(env: &TestEnv, b: &Value, max_cost: &str) -> reqwest::Response {
    env.client()
        .post(env.url("/v1/chat/completions"))
        .header("x-switchyard-max-cost", max_cost)
        .json(b)
        .send()
        .await
        .expect("gateway answers")
}

#[tokio::test]
async fn a_fallback_over_the_ceiling_is_not_tried_and_the_error_says_why() {
    let env = TestEnv::start(SimConfig::default_models(), CEILING_TOML).await;
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "500", "rate": 1.0}))
        .await;
    let r = post(&env, &body("r"), "0.0005").await;
    assert_eq!(r.status(), 502);
    let b: Value = r.json().await.unwrap();
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("sim/gpt-4o was left out by routing: over ceiling"),
        "{msg}"
    );
    let stats = env.sim_stats().await;
    assert_eq!(
        stats["models"]["gpt-4o"]["requests"].as_u64().unwrap_or(0),
        0
    );
    // With room for it, the same failure fails over.
    let r = post(&env, &body("r"), "0.01").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-model"], "sim/gpt-4o");
}

#[tokio::test]
async fn a_hedge_that_would_break_the_ceiling_is_not_started() {
    let env = TestEnv::start(SimConfig::default_models(), CEILING_TOML).await;
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "hang", "rate": 1.0}))
        .await;
    // Each alone fits $0.0011; both together (mini's worst case reserved) do not.
    let t0 = std::time::Instant::now();
    let r = post(&env, &body("h"), "0.00105").await;
    assert_eq!(r.status(), 200);
    // No rival at 100 ms: the primary ran to its 600 ms timeout, then the fallback served.
    assert!(t0.elapsed() >= std::time::Duration::from_millis(600));
    assert_eq!(
        r.headers()["x-switchyard-attempts"],
        "sim/gpt-4o:skipped:cost-ceiling,sim/gpt-4o-mini:timeout,sim/gpt-4o:ok"
    );
    let b: Value = r.json().await.unwrap();
    let total = b["usage"]["cost"].as_f64().unwrap();
    assert!(total <= 0.00105, "billed {total} over the ceiling");
    assert_eq!(
        b["usage"]["cost_details"]["attempts"][0]["outcome"],
        "skipped:cost-ceiling"
    );
}
