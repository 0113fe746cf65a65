//! Where answers are kept: in process (moka, bounded by bytes, expiring per entry) or in
//! Redis (shared by every replica, expiring by `PX`). Both hold the same [`Entry`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchyard_core::{ChatChunk, ChatResponse, Usage, Usd};

use super::key::{KeyHash, hex};
use super::redis::RedisState;

/// One cached answer, with what it cost to produce (the saving of every later hit).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Unix ms when the answer was stored (`max-age` is checked against it).
    pub stored_ms: i64,
    pub ttl_ms: u64,
    pub model: String,
    pub provider: String,
    /// The winning attempt's price on this usage; None when the price is unknown.
    pub cost: Option<Usd>,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    Json {
        response: ChatResponse,
    },
    /// The chunks exactly as the client saw them (usage chunk excluded: it is rebuilt with the
    /// hit's own cost) and the stream's usage.
    Stream {
        chunks: Vec<ChatChunk>,
        usage: Option<Usage>,
    },
}

impl Entry {
    /// Rough memory weight: the text the answer carries, plus a fixed overhead.
    fn weight(&self) -> u32 {
        let text = match &self.body {
            Body::Json { response } => response
                .choices
                .iter()
                .map(|c| c.message.content.as_deref().map_or(0, str::len) + 64)
                .sum::<usize>(),
            Body::Stream { chunks, .. } => chunks.len() * 160,
        };
        u32::try_from(text + 256).unwrap_or(u32::MAX)
    }

    pub fn age_ms(&self, now_ms: i64) -> i64 {
        now_ms - self.stored_ms
    }
}

pub enum Store {
    Memory(moka::sync::Cache<KeyHash, Arc<Entry>>),
    Redis(Arc<RedisState>),
}

struct PerEntryTtl;

impl moka::Expiry<KeyHash, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &KeyHash,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_millis(value.ttl_ms))
    }
}

impl Store {
    pub fn memory(max_bytes: u64) -> Store {
        Store::Memory(
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_k, v: &Arc<Entry>| v.weight())
                .expire_after(PerEntryTtl)
                .build(),
        )
    }

    pub async fn get(&self, key: &KeyHash) -> Option<Arc<Entry>> {
        match self {
            Store::Memory(c) => c.get(key),
            // Boxed so the in-memory path does not carry a Redis round trip's future.
            Store::Redis(r) => Box::pin(r.get_entry(&hex(key))).await.map(Arc::new),
        }
    }

    pub async fn put(&self, key: KeyHash, entry: Arc<Entry>) {
        if entry.ttl_ms == 0 {
            return;
        }
        match self {
            Store::Memory(c) => c.insert(key, entry),
            Store::Redis(r) => r.put_entry(&hex(&key), &entry).await,
        }
    }
}
