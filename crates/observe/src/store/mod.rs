//! Request-log stores. One table, one row per request, written in idempotent batches (insert-or-
//! ignore on `request_id`) so a spilled batch can be replayed without duplicates. Reads are
//! integer aggregates computed by the database, plus raw latencies for percentiles.

mod deferred;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use switchyard_core::{RequestRecord, Usd};

pub use self::deferred::DeferredStore;
pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;
use crate::config::StoreTarget;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("store task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("request log schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no request log at {0}")]
    Missing(String),
    #[error("{0}")]
    Other(String),
}

/// What a report or a chart is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// The model that served the request (`(none)` when nothing succeeded).
    Model,
    Route,
    /// The tenant: API key fingerprint or namespace.
    Key,
    Task,
    Provider,
    /// The cache outcome: hit, semantic-hit, coalesced, miss, bypass.
    Cache,
    /// Everything in one group, `all`.
    All,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "model" => GroupBy::Model,
            "route" => GroupBy::Route,
            "key" | "tenant" => GroupBy::Key,
            "task" => GroupBy::Task,
            "provider" => GroupBy::Provider,
            "cache" => GroupBy::Cache,
            "all" | "none" => GroupBy::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Route => "route",
            GroupBy::Key => "key",
            GroupBy::Task => "task",
            GroupBy::Provider => "provider",
            GroupBy::Cache => "cache",
            GroupBy::All => "all",
        }
    }
}

/// An aggregate over `[since_ms, until_ms)`, grouped by `by` and, when `bucket_ms` is set, by
/// time bucket (`bucket = ts_ms - ts_ms % bucket_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggQuery {
    pub since_ms: i64,
    pub until_ms: i64,
    pub by: GroupBy,
    pub bucket_ms: Option<i64>,
}

/// Sums for one group (and bucket). Money is in nano-dollars (integers, summed by the database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggRow {
    pub bucket_ms: Option<i64>,
    pub key: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_nanos: i64,
    /// Requests whose cost is unknown (a missing price); they add nothing to `cost_nanos`.
    pub unknown_cost: i64,
    /// Baseline and saving over the requests where both sides are known.
    pub baseline_nanos: i64,
    pub saved_nanos: i64,
    /// Requests answered from cache: `hit`, `semantic-hit` or `coalesced`.
    pub cache_hits: i64,
    pub fallbacks: i64,
    pub retries: i64,
    pub escalations: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts the batch in one transaction; a `request_id` already stored is skipped.
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError>;
    /// As `write_batch`, for a batch the caller hands over: a store that writes on another
    /// thread (SQLite's blocking pool) takes it as is instead of cloning every record.
    async fn write_owned(&self, records: Arc<[RequestRecord]>) -> Result<(), StoreError> {
        self.write_batch(&records).await
    }
    /// Deletes rows that arrived before `cutoff_ms`; returns how many.
    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError>;
    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError>;
    /// `(group key, total_ms)` of every request in the window, for percentiles.
    async fn latencies(
        &self,
        since_ms: i64,
        until_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError>;
    /// Rows stored with this id (0 or 1); for tests and audits.
    async fn count_id(&self, request_id: &str) -> Result<i64, StoreError>;
}

/// Opens (creating and migrating if needed) the store at `target`.
pub async fn open_store(target: &StoreTarget) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match target {
        StoreTarget::Sqlite(path) => Arc::new(SqliteStore::open(path.clone()).await?),
        StoreTarget::Postgres(url) => Arc::new(PgStore::connect(url, None).await?),
    })
}

/// USD as whole nano-dollars, rounded half-even. Every price list in use states prices per
/// million tokens with at most three decimals, so per-request costs are whole nano-dollars and
/// the integer sums are exact; anything finer is rounded per request (< $0.0000000005 each).
pub fn usd_to_nanos(usd: Usd) -> i64 {
    // Fast path, exact: a cost with at most nine decimals is its mantissa scaled up. This runs
    // several times per request (metrics and the log row), and the Decimal multiply and round
    // below cost about ten times as much.
    let scale = usd.0.scale();
    if scale <= 9
        && let Ok(m) = i64::try_from(usd.0.mantissa())
        && let Some(n) = 10i64.checked_pow(9 - scale).and_then(|p| m.checked_mul(p))
    {
        return n;
    }
    usd.0
        .checked_mul(Decimal::from(1_000_000_000u32))
        .and_then(|n| n.round().to_i64())
        .unwrap_or(i64::MAX)
}

