//! Two gateways (each with its own simulator, so upstream calls are counted per gateway)
//! sharing one Redis. Skipped with a printed reason when REDIS_URL is unset.

use std::sync::Arc;

use crate::common::{body, env, send, upstream_calls};

struct Pair {
    a: Arc<switchyard_testkit::TestEnv>,
    b: Arc<switchyard_testkit::TestEnv>,
    url: String,
    prefix: String,
}

impl Pair {
    async fn cleanup(&self) {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut c)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    }
}

async fn pair() -> Option<Pair> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        println!(
            "skipped: REDIS_URL is not set (CI sets it; e.g. REDIS_URL=redis://127.0.0.1:6379)"
        );
        return None;
    };
    let prefix = format!("switchyard-test:{:016x}", fastrand::u64(..));
    let extra =
        format!("[state]\nurl = \"{url}\"\n[cache]\nenabled = true\nkey_prefix = \"{prefix}\"\n");
    let a = Arc::new(env(&extra).await);
    let b = Arc::new(env(&extra).await);
    Some(Pair { a, b, url, prefix })
}

#[tokio::test]
async fn an_answer_cached_by_one_gateway_is_served_by_the_other() {
    let Some(p) = pair().await else { return };
    for stream in [false, true] {
        let q = body("r", "Shared across replicas", stream);
        let first = send(&p.a, &q, &[]).await;
        assert_eq!((first.status, first.cache.as_str()), (200, "miss"));
        let second = send(&p.b, &q, &[]).await;
        assert_eq!((second.status, second.cache.as_str()), (200, "hit"));
        assert_eq!(second.text, first.text);
        assert_eq!(second.deltas, first.deltas);
    }
    assert_eq!(upstream_calls(&p.a).await, 2);
    assert_eq!(upstream_calls(&p.b).await, 0);
    // Tenants stay apart in the shared store too.
    let other = send(
        &p.b,
        &body("r", "Shared across replicas", false),
        &[("x-switchyard-cache-namespace", "x")],
    )
    .await;
    assert_eq!(other.cache, "miss");
    p.cleanup().await;
}

#[tokio::test]
async fn identical_requests_on_two_gateways_share_one_upstream_call() {
    let Some(p) = pair().await else { return };
    for stream in [false, true] {
        let q = body(
            "r",
            &format!("Coalesce me across replicas {stream}"),
            stream,
        );
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let env = if i % 2 == 0 { p.a.clone() } else { p.b.clone() };
                let q = q.clone();
                tokio::spawn(async move { send(&env, &q, &[]).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert!(
            answers
                .iter()
                .all(|a| a.status == 200 && a.text == answers[0].text && !a.text.is_empty())
        );
        assert_eq!(answers.iter().filter(|a| a.cache == "miss").count(), 1);
    }
    assert_eq!(upstream_calls(&p.a).await + upstream_calls(&p.b).await, 2);
    p.cleanup().await;
}

#[tokio::test]
async fn a_waiter_takes_over_when_the_owner_dies() {
    let Some(p) = pair().await else { return };
    let q = body("r", "Owner died", false);
    // Plant the lease a replica would hold while computing this request, as if that replica
    // had died right after taking it: nobody renews it and no outcome will come.
    let mut req: switchyard_core::ChatRequest = serde_json::from_value(q.clone()).unwrap();
    let controls = switchyard_engine::Controls::parse(&http::HeaderMap::new(), None, None).unwrap();
    let norm =
        switchyard_engine::cache::key::normalize(&mut req, "r", "anonymous", &controls, false);
    let lease = format!(
        "{}:l:{}",
        p.prefix,
        switchyard_engine::cache::key::hex(&norm.exact)
    );
    let client = redis::Client::open(p.url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&lease)
        .arg("dead-owner")
        .arg("PX")
        .arg(800)
        .query_async(&mut c)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let b = send(&p.b, &q, &[]).await;
    let waited = started.elapsed();
    assert_eq!((b.status, b.cache.as_str()), (200, "miss"));
    // It waited for the dead owner's lease to lapse, then computed itself.
    assert!(
        waited >= std::time::Duration::from_millis(700),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(3), "{waited:?}");
    assert_eq!(upstream_calls(&p.b).await, 1);
    let hub = &p.b.state.shared.cache;
    assert_eq!(
        switchyard_engine::cache::CacheCounters::get(&hub.counters.remote_waits),
        1
    );
    p.cleanup().await;
}
