//! Fault-injection matrix against switchyard-sim: one test per fault kind, each asserting what
//! the client sees, what reached the simulator (its per-model counters: what was tried and
//! retried), and what was billed (the request record and `usage.cost_details`).
//!
//! Setup: route `r` = primary `prim/gpt-4o-mini` (openai wire, two keys, 400 ms attempt
//! timeout, 300 ms stream idle timeout) then fallback `back/claude-3-5-haiku` (anthropic
//! wire); route `solo` = the primary alone. Breakers are off here (the outage test covers
//! them) so every case is independent of the others.

#![expect(
    clippy::unwrap_used,
    reason = "helpers shared by the tests: a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{TestEnv, header, sse_data};

pub const MATRIX_TOML: &str = r#"
[providers.prim]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k1", "plain:k2"]
first_byte_timeout = "400ms"
idle_timeout = "300ms"

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
[routes.r.retry]
backoff_base = "20ms"
backoff_max = "50ms"

[routes.solo]
strategy = "ordered"
candidates = ["prim/gpt-4o-mini"]
[routes.solo.retry]
backoff_base = "20ms"
backoff_max = "50ms"
max_retry_after = "1s"

[breaker]
enabled = false
"#;

const PRIM: &str = "gpt-4o-mini";
const BACK: &str = "claude-3-5-haiku";

async fn env() -> TestEnv {
    TestEnv::start(SimConfig::default_models(), MATRIX_TOML).await
}

fn body(route: &str, stream: bool) -> Value {
    let mut b = json!({"model": route, "max_tokens": 50, "messages": [{"role": "user", "content": "Tell the team the build is green"}]});
    if stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// (requests, outcomes) the simulator saw for one upstream model.
async fn sim(env: &TestEnv, model: &str) -> (u64, Value) {
    let s = env.sim_stats().await;
    let m = &s["models"][model];
    (m["requests"].as_u64().unwrap_or(0), m["outcomes"].clone())
}

/// A 200 JSON answer served by the fallback: the primary's failed attempt is recorded at no
/// cost and the bill is the fallback's alone.
async fn assert_failed_over(env: &TestEnv, r: reqwest::Response, prim_outcome: &str) {
    assert_eq!(r.status(), 200);
    let attempts = header(&r, "x-switchyard-attempts");
    assert_eq!(
        attempts,
        format!("prim/gpt-4o-mini:{prim_outcome},back/claude-3-5-haiku:ok")
    );
    assert_eq!(header(&r, "x-switchyard-model"), "back/claude-3-5-haiku");
    let rid = header(&r, "x-switchyard-request-id");
    let b: Value = r.json().await.unwrap();
    assert!(
        !b["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let details = &b["usage"]["cost_details"]["attempts"];
    assert_eq!(details[0]["cost"], json!(0.0), "a failed attempt is free");
    let total = b["usage"]["cost"].as_f64().unwrap();
    assert!(total > 0.0);
    assert!((details[1]["cost"].as_f64().unwrap() - total).abs() < 1e-12);
    let rec = env.records.wait_for(&rid).await;
    assert_eq!(rec.status, 200);
    assert_eq!(rec.attempts.len(), 2);
    assert_eq!(rec.cost.unwrap().to_f64(), total);
}

#[tokio::test]
async fn rate_limit_with_retry_after_cools_the_key_for_that_long() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "429", "rate": 1.0, "retry_after_s": 3}))
        .await;
    // Two keys: the first 429 moves the call to the other key at once, which gets a 429 too;
    // both rest for the upstream's 3 s and the fallback answers.
    let r = env.chat(&body("r", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "prim/gpt-4o-mini:429,prim/gpt-4o-mini:429,back/claude-3-5-haiku:ok"
    );
    let (n, outcomes) = sim(&env, PRIM).await;
    assert_eq!((n, outcomes["429"].as_u64()), (2, Some(2)));
    // Both keys rest: the next requests go straight to the fallback, nothing reaches the primary.
    for _ in 0..4 {
        let r = env.chat(&body("r", false)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-switchyard-model"), "back/claude-3-5-haiku");
    }
    assert_eq!(sim(&env, PRIM).await.0, 2, "retry-after was not honoured");
    assert_eq!(sim(&env, BACK).await.0, 5);
    // With no fallback, and a retry-after longer than the route waits (1 s), the client is
    // told at once that the provider's keys are exhausted and how long to wait.
    let r = env.chat(&body("solo", false)).await;
    assert_eq!(r.status(), 429);
    let ra: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=3).contains(&ra), "retry-after {ra}");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "keys_exhausted");
    assert_eq!(sim(&env, PRIM).await.0, 2);
}

