//! The OpenAI Batch API (`/v1/files`, `/v1/batches`): deferrable work that the gateway runs
//! itself, through the same engine as live requests (routing, fallbacks, cache, pricing and the
//! request log all apply), a few requests at a time and, when `[batches] window` is set, only
//! inside that daily window, so that the work lands in the hours the price book does not
//! surcharge. Files and batch state live in `[batches] dir`, so a restarted gateway resumes an
//! unfinished batch where its output file ends. On a graceful shutdown the runners finish the
//! lines already sent upstream before the process exits (`runners`), so that no line is billed
//! twice; the lines not yet started are left for the next process.

pub mod config;
mod input;
pub mod run;
mod runners;
mod store;
pub mod types;

use std::collections::HashMap;

use parking_lot::Mutex;
use serde_json::Value;
use switchyard_engine::GatewayError;

pub use config::BatchConfig;
use store::Disk;
use types::{BatchObject, Counts, FileObject, Status, StoredBatch, StoredFile};

/// Endpoints a batch line may target.
pub const ENDPOINTS: [&str; 2] = ["/v1/chat/completions", "/v1/embeddings"];

pub struct BatchService {
    pub cfg: BatchConfig,
    disk: Disk,
    files: Mutex<HashMap<String, StoredFile>>,
    batches: Mutex<HashMap<String, StoredBatch>>,
    /// One batch-state write at a time (see [`BatchService::persist`]).
    persist_turn: tokio::sync::Mutex<()>,
    /// Batches with a live runner in this process (one per batch), and their stop signal.
    pub(crate) runners: runners::Runners,
}

pub fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn new_id(prefix: &str) -> String {
    let tail: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(24)
        .collect();
    format!("{prefix}{tail}")
}

fn not_found(what: &str, id: &str) -> GatewayError {
    GatewayError::new(
        404,
        "invalid_request_error",
        "not_found",
        format!("No such {what}: '{id}'."),
    )
    .with_code("not_found")
}

/// A failed write to `[batches] dir`: logged with its cause, a 500 for the client.
pub(crate) fn storage_error(e: std::io::Error) -> GatewayError {
    tracing::error!(error = %e, "batch store write failed");
    GatewayError::new(
        500,
        "server_error",
        "internal",
        "The gateway could not write to its batch storage ([batches] dir); see its log.",
    )
}

impl BatchService {
    /// Loads what an earlier run persisted (a missing directory is an empty store).
    pub fn open(cfg: BatchConfig) -> BatchService {
        let disk = Disk::new(cfg.dir.clone());
        let (files, batches) = disk.load_all();
        BatchService {
            cfg,
            disk,
            files: Mutex::new(files.into_iter().map(|f| (f.file.id.clone(), f)).collect()),
            batches: Mutex::new(
                batches
                    .into_iter()
                    .map(|b| (b.batch.id.clone(), b))
                    .collect(),
            ),
            persist_turn: tokio::sync::Mutex::new(()),
            runners: runners::Runners::default(),
        }
    }

    /// Writes batch `id`'s state as it is when this write's turn comes. Writes take turns, so
    /// a cancel racing a runner's progress update can neither collide on the temporary file
    /// (the loser's rename failed, and the cancel answered 500) nor leave the older of the two
    /// states on disk.
    async fn persist(&self, id: &str) -> std::io::Result<()> {
        let _turn = self.persist_turn.lock().await;
        let latest = self.batches.lock().get(id).cloned();
        match latest {
            Some(b) => self.disk.save_batch(&b).await,
            None => Ok(()),
        }
    }

    pub fn content_path(&self, file_id: &str) -> std::path::PathBuf {
        self.disk.content_path(file_id)
    }

    pub async fn ensure_dirs(&self) -> Result<(), GatewayError> {
        self.disk.ensure_dirs().await.map_err(storage_error)
    }

    pub async fn add_file(&self, tenant: &str, file: FileObject) -> Result<(), GatewayError> {
        let stored = StoredFile {
            tenant: tenant.to_owned(),
            file,
        };
        self.disk.save_file(&stored).await.map_err(storage_error)?;
        self.files.lock().insert(stored.file.id.clone(), stored);
        Ok(())
    }

    /// The tenant's file; another tenant's file is as absent as a missing one.
    pub fn file(&self, tenant: &str, id: &str) -> Result<FileObject, GatewayError> {
        self.files
            .lock()
            .get(id)
            .filter(|f| f.tenant == tenant)
            .map(|f| f.file.clone())
            .ok_or_else(|| not_found("File", id))
    }

