//! The spill file: JSON lines of `RequestRecord`, appended and fsync'd while the store is down,
//! replayed into the store when it answers again, then truncated. Replays are safe to repeat
//! because store inserts ignore a `request_id` already present.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use switchyard_core::RequestRecord;

#[derive(Debug, Clone)]
pub struct Spill {
    path: PathBuf,
}

impl Spill {
    pub fn new(path: PathBuf) -> Spill {
        Spill { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when a previous run (or this one) left records to replay.
    pub fn has_data(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0)
    }

    /// Appends the records and fsyncs, on a blocking thread.
    pub async fn append(&self, records: &[RequestRecord]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(&buf)?;
            f.sync_data()
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Every complete record in the file. A torn last line (a crash mid-append, before its
    /// fsync returned, so its batch was never acknowledged as spilled) is skipped with a warning.
    pub async fn read_all(&self) -> std::io::Result<Vec<RequestRecord>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for line in BufReader::new(f).lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<RequestRecord>(&line) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "request log: unreadable spill line skipped")
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    pub async fn truncate(&self) -> std::io::Result<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || match OpenOptions::new().write(true).open(&path) {
            Ok(f) => {
                f.set_len(0)?;
                f.sync_all()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
