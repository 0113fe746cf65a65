use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::{Answer, body, env, env_cached, send, upstream_calls};

async fn hundred(env: &Arc<switchyard_testkit::TestEnv>, stream: bool) -> Vec<Answer> {
    let b = body("r", "Describe the moon in detail", stream);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let env = env.clone();
            let b = b.clone();
            tokio::spawn(async move { send(&env, &b, &[]).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn check_all_same(answers: &[Answer]) {
    let first = &answers[0];
    assert!(!first.text.is_empty());
    for a in answers {
        assert_eq!(a.status, 200, "{:?}", a.json);
        assert_eq!(a.text, first.text);
        assert_eq!(a.deltas, first.deltas);
        assert!(a.usage.is_some(), "every client asked for usage");
    }
    let miss = answers.iter().filter(|a| a.cache == "miss").count();
    assert_eq!(miss, 1, "exactly one client led the flight");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a.cache.as_str(), "miss" | "coalesced" | "hit"))
    );
}

#[tokio::test]
async fn hundred_identical_json_requests_make_one_upstream_call() {
    let env = Arc::new(env_cached().await);
    let answers = hundred(&env, false).await;
    assert_eq!(upstream_calls(&env).await, 1);
    check_all_same(&answers);
    let coalesced: Vec<_> = answers.iter().filter(|a| a.cache == "coalesced").collect();
    assert!(coalesced.len() > 50, "only {} coalesced", coalesced.len());
    assert_eq!(
        coalesced[0].usage.as_ref().unwrap()["cost"].as_f64(),
        Some(0.0)
    );
    let recs = env.records.all();
    assert_eq!(recs.len(), 100);
    assert!(
        recs.iter()
            .filter(|r| r.cache != "miss")
            .all(|r| r.cost.is_some_and(|c| c.to_f64() == 0.0))
    );
}

#[tokio::test]
async fn hundred_identical_streams_make_one_upstream_call_and_every_chunk_reaches_everyone() {
    let env = Arc::new(env_cached().await);
    let answers = hundred(&env, true).await;
    assert_eq!(upstream_calls(&env).await, 1);
    check_all_same(&answers);
    assert!(answers[0].deltas.len() > 3);
    // Records of stream clients are written when their stream ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.records.all().len(), 100);
}

#[tokio::test]
async fn a_late_joiner_gets_the_stream_from_the_first_chunk() {
    let env = Arc::new(env_cached().await);
    let b = body("r", "Explain tides slowly", true);
    let e1 = env.clone();
    let b1 = b.clone();
    let lead = tokio::spawn(async move { send(&e1, &b1, &[]).await });
    // The leader's first chunks have gone out (ttft 300 ms, then 10 ms a token).
    tokio::time::sleep(Duration::from_millis(380)).await;
    let late = send(&env, &b, &[]).await;
    let lead = lead.await.unwrap();
    assert_eq!(late.cache, "coalesced");
    assert_eq!(late.deltas, lead.deltas);
    assert_eq!(upstream_calls(&env).await, 1);
}

#[tokio::test]
async fn an_upstream_error_reaches_every_waiter() {
    let env = Arc::new(env_cached().await);
    env.inject(&json!({"model": "gpt-4o-mini", "kind": "500", "rate": 1.0}))
        .await;
    let b = body("r", "This will fail", false);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let env = env.clone();
            let b = b.clone();
            tokio::spawn(async move { send(&env, &b, &[]).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert!(a.json["error"]["message"].is_string(), "{:?}", a.json);
        statuses.push(a.status);
    }
    assert!(statuses.iter().all(|s| *s >= 500), "{statuses:?}");
    // One flight: its attempts (retries included) and no more.
    let calls = upstream_calls(&env).await;
    assert!(calls < 20, "{calls} upstream calls for one flight");
    // Nothing was cached: once the fault is gone, the next request goes upstream.
    reqwest::Client::new()
        .delete(format!("{}/sim/faults", env.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(send(&env, &b, &[]).await.cache, "miss");
}

#[tokio::test]
async fn clients_that_disconnect_cancel_nobody() {
    let env = Arc::new(env_cached().await);
    let b = body("r", "A long story about ships", true);
    // The leader and a waiter both hang up after the first bytes.
    let mut quitters = Vec::new();
    for _ in 0..2 {
        let env = env.clone();
        let b = b.clone();
        quitters.push(tokio::spawn(async move {
            let mut r = env
                .client()
                .post(env.url("/v1/chat/completions"))
                .json(&b)
                .send()
                .await
                .unwrap();
            let _ = r.chunk().await;
            drop(r);
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stayers: Vec<_> = (0..5)
        .map(|_| {
            let env = env.clone();
            let b = b.clone();
            tokio::spawn(async move { send(&env, &b, &[]).await })
        })
        .collect();
    for q in quitters {
        q.await.unwrap();
    }
    let mut texts = Vec::new();
    for s in stayers {
        let a = s.await.unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.cache, "coalesced");
        texts.push(a.text);
    }
    assert!(texts.iter().all(|t| t == &texts[0] && !t.is_empty()));
    assert_eq!(upstream_calls(&env).await, 1);
    // The leader's answer was completed and stored although its client left.
    assert_eq!(send(&env, &b, &[]).await.cache, "hit");
}

#[tokio::test]
async fn coalescing_without_the_cache() {
    let env = Arc::new(env("[cache]\nenabled = false\ncoalesce = true\n").await);
    let answers = hundred(&env, false).await;
    assert_eq!(upstream_calls(&env).await, 1);
    check_all_same(&answers);
    // Nothing stored: the next identical request goes upstream again.
    assert_eq!(
        send(&env, &body("r", "Describe the moon in detail", false), &[])
            .await
            .cache,
        "miss"
    );
    assert_eq!(upstream_calls(&env).await, 2);
}
