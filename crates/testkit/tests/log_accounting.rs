//! The request log tells the same story as the client: for every provider kind, streamed and
//! not, with a fallback, the stored cost and tokens equal what the client was told — in
//! SQLite, and in PostgreSQL when DATABASE_URL is set. And a stalled store never holds a
//! request: records spill and arrive exactly once after the store returns.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use switchyard_core::RequestRecord;
use switchyard_engine::RecordSink;
use switchyard_observe::store::{
    AggQuery, AggRow, GroupBy, PgStore, SqliteStore, Store, StoreError,
};
use switchyard_observe::{RequestLog, StoreConfig};
use switchyard_sim::SimConfig;
use switchyard_testkit::{DEMO_CONFIG, TestEnv, sse_data};

struct LogSink(RequestLog);

impl RecordSink for LogSink {
    fn record(&self, rec: RequestRecord) {
        self.0.try_log(rec);
    }
}

const MODELS: &[&str] = &[
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-haiku",
    "google/gemini-2.0-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-latest",
    "together/llama-3.3-70b",
    "groq/llama-3.1-8b-instant",
];

/// What the client was told, summed per served model: (cost in USD, prompt tokens, completion tokens).
type Told = BTreeMap<String, (Decimal, u64, u64)>;

fn add(told: &mut Told, model: &str, usage: &Value) {
    let e = told.entry(model.to_owned()).or_default();
    e.0 += usage["cost"]
        .to_string()
        .parse::<Decimal>()
        .expect("a known cost");
    e.1 += usage["prompt_tokens"].as_u64().unwrap();
    e.2 += usage["completion_tokens"].as_u64().unwrap();
}

async fn workload(env: &TestEnv) -> Told {
    let mut told = Told::new();
    for (i, model) in MODELS.iter().enumerate() {
        for stream in [false, true] {
            // Distinct prompts, so a response cache cannot serve any of these.
            let body = json!({"model": model, "stream": stream, "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
                "messages": [{"role": "user", "content": format!("Accounting check {i} {stream}: say something")}]});
            let mut body = body;
            if !stream {
                body.as_object_mut().unwrap().remove("stream_options");
            }
            let r = env.chat(&body).await;
            assert_eq!(r.status(), 200, "{model}");
            let served = r.headers()["x-switchyard-model"]
                .to_str()
                .unwrap()
                .to_owned();
            let usage = if stream {
                let events = sse_data(&r.text().await.unwrap());
                events
                    .iter()
                    .find_map(|e| e.get("usage").filter(|u| !u.is_null()).cloned())
                    .unwrap()
            } else {
                r.json::<Value>().await.unwrap()["usage"].clone()
            };
            add(&mut told, &served, &usage);
        }
    }
    // A fallback: the primary of `fast` fails, the next candidate answers and is billed.
    env.inject(&json!({"model": "gemini-2.0-flash", "kind": "503", "rate": 1.0}))
        .await;
    let r = env.chat(&json!({"model": "fast", "messages": [{"role": "user", "content": "fallback accounting"}]})).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["x-switchyard-attempts"]
            .to_str()
            .unwrap()
            .contains(":503,")
    );
    let served = r.headers()["x-switchyard-model"]
        .to_str()
        .unwrap()
        .to_owned();
    add(
        &mut told,
        &served,
        &r.json::<Value>().await.unwrap()["usage"],
    );
    told
}

async fn stored(store: &dyn Store) -> BTreeMap<String, AggRow> {
    let rows = store
        .aggregate(AggQuery {
            since_ms: 0,
            until_ms: i64::MAX,
            by: GroupBy::Model,
            bucket_ms: None,
        })
        .await
        .unwrap();
    rows.into_iter().map(|r| (r.key.clone(), r)).collect()
}

