//! The request log: `try_log` hands a record to a bounded channel and returns at once; one
//! writer task batches records into the store. A store that errors or stalls past the write
//! timeout sends batches to the spill file instead, and the writer probes it with backoff;
//! once it answers, the spill is replayed and truncated. A record is lost only when the channel
//! is full or the spill write itself fails, and then it is counted in `dropped`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_core::RequestRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::StoreConfig;
use crate::spill::Spill;
use crate::store::{DeferredStore, Store, StoreError, open_store};

const PROBE_MIN: Duration = Duration::from_millis(250);
const PROBE_MAX: Duration = Duration::from_secs(30);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Records lost: channel full, or the spill write failed.
    pub dropped: AtomicU64,
    /// Records written to the spill file.
    pub spilled: AtomicU64,
    /// Records committed to the store (replays included).
    pub written: AtomicU64,
}

enum Msg {
    Record(Box<RequestRecord>),
    Flush(oneshot::Sender<bool>),
}

pub struct RequestLog {
    tx: mpsc::Sender<Msg>,
    counters: Arc<LogCounters>,
    task: tokio::task::JoinHandle<()>,
}

impl RequestLog {
    /// Opens the configured store (SQLite next to the config by default) and starts the writer.
    /// The store handle is returned too, for the report and dashboard reads.
    pub async fn open(
        cfg: &StoreConfig,
        config_dir: &Path,
    ) -> Result<(RequestLog, Arc<dyn Store>), StoreError> {
        let store = open_store(&cfg.target(config_dir)).await?;
        let log = RequestLog::start(cfg, store.clone(), cfg.spill_file(config_dir));
        Ok((log, store))
    }

    /// Like [`RequestLog::open`], but returns at once: the store opens in the background
    /// ([`DeferredStore`]) while records queue, so the gateway can listen without waiting for
    /// the database. A store that cannot be opened is treated as down (records spill).
    pub fn open_deferred(cfg: &StoreConfig, config_dir: &Path) -> (RequestLog, Arc<dyn Store>) {
        let store: Arc<dyn Store> = DeferredStore::open(cfg.target(config_dir));
        let log = RequestLog::start(cfg, store.clone(), cfg.spill_file(config_dir));
        (log, store)
    }

    /// Starts the writer task on the current tokio runtime.
    pub fn start(cfg: &StoreConfig, store: Arc<dyn Store>, spill_path: PathBuf) -> RequestLog {
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let counters = Arc::new(LogCounters::default());
        let spill = Spill::new(spill_path);
        let writer = Writer {
            pending: spill.has_data(),
            store,
            spill,
            batch_size: cfg.batch_size.max(1),
            write_timeout: Duration::from_millis(cfg.write_timeout_ms.max(1)),
            healthy: true,
            next_probe: Instant::now(),
            backoff: PROBE_MIN,
            counters: counters.clone(),
        };
        let task = tokio::spawn(writer.run(
            rx,
            Duration::from_millis(cfg.flush_ms.max(1)),
            cfg.retention_days,
        ));
        RequestLog { tx, counters, task }
    }

    /// Queues the record; never waits. False (and counted as dropped) when the queue is full.
    pub fn try_log(&self, rec: RequestRecord) -> bool {
        match self.tx.try_send(Msg::Record(Box::new(rec))) {
            Ok(()) => true,
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Writes (or spills) everything queued before this call, then replays the spill file if
    /// the store answers. True when the store holds every record logged so far.
    pub async fn flush(&self) -> bool {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_err() {
            return false;
        }
        done.await.unwrap_or(false)
    }

    /// Stops accepting, writes what is queued, and waits for the writer to finish.
    pub async fn shutdown(self) {
        let RequestLog { tx, task, .. } = self;
        drop(tx);
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "request log writer ended abnormally");
        }
    }

    pub fn counters(&self) -> Arc<LogCounters> {
        self.counters.clone()
    }
}

struct Writer {
    store: Arc<dyn Store>,
    spill: Spill,
    batch_size: usize,
    write_timeout: Duration,
    /// The last store write succeeded; when false, batches go straight to the spill file
    /// until `next_probe`, so a dead store costs one timeout per probe, not per batch.
    healthy: bool,
    /// The spill file holds records not yet replayed.
    pending: bool,
    next_probe: Instant,
    backoff: Duration,
    counters: Arc<LogCounters>,
}