    /// Newest first.
    pub fn files(&self, tenant: &str, purpose: Option<&str>) -> Vec<FileObject> {
        let mut v: Vec<FileObject> = self
            .files
            .lock()
            .values()
            .filter(|f| f.tenant == tenant && purpose.is_none_or(|p| f.file.purpose == p))
            .map(|f| f.file.clone())
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        v
    }

    pub async fn delete_file(&self, tenant: &str, id: &str) -> Result<(), GatewayError> {
        self.file(tenant, id)?;
        let in_use = self.batches.lock().values().any(|b| {
            !b.batch.status.is_terminal() && b.batch.input_file_id == id && b.tenant == tenant
        });
        if in_use {
            return Err(GatewayError::bad_request(format!(
                "File '{id}' is the input of a batch that is still running; cancel it first."
            )));
        }
        self.disk.delete_file(id).await.map_err(storage_error)?;
        self.files.lock().remove(id);
        Ok(())
    }

    /// Records a new batch in `validating`; the caller starts its runner.
    pub async fn create_batch(
        &self,
        tenant: &str,
        input_file_id: &str,
        endpoint: &str,
        completion_window: &str,
        metadata: Option<Value>,
    ) -> Result<BatchObject, GatewayError> {
        let file = self
            .file(tenant, input_file_id)
            .map_err(|_| not_found("File", input_file_id).with_param("input_file_id"))?;
        if file.purpose != "batch" {
            return Err(GatewayError::bad_request(format!(
                "File '{input_file_id}' has purpose '{}'; a batch reads a file uploaded with purpose 'batch'.",
                file.purpose
            ))
            .with_param("input_file_id"));
        }
        if !ENDPOINTS.contains(&endpoint) {
            return Err(GatewayError::bad_request(format!(
                "`endpoint` must be one of {}; got '{endpoint}'.",
                ENDPOINTS.join(", ")
            ))
            .with_param("endpoint"));
        }
        if completion_window != "24h" {
            return Err(
                GatewayError::bad_request("`completion_window` must be '24h'.")
                    .with_param("completion_window"),
            );
        }
        let now = now_s();
        let batch = BatchObject {
            id: new_id("batch_"),
            object: "batch".into(),
            endpoint: endpoint.to_owned(),
            errors: None,
            input_file_id: input_file_id.to_owned(),
            completion_window: completion_window.to_owned(),
            status: Status::Validating,
            output_file_id: None,
            error_file_id: None,
            created_at: now,
            in_progress_at: None,
            expires_at: Some(now + 24 * 3600),
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
            request_counts: Counts::default(),
            metadata,
            usage: types::BatchUsage::default(),
            switchyard: types::BatchCost::default(),
        };
        let stored = StoredBatch {
            tenant: tenant.to_owned(),
            output_id: new_id("file-"),
            error_id: new_id("file-"),
            batch: batch.clone(),
        };
        self.disk.save_batch(&stored).await.map_err(storage_error)?;
        self.batches.lock().insert(batch.id.clone(), stored);
        Ok(batch)
    }

    pub fn batch(&self, tenant: &str, id: &str) -> Result<BatchObject, GatewayError> {
        self.batches
            .lock()
            .get(id)
            .filter(|b| b.tenant == tenant)
            .map(|b| b.batch.clone())
            .ok_or_else(|| not_found("batch", id))
    }

    /// Newest first; `after` is the last id of the previous page.
    pub fn batches(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<BatchObject>, bool) {
        let mut v: Vec<BatchObject> = self
            .batches
            .lock()
            .values()
            .filter(|b| b.tenant == tenant)
            .map(|b| b.batch.clone())
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let start = after
            .and_then(|a| v.iter().position(|b| b.id == a).map(|i| i + 1))
            .unwrap_or(0);
        let rest = v.split_off(start.min(v.len()));
        let has_more = rest.len() > limit;
        (rest.into_iter().take(limit).collect(), has_more)
    }

    /// Marks the batch `cancelling`; its runner starts no further request and finishes as
    /// `cancelled`. Cancelling a finished batch is an error, as at OpenAI.
    pub async fn cancel(&self, tenant: &str, id: &str) -> Result<BatchObject, GatewayError> {
        let stored = {
            let mut map = self.batches.lock();
            let b = map
                .get_mut(id)
                .filter(|b| b.tenant == tenant)
                .ok_or_else(|| not_found("batch", id))?;
            match b.batch.status {
                Status::Cancelling => {}
                s if s.is_terminal() => {
                    return Err(GatewayError::new(
                        409,
                        "invalid_request_error",
                        "conflict",
                        format!(
                            "Batch '{id}' has already finished ({}); it cannot be cancelled.",
                            serde_json::to_value(s).unwrap_or_default()
                        ),
                    ));
                }
                _ => {
                    b.batch.status = Status::Cancelling;
                    b.batch.cancelling_at = Some(now_s());
                }
            }
            b.clone()
        };
        self.persist(id).await.map_err(storage_error)?;
        Ok(stored.batch)
    }

