mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::rec;
use parking_lot::Mutex;
use switchyard_core::RequestRecord;
use switchyard_observe::store::{AggQuery, AggRow, GroupBy, SqliteStore, Store, StoreError};
use switchyard_observe::{RequestLog, StoreConfig};

const OK: u8 = 0;
const HANG: u8 = 1;
const FAIL: u8 = 2;

/// A SQLite store that can be told to hang forever or to fail, and that records batch sizes.
struct Flaky {
    inner: SqliteStore,
    mode: AtomicU8,
    batches: Mutex<Vec<usize>>,
    calls: AtomicUsize,
}

#[async_trait]
impl Store for Flaky {
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode.load(Ordering::SeqCst) {
            HANG => std::future::pending().await,
            FAIL => Err(StoreError::Other("down".into())),
            _ => {
                self.batches.lock().push(records.len());
                self.inner.write_batch(records).await
            }
        }
    }
    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.inner.delete_before(cutoff_ms).await
    }
    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError> {
        self.inner.aggregate(q).await
    }
    async fn latencies(
        &self,
        s: i64,
        u: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.inner.latencies(s, u, by).await
    }
    async fn count_id(&self, id: &str) -> Result<i64, StoreError> {
        self.inner.count_id(id).await
    }
}

async fn flaky(dir: &std::path::Path) -> Arc<Flaky> {
    Arc::new(Flaky {
        inner: SqliteStore::open(dir.join("log.sqlite"))
            .await
            .expect("open"),
        mode: AtomicU8::new(OK),
        batches: Mutex::new(Vec::new()),
        calls: AtomicUsize::new(0),
    })
}

fn cfg(timeout_ms: u64, capacity: usize) -> StoreConfig {
    StoreConfig {
        batch_size: 256,
        flush_ms: 50,
        write_timeout_ms: timeout_ms,
        queue_capacity: capacity,
        // The records carry 1970 timestamps; retention would delete them under the test.
        retention_days: 0,
        ..StoreConfig::default()
    }
}

async fn total_rows(store: &dyn Store) -> i64 {
    let q = AggQuery {
        since_ms: 0,
        until_ms: i64::MAX,
        by: GroupBy::All,
        bucket_ms: None,
    };
    store
        .aggregate(q)
        .await
        .expect("agg")
        .iter()
        .map(|r| r.requests)
        .sum()
}

#[tokio::test]
async fn batches_records_instead_of_writing_one_by_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = flaky(dir.path()).await;
    let log = RequestLog::start(&cfg(5000, 10_000), store.clone(), dir.path().join("spill"));
    for i in 0..1000 {
        assert!(log.try_log(rec(
            &format!("r{i}"),
            1000 + i,
            "openai/gpt-4o-mini",
            Some("0.001"),
            10.0
        )));
    }
    assert!(log.flush().await);
    let batches = store.batches.lock().clone();
    assert_eq!(batches.iter().sum::<usize>(), 1000, "{batches:?}");
    assert!(batches.iter().all(|b| *b <= 256), "{batches:?}");
    assert!(
        batches.len() <= 8,
        "records were not batched: {} writes",
        batches.len()
    );
    assert_eq!(total_rows(store.as_ref()).await, 1000);
    assert_eq!(log.counters().written.load(Ordering::Relaxed), 1000);
}