async fn check_log_matches_client(store: Arc<dyn Store>, dir: &std::path::Path) {
    let log = RequestLog::start(
        &StoreConfig::default(),
        store.clone(),
        dir.join("spill.jsonl"),
    );
    let log = Arc::new(LogSink(log));
    let env =
        TestEnv::start_with_sink(SimConfig::default_models(), DEMO_CONFIG, Some(log.clone())).await;
    let told = workload(&env).await;
    assert!(log.0.flush().await, "every record reached the store");
    let rows = stored(store.as_ref()).await;
    for (model, (cost, prompt, completion)) in &told {
        let row = rows
            .get(model)
            .unwrap_or_else(|| panic!("no rows for {model}: {rows:?}"));
        // The store keeps nano-dollars; the client sees the exact decimal.
        let want_nanos = (cost * Decimal::from(1_000_000_000u64)).round();
        assert_eq!(
            Decimal::from(row.cost_nanos),
            want_nanos,
            "{model}: stored cost vs told"
        );
        assert_eq!(row.unknown_cost, 0, "{model}");
        let stored_prompt =
            u64::try_from(row.input_tokens + row.cached_input_tokens + row.cache_write_tokens)
                .unwrap();
        assert_eq!(stored_prompt, *prompt, "{model}: prompt tokens");
        assert_eq!(
            u64::try_from(row.output_tokens).unwrap(),
            *completion,
            "{model}: completion tokens"
        );
    }
    // The fallback request stored its failed attempt too.
    let fast_fallbacks: i64 = rows.values().map(|r| r.fallbacks).sum();
    assert!(fast_fallbacks >= 1, "{rows:?}");
}

#[tokio::test]
async fn sqlite_log_matches_what_clients_were_told() {
    let dir = std::env::temp_dir().join(format!("sy-logacct-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("log.sqlite")).await.unwrap());
    check_log_matches_client(store, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn postgres_log_matches_what_clients_were_told() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "skipped: DATABASE_URL is not set (postgres://user@host/db runs this against PostgreSQL)"
        );
        return;
    };
    let schema = format!("switchyard_test_{:016x}", fastrand::u64(..));
    let pg = Arc::new(PgStore::connect(&url, Some(&schema)).await.unwrap());
    let dir = std::env::temp_dir().join(format!("sy-logacct-pg-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    check_log_matches_client(pg.clone(), &dir).await;
    pg.drop_schema().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store that hangs every write while `stalled` is set.
struct Stallable {
    inner: SqliteStore,
    stalled: AtomicBool,
}

#[async_trait::async_trait]
impl Store for Stallable {
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        while self.stalled.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.inner.write_batch(records).await
    }
    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.inner.delete_before(cutoff_ms).await
    }
    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError> {
        self.inner.aggregate(q).await
    }
    async fn latencies(
        &self,
        since_ms: i64,
        until_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.inner.latencies(since_ms, until_ms, by).await
    }
    async fn count_id(&self, request_id: &str) -> Result<i64, StoreError> {
        self.inner.count_id(request_id).await
    }
}

#[tokio::test]
async fn a_stalled_store_never_holds_a_request_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("sy-stall-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(Stallable {
        inner: SqliteStore::open(dir.join("log.sqlite")).await.unwrap(),
        stalled: AtomicBool::new(true),
    });
    let cfg = StoreConfig {
        write_timeout_ms: 100,
        flush_ms: 20,
        ..StoreConfig::default()
    };
    let log = Arc::new(LogSink(RequestLog::start(
        &cfg,
        store.clone(),
        dir.join("spill.jsonl"),
    )));
    let env =
        TestEnv::start_with_sink(SimConfig::default_models(), DEMO_CONFIG, Some(log.clone())).await;
    let mut ids = Vec::new();
    let t0 = Instant::now();
    for i in 0..40 {
        let r = env.chat(&json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": format!("stall {i}")}]})).await;
        assert_eq!(r.status(), 200);
        ids.push(
            r.headers()["x-switchyard-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    // 40 requests of ~20 ms simulated latency each; a store that held requests would add 100 ms+ each.
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "requests waited on the stalled store: {:?}",
        t0.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        log.0.counters().spilled.load(Ordering::Relaxed) > 0,
        "records spilled while the store hung"
    );
    assert_eq!(store.inner.count_id(&ids[0]).await.unwrap(), 0);
    store.stalled.store(false, Ordering::Relaxed);
    let mut flushed = false;
    for _ in 0..100 {
        if log.0.flush().await {
            flushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        flushed,
        "the spill file was replayed once the store answered"
    );
    for id in &ids {
        assert_eq!(
            store.inner.count_id(id).await.unwrap(),
            1,
            "{id} stored exactly once"
        );
    }
    assert_eq!(log.0.counters().dropped.load(Ordering::Relaxed), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
