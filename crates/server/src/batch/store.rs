//! The Batch API's state on disk: `files/ID.jsonl` holds a file's bytes and `files/ID.json`
//! its object; `batches/ID.json` a batch's. Objects are small and rewritten whole (written to a
//! temporary name, then renamed, so a crash never leaves half an object). Only the Batch API's
//! own endpoints and runner touch these files; chat requests never wait on them.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::{StoredBatch, StoredFile};

#[derive(Debug, Clone)]
pub struct Disk {
    root: PathBuf,
}

impl Disk {
    pub fn new(root: PathBuf) -> Disk {
        Disk { root }
    }

    pub fn content_path(&self, file_id: &str) -> PathBuf {
        self.root.join("files").join(format!("{file_id}.jsonl"))
    }

    fn file_meta_path(&self, file_id: &str) -> PathBuf {
        self.root.join("files").join(format!("{file_id}.json"))
    }

    fn batch_path(&self, batch_id: &str) -> PathBuf {
        self.root.join("batches").join(format!("{batch_id}.json"))
    }

    pub async fn ensure_dirs(&self) -> io::Result<()> {
        tokio::fs::create_dir_all(self.root.join("files")).await?;
        tokio::fs::create_dir_all(self.root.join("batches")).await
    }

    pub async fn save_file(&self, f: &StoredFile) -> io::Result<()> {
        write_json(&self.file_meta_path(&f.file.id), f).await
    }

    pub async fn save_batch(&self, b: &StoredBatch) -> io::Result<()> {
        write_json(&self.batch_path(&b.batch.id), b).await
    }

    pub async fn delete_file(&self, file_id: &str) -> io::Result<()> {
        for p in [self.file_meta_path(file_id), self.content_path(file_id)] {
            match tokio::fs::remove_file(&p).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Everything persisted (at startup). Unreadable objects are skipped and logged, not fatal.
    pub fn load_all(&self) -> (Vec<StoredFile>, Vec<StoredBatch>) {
        (
            read_dir_json(&self.root.join("files")),
            read_dir_json(&self.root.join("batches")),
        )
    }
}

async fn write_json<T: Serialize>(path: &Path, v: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(v).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

fn read_dir_json<T: DeserializeOwned>(dir: &Path) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(v) => out.push(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "batch store: unreadable object skipped")
            }
        }
    }
    out
}
