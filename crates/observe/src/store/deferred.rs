//! A store opened in the background. Creating a fresh SQLite file costs several fsyncs (80-150
//! ms on this benchmark's busy disk, most of the gateway's time from start to ready), and a
//! PostgreSQL server may be slow to answer; neither should keep the gateway from listening.
//! Records queue in the request log meanwhile; a store that cannot be opened behaves like one
//! that is down: batches spill to disk and the writer probes again, so nothing is lost.

use std::sync::Arc;

use async_trait::async_trait;
use switchyard_core::RequestRecord;
use tokio::sync::OnceCell;

use super::{AggQuery, AggRow, GroupBy, Store, StoreError, open_store};
use crate::config::StoreTarget;

pub struct DeferredStore {
    target: StoreTarget,
    /// Empty until an open succeeds; a failed open leaves it empty, so the next call retries.
    opened: OnceCell<Arc<dyn Store>>,
}

impl DeferredStore {
    /// Starts opening at once on the current runtime; every call waits for that open.
    pub fn open(target: StoreTarget) -> Arc<DeferredStore> {
        let store = Arc::new(DeferredStore {
            target,
            opened: OnceCell::new(),
        });
        let s = store.clone();
        tokio::spawn(async move {
            if let Err(e) = s.store().await {
                tracing::error!(error = %e,
                    "request log: cannot open the store; records go to the spill file until it answers");
            }
        });
        store
    }

    async fn store(&self) -> Result<&Arc<dyn Store>, StoreError> {
        self.opened
            .get_or_try_init(|| open_store(&self.target))
            .await
    }
}

#[async_trait]
impl Store for DeferredStore {
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        self.store().await?.write_batch(records).await
    }

    async fn write_owned(&self, records: Arc<[RequestRecord]>) -> Result<(), StoreError> {
        self.store().await?.write_owned(records).await
    }

    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.store().await?.delete_before(cutoff_ms).await
    }

    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError> {
        self.store().await?.aggregate(q).await
    }

    async fn latencies(
        &self,
        since_ms: i64,
        until_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.store().await?.latencies(since_ms, until_ms, by).await
    }

    async fn count_id(&self, request_id: &str) -> Result<i64, StoreError> {
        self.store().await?.count_id(request_id).await
    }
}
