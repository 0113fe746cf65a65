//! Key pools end to end: a 429 rests the (key, model) pair, not the key, so the provider's
//! other models keep being served on the same key; a key rejected with 401/403 leaves
//! rotation for a back-off, is probed after it and revived without a restart, and `/ready`
//! names a provider left without a usable key.

#![expect(
    clippy::unwrap_used,
    reason = "helpers shared by the tests: a failed unwrap is a failed test"
)]

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{TestEnv, header};

fn body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn model_keys(env: &TestEnv, id: &str) -> Value {
    env.model_entry(id).await["switchyard"]["keys"].clone()
}

async fn ready(env: &TestEnv) -> (u16, Value) {
    let r = env.client().get(env.url("/ready")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The demo's Anthropic provider has one key for both Claude models.
#[tokio::test]
async fn a_rate_limit_on_one_model_leaves_the_others_on_the_same_key() {
    let env = TestEnv::demo().await;
    env.inject(
        &json!({"model": "claude-sonnet-4-5", "kind": "429", "rate": 1, "retry_after_s": 45}),
    )
    .await;
    let r = env.chat(&body("anthropic/claude-sonnet-4-5")).await;
    assert_eq!(r.status(), 429);
    let r = env.chat(&body("anthropic/claude-3-5-haiku")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "anthropic/claude-3-5-haiku:ok"
    );
    assert_eq!(env.sim_requests("claude-3-5-haiku").await, 1);
    // The throttled model itself rests: no second upstream call.
    let r = env.chat(&body("anthropic/claude-sonnet-4-5")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "anthropic/claude-sonnet-4-5:skipped:keys-cooling"
    );
    assert_eq!(env.sim_requests("claude-sonnet-4-5").await, 1);
    assert_eq!(
        model_keys(&env, "anthropic/claude-sonnet-4-5").await,
        json!({"usable": 0, "cooling": 1, "dead": 0})
    );
    assert_eq!(
        model_keys(&env, "anthropic/claude-3-5-haiku").await,
        json!({"usable": 1, "cooling": 0, "dead": 0})
    );
}

/// The demo's OpenAI provider has two keys. A 429 on one of them sends the same call to the
/// other key at once: no wait for the retry-after, no fallback to another model.
#[tokio::test]
async fn a_rate_limit_on_one_key_moves_the_call_to_another_key_at_once() {
    let env = TestEnv::demo().await;
    env.inject(&json!({
        "model": "gpt-4o-mini", "kind": "429", "rate": 1, "retry_after_s": 30, "key": "sim-key-1",
    }))
    .await;
    let started = std::time::Instant::now();
    let mut attempts = Vec::new();
    for _ in 0..4 {
        let r = env.chat(&body("openai/gpt-4o-mini")).await;
        assert_eq!(r.status(), 200, "{}", header(&r, "x-switchyard-attempts"));
        attempts.push(header(&r, "x-switchyard-attempts"));
    }
    // Round robin reaches the throttled key once; it then rests for this model.
    let switched = "openai/gpt-4o-mini:429,openai/gpt-4o-mini:ok";
    assert_eq!(
        attempts.iter().filter(|a| *a == switched).count(),
        1,
        "{attempts:?}"
    );
    assert_eq!(env.sim_requests("gpt-4o-mini").await, 5);
    // Far below the 30 s retry-after: nobody waited for it.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        model_keys(&env, "openai/gpt-4o-mini").await,
        json!({"usable": 1, "cooling": 1, "dead": 0})
    );
}

const KEYS_TOML: &str = r#"
[providers.back]
kind = "anthropic"
base_url = "http://127.0.0.1:4001"
keys = ["plain:kb"]
dead_key_backoff = "300ms"
dead_key_backoff_max = "2s"

[providers.prim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k1"]
dead_key_backoff = "300ms"

[models."back/claude-sonnet-4-5"]
provider = "back"
upstream = "claude-sonnet-4-5"
price_id = "anthropic/claude-sonnet-4-20250514"

[models."back/claude-3-5-haiku"]
provider = "back"
upstream = "claude-3-5-haiku"
price_id = "anthropic/claude-3-5-haiku-20241022"

[models."prim/gpt-4o-mini"]
provider = "prim"
upstream = "gpt-4o-mini"
price_id = "openai/gpt-4o-mini"
"#;

#[tokio::test]
async fn a_rejected_key_is_probed_after_its_backoff_and_revived() {
    let env = TestEnv::start(SimConfig::default_models(), KEYS_TOML).await;
    env.inject(&json!({"model": "claude-sonnet-4-5", "kind": "bad-key", "rate": 1}))
        .await;
    let r = env.chat(&body("back/claude-sonnet-4-5")).await;
    assert_eq!(r.status(), 502);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "back/claude-sonnet-4-5:401"
    );
    // A rejected key is the provider's: its other model skips it for now.
    let r = env.chat(&body("back/claude-3-5-haiku")).await;
    assert_eq!(r.status(), 502);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "back/claude-3-5-haiku:skipped:keys-dead"
    );
    assert_eq!(
        model_keys(&env, "back/claude-3-5-haiku").await,
        json!({"usable": 0, "cooling": 0, "dead": 1})
    );
    // Another provider still serves: ready, with the provider without keys named.
    let (status, b) = ready(&env).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["providers_without_keys"][0]["provider"], "back", "{b}");
    assert_eq!(b["providers_without_keys"].as_array().unwrap().len(), 1);
    // No provider left with a usable key: not ready.
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "bad-key", "rate": 1}))
        .await;
    assert_eq!(env.chat(&body("prim/gpt-4o-mini")).await.status(), 502);
    let (status, b) = ready(&env).await;
    assert_eq!(status, 503, "{b}");
    assert_eq!(b["providers_without_keys"].as_array().unwrap().len(), 2);

    // The operator fixes the keys; after the back-off one request probes and revives each.
    let r = env
        .client()
        .delete(format!("{}/sim/faults", env.sim.url()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_millis(400)).await;
    for model in [
        "back/claude-3-5-haiku",
        "back/claude-sonnet-4-5",
        "prim/gpt-4o-mini",
    ] {
        let r = env.chat(&body(model)).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(header(&r, "x-switchyard-attempts"), format!("{model}:ok"));
    }
    assert_eq!(
        model_keys(&env, "back/claude-sonnet-4-5").await,
        json!({"usable": 1, "cooling": 0, "dead": 0})
    );
    let (status, b) = ready(&env).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["providers_without_keys"], json!([]));
}
