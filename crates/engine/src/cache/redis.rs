//! The shared backend: answers, and the leases that let one replica compute while the others
//! wait (`SET lease NX PX`, renewed while the owner works; a waiter polls for the owner's
//! result and takes the lease over when it expires, so a dead owner costs one lease period,
//! not an outage). Every call is bounded by a timeout and fails open: Redis trouble makes
//! the cache miss, never makes a request fail.

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::store::Entry;

/// How long a lease lives without renewal: the longest a waiter waits for a dead owner.
pub const LEASE: Duration = Duration::from_secs(3);
/// How long an owner's result stays readable by the waiters of its flight.
const RESULT_TTL: Duration = Duration::from_secs(30);
const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// What a flight's owner leaves for the waiters on other replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Ok {
        flight: String,
        entry: Box<Entry>,
    },
    Error {
        flight: String,
        status: u16,
        message: String,
        code: Option<String>,
    },
}

impl Outcome {
    pub fn flight(&self) -> &str {
        match self {
            Outcome::Ok { flight, .. } | Outcome::Error { flight, .. } => flight,
        }
    }
}

pub enum Lease {
    /// This replica computes; the string is its flight id.
    Acquired(String),
    /// Another flight computes.
    Held(String),
}

pub struct RedisState {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    /// Identifies this replica's leases.
    pub owner: String,
}

impl RedisState {
    pub fn new(url: &str, prefix: &str) -> Result<RedisState, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(RedisState {
            client,
            conn: OnceCell::new(),
            prefix: prefix.to_owned(),
            owner: format!("{:016x}", fastrand::u64(..)),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn conn(&self) -> Option<ConnectionManager> {
        let r = tokio::time::timeout(
            OP_TIMEOUT * 4,
            self.conn
                .get_or_try_init(|| ConnectionManager::new(self.client.clone())),
        )
        .await;
        match r {
            Ok(Ok(c)) => Some(c.clone()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cache: Redis unavailable; serving without the shared cache");
                None
            }
            Err(_) => {
                tracing::warn!("cache: Redis connect timed out; serving without the shared cache");
                None
            }
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        let mut c = self.conn().await?;
        match tokio::time::timeout(OP_TIMEOUT, cmd.query_async::<T>(&mut c)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cache: Redis command failed");
                None
            }
            Err(_) => {
                tracing::warn!("cache: Redis command timed out");
                None
            }
        }
    }

    fn k(&self, kind: &str, hash: &str) -> String {
        format!("{}:{kind}:{hash}", self.prefix)
    }

    pub async fn get_entry(&self, hash: &str) -> Option<Entry> {
        let s: Option<String> = self
            .run(redis::cmd("GET").arg(self.k("e", hash)).clone())
            .await?;
        serde_json::from_str(&s?).ok()
    }

    pub async fn put_entry(&self, hash: &str, entry: &Entry) {
        let Ok(json) = serde_json::to_string(entry) else {
            return;
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.k("e", hash))
            .arg(json)
            .arg("PX")
            .arg(entry.ttl_ms);
        let _: Option<()> = self.run(cmd).await;
    }

    /// Take the flight's lease or learn who holds it (`SET NX GET`, Redis 7). None when
    /// Redis is unreachable.
    pub async fn lease(&self, hash: &str) -> Option<Lease> {
        let flight = format!("{}-{:016x}", self.owner, fastrand::u64(..));
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.k("l", hash))
            .arg(&flight)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(millis(LEASE));
        let r: Option<Option<String>> = self.run(cmd).await;
        Some(match r? {
            None => Lease::Acquired(flight),
            Some(holder) => Lease::Held(holder),
        })
    }

    /// The flight currently holding the lease, if any.
    pub async fn holder(&self, hash: &str) -> Option<String> {
        let r: Option<Option<String>> = self
            .run(redis::cmd("GET").arg(self.k("l", hash)).clone())
            .await;
        r.flatten()
    }

    pub async fn renew(&self, hash: &str) {
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(self.k("l", hash)).arg(millis(LEASE));
        let _: Option<i64> = self.run(cmd).await;
    }

    /// Publish the flight's outcome, then drop the lease (in that order, so a waiter that sees
    /// no lease also sees the outcome).
    pub async fn finish(&self, hash: &str, outcome: &Outcome) {
        if let Ok(json) = serde_json::to_string(outcome) {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.k("f", hash))
                .arg(json)
                .arg("PX")
                .arg(millis(RESULT_TTL));
            let _: Option<()> = self.run(cmd).await;
        }
        let _: Option<i64> = self
            .run(redis::cmd("DEL").arg(self.k("l", hash)).clone())
            .await;
    }

    pub async fn outcome(&self, hash: &str) -> Option<Outcome> {
        let s: Option<String> = self
            .run(redis::cmd("GET").arg(self.k("f", hash)).clone())
            .await?;
        serde_json::from_str(&s?).ok()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
