//! `[batches]`: where the Batch API keeps its files, how many of a batch's requests run at
//! once, and the optional daily window (UTC) in which batch work runs, e.g. the off-peak hours
//! the price book's peak surcharges do not cover.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;
use switchyard_engine::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Directory for uploaded files, outputs and batch state; relative to the config file.
    pub dir: PathBuf,
    /// Requests of one batch in flight at once.
    pub concurrency: usize,
    /// Largest accepted upload, in bytes (OpenAI's limit for batch input files is 200 MB).
    pub max_file_bytes: usize,
    /// Most request lines in one input file (OpenAI's limit).
    pub max_lines: usize,
    /// `"HH:MM-HH:MM"` in UTC; batch requests start only inside it (it may wrap midnight).
    pub window: Option<String>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            dir: PathBuf::from("switchyard-batches"),
            concurrency: 4,
            max_file_bytes: 200 * 1024 * 1024,
            max_lines: 50_000,
            window: None,
        }
    }
}

/// A daily window in minutes since midnight UTC, `start..end`, wrapping midnight when
/// `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    pub fn parse(s: &str) -> Option<Window> {
        let (a, b) = s.split_once('-')?;
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (start, end) = (minutes(a)?, minutes(b)?);
        (start != end).then_some(Window { start, end })
    }

    /// Zero inside the window; otherwise how long until it opens.
    pub fn wait_from(&self, now: DateTime<Utc>) -> Duration {
        let m = now.hour() * 60 + now.minute();
        let inside = if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        };
        if inside {
            return Duration::ZERO;
        }
        let minutes = (self.start + 24 * 60 - m) % (24 * 60);
        Duration::from_secs(u64::from(minutes) * 60)
            .saturating_sub(Duration::from_secs(u64::from(now.second())))
    }
}

impl BatchConfig {
    /// Parse `[batches]`; errors name their path like every other config error.
    pub fn from_toml(v: Option<&toml::Value>, base_dir: &Path) -> Result<Self, Vec<ConfigError>> {
        let mut cfg: BatchConfig = match v {
            None => BatchConfig::default(),
            Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                let path = e.path().to_string();
                vec![ConfigError::new(
                    format!("batches.{path}"),
                    e.into_inner().to_string(),
                )]
            })?,
        };
        let mut errors = Vec::new();
        if let Some(w) = &cfg.window
            && Window::parse(w).is_none()
        {
            errors.push(ConfigError::new(
                "batches.window",
                format!("expected \"HH:MM-HH:MM\" (UTC), got {w:?}"),
            ));
        }
        if cfg.concurrency == 0 {
            errors.push(ConfigError::new(
                "batches.concurrency",
                "must be at least 1",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if cfg.dir.is_relative() {
            cfg.dir = base_dir.join(&cfg.dir);
        }
        Ok(cfg)
    }

    pub fn window(&self) -> Option<Window> {
        self.window.as_deref().and_then(Window::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn windows_open_and_wait_across_midnight() {
        let night = Window::parse("22:00-06:00").expect("parses");
        assert_eq!(night.wait_from(at(23, 0)), Duration::ZERO);
        assert_eq!(night.wait_from(at(5, 59)), Duration::ZERO);
        assert_eq!(night.wait_from(at(6, 0)), Duration::from_secs(16 * 3600));
        assert_eq!(night.wait_from(at(21, 30)), Duration::from_secs(30 * 60));
        let day = Window::parse("09:15-10:00").expect("parses");
        assert_eq!(day.wait_from(at(9, 15)), Duration::ZERO);
        assert_eq!(
            day.wait_from(at(10, 0)),
            Duration::from_secs(23 * 3600 + 15 * 60)
        );
        for bad in ["", "9-10", "25:00-01:00", "10:00-10:00", "10:60-11:00"] {
            assert_eq!(Window::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_settings_name_their_path() {
        let v: toml::Value = toml::from_str("window = \"late\"\nconcurrency = 0").expect("toml");
        let errs = BatchConfig::from_toml(Some(&v), Path::new("/x")).expect_err("rejected");
        let paths: Vec<_> = errs.iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, ["batches.window", "batches.concurrency"]);
        let v: toml::Value = toml::from_str("colour = 1").expect("toml");
        let errs = BatchConfig::from_toml(Some(&v), Path::new("/x")).expect_err("rejected");
        assert!(errs[0].path.starts_with("batches"), "{:?}", errs[0].path);
        let ok = BatchConfig::from_toml(None, Path::new("/cfg")).expect("defaults");
        assert_eq!(ok.dir, Path::new("/cfg/switchyard-batches"));
    }
}
