use crate::common::{body, env_cached, send, upstream_calls};

#[tokio::test]
async fn near_duplicates_hit_and_numeric_near_misses_do_not() {
    let env = env_cached().await;
    let first = send(&env, &body("sem", "What is 1+1?", false), &[]).await;
    assert_eq!(first.cache, "miss");
    // Different text, same question: the exact key misses, the near-duplicate cache answers.
    let same = send(&env, &body("sem", "what is 1+1 ?", false), &[]).await;
    assert_eq!(same.cache, "semantic-hit");
    assert_eq!(same.text, first.text);
    let u = same.usage.unwrap();
    assert_eq!(u["cost"].as_f64(), Some(0.0));
    assert_eq!(u["cost_details"]["embedding"]["cost"].as_f64(), Some(0.0));
    // The numeric near miss must not get 1+1's answer.
    let other = send(&env, &body("sem", "What is 21+1?", false), &[]).await;
    assert_eq!(other.cache, "miss");
    assert_ne!(other.text, first.text);
    // Nor a negated or differently named question.
    assert_eq!(
        send(&env, &body("sem", "What is not 1+1?", false), &[])
            .await
            .cache,
        "miss"
    );
    assert_eq!(upstream_calls(&env).await, 3);
    let rec = env
        .records
        .all()
        .into_iter()
        .find(|r| r.cache == "semantic-hit")
        .unwrap();
    assert_eq!(rec.cost.map(|c| c.to_f64()), Some(0.0));
    let hub = &env.state.shared.cache;
    assert!(switchyard_engine::cache::CacheCounters::get(&hub.counters.embeddings) >= 3);
}

#[tokio::test]
async fn semantic_cache_is_partitioned_and_opt_in() {
    let env = env_cached().await;
    assert_eq!(
        send(&env, &body("sem", "What is 1+1?", false), &[])
            .await
            .cache,
        "miss"
    );
    // Another tenant does not see it, even semantically.
    let other_tenant = send(
        &env,
        &body("sem", "what is 1+1 ?", false),
        &[("x-switchyard-cache-namespace", "b")],
    )
    .await;
    assert_eq!(other_tenant.cache, "miss");
    // Another system prompt is another partition.
    let mut b = body("sem", "what is 1+1 ?", false);
    b["messages"] = serde_json::json!([{"role": "system", "content": "Answer in French"}, {"role": "user", "content": "what is 1+1 ?"}]);
    assert_eq!(send(&env, &b, &[]).await.cache, "miss");
    // Route `r` has only the exact cache.
    assert_eq!(
        send(&env, &body("r", "What is 1+1?", false), &[])
            .await
            .cache,
        "miss"
    );
    assert_eq!(
        send(&env, &body("r", "what is 1+1 ?", false), &[])
            .await
            .cache,
        "miss"
    );
}

#[tokio::test]
async fn similarity_observer_sees_lookups() {
    let env = env_cached().await;
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    env.state
        .shared
        .cache
        .set_similarity_observer(std::sync::Arc::new(move |v| s2.lock().push(v)));
    send(&env, &body("sem", "How do I bake bread?", false), &[]).await;
    send(&env, &body("sem", "How do I bake a cake?", false), &[]).await;
    let v = seen.lock().clone();
    assert_eq!(
        v.len(),
        1,
        "the first lookup found an empty partition: {v:?}"
    );
    assert!(v[0] > 0.3 && v[0] <= 1.0, "{v:?}");
}