#[tokio::test]
async fn rate_limit_without_retry_after_backs_off_and_retries_once() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "429", "rate": 1.0}))
        .await;
    let r = env.chat(&body("solo", false)).await;
    // Key 1, then at once key 2; both rest (1 s without a retry-after), so the retry pass
    // after the jittered backoff finds no key and the 429 goes back.
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "prim/gpt-4o-mini:429,prim/gpt-4o-mini:429,prim/gpt-4o-mini:skipped:keys-cooling"
    );
    let rid = header(&r, "x-switchyard-request-id");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert_eq!(sim(&env, PRIM).await.0, 2);
    let rec = env.records.wait_for(&rid).await;
    assert_eq!((rec.status, rec.cost.map(|c| c.to_f64())), (429, Some(0.0)));
}

#[tokio::test]
async fn server_errors_fail_over_and_a_lone_candidate_is_retried_once() {
    for (kind, client_status) in [("500", 502), ("503", 503), ("529", 503)] {
        let env = env().await;
        env.inject(&json!({"model": PRIM, "kind": kind, "rate": 1.0}))
            .await;
        let r = env.chat(&body("r", false)).await;
        assert_failed_over(&env, r, kind).await;
        assert_eq!(sim(&env, PRIM).await.1[kind].as_u64(), Some(1), "{kind}");
        let r = env.chat(&body("solo", false)).await;
        assert_eq!(r.status(), client_status, "{kind}");
        assert_eq!(
            header(&r, "x-switchyard-attempts"),
            format!("prim/gpt-4o-mini:{kind},prim/gpt-4o-mini:{kind}")
        );
        let b: Value = r.json().await.unwrap();
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("prim/gpt-4o-mini")
        );
        assert_eq!(sim(&env, PRIM).await.0, 3, "{kind}: 1 + 2 attempts");
        assert_eq!(sim(&env, BACK).await.0, 1, "{kind}");
    }
}

#[tokio::test]
async fn a_hung_upstream_is_cut_at_the_attempt_timeout_and_released() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "hang", "rate": 1.0}))
        .await;
    let t0 = std::time::Instant::now();
    let r = env.chat(&body("r", false)).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(400));
    let rid = header(&r, "x-switchyard-request-id");
    assert_failed_over(&env, r, "timeout").await;
    let rec = env.records.wait_for(&rid).await;
    assert!(rec.attempts[0].latency_ms >= 399.0 && rec.attempts[0].latency_ms < 1500.0);
    // The hung call was cancelled, not leaked: the simulator dropped its handler.
    let mut in_flight = u64::MAX;
    for _ in 0..50 {
        in_flight = env.sim_stats().await["in_flight"].as_u64().unwrap();
        if in_flight <= 1 {
            break; // 1 = this stats request itself
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        in_flight <= 1,
        "hung upstream calls still open: {in_flight}"
    );
}

#[tokio::test]
async fn a_hung_primary_leaves_the_fallback_its_share_of_the_budget() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "hang", "rate": 1.0}))
        .await;
    let t0 = std::time::Instant::now();
    let r = env
        .client()
        .post(env.url("/v1/chat/completions"))
        .header("x-switchyard-latency-budget-ms", "600")
        .header("x-switchyard-task", "chat")
        .json(&body("r", false))
        .send()
        .await
        .unwrap();
    // The primary is cut at 600 - (250 + 25) ms, before its own 400 ms timeout, so the
    // fallback (no measurements yet: the 250 ms minimum) still fits in the budget.
    let rid = header(&r, "x-switchyard-request-id");
    assert_failed_over(&env, r, "timeout").await;
    assert!(
        t0.elapsed() < std::time::Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    let rec = env.records.wait_for(&rid).await;
    let cut = rec.attempts[0].latency_ms;
    assert!((300.0..390.0).contains(&cut), "primary cut after {cut} ms");
}

