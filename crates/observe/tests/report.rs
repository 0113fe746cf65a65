mod common;

use common::{rec, usd};
use switchyard_core::AttemptRecord;
use switchyard_observe::report::{render_table, report, report_from};
use switchyard_observe::store::{GroupBy, PgStore, SqliteStore, Store};

const T0: i64 = 1_700_000_000_000;

/// 11 requests on model a (10 priced, 1 unpriced), 3 on model b (one cache hit, one 500 after
/// a fallback).
fn seed() -> Vec<switchyard_core::RequestRecord> {
    let mut v = Vec::new();
    for i in 0..10 {
        v.push(rec(
            &format!("a{i}"),
            T0 + i,
            "openai/a",
            Some("0.000123456"),
            10.0 * (i + 1) as f64,
        ));
    }
    v.push(rec("a-unpriced", T0 + 20, "openai/a", None, 200.0));
    let mut b1 = rec("b1", T0 + 30, "anthropic/b", Some("0.5"), 1.0);
    b1.cache = "hit".into();
    let mut b2 = rec("b2", T0 + 31, "anthropic/b", Some("0.25"), 2.0);
    b2.status = 500;
    b2.attempts.insert(
        0,
        AttemptRecord {
            model: "openai/a".into(),
            provider: "openai".into(),
            outcome: "429".into(),
            latency_ms: 1.0,
            cost: None,
            cost_estimated: false,
        },
    );
    b2.escalations = 1;
    let b3 = rec("b3", T0 + 32, "anthropic/b", Some("0.000000001"), 3.0);
    v.extend([b1, b2, b3]);
    v
}

async fn check(store: &dyn Store) {
    let recs = seed();
    store.write_batch(&recs).await.expect("write");
    // Idempotent: the same batch again adds nothing.
    store.write_batch(&recs).await.expect("rewrite");

    let rows = report_from(store, T0, T0 + 1000, GroupBy::Model)
        .await
        .expect("report");
    assert_eq!(rows.len(), 2);
    let b = &rows[0];
    assert_eq!(b.key, "anthropic/b");
    assert_eq!(b.requests, 3);
    assert_eq!(b.spend, usd("0.750000001"));
    assert_eq!(b.errors, 1);
    assert_eq!(b.cache_hits, 1);
    assert!((b.cache_hit_rate - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(b.fallbacks, 1);
    assert_eq!(b.escalations, 1);
    assert_eq!(
        (b.p50_ms, b.p95_ms, b.p99_ms),
        (Some(2.0), Some(3.0), Some(3.0))
    );

    let a = &rows[1];
    assert_eq!(a.key, "openai/a");
    assert_eq!(a.requests, 11);
    assert_eq!(a.spend, usd("0.00123456"));
    assert_eq!(a.unknown_cost_requests, 1);
    assert_eq!(a.baseline, usd("0.1"));
    assert_eq!(a.saved, usd("0.09876544"));
    assert_eq!(a.input_tokens, 1100);
    assert_eq!(a.output_tokens, 550);
    // Nearest rank over 10,20,...,100,200.
    assert_eq!(
        (a.p50_ms, a.p95_ms, a.p99_ms),
        (Some(60.0), Some(200.0), Some(200.0))
    );

    let by_provider = report_from(store, T0, T0 + 1000, GroupBy::Provider)
        .await
        .expect("p");
    let keys: Vec<_> = by_provider.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["anthropic", "openai"]);
    let all = report_from(store, T0, T0 + 1000, GroupBy::All)
        .await
        .expect("all");
    assert_eq!(all[0].requests, 14);
    assert_eq!(all[0].spend, usd("0.751234561"));
    // The window excludes what is outside it.
    let late = report_from(store, T0 + 30, T0 + 1000, GroupBy::All)
        .await
        .expect("late");
    assert_eq!(late[0].requests, 3);

    let table = render_table(&rows, GroupBy::Model);
    assert!(table.starts_with("model"), "{table}");
    assert!(table.contains("0.750000001"), "{table}");
    assert!(
        table.lines().last().is_some_and(|l| l.starts_with("TOTAL")),
        "{table}"
    );
    let json = serde_json::to_value(&rows).expect("json");
    assert_eq!(json[1]["spend"], "0.00123456");
}

#[tokio::test]
async fn sqlite_round_trip_and_report() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.sqlite");
    let store = SqliteStore::open(path.clone()).await.expect("open");
    check(&store).await;
    // Reopening migrates nothing twice and keeps the rows.
    let again = SqliteStore::open(path.clone()).await.expect("reopen");
    assert_eq!(again.count_id("a3").await.expect("c"), 1);
    // The CLI entry: a path, a window back from now (the seed is in 2023, so nothing).
    let rows = report(
        path.to_str().expect("utf8"),
        std::time::Duration::from_secs(3600),
        GroupBy::Model,
    )
    .await
    .expect("report");
    assert!(rows.is_empty());
    assert!(
        report(
            "/nonexistent/log.sqlite",
            std::time::Duration::from_secs(1),
            GroupBy::Model
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn postgres_round_trip_and_report() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: DATABASE_URL is not set (postgres://user@host/db to run this test)");
        return;
    };
    let schema = format!("switchyard_test_{:016x}", fastrand::u64(..));
    let store = PgStore::connect(&url, Some(&schema))
        .await
        .expect("connect");
    check(&store).await;
    // Migrations are idempotent across connections.
    let again = PgStore::connect(&url, Some(&schema))
        .await
        .expect("reconnect");
    assert_eq!(again.count_id("b2").await.expect("c"), 1);
    store.drop_schema().await.expect("drop schema");
}
