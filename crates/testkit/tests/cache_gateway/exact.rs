use std::time::Duration;

use serde_json::json;

use crate::common::{body, env, env_cached, send, upstream_calls};

#[tokio::test]
async fn a_repeat_is_a_free_hit_with_the_saving_recorded() {
    let env = env_cached().await;
    let b = body("r", "Name three colours", false);
    let first = send(&env, &b, &[]).await;
    assert_eq!((first.status, first.cache.as_str()), (200, "miss"));
    let second = send(&env, &b, &[]).await;
    assert_eq!((second.status, second.cache.as_str()), (200, "hit"));
    assert!(first.attempts.ends_with(":ok"), "{}", first.attempts);
    // No upstream attempt: the header names the cache, never an empty value.
    assert_eq!(second.attempts, "cache:hit");
    assert_eq!(second.text, first.text);
    assert_eq!(upstream_calls(&env).await, 1);
    let paid = first.usage.as_ref().unwrap()["cost"].as_f64().unwrap();
    assert!(paid > 0.0);
    let u = second.usage.unwrap();
    assert_eq!(u["cost"].as_f64(), Some(0.0));
    assert_eq!(u["cost_details"]["saved"].as_f64(), Some(paid));
    assert_eq!(u["cost_details"]["cache"], "hit");
    let recs = env.records.all();
    let hit = recs.iter().find(|r| r.cache == "hit").expect("hit record");
    assert_eq!(hit.cost.map(|c| c.to_f64()), Some(0.0));
    assert_eq!(hit.saved().map(|c| c.to_f64()), Some(paid));
    assert_eq!(recs.iter().filter(|r| r.cache == "miss").count(), 1);
}

#[tokio::test]
async fn a_stream_is_replayed_with_its_original_chunking() {
    let env = env_cached().await;
    let b = body("r", "Tell me about rivers", true);
    let first = send(&env, &b, &[]).await;
    assert_eq!((first.status, first.cache.as_str()), (200, "miss"));
    assert!(first.deltas.len() > 3, "{:?}", first.deltas);
    let second = send(&env, &b, &[]).await;
    assert_eq!((second.status, second.cache.as_str()), (200, "hit"));
    assert_eq!(second.deltas, first.deltas);
    assert_eq!(second.usage.unwrap()["cost"].as_f64(), Some(0.0));
    // The JSON form of the same question is a different entry (stream mode is in the key).
    let j = send(&env, &body("r", "Tell me about rivers", false), &[]).await;
    assert_eq!(j.cache, "miss");
    assert_eq!(upstream_calls(&env).await, 2);
}

#[tokio::test]
async fn route_ttl_expires() {
    let env = env_cached().await;
    let b = body("short", "What is the capital of France?", false);
    assert_eq!(send(&env, &b, &[]).await.cache, "miss");
    assert_eq!(send(&env, &b, &[]).await.cache, "hit");
    // The route's ttl is 300 ms.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(send(&env, &b, &[]).await.cache, "miss");
    assert_eq!(upstream_calls(&env).await, 2);
}

#[tokio::test]
async fn cache_control_no_store_no_cache_and_max_age() {
    let env = env_cached().await;
    let b = body("r", "Spell banana", false);
    let first = send(&env, &b, &[]).await;
    assert_eq!(first.cache, "miss");
    // no-store: straight upstream, nothing read or written.
    let ns = send(&env, &b, &[("cache-control", "no-store")]).await;
    assert_eq!((ns.status, ns.cache.as_str()), (200, "bypass"));
    assert_eq!(upstream_calls(&env).await, 2);
    // no-cache: a fresh answer, which then replaces the stored one.
    let nc = send(&env, &b, &[("cache-control", "no-cache")]).await;
    assert_eq!((nc.status, nc.cache.as_str()), (200, "miss"));
    assert_eq!(upstream_calls(&env).await, 3);
    assert_eq!(send(&env, &b, &[]).await.cache, "hit");
    // max-age=0 refuses an answer older than 0 s ...
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let old = send(&env, &b, &[("cache-control", "max-age=0")]).await;
    assert_eq!(old.cache, "miss");
    // ... and max-age=60 accepts the one just stored.
    assert_eq!(
        send(&env, &b, &[("cache-control", "max-age=60")])
            .await
            .cache,
        "hit"
    );
    assert_eq!(upstream_calls(&env).await, 4);
    let recs = env.records.all();
    assert_eq!(recs.iter().filter(|r| r.cache == "bypass").count(), 1);
}

#[tokio::test]
async fn max_age_sets_the_ttl_of_what_it_stores() {
    let env = env_cached().await;
    let b = body("r", "Count to two", false);
    assert_eq!(
        send(&env, &b, &[("cache-control", "max-age=1")])
            .await
            .cache,
        "miss"
    );
    assert_eq!(send(&env, &b, &[]).await.cache, "hit");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(send(&env, &b, &[]).await.cache, "miss");
}

#[tokio::test]
async fn tenants_never_see_each_others_answers() {
    let env = env_cached().await;
    let b = body("r", "What is my secret?", false);
    let a = send(&env, &b, &[("x-switchyard-cache-namespace", "tenant-a")]).await;
    assert_eq!(a.cache, "miss");
    let bb = send(&env, &b, &[("x-switchyard-cache-namespace", "tenant-b")]).await;
    assert_eq!(bb.cache, "miss");
    assert_eq!(
        send(&env, &b, &[("x-switchyard-cache-namespace", "tenant-a")])
            .await
            .cache,
        "hit"
    );
    assert_eq!(upstream_calls(&env).await, 2);
}

#[tokio::test]
async fn gateway_keys_are_tenants() {
    let env = env(
        "[server]\napi_keys = [\"plain:key-one\", \"plain:key-two\"]\n[cache]\nenabled = true\n",
    )
    .await;
    let b = body("r", "Hello there", false);
    let one = [("authorization", "Bearer key-one")];
    let two = [("authorization", "Bearer key-two")];
    assert_eq!(send(&env, &b, &one).await.cache, "miss");
    assert_eq!(send(&env, &b, &two).await.cache, "miss");
    assert_eq!(send(&env, &b, &one).await.cache, "hit");
    assert_eq!(send(&env, &b, &two).await.cache, "hit");
}

#[tokio::test]
async fn nondeterministic_requests_bypass_unless_the_route_opts_in() {
    let env = env("[cache]\nenabled = true\n[routes.r.cache]\nnondeterministic = false\n").await;
    let b = json!({"model": "r", "messages": [{"role": "user", "content": "Write a poem"}]});
    assert_eq!(send(&env, &b, &[]).await.cache, "bypass");
    assert_eq!(send(&env, &b, &[]).await.cache, "bypass");
    let b7 = json!({"model": "r", "temperature": 0.7, "messages": [{"role": "user", "content": "Write a poem"}]});
    assert_eq!(send(&env, &b7, &[]).await.cache, "bypass");
    assert_eq!(upstream_calls(&env).await, 3);
    let env2 = crate::common::env("[cache]\nenabled = true\nnondeterministic = true\n").await;
    assert_eq!(send(&env2, &b7, &[]).await.cache, "miss");
    assert_eq!(send(&env2, &b7, &[]).await.cache, "hit");
}

#[tokio::test]
async fn no_cache_section_means_no_cache() {
    let env = env("").await;
    let b = body("r", "Hi", false);
    assert_eq!(send(&env, &b, &[]).await.cache, "bypass");
    assert_eq!(send(&env, &b, &[]).await.cache, "bypass");
    assert_eq!(upstream_calls(&env).await, 2);
}