impl Writer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Msg>,
        flush_every: Duration,
        retention_days: u32,
    ) {
        let mut buf: Vec<RequestRecord> = Vec::with_capacity(self.batch_size);
        let mut ticker = tokio::time::interval(flush_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retention = tokio::time::interval(RETENTION_EVERY);
        retention.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Everything queued is taken in one wake-up: one `select!` round per record cost more
        // than the record's own handling at high request rates.
        let mut msgs: Vec<Msg> = Vec::with_capacity(self.batch_size.min(256));
        loop {
            tokio::select! {
                n = rx.recv_many(&mut msgs, self.batch_size.clamp(1, 256)) => {
                    if n == 0 {
                        self.write(&mut buf).await;
                        if self.pending {
                            self.replay().await;
                        }
                        return;
                    }
                    for msg in msgs.drain(..) {
                        match msg {
                            Msg::Record(r) => {
                                buf.push(*r);
                                if buf.len() >= self.batch_size {
                                    self.write(&mut buf).await;
                                }
                            }
                            Msg::Flush(ack) => {
                                self.write(&mut buf).await;
                                if self.pending {
                                    self.replay().await;
                                }
                                let _ = ack.send(!self.pending && self.healthy);
                            }
                        }
                    }
                }
                _ = ticker.tick() => {
                    self.write(&mut buf).await;
                    if self.pending && (self.healthy || Instant::now() >= self.next_probe) {
                        self.replay().await;
                    }
                }
                _ = retention.tick(), if retention_days > 0 => {
                    self.apply_retention(retention_days).await;
                }
            }
        }
    }

    async fn write(&mut self, buf: &mut Vec<RequestRecord>) {
        if buf.is_empty() {
            return;
        }
        // Handed over whole (moved, not cloned record by record); kept for the spill if the
        // store fails.
        let batch: Arc<[RequestRecord]> = std::mem::take(buf).into();
        buf.reserve(batch.len());
        if self.healthy || Instant::now() >= self.next_probe {
            match self.store_write(batch.clone()).await {
                Ok(()) => {
                    self.counters
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.mark_healthy();
                    if self.pending {
                        self.replay().await;
                    }
                    return;
                }
                Err(e) => self.mark_down(&e),
            }
        }
        self.spill_batch(&batch).await;
    }

    async fn store_write(&self, batch: Arc<[RequestRecord]>) -> Result<(), StoreError> {
        match tokio::time::timeout(self.write_timeout, self.store.write_owned(batch)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Other(format!(
                "batch write exceeded {:?}",
                self.write_timeout
            ))),
        }
    }

    async fn spill_batch(&mut self, batch: &[RequestRecord]) {
        match self.spill.append(batch).await {
            Ok(()) => {
                self.pending = true;
                self.counters
                    .spilled
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(error = %e, path = %self.spill.path().display(),
                    records = batch.len(), "request log: spill write failed, records dropped");
            }
        }
    }

    /// Moves the spill file into the store, in batches; truncates it only when all landed.
    async fn replay(&mut self) {
        let records = match self.spill.read_all().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "request log: cannot read spill file");
                return;
            }
        };
        for chunk in records.chunks(self.batch_size) {
            if let Err(e) = self.store_write(chunk.into()).await {
                self.mark_down(&e);
                return;
            }
        }
        if let Err(e) = self.spill.truncate().await {
            // Left in place: the next replay re-inserts, and the store ignores duplicates.
            tracing::error!(error = %e, "request log: cannot truncate spill file");
            return;
        }
        self.counters
            .written
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.pending = false;
        self.mark_healthy();
        tracing::info!(
            records = records.len(),
            "request log: spill replayed into the store"
        );
    }

    fn mark_healthy(&mut self) {
        if !self.healthy {
            tracing::info!("request log: store answers again");
        }
        self.healthy = true;
        self.backoff = PROBE_MIN;
    }

    fn mark_down(&mut self, e: &StoreError) {
        if self.healthy {
            tracing::warn!(error = %e, "request log: store unavailable, spilling to disk");
        }
        self.healthy = false;
        self.next_probe = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(PROBE_MAX);
    }

    async fn apply_retention(&mut self, days: u32) {
        if !self.healthy {
            return;
        }
        let cutoff = now_ms() - i64::from(days) * 86_400_000;
        match tokio::time::timeout(self.write_timeout, self.store.delete_before(cutoff)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(rows = n, days, "request log: retention"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "request log: retention delete failed"),
            Err(_) => tracing::warn!("request log: retention delete timed out"),
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