pub fn nanos_to_usd(nanos: i64) -> Usd {
    Usd(Decimal::new(nanos, 9).normalize())
}

/// A record flattened into the columns the table stores.
pub(crate) struct Row {
    pub cost_text: Option<String>,
    pub baseline_text: Option<String>,
    pub attempts_json: String,
    pub cost_nanos: Option<i64>,
    pub baseline_nanos: Option<i64>,
    pub saved_nanos: Option<i64>,
    pub fallbacks: i64,
    pub retries: i64,
    pub tokens: [i64; 5],
    pub n_attempts: i64,
    pub status: i64,
    pub escalations: i64,
}

fn sat(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Row {
    pub fn new(rec: &RequestRecord) -> Row {
        Row {
            cost_text: rec.cost.map(|c| c.to_string()),
            baseline_text: rec.baseline_cost.map(|c| c.to_string()),
            attempts_json: serde_json::to_string(&rec.attempts).unwrap_or_else(|_| "[]".into()),
            cost_nanos: rec.cost.map(usd_to_nanos),
            baseline_nanos: rec.baseline_cost.map(usd_to_nanos),
            saved_nanos: rec.saved().map(usd_to_nanos),
            fallbacks: rec.fallbacks() as i64,
            retries: rec.retries() as i64,
            tokens: [
                sat(rec.tokens.input),
                sat(rec.tokens.cached_input),
                sat(rec.tokens.cache_write),
                sat(rec.tokens.output),
                sat(rec.tokens.reasoning),
            ],
            n_attempts: rec.attempts.len() as i64,
            status: i64::from(rec.status),
            escalations: i64::from(rec.escalations),
        }
    }
}

/// Reads the 17 columns `sql::aggregate` selects, through a getter for column `i`.
pub(crate) fn agg_row(
    bucketed: bool,
    key: String,
    get: impl Fn(usize) -> Result<i64, StoreError>,
) -> Result<AggRow, StoreError> {
    Ok(AggRow {
        bucket_ms: if bucketed { Some(get(0)?) } else { None },
        key,
        requests: get(2)?,
        errors: get(3)?,
        input_tokens: get(4)?,
        cached_input_tokens: get(5)?,
        cache_write_tokens: get(6)?,
        output_tokens: get(7)?,
        reasoning_tokens: get(8)?,
        cost_nanos: get(9)?,
        unknown_cost: get(10)?,
        baseline_nanos: get(11)?,
        saved_nanos: get(12)?,
        cache_hits: get(13)?,
        fallbacks: get(14)?,
        retries: get(15)?,
        escalations: get(16)?,
    })
}

/// Nearest-rank percentile of a sorted slice; None when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn nanos_round_trip() {
        let c = Usd(dec!(0.00009255));
        assert_eq!(usd_to_nanos(c), 92_550);
        assert_eq!(nanos_to_usd(92_550), c);
        assert_eq!(nanos_to_usd(-5).to_string(), "-0.000000005");
    }

    #[test]
    fn nanos_fast_path_agrees_with_the_decimal_rounding() {
        let slow = |u: Usd| {
            (u.0 * Decimal::from(1_000_000_000u32))
                .round()
                .to_i64()
                .unwrap_or(i64::MAX)
        };
        for d in [
            dec!(0),
            dec!(1),
            dec!(-0.0000061),
            dec!(0.000000001),
            dec!(0.0000000015),
            dec!(0.0000000025),
            dec!(12.123456789),
            dec!(0.00018724000000),
            dec!(9223372036.854775807),
        ] {
            assert_eq!(usd_to_nanos(Usd(d)), slow(Usd(d)), "{d}");
        }
        // Out of range saturates instead of panicking in the multiplication.
        assert_eq!(
            usd_to_nanos(Usd(dec!(79228162514264337593543950335))),
            i64::MAX
        );
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
    }
}
