//! PostgreSQL store (tokio-postgres, no TLS: put the database on a private network or behind a
//! TLS-terminating proxy). One connection, reopened when it drops; the request log's writer is
//! the only hot user and it writes one batch at a time.

use async_trait::async_trait;
use switchyard_core::RequestRecord;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use super::sql::{self, Dialect};
use super::{AggQuery, AggRow, GroupBy, Row, Store, StoreError, agg_row};

/// Any constant shared by every replica: serialises concurrent migrations.
const MIGRATION_LOCK: i64 = 0x5377_6974_6368;

pub struct PgStore {
    url: String,
    schema: Option<String>,
    client: Mutex<Option<Client>>,
}

impl PgStore {
    /// Connects and migrates. `schema`, when given, is created if missing and used as the
    /// search path (tests isolate themselves this way).
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<PgStore, StoreError> {
        let store = PgStore {
            url: url.to_string(),
            schema: schema.map(str::to_string),
            client: Mutex::new(None),
        };
        let mut guard = store.client.lock().await;
        let client = store.open().await?;
        migrate(&client).await?;
        *guard = Some(client);
        drop(guard);
        Ok(store)
    }

    async fn open(&self) -> Result<Client, StoreError> {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "request log: postgres connection closed");
            }
        });
        if let Some(schema) = &self.schema {
            let q = quote_ident(schema);
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {q}; SET search_path TO {q}"
                ))
                .await?;
        }
        Ok(client)
    }

    /// The live client, reconnecting first if the previous connection died.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.open().await?);
        }
        Ok(guard)
    }

    /// Drops the test schema and everything in it.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        if let Some(schema) = &self.schema {
            let guard = self.client().await?;
            if let Some(c) = guard.as_ref() {
                c.batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(schema)))
                    .await?;
            }
        }
        Ok(())
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn migrate(client: &Client) -> Result<(), StoreError> {
    client.batch_execute("BEGIN").await?;
    let res = async {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL)",
                sql::VERSION_TABLE
            ))
            .await?;
        let row = client
            .query_one(
                &format!("SELECT MAX(version) FROM {}", sql::VERSION_TABLE),
                &[],
            )
            .await?;
        let current: i64 = row.get::<_, Option<i64>>(0).unwrap_or(0);
        let known = sql::MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for (i, m) in sql::MIGRATIONS.iter().enumerate().skip(current as usize) {
            client.batch_execute(m).await?;
            client
                .execute(
                    &format!("INSERT INTO {} (version) VALUES ($1)", sql::VERSION_TABLE),
                    &[&(i as i64 + 1)],
                )
                .await?;
        }
        Ok(())
    }
    .await;
    match res {
        Ok(()) => client.batch_execute("COMMIT").await?,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        let mut guard = self.client().await?;
        let Some(client) = guard.as_mut() else {
            return Err(StoreError::Other("postgres client missing".into()));
        };
        let tx = client.transaction().await?;
        let stmt = tx.prepare(&sql::insert(Dialect::Postgres)).await?;
        for rec in records {
            let r = Row::new(rec);
            let vals: [&(dyn ToSql + Sync); 31] = [
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
            tx.execute(&stmt, &vals).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let guard = self.client().await?;
        let Some(client) = guard.as_ref() else {
            return Err(StoreError::Other("postgres client missing".into()));
        };
        Ok(client
            .execute(&sql::delete_before(Dialect::Postgres), &[&cutoff_ms])
            .await?)
    }

    async fn aggregate(&self, q: AggQuery) -> Result<Vec<AggRow>, StoreError> {
        let guard = self.client().await?;
        let Some(client) = guard.as_ref() else {
            return Err(StoreError::Other("postgres client missing".into()));
        };
        let rows = client
            .query(
                &sql::aggregate(Dialect::Postgres, &q),
                &[&q.since_ms, &q.until_ms],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(1)?;
                agg_row(
                    q.bucket_ms.is_some(),
                    key,
                    |i| Ok(row.try_get::<_, i64>(i)?),
                )
            })
            .collect()
    }

    async fn latencies(
        &self,
        since_ms: i64,
        until_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        let guard = self.client().await?;
        let Some(client) = guard.as_ref() else {
            return Err(StoreError::Other("postgres client missing".into()));
        };
        let rows = client
            .query(
                &sql::latencies(Dialect::Postgres, by),
                &[&since_ms, &until_ms],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn count_id(&self, request_id: &str) -> Result<i64, StoreError> {
        let guard = self.client().await?;
        let Some(client) = guard.as_ref() else {
            return Err(StoreError::Other("postgres client missing".into()));
        };
        let row = client
            .query_one(&sql::count_id(Dialect::Postgres), &[&request_id])
            .await?;
        Ok(row.try_get(0)?)
    }
}
