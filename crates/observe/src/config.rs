//! `[store]` and `[telemetry]` sections. The server's config embeds these as-is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the default SQLite request log, placed next to the config file.
pub const DEFAULT_SQLITE_FILE: &str = "switchyard-log.sqlite";
/// File name of the default spill file, placed next to the config file.
pub const DEFAULT_SPILL_FILE: &str = "switchyard-log.spill.jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH`, a bare path, or `postgres://...`. None: SQLite next to the config file.
    pub url: Option<String>,
    /// Rows older than this many days are deleted (hourly). 0 keeps everything.
    pub retention_days: u32,
    /// Most records written in one transaction.
    pub batch_size: usize,
    /// A partial batch is written after this many milliseconds.
    pub flush_ms: u64,
    /// Where batches go while the store is down. Default: next to the config file.
    pub spill_path: Option<PathBuf>,
    /// Records waiting for the writer; beyond this `try_log` drops (and counts) them.
    pub queue_capacity: usize,
    /// A batch write slower than this counts as a stalled store and the batch is spilled.
    pub write_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            retention_days: 30,
            batch_size: 256,
            flush_ms: 200,
            spill_path: None,
            queue_capacity: 10_000,
            write_timeout_ms: 5_000,
        }
    }
}

/// Where the request log lives, resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreTarget {
    /// Parses a store URL or path; relative SQLite paths are taken relative to `base_dir`.
    pub fn parse(url: &str, base_dir: &Path) -> StoreTarget {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return StoreTarget::Postgres(url.to_string());
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let path = Path::new(path);
        if path.is_absolute() {
            StoreTarget::Sqlite(path.to_path_buf())
        } else {
            StoreTarget::Sqlite(base_dir.join(path))
        }
    }
}

impl StoreConfig {
    /// The store to open; `config_dir` is the directory holding the config file.
    pub fn target(&self, config_dir: &Path) -> StoreTarget {
        match &self.url {
            Some(url) => StoreTarget::parse(url, config_dir),
            None => StoreTarget::Sqlite(config_dir.join(DEFAULT_SQLITE_FILE)),
        }
    }

    pub fn spill_file(&self, config_dir: &Path) -> PathBuf {
        match &self.spill_path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => config_dir.join(p),
            None => config_dir.join(DEFAULT_SPILL_FILE),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL (`http://collector:4318`); traces go to `{url}/v1/traces`.
    /// None: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` resource attribute.
    pub service_name: String,
    /// Spans waiting for export; beyond this they are dropped (and counted).
    pub queue_capacity: usize,
    /// Most requests (each one trace) per export POST.
    pub batch_size: usize,
    /// A partial batch is sent after this many milliseconds.
    pub flush_ms: u64,
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "switchyard".to_string(),
            queue_capacity: 4096,
            batch_size: 128,
            flush_ms: 1000,
            export_timeout_ms: 5000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_targets() {
        let cfg: StoreConfig = toml::from_str("").expect("empty");
        assert_eq!(cfg, StoreConfig::default());
        let dir = Path::new("/etc/sy");
        assert_eq!(
            cfg.target(dir),
            StoreTarget::Sqlite(PathBuf::from("/etc/sy/switchyard-log.sqlite"))
        );
        assert_eq!(
            cfg.spill_file(dir),
            PathBuf::from("/etc/sy/switchyard-log.spill.jsonl")
        );
        let cfg: StoreConfig =
            toml::from_str("url = \"postgres://u@h/db\"\nbatch_size = 10").expect("pg");
        assert_eq!(
            cfg.target(dir),
            StoreTarget::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            StoreTarget::parse("sqlite://log.db", dir),
            StoreTarget::Sqlite(PathBuf::from("/etc/sy/log.db"))
        );
        assert!(toml::from_str::<StoreConfig>("nope = 1").is_err());
        assert!(toml::from_str::<TelemetryConfig>("otlp = \"x\"").is_err());
    }
}
