//! SQL shared by SQLite and PostgreSQL. Both accept the same DDL, upsert syntax and casts; only
//! parameter placeholders differ (`?1` vs `$1`).

use super::{AggQuery, GroupBy};

pub const TABLE: &str = "switchyard_requests";
pub const VERSION_TABLE: &str = "switchyard_schema_version";

/// Ordered migrations; index + 1 is the schema version. Append, never edit.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE switchyard_requests (
    request_id          TEXT PRIMARY KEY,
    ts_ms               BIGINT NOT NULL,
    tenant              TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    route               TEXT NOT NULL,
    task                TEXT,
    requested_model     TEXT NOT NULL,
    served_model        TEXT,
    provider            TEXT,
    stream              BOOLEAN NOT NULL,
    attempts            TEXT NOT NULL,
    n_attempts          BIGINT NOT NULL,
    fallbacks           BIGINT NOT NULL,
    retries             BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost                TEXT,
    cost_nanos          BIGINT,
    baseline_cost       TEXT,
    baseline_nanos      BIGINT,
    saved_nanos         BIGINT,
    cache               TEXT NOT NULL,
    ttft_ms             DOUBLE PRECISION,
    total_ms            DOUBLE PRECISION NOT NULL,
    overhead_ms         DOUBLE PRECISION NOT NULL,
    status              BIGINT NOT NULL,
    error_class         TEXT,
    escalations         BIGINT NOT NULL
);
CREATE INDEX switchyard_requests_ts ON switchyard_requests (ts_ms);
CREATE INDEX switchyard_requests_model_ts ON switchyard_requests (served_model, ts_ms);
CREATE INDEX switchyard_requests_route_ts ON switchyard_requests (route, ts_ms);
CREATE INDEX switchyard_requests_tenant_ts ON switchyard_requests (tenant, ts_ms);
CREATE INDEX switchyard_requests_task_ts ON switchyard_requests (task, ts_ms);
CREATE INDEX switchyard_requests_provider_ts ON switchyard_requests (provider, ts_ms);
"#,
    // Every report filters on a time range and groups in the scan (`aggregate`, `latencies`), so
    // the planner only ever used the ts index; the five (dimension, ts) indexes were 5 of the 8
    // B-trees each insert updated (measured: most of the writer's ~38k instructions per request).
    r#"
DROP INDEX IF EXISTS switchyard_requests_model_ts;
DROP INDEX IF EXISTS switchyard_requests_route_ts;
DROP INDEX IF EXISTS switchyard_requests_tenant_ts;
DROP INDEX IF EXISTS switchyard_requests_task_ts;
DROP INDEX IF EXISTS switchyard_requests_provider_ts;
"#,
];

#[derive(Debug, Clone, Copy)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

pub const COLUMNS: &[&str] = &[
    "request_id",
    "ts_ms",
    "tenant",
    "endpoint",
    "route",
    "task",
    "requested_model",
    "served_model",
    "provider",
    "stream",
    "attempts",
    "n_attempts",
    "fallbacks",
    "retries",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "cost_nanos",
    "baseline_cost",
    "baseline_nanos",
    "saved_nanos",
    "cache",
    "ttft_ms",
    "total_ms",
    "overhead_ms",
    "status",
    "error_class",
    "escalations",
];

/// Idempotent on `request_id`: replaying a spilled batch that partly landed adds nothing twice.
pub fn insert(d: Dialect) -> String {
    let phs: Vec<String> = (1..=COLUMNS.len()).map(|i| d.ph(i)).collect();
    format!(
        "INSERT INTO {TABLE} ({}) VALUES ({}) ON CONFLICT (request_id) DO NOTHING",
        COLUMNS.join(", "),
        phs.join(", ")
    )
}

pub fn delete_before(d: Dialect) -> String {
    format!("DELETE FROM {TABLE} WHERE ts_ms < {}", d.ph(1))
}

pub fn count_id(d: Dialect) -> String {
    format!(
        "SELECT COUNT(*) FROM {TABLE} WHERE request_id = {}",
        d.ph(1)
    )
}

pub fn key_expr(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Model => "COALESCE(served_model, '(none)')",
        GroupBy::Route => "route",
        GroupBy::Key => "tenant",
        GroupBy::Task => "COALESCE(task, '(none)')",
        GroupBy::Provider => "COALESCE(provider, '(none)')",
        GroupBy::Cache => "cache",
        GroupBy::All => "CAST('all' AS TEXT)",
    }
}

fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

/// Columns, in order: bucket, key, count, then the sums `AggRow` lists.
pub fn aggregate(d: Dialect, q: &AggQuery) -> String {
    // bucket_ms is an integer we format ourselves, never client text.
    let bucket = match q.bucket_ms {
        Some(b) if b > 0 => format!("(ts_ms - (ts_ms % {b}))"),
        _ => "CAST(0 AS BIGINT)".to_string(),
    };
    let cols = [
        sum("CASE WHEN status >= 400 THEN 1 ELSE 0 END"),
        sum("input_tokens"),
        sum("cached_input_tokens"),
        sum("cache_write_tokens"),
        sum("output_tokens"),
        sum("reasoning_tokens"),
        sum("cost_nanos"),
        sum("CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END"),
        sum("CASE WHEN saved_nanos IS NULL THEN 0 ELSE baseline_nanos END"),
        sum("saved_nanos"),
        sum("CASE WHEN cache IN ('hit', 'semantic-hit', 'coalesced') THEN 1 ELSE 0 END"),
        sum("fallbacks"),
        sum("retries"),
        sum("escalations"),
    ];
    format!(
        "SELECT {bucket} AS bucket, {key} AS k, COUNT(*), {cols} FROM {TABLE} \
         WHERE ts_ms >= {p1} AND ts_ms < {p2} GROUP BY bucket, k ORDER BY bucket, k",
        key = key_expr(q.by),
        cols = cols.join(", "),
        p1 = d.ph(1),
        p2 = d.ph(2),
    )
}

pub fn latencies(d: Dialect, by: GroupBy) -> String {
    format!(
        "SELECT {key} AS k, total_ms FROM {TABLE} WHERE ts_ms >= {p1} AND ts_ms < {p2}",
        key = key_expr(by),
        p1 = d.ph(1),
        p2 = d.ph(2),
    )
}