#[tokio::test]
async fn hung_store_never_blocks_and_spill_replays_exactly_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = flaky(dir.path()).await;
    store.mode.store(HANG, Ordering::SeqCst);
    let spill = dir.path().join("spill.jsonl");
    let log = RequestLog::start(&cfg(100, 10_000), store.clone(), spill.clone());

    for i in 0..600 {
        let t = Instant::now();
        assert!(log.try_log(rec(
            &format!("h{i}"),
            1000 + i,
            "m/a",
            Some("0.000002"),
            5.0
        )));
        // Generous bound: a blocked call would take the 100 ms write timeout or forever.
        assert!(t.elapsed() < Duration::from_millis(50), "try_log blocked");
    }
    assert!(!log.flush().await, "store is hung, records cannot be in it");
    let c = log.counters();
    assert_eq!(c.spilled.load(Ordering::Relaxed), 600);
    assert_eq!(c.dropped.load(Ordering::Relaxed), 0);
    let lines = std::fs::read_to_string(&spill)
        .expect("spill")
        .lines()
        .count();
    assert_eq!(lines, 600);
    assert_eq!(total_rows(&store.inner).await, 0);

    // Recovery: the next flush probes, replays the spill, truncates it.
    store.mode.store(OK, Ordering::SeqCst);
    log.try_log(rec("after", 5000, "m/a", Some("0.000002"), 5.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(log.flush().await);
    assert_eq!(total_rows(&store.inner).await, 601);
    for i in [0, 299, 599] {
        assert_eq!(
            store.inner.count_id(&format!("h{i}")).await.expect("count"),
            1
        );
    }
    assert_eq!(std::fs::metadata(&spill).expect("meta").len(), 0);
    log.shutdown().await;
}

#[tokio::test]
async fn failing_store_spills_and_a_repeated_replay_adds_nothing_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = flaky(dir.path()).await;
    // Half the records land before the store fails; they are spilled again later and replayed
    // a second time, as after a crash between replay and truncate.
    let spill = dir.path().join("spill.jsonl");
    let log = RequestLog::start(&cfg(1000, 10_000), store.clone(), spill.clone());
    let recs: Vec<_> = (0..20)
        .map(|i| rec(&format!("f{i}"), 10 + i, "m/b", None, 3.0))
        .collect();
    store
        .inner
        .write_batch(&recs[..10])
        .await
        .expect("pre-write");
    store.mode.store(FAIL, Ordering::SeqCst);
    for r in &recs {
        log.try_log(r.clone());
    }
    assert!(!log.flush().await);
    assert_eq!(log.counters().spilled.load(Ordering::Relaxed), 20);
    let copy = std::fs::read(&spill).expect("spill");

    store.mode.store(OK, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(log.flush().await);
    assert_eq!(total_rows(&store.inner).await, 20);

    // Crash between replay and truncate: the old spill file comes back and is replayed again.
    log.shutdown().await;
    std::fs::write(&spill, copy).expect("restore");
    let log = RequestLog::start(&cfg(1000, 10_000), store.clone(), spill.clone());
    assert!(log.flush().await);
    assert_eq!(total_rows(&store.inner).await, 20);
    assert_eq!(store.inner.count_id("f3").await.expect("count"), 1);
}

#[tokio::test]
async fn full_queue_drops_and_counts_but_never_waits() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = flaky(dir.path()).await;
    store.mode.store(HANG, Ordering::SeqCst);
    let cfg = StoreConfig {
        batch_size: 4,
        ..cfg(200, 8)
    };
    let log = RequestLog::start(&cfg, store.clone(), dir.path().join("spill"));
    let mut accepted = 0u64;
    let t = Instant::now();
    for i in 0..200 {
        if log.try_log(rec(&format!("q{i}"), i, "m/c", Some("0.1"), 1.0)) {
            accepted += 1;
        }
    }
    assert!(t.elapsed() < Duration::from_millis(100));
    let c = log.counters();
    let dropped = c.dropped.load(Ordering::Relaxed);
    assert!(
        dropped > 0,
        "an 8-slot queue behind a hung store must overflow"
    );
    assert_eq!(accepted + dropped, 200);
    store.mode.store(OK, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(log.flush().await);
    assert_eq!(total_rows(&store.inner).await as u64, accepted);
}

#[tokio::test]
async fn retention_deletes_old_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(dir.path().join("r.sqlite"))
        .await
        .expect("open");
    let now = switchyard_observe::log::now_ms();
    let old = rec("old", now - 40 * 86_400_000, "m/a", Some("1"), 1.0);
    let new = rec("new", now, "m/a", Some("1"), 1.0);
    store.write_batch(&[old, new]).await.expect("write");
    let log = RequestLog::start(
        &StoreConfig {
            retention_days: 30,
            ..StoreConfig::default()
        },
        Arc::new(store.clone()),
        dir.path().join("spill"),
    );
    // Retention runs once at start, then hourly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    log.flush().await;
    assert_eq!(store.count_id("old").await.expect("c"), 0);
    assert_eq!(store.count_id("new").await.expect("c"), 1);
}

/// `open_deferred` (what `switchyard serve` uses so that it listens before the database
/// answers): records logged while the store cannot be opened spill, and land once it opens.
#[tokio::test]
async fn deferred_store_that_cannot_open_yet_spills_then_lands_every_record() {
    let dir = tempfile::tempdir().expect("tmp");
    // A regular file where the database's directory should be: the open fails until it is
    // replaced by a directory.
    let blocker = dir.path().join("db");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let cfg = StoreConfig {
        url: Some(blocker.join("log.sqlite").display().to_string()),
        spill_path: Some(dir.path().join("spill.jsonl")),
        ..cfg(1000, 10_000)
    };
    let (log, store) = RequestLog::open_deferred(&cfg, dir.path());
    for i in 0..5 {
        assert!(log.try_log(rec(&format!("d{i}"), 10 + i, "m/d", None, 1.0)));
    }
    assert!(
        !log.flush().await,
        "nothing can be in a store that does not open"
    );
    assert_eq!(log.counters().spilled.load(Ordering::Relaxed), 5);
    assert!(store.count_id("d0").await.is_err());

    std::fs::remove_file(&blocker).expect("rm");
    std::fs::create_dir(&blocker).expect("mkdir");
    assert!(
        log.flush().await,
        "the spill is replayed once the store opens"
    );
    assert_eq!(total_rows(store.as_ref()).await, 5);
    assert_eq!(log.counters().dropped.load(Ordering::Relaxed), 0);
}
