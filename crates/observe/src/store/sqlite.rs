//! SQLite store: one connection behind a mutex, every call on a blocking thread so the async
//! runtime never waits on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use switchyard_core::RequestRecord;

use super::sql::{self, Dialect};
use super::{AggQuery, AggRow, GroupBy, Row, Store, StoreError, agg_row};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens or creates the database file and brings its schema up to date.
    pub async fn open(path: PathBuf) -> Result<SqliteStore, StoreError> {
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Other(format!("create {}: {e}", dir.display())))?;
            }
            let mut conn = Connection::open(&p)?;
            // WAL lets report/UI reads run while the writer commits.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Like `open`, but a missing file is an error rather than a new empty log (for reports).
    pub async fn open_existing(path: PathBuf) -> Result<SqliteStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        Self::open(path).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock())).await?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL)",
        sql::VERSION_TABLE
    ))?;
    let current: i64 = tx
        .query_row(
            &format!("SELECT MAX(version) FROM {}", sql::VERSION_TABLE),
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
        .unwrap_or(0);
    let known = sql::MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (i, m) in sql::MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(m)?;
        tx.execute(
            &format!("INSERT INTO {} (version) VALUES (?1)", sql::VERSION_TABLE),
            params![i as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn insert_all(conn: &mut Connection, records: &[RequestRecord]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(&sql::insert(Dialect::Sqlite))?;
        for rec in records {
            let r = Row::new(rec);
            let vals: [&dyn ToSql; 31] = [
                &rec.request_id,
                &rec.ts_ms,
                &rec.tenant,
                &rec.endpoint,
                &rec.route,
                &rec.task,
                &rec.requested_model,
                &rec.served_model,
                &rec.provider,
                &rec.stream,
                &r.attempts_json,
                &r.n_attempts,
                &r.fallbacks,
                &r.retries,
                &r.tokens[0],
                &r.tokens[1],
                &r.tokens[2],
                &r.tokens[3],
                &r.tokens[4],
                &r.cost_text,
                &r.cost_nanos,
                &r.baseline_text,
                &r.baseline_nanos,
                &r.saved_nanos,
                &rec.cache,
                &rec.ttft_ms,
                &rec.total_ms,
                &rec.overhead_ms,
                &r.status,
                &rec.error_class,
                &r.escalations,
            ];
            stmt.execute(&vals[..])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        self.write_owned(records.into()).await
    }

    async fn write_owned(&self, records: Arc<[RequestRecord]>) -> Result<(), StoreError> {
        self.with_conn(move |c| insert_all(c, &records)).await
    }

    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.with_conn(move |c| {
            Ok(c.execute(&sql::delete_before(Dialect::Sqlite), params![cutoff_ms])? as u64)
        })
        .await
    }

    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError> {
        self.with_conn(move |c| {
            let mut stmt = c.prepare(&sql::aggregate(Dialect::Sqlite, &q))?;
            let mut rows = stmt.query(params![q.since_ms, q.until_ms])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let key: String = row.get(1)?;
                out.push(agg_row(q.bucket_ms.is_some(), key, |i| {
                    Ok(row.get::<_, i64>(i)?)
                })?);
            }
            Ok(out)
        })
        .await
    }

    async fn latencies(
        &self,
        since_ms: i64,
        until_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.with_conn(move |c| {
            let mut stmt = c.prepare(&sql::latencies(Dialect::Sqlite, by))?;
            let rows = stmt.query_map(params![since_ms, until_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn count_id(&self, request_id: &str) -> Result<i64, StoreError> {
        let id = request_id.to_string();
        self.with_conn(move |c| {
            Ok(c.query_row(&sql::count_id(Dialect::Sqlite), params![id], |r| r.get(0))?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexes(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 ORDER BY name")
            .expect("prepare");
        stmt.query_map([sql::TABLE], |r| r.get::<_, String>(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// A log written by schema version 1 keeps its rows and loses only the unused indexes, and
    /// every report query still reads through the time index.
    #[test]
    fn version_1_log_migrates_and_reports_use_the_time_index() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(&format!(
            "CREATE TABLE {v} (version BIGINT NOT NULL); {m} INSERT INTO {v} VALUES (1);",
            v = sql::VERSION_TABLE,
            m = sql::MIGRATIONS[0]
        ))
        .expect("schema v1");
        conn.execute(
            &format!("INSERT INTO {} (request_id, ts_ms, tenant, endpoint, route, requested_model, stream, attempts, n_attempts, fallbacks, retries, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cache, total_ms, overhead_ms, status, escalations) VALUES ('r1', 5, 't', 'chat', 'auto', 'auto', 0, '[]', 1, 0, 0, 1, 0, 0, 1, 0, 'miss', 1.0, 0.1, 200, 0)", sql::TABLE),
            [],
        )
        .expect("row");
        assert_eq!(
            indexes(&conn).len(),
            7,
            "v1: autoindex, ts and five dimension indexes"
        );
        migrate(&mut conn).expect("migrate");
        assert_eq!(
            indexes(&conn),
            vec![
                "sqlite_autoindex_switchyard_requests_1".to_string(),
                "switchyard_requests_ts".to_string()
            ]
        );
        let rows: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", sql::TABLE), [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(rows, 1);
        let version: i64 = conn
            .query_row(
                &format!("SELECT MAX(version) FROM {}", sql::VERSION_TABLE),
                [],
                |r| r.get(0),
            )
            .expect("version");
        assert_eq!(version, sql::MIGRATIONS.len() as i64);
        for by in [
            GroupBy::Model,
            GroupBy::Route,
            GroupBy::Key,
            GroupBy::Task,
            GroupBy::Provider,
        ] {
            let q = AggQuery {
                since_ms: 0,
                until_ms: 10,
                bucket_ms: Some(1000),
                by,
            };
            for text in [
                sql::aggregate(Dialect::Sqlite, &q),
                sql::latencies(Dialect::Sqlite, by),
            ] {
                let plan: Vec<String> = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {text}"))
                    .expect("explain")
                    .query_map(params![0, 10], |r| r.get::<_, String>(3))
                    .expect("plan")
                    .collect::<Result<_, _>>()
                    .expect("plan rows");
                assert!(
                    plan.iter().any(|p| p.contains("switchyard_requests_ts")),
                    "{by:?}: {plan:?}"
                );
            }
        }
    }
}
