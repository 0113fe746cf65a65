//! Circuit breakers end to end: during an outage the primary's breaker opens and requests go
//! straight to the fallback (the simulator's counters prove the primary is not called), then
//! the primary is probed and restored when it comes back. Also: hedging.

#![expect(
    clippy::unwrap_used,
    reason = "helpers shared by the tests: a failed unwrap is a failed test"
)]

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::TestEnv;

const OUTAGE_TOML: &str = r#"
[providers.prim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k1"]

[providers.back]
kind = "anthropic"
base_url = "http://127.0.0.1:4001"
keys = ["plain:kb"]

[models."prim/gpt-4o-mini"]
provider = "prim"
upstream = "gpt-4o-mini"
price_id = "openai/gpt-4o-mini"

[models."back/claude-3-5-haiku"]
provider = "back"
upstream = "claude-3-5-haiku"
price_id = "anthropic/claude-3-5-haiku-20241022"

[routes.r]
strategy = "ordered"
candidates = ["prim/gpt-4o-mini", "back/claude-3-5-haiku"]

[breaker]
window = "10s"
# The tallies decay between events: 4 outcomes a few ms apart count as ~3.999.
min_requests = 3.5
error_rate = 0.5
# Fixed 1 s cooldown (no doubling here; the unit tests cover it), long enough that the
# open-phase requests below all fall inside it.
cooldown = "1s"
max_cooldown = "1s"
"#;

fn body() -> Value {
    // A named task skips the prompt classifier (keeps each request fast in debug builds).
    json!({"model": "r", "switchyard": {"task": "chat"}, "messages": [{"role": "user", "content": "Is the deploy done?"}]})
}

async fn prim_requests(env: &TestEnv) -> u64 {
    env.sim_stats().await["models"]["gpt-4o-mini"]["requests"]
        .as_u64()
        .unwrap_or(0)
}

async fn served_by(env: &TestEnv) -> (String, String) {
    let r = env.chat(&body()).await;
    assert_eq!(r.status(), 200);
    let h = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
    (h("x-switchyard-model"), h("x-switchyard-attempts"))
}

async fn breaker_of(env: &TestEnv, model: &str) -> Value {
    env.model_entry(model).await["switchyard"]["breaker"].clone()
}

#[tokio::test]
async fn an_open_breaker_sends_requests_straight_to_the_fallback_then_probes_and_restores() {
    let env = TestEnv::start(SimConfig::default_models(), OUTAGE_TOML).await;
    // Healthy: the primary serves.
    assert_eq!(served_by(&env).await.0, "prim/gpt-4o-mini");
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "500", "rate": 1.0}))
        .await;
    // Outage: each request pays one failed attempt until the breaker has seen enough (4
    // decayed outcomes, 1 ok + 3 failures = 75% errors).
    for _ in 0..3 {
        let (model, attempts) = served_by(&env).await;
        assert_eq!(model, "back/claude-3-5-haiku");
        assert!(attempts.starts_with("prim/gpt-4o-mini:500,"), "{attempts}");
    }
    let calls_when_opened = prim_requests(&env).await;
    assert_eq!(calls_when_opened, 4);
    assert_eq!(breaker_of(&env, "prim/gpt-4o-mini").await["state"], "open");
    let engine = env.state.engine.load();
    assert!(
        engine
            .breaker_states()
            .contains(&("prim:prim/gpt-4o-mini:key0".to_owned(), 2)),
        "{:?}",
        engine.breaker_states()
    );
    // Open: no attempt on the dead primary at all (the skip is named in the header).
    for _ in 0..5 {
        let (model, attempts) = served_by(&env).await;
        assert_eq!(model, "back/claude-3-5-haiku");
        assert_eq!(
            attempts,
            "prim/gpt-4o-mini:skipped:breaker-open,back/claude-3-5-haiku:ok"
        );
    }
    assert_eq!(
        prim_requests(&env).await,
        calls_when_opened,
        "open breaker let a call through"
    );
    // Still down at the first probe: the probe fails, the request still succeeds via the
    // fallback, and the breaker reopens.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (model, attempts) = served_by(&env).await;
    assert_eq!(model, "back/claude-3-5-haiku");
    assert!(
        attempts.starts_with("prim/gpt-4o-mini:500,"),
        "probe: {attempts}"
    );
    assert_eq!(prim_requests(&env).await, calls_when_opened + 1);
    assert_eq!(breaker_of(&env, "prim/gpt-4o-mini").await["state"], "open");
    // The provider recovers; after the cooldown one probe closes the breaker.
    env.client()
        .delete(format!("{}/sim/faults", env.sim.url()))
        .send()
        .await
        .unwrap();
    let (model, _) = served_by(&env).await;
    assert_eq!(model, "back/claude-3-5-haiku", "still cooling down");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        breaker_of(&env, "prim/gpt-4o-mini").await["state"],
        "half_open"
    );
    let (model, attempts) = served_by(&env).await;
    assert_eq!(
        (model.as_str(), attempts.as_str()),
        ("prim/gpt-4o-mini", "prim/gpt-4o-mini:ok")
    );
    assert_eq!(
        breaker_of(&env, "prim/gpt-4o-mini").await["state"],
        "closed"
    );
    for _ in 0..3 {
        assert_eq!(served_by(&env).await.0, "prim/gpt-4o-mini");
    }
    assert_eq!(prim_requests(&env).await, calls_when_opened + 5);
}