#[tokio::test]
async fn a_budget_too_short_for_the_fallback_is_a_408_naming_what_was_tried() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "hang", "rate": 1.0}))
        .await;
    let r = env
        .client()
        .post(env.url("/v1/chat/completions"))
        // Too short to cut the primary for the fallback (450 - 275 ms is under the primary's
        // own 250 ms minimum), so the primary keeps its 400 ms timeout.
        .header("x-switchyard-latency-budget-ms", "450")
        // A named task skips the prompt classifier, so the budget is all upstream time.
        .header("x-switchyard-task", "chat")
        .json(&body("r", false))
        .send()
        .await
        .unwrap();
    // 400 ms attempt timeout, <50 ms left: under the 250 ms a fallback needs at minimum.
    // The request's own budget ran out: 408 (SPEC section 2), not an upstream 504.
    assert_eq!(r.status(), 408);
    assert_eq!(
        header(&r, "x-switchyard-attempts"),
        "prim/gpt-4o-mini:timeout,back/claude-3-5-haiku:skipped:deadline"
    );
    let b: Value = r.json().await.unwrap();
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Tried: prim/gpt-4o-mini:timeout"), "{msg}");
    assert_eq!(sim(&env, BACK).await.0, 0, "the fallback was never started");
    // A budget shorter than the attempt timeout cuts the attempt at the deadline.
    let t0 = std::time::Instant::now();
    let r = env
        .client()
        .post(env.url("/v1/chat/completions"))
        .header("x-switchyard-latency-budget-ms", "200")
        .json(&body("solo", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 408);
    assert!(t0.elapsed() < std::time::Duration::from_millis(390));
}

#[tokio::test]
async fn a_reset_connection_fails_over() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "reset", "rate": 1.0}))
        .await;
    let r = env.chat(&body("r", false)).await;
    let attempts = header(&r, "x-switchyard-attempts");
    let outcome = attempts
        .strip_prefix("prim/gpt-4o-mini:")
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_owned();
    assert_ne!(outcome, "ok");
    assert_failed_over(&env, r, &outcome).await;
    assert_eq!(sim(&env, PRIM).await.1["reset"].as_u64(), Some(1));
}

/// The SSE payloads of a streamed answer and whether it ended with `[DONE]`.
async fn read_stream(r: reqwest::Response) -> (Vec<Value>, bool) {
    let text = r.text().await.unwrap();
    let frames = sse_data(&text);
    let done = frames.last() == Some(&Value::String("[DONE]".to_owned()));
    (frames, done)
}

fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_stream_cut_before_its_first_byte_fails_over_invisibly() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "cut", "rate": 1.0, "after_chunks": 0}))
        .await;
    let r = env.chat(&body("r", true)).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "x-switchyard-attempts").ends_with(",back/claude-3-5-haiku:ok"));
    let rid = header(&r, "x-switchyard-request-id");
    let (frames, done) = read_stream(r).await;
    assert!(done, "a complete stream ends with [DONE]");
    assert!(frames.iter().all(|f| f.get("error").is_none()));
    assert!(text_of(&frames).starts_with("[claude-3-5-haiku]"));
    let usage = frames.iter().find(|f| f["usage"].is_object()).unwrap();
    let rec = env.records.wait_for(&rid).await;
    assert_eq!(rec.status, 200);
    assert_eq!(
        rec.cost.unwrap().to_f64(),
        usage["usage"]["cost"].as_f64().unwrap()
    );
    assert_eq!(sim(&env, PRIM).await.1["cut"].as_u64(), Some(1));
    assert_eq!(sim(&env, BACK).await.0, 1);
}

#[tokio::test]
async fn a_stream_cut_after_its_first_byte_ends_in_an_error_event() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "cut", "rate": 1.0, "after_chunks": 4}))
        .await;
    let r = env.chat(&body("r", true)).await;
    assert_eq!(r.status(), 200, "headers were sent with the first byte");
    let rid = header(&r, "x-switchyard-request-id");
    let (frames, done) = read_stream(r).await;
    assert!(!done, "a cut stream must not look complete");
    assert!(!text_of(&frames).is_empty(), "some content went out");
    let last = frames.last().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after it started")
    );
    let rec = env.records.wait_for(&rid).await;
    assert_eq!(rec.status, 502);
    assert!(rec.attempts[0].outcome.ends_with("-after-first-byte"));
    // The upstream bills the prompt and what it sent before the cut, but never reported usage:
    // the record prices an estimate (ceil(chars / 4) of the text sent) and says so.
    assert_cut_estimated(&rec, &text_of(&frames));
    assert_eq!(
        sim(&env, BACK).await.0,
        0,
        "no silent retry after the first byte"
    );
}

