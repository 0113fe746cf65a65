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
#[serde(from = "EntryWire", into = "EntryWire")]
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

/// An [`Entry`] as it crosses Redis. Stop sequences are never serialised with a choice
/// (OpenAI bodies have no such field), so they travel beside the body; without them an
/// answer cached by one replica would lose `stop_sequence` on `/v1/messages` when served
/// by another.
#[derive(Serialize, Deserialize)]
struct EntryWire {
    stored_ms: i64,
    ttl_ms: u64,
    model: String,
    provider: String,
    cost: Option<Usd>,
    body: Body,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    stops: Vec<Stop>,
}

/// The stop sequence of choice `choice` (of chunk `chunk` for a stream; 0 for JSON).
#[derive(Serialize, Deserialize)]
struct Stop {
    chunk: usize,
    choice: usize,
    seq: String,
}

impl From<Entry> for EntryWire {
    fn from(e: Entry) -> Self {
        let mut stops = Vec::new();
        match &e.body {
            Body::Json { response } => {
                for (choice, c) in response.choices.iter().enumerate() {
                    if let Some(seq) = &c.stop_sequence {
                        stops.push(Stop {
                            chunk: 0,
                            choice,
                            seq: seq.clone(),
                        });
                    }
                }
            }
            Body::Stream { chunks, .. } => {
                for (chunk, k) in chunks.iter().enumerate() {
                    for (choice, c) in k.choices.iter().enumerate() {
                        if let Some(seq) = &c.stop_sequence {
                            stops.push(Stop {
                                chunk,
                                choice,
                                seq: seq.clone(),
                            });
                        }
                    }
                }
            }
        }
        EntryWire {
            stored_ms: e.stored_ms,
            ttl_ms: e.ttl_ms,
            model: e.model,
            provider: e.provider,
            cost: e.cost,
            body: e.body,
            stops,
        }
    }
}

impl From<EntryWire> for Entry {
    fn from(w: EntryWire) -> Self {
        let mut body = w.body;
        for s in w.stops {
            let slot = match &mut body {
                Body::Json { response } => response
                    .choices
                    .get_mut(s.choice)
                    .map(|c| &mut c.stop_sequence),
                Body::Stream { chunks, .. } => chunks
                    .get_mut(s.chunk)
                    .and_then(|k| k.choices.get_mut(s.choice))
                    .map(|c| &mut c.stop_sequence),
            };
            if let Some(slot) = slot {
                *slot = Some(s.seq);
            }
        }
        Entry {
            stored_ms: w.stored_ms,
            ttl_ms: w.ttl_ms,
            model: w.model,
            provider: w.provider,
            cost: w.cost,
            body,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: Body) -> Entry {
        Entry {
            stored_ms: 1,
            ttl_ms: 60_000,
            model: "anthropic/claude".into(),
            provider: "anthropic".into(),
            cost: None,
            body,
        }
    }

    #[test]
    fn stop_sequences_survive_the_redis_encoding() {
        let mut response: ChatResponse = serde_json::from_value(serde_json::json!({
            "id": "c1", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"},
                         "finish_reason": "stop"}]
        }))
        .expect("response");
        response.choices[0].stop_sequence = Some("END".into());
        let mut chunks: Vec<ChatChunk> = serde_json::from_value(serde_json::json!([
            {"id": "c1", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": null}]},
            {"id": "c1", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        ]))
        .expect("chunks");
        chunks[1].choices[0].stop_sequence = Some("END".into());

        let json = serde_json::to_string(&entry(Body::Json { response })).expect("encode");
        let back: Entry = serde_json::from_str(&json).expect("decode");
        let Body::Json { response } = back.body else {
            panic!("json body expected")
        };
        assert_eq!(response.choices[0].stop_sequence.as_deref(), Some("END"));

        let stream = entry(Body::Stream {
            chunks,
            usage: None,
        });
        let back: Entry =
            serde_json::from_str(&serde_json::to_string(&stream).expect("encode")).expect("decode");
        let Body::Stream { chunks, .. } = back.body else {
            panic!("stream body expected")
        };
        assert_eq!(chunks[0].choices[0].stop_sequence, None);
        assert_eq!(chunks[1].choices[0].stop_sequence.as_deref(), Some("END"));
    }

    #[test]
    fn entries_without_stop_sequences_encode_as_before() {
        let response: ChatResponse = serde_json::from_value(serde_json::json!({
            "id": "c1", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"},
                         "finish_reason": "stop"}]
        }))
        .expect("response");
        let json = serde_json::to_string(&entry(Body::Json { response })).expect("encode");
        assert!(!json.contains("stops"), "{json}");
    }
}