const HEDGE_TOML: &str = r#"
[providers.sim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k"]

[models."sim/gpt-4o-mini"]
provider = "sim"
upstream = "gpt-4o-mini"
price_id = "openai/gpt-4o-mini"

[models."sim/gpt-4o"]
provider = "sim"
upstream = "gpt-4o"
price_id = "openai/gpt-4o"

[routes.h]
strategy = "ordered"
candidates = ["sim/gpt-4o-mini", "sim/gpt-4o"]
[routes.h.hedging]
delay = "150ms"

[routes.plain]
strategy = "ordered"
candidates = ["sim/gpt-4o-mini", "sim/gpt-4o"]
"#;

#[tokio::test]
async fn a_slow_primary_is_hedged_and_the_loser_cancelled_and_billed_its_prompt() {
    let env = TestEnv::start(SimConfig::default_models(), HEDGE_TOML).await;
    // The primary hangs (no first token): after 150 ms the rival starts and wins.
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "hang", "rate": 1.0}))
        .await;
    for stream in [false, true] {
        let mut b = json!({"model": "h", "messages": [{"role": "user", "content": "Summarise the incident"}]});
        if stream {
            b["stream"] = json!(true);
        }
        let t0 = std::time::Instant::now();
        let r = env.chat(&b).await;
        assert_eq!(r.status(), 200);
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "hedge did not rescue the request"
        );
        let rid = r.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            r.headers()["x-switchyard-attempts"],
            "sim/gpt-4o-mini:hedge-cancelled,sim/gpt-4o:ok"
        );
        let _ = r.text().await.unwrap();
        let rec = env.records.wait_for(&rid).await;
        let loser = rec.attempts[0].cost.unwrap();
        assert!(loser.to_f64() > 0.0, "the cancelled hedge is accounted");
        let winner = rec.attempts[1].cost.unwrap();
        assert_eq!(
            rec.cost.unwrap(),
            loser + winner,
            "both attempts billed, exactly"
        );
    }
    // Without hedging the same fault costs the whole attempt timeout (30 s default): not run
    // here; the unhedged route just never starts a second call while the first is pending.
    let stats = env.sim_stats().await;
    assert_eq!(stats["models"]["gpt-4o"]["requests"], 2);
    // Cancelled hung calls were released.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(env.sim_stats().await["in_flight"].as_u64().unwrap() <= 1);
    // A fast primary is never hedged.
    env.client()
        .delete(format!("{}/sim/faults", env.sim.url()))
        .send()
        .await
        .unwrap();
    let r = env
        .chat(&json!({"model": "h", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.headers()["x-switchyard-attempts"], "sim/gpt-4o-mini:ok");
    assert_eq!(env.sim_stats().await["models"]["gpt-4o"]["requests"], 2);
}
