//! Control API and faults: every fault kind on the wire, stats, reset, reproducible rates,
//! hang cleanup, and the annotated example config.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn stats(sim: &switchyard_sim::SimHandle) -> Value {
    client()
        .get(format!("{}/sim/stats", sim.url()))
        .send()
        .await
        .expect("stats request")
        .json()
        .await
        .expect("stats json")
}

#[tokio::test]
async fn status_faults_per_wire() {
    let sim = sim().await;
    add_fault(
        &sim,
        json!({"model": "gpt-4o", "kind": "429", "retry_after_s": 7}),
    )
    .await;
    let r = openai(&sim, chat("gpt-4o", false)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "rate_limit_exceeded");

    add_fault(&sim, json!({"model": "gpt-4o-mini", "kind": "429"})).await;
    let r = openai(&sim, chat("gpt-4o-mini", false)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());

    add_fault(&sim, json!({"model": "claude-3-5-haiku", "kind": "529"})).await;
    let r = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 529);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "overloaded_error");

    add_fault(
        &sim,
        json!({"model": "gemini-2.0-flash", "kind": "429", "retry_after_s": 37}),
    )
    .await;
    let r = gemini(
        &sim,
        "gemini-2.0-flash",
        "generateContent",
        json!({"contents": [{"parts": [{"text": "x"}]}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "RESOURCE_EXHAUSTED");
    let retry = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .unwrap();
    assert_eq!(retry["retryDelay"], "37s");

    add_fault(&sim, json!({"model": "gemini-2.5-pro", "kind": "bad-key"})).await;
    let r = gemini(
        &sim,
        "gemini-2.5-pro",
        "generateContent",
        json!({"contents": [{"parts": [{"text": "x"}]}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["details"][0]["reason"], "API_KEY_INVALID");

    for (kind, status) in [("500", 500), ("503", 503), ("bad-key", 401)] {
        let c = client();
        c.delete(format!("{}/sim/faults", sim.url()))
            .send()
            .await
            .unwrap();
        add_fault(&sim, json!({"model": "*", "kind": kind})).await;
        assert_eq!(
            openai(&sim, chat("local-llama", false))
                .await
                .status()
                .as_u16(),
            status,
            "{kind}"
        );
    }
    let s = stats(&sim).await;
    assert_eq!(s["models"]["gpt-4o"]["outcomes"]["429"], 1);
    assert_eq!(s["models"]["claude-3-5-haiku"]["outcomes"]["529"], 1);
    assert_eq!(s["models"]["local-llama"]["outcomes"]["bad-key"], 1);
    assert_eq!(s["total"], 8);
}

#[tokio::test]
async fn reset_drops_the_connection_without_an_answer() {
    let sim = sim().await;
    add_fault(&sim, json!({"model": "gpt-4o", "kind": "reset"})).await;
    let err = client()
        .post(format!("{}/v1/chat/completions", sim.url()))
        .bearer_auth("k")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    // a non-streamed request under `cut` is a reset too
    add_fault(
        &sim,
        json!({"model": "gpt-4o-mini", "kind": "cut", "after_chunks": 2}),
    )
    .await;
    assert!(
        client()
            .post(format!("{}/v1/chat/completions", sim.url()))
            .bearer_auth("k")
            .json(&chat("gpt-4o-mini", false))
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        stats(&sim).await["models"]["gpt-4o"]["outcomes"]["reset"],
        1
    );
}

#[tokio::test]
async fn cut_ends_the_stream_after_n_events_without_finish() {
    let sim = sim().await;
    add_fault(
        &sim,
        json!({"model": "*", "kind": "cut", "after_chunks": 3}),
    )
    .await;
    let r = openai(&sim, chat("gpt-4o", true)).await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end with an error, not cleanly");
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("data: ").count(), 3);
    assert!(!text.contains("[DONE]") && !text.contains("finish_reason\":\"stop"));

    let r = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let res = r.text().await;
    assert!(res.is_err() || !res.unwrap().contains("message_stop"));
    assert_eq!(stats(&sim).await["models"]["gpt-4o"]["outcomes"]["cut"], 1);
}

#[tokio::test]
async fn drip_paces_half_a_second_per_token() {
    let mut cfg = fast_config();
    cfg.models[0].output_tokens = 3;
    let sim = switchyard_sim::spawn(cfg).await.unwrap();
    add_fault(&sim, json!({"model": "gpt-4o", "kind": "drip"})).await;
    let t = Instant::now();
    let (events, _) = sse(openai(&sim, chat("gpt-4o", true)).await).await;
    // 3 tokens: the first at ttft (0), then two more 500 ms apart
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert_eq!(stats(&sim).await["models"]["gpt-4o"]["outcomes"]["drip"], 1);
}

#[tokio::test]
async fn hang_never_answers_and_is_dropped_when_the_client_leaves() {
    let sim = sim().await;
    add_fault(&sim, json!({"model": "gpt-4o", "kind": "hang"})).await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = c
        .post(format!("{}/v1/chat/completions", sim.url()))
        .bearer_auth("k")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    drop(c);
    // the handler future is dropped once hyper sees the closed connection
    let mut left = i64::MAX;
    for _ in 0..50 {
        left = sim.stats()["in_flight"].as_i64().unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "a hanging handler outlived its client");
    assert_eq!(sim.stats()["models"]["gpt-4o"]["outcomes"]["hang"], 1);
}

#[tokio::test]
async fn stats_count_reset_clears_and_rates_are_reproducible() {
    let run = || async {
        let sim = sim().await;
        add_fault(&sim, json!({"model": "gpt-4o", "kind": "500", "rate": 0.5})).await;
        let mut seq = Vec::new();
        for _ in 0..40 {
            seq.push(openai(&sim, chat("gpt-4o", false)).await.status().as_u16());
        }
        (sim, seq)
    };
    let (sim, a) = run().await;
    let (_, b) = run().await;
    assert_eq!(a, b);
    let fails = a.iter().filter(|s| **s == 500).count();
    assert!((8..=32).contains(&fails), "{fails}");
    openai(&sim, chat("gpt-4o-mini", true))
        .await
        .text()
        .await
        .unwrap();
    let s = stats(&sim).await;
    assert_eq!(s["total"], 41);
    assert_eq!(s["models"]["gpt-4o"]["requests"], 40);
    assert_eq!(s["models"]["gpt-4o"]["outcomes"]["500"], fails);
    assert_eq!(s["models"]["gpt-4o"]["outcomes"]["ok"], 40 - fails);
    assert_eq!(s["models"]["gpt-4o-mini"]["stream"], 1);
    let faults: Value = client()
        .get(format!("{}/sim/faults", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults.as_array().unwrap().len(), 1);

    client()
        .post(format!("{}/sim/reset", sim.url()))
        .send()
        .await
        .unwrap();
    let s = stats(&sim).await;
    assert_eq!(s["total"], 0);
    assert_eq!(s["models"], json!({}));
    assert_eq!(openai(&sim, chat("gpt-4o", false)).await.status(), 200);

    let bad = client()
        .post(format!("{}/sim/faults", sim.url()))
        .json(&json!({"kind": "418"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn config_faults_apply_and_come_back_on_reset() {
    let cfg = switchyard_sim::SimConfig::from_toml_str(
        r#"
        [[models]]
        name = "flaky"
        wire = "openai"
        faults = [{ kind = "503" }]
    "#,
    )
    .unwrap();
    let sim = switchyard_sim::spawn(cfg).await.unwrap();
    assert_eq!(openai(&sim, chat("flaky", false)).await.status(), 503);
    client()
        .delete(format!("{}/sim/faults", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(openai(&sim, chat("flaky", false)).await.status(), 200);
    client()
        .post(format!("{}/sim/reset", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(openai(&sim, chat("flaky", false)).await.status(), 503);
}

#[test]
fn example_config_parses_and_unknown_keys_fail() {
    let text = include_str!("../../../config/sim.example.toml");
    let cfg =
        switchyard_sim::SimConfig::from_toml_str(text).expect("config/sim.example.toml parses");
    assert!(cfg.models.len() >= 4);
    assert!(
        switchyard_sim::SimConfig::from_toml_str("[[models]]\nname='a'\nwire='openai'\nspeed=1")
            .is_err()
    );
    assert!(
        switchyard_sim::SimConfig::from_toml_str(
            "[[models]]\nname='a'\nwire='anthropic'\nflavor='groq'"
        )
        .is_err()
    );
}