/// A stream cut before the upstream reported usage: billed from estimated tokens, marked.
fn assert_cut_estimated(rec: &switchyard_core::RequestRecord, text_sent: &str) {
    let out = (text_sent.chars().count() as u64).div_ceil(4);
    assert!(out > 0);
    assert_eq!(
        rec.tokens.output, out,
        "output estimated from the text sent"
    );
    assert!(rec.tokens.input > 0, "the prompt is estimated too");
    let cost = rec.cost.expect("a cut stream is still accounted");
    assert!(cost.to_f64() > 0.0);
    let last = rec.attempts.last().unwrap();
    assert!(last.cost_estimated, "{last:?}");
    assert_eq!(last.cost, Some(cost));
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_as_499_and_billed() {
    let env = env().await;
    // The fallback model alone, dripping a token every 500 ms, with no idle timeout: the
    // stream is still open when the client goes away after its first content.
    env.inject(&json!({"model": BACK, "kind": "drip", "rate": 1.0}))
        .await;
    let r = env.chat(&body("back/claude-3-5-haiku", true)).await;
    assert_eq!(r.status(), 200);
    let rid = header(&r, "x-switchyard-request-id");
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") {
        use futures::StreamExt;
        let b = body.next().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&b));
    }
    drop(body);
    let rec = env.records.wait_for(&rid).await;
    assert_eq!(
        (rec.status, rec.error_class.as_deref()),
        (499, Some("client_closed"))
    );
    assert_eq!(rec.attempts[0].outcome, "client_closed-after-first-byte");
    let frames = sse_data(&seen);
    let text = text_of(&frames);
    assert!(rec.tokens.output >= (text.chars().count() as u64).div_ceil(4));
    assert!(rec.attempts[0].cost_estimated);
    assert!(rec.cost.unwrap().to_f64() > 0.0);
}

#[tokio::test]
async fn a_slow_drip_trips_the_idle_timeout_or_the_attempt_timeout() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "drip", "rate": 1.0}))
        .await;
    // Streamed: the first token comes fast, then 500 ms silences > 300 ms idle timeout.
    let r = env.chat(&body("r", true)).await;
    assert_eq!(r.status(), 200);
    let rid = header(&r, "x-switchyard-request-id");
    let (frames, done) = read_stream(r).await;
    assert!(!done);
    assert!(frames.last().unwrap()["error"].is_object());
    let rec = env.records.wait_for(&rid).await;
    assert_eq!(rec.attempts[0].outcome, "timeout-after-first-byte");
    assert_eq!(rec.status, 504);
    assert_cut_estimated(&rec, &text_of(&frames));
    // JSON: the whole answer would take seconds; the 400 ms attempt timeout fails over.
    let r = env.chat(&body("r", false)).await;
    assert_failed_over(&env, r, "timeout").await;
    assert_eq!(sim(&env, PRIM).await.0, 2);
}

#[tokio::test]
async fn bad_keys_die_one_by_one_then_the_provider_is_exhausted() {
    let env = env().await;
    env.inject(&json!({"model": PRIM, "kind": "bad-key", "rate": 1.0}))
        .await;
    for _ in 0..2 {
        let r = env.chat(&body("r", false)).await;
        assert_failed_over(&env, r, "401").await;
    }
    // Both keys dead: never used again.
    let r = env.chat(&body("r", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim(&env, PRIM).await.0, 2);
    let r = env.chat(&body("solo", false)).await;
    assert_eq!(r.status(), 502);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "keys_exhausted");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("every API key of provider `prim`")
    );
    let prim = env.model_entry("prim/gpt-4o-mini").await;
    assert_eq!(prim["switchyard"]["keys"]["dead"], 2);
    assert_eq!(sim(&env, PRIM).await.0, 2);
}