    pub(crate) fn stored(&self, id: &str) -> Option<StoredBatch> {
        self.batches.lock().get(id).cloned()
    }

    /// Applies `f` to the batch in memory and persists the result.
    pub(crate) async fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut StoredBatch),
    ) -> Option<StoredBatch> {
        let stored = {
            let mut map = self.batches.lock();
            let b = map.get_mut(id)?;
            f(b);
            b.clone()
        };
        if let Err(e) = self.persist(id).await {
            tracing::error!(batch = id, error = %e, "batch state not persisted");
        }
        Some(stored)
    }

    pub(crate) fn status(&self, id: &str) -> Option<Status> {
        self.batches.lock().get(id).map(|b| b.batch.status)
    }

    /// Registers the output/error file of a finished batch.
    pub(crate) async fn add_output_file(
        &self,
        tenant: &str,
        id: &str,
        name: &str,
    ) -> Option<String> {
        let bytes = tokio::fs::metadata(self.content_path(id)).await.ok()?.len();
        let file = FileObject {
            id: id.to_owned(),
            object: "file".into(),
            bytes,
            created_at: now_s(),
            filename: name.to_owned(),
            purpose: "batch_output".into(),
            status: "processed".into(),
        };
        match self.add_file(tenant, file).await {
            Ok(()) => Some(id.to_owned()),
            Err(_) => None,
        }
    }

    /// Batches an earlier process left unfinished.
    pub fn unfinished(&self) -> Vec<String> {
        self.batches
            .lock()
            .values()
            .filter(|b| !b.batch.status.is_terminal())
            .map(|b| b.batch.id.clone())
            .collect()
    }

    /// Shutdown: every runner stops taking new lines and finishes the ones in flight; waits
    /// for them until `deadline`. A batch whose runner is still busy then is named: its
    /// in-flight lines are lost with the process and run again (billed twice) after restart.
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        let drained = self.runners.drain(deadline).await;
        tracing::info!(
            drained_lines = drained.lines,
            "batch runners stopped; the lines in flight at shutdown that finished were written"
        );
        if !drained.abandoned.is_empty() {
            tracing::warn!(
                batches = ?drained.abandoned,
                "grace period over with batch lines still in flight; the next start runs them again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A cancel racing a runner's progress updates: every write succeeds (they used to share
    /// one temporary file, and the loser's rename failed: the cancel answered 500), and what
    /// is on disk afterwards is the latest state, not whichever write finished last.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_state_writes_all_land_and_the_latest_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = BatchConfig {
            dir: dir.path().to_path_buf(),
            ..BatchConfig::default()
        };
        for round in 0..20 {
            let svc = Arc::new(BatchService::open(cfg.clone()));
            svc.ensure_dirs().await.expect("dirs");
            let file = FileObject {
                id: format!("file-{round}"),
                object: "file".into(),
                bytes: 1,
                created_at: 0,
                filename: "in.jsonl".into(),
                purpose: "batch".into(),
                status: "processed".into(),
            };
            svc.add_file("t", file).await.expect("file");
            let b = svc
                .create_batch(
                    "t",
                    &format!("file-{round}"),
                    "/v1/chat/completions",
                    "24h",
                    None,
                )
                .await
                .expect("batch");
            let mut tasks = Vec::new();
            for _ in 0..32 {
                let (svc, id) = (svc.clone(), b.id.clone());
                tasks.push(tokio::spawn(async move {
                    svc.update(&id, |s| s.batch.request_counts.completed += 1)
                        .await
                        .map(|_| ())
                        .ok_or(())
                }));
            }
            let cancel = {
                let (svc, id) = (svc.clone(), b.id.clone());
                tokio::spawn(async move { svc.cancel("t", &id).await.map(|_| ()).map_err(|_| ()) })
            };
            for t in tasks {
                t.await.expect("joined").expect("update");
            }
            cancel
                .await
                .expect("joined")
                .expect("the cancel's write landed");
            let reopened = BatchService::open(cfg.clone());
            let on_disk = reopened.batch("t", &b.id).expect("persisted");
            let in_memory = svc.batch("t", &b.id).expect("in memory");
            assert_eq!(on_disk.request_counts.completed, 32, "round {round}");
            assert_eq!(on_disk.status, in_memory.status, "round {round}");
            assert_eq!(on_disk.status, Status::Cancelling, "round {round}");
        }
    }
}
