//! The near-duplicate index: per partition (tenant, route, system prompt, earlier turns,
//! tools, parameters), the last user messages of stored answers with their embeddings and
//! guard features. A lookup embeds the new question with the local static model (a few
//! microseconds, no upstream call, so its cost is recorded as zero), takes the most similar
//! stored question above the route's threshold, and accepts it only if the matcher's guards
//! pass (numbers, negation, names, question words, symbols, word alignment). Every call into
//! `switchyard-embed` is in this file.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use switchyard_embed::{Embedder, GuardKey, NearDuplicate, cosine, static_embedder};

use super::key::KeyHash;

/// The embedding model used by default; its cost per call is zero (local).
pub const EMBED_MODEL: &str = "switchyard-embed/static-minilm";
/// Stored questions kept per partition (oldest dropped first).
const PER_PARTITION: usize = 512;

/// A question prepared for matching.
pub struct Probe {
    pub emb: Vec<f32>,
    pub guard: GuardKey,
}

impl Probe {
    pub fn new(text: &str) -> Probe {
        Probe {
            emb: static_embedder().embed(text),
            guard: GuardKey::new(text),
        }
    }
}

struct Item {
    probe: Arc<Probe>,
    exact: KeyHash,
}

pub struct Index {
    parts: moka::sync::Cache<KeyHash, Arc<Mutex<VecDeque<Item>>>>,
}

/// The best stored question for a probe: its cosine, and the exact key when it matched.
pub struct Found {
    pub best_similarity: Option<f32>,
    pub hit: Option<KeyHash>,
}

/// The matcher at its calibrated defaults, with the route's threshold when it sets one.
pub fn matcher(threshold: Option<f32>) -> NearDuplicate {
    let mut m = NearDuplicate::default();
    if let Some(t) = threshold {
        m.threshold = t;
    }
    m
}

impl Index {
    pub fn new(max_partitions: u64) -> Index {
        Index {
            parts: moka::sync::Cache::new(max_partitions),
        }
    }

    pub fn lookup(&self, partition: &KeyHash, probe: &Probe, m: &NearDuplicate) -> Found {
        let Some(list) = self.parts.get(partition) else {
            return Found {
                best_similarity: None,
                hit: None,
            };
        };
        let list = list.lock();
        let mut scored: Vec<(f32, &Item)> = list
            .iter()
            .map(|it| (cosine(&probe.emb, &it.probe.emb), it))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best_similarity = scored.first().map(|(c, _)| *c);
        // The most similar candidate first; if its guards fail, try the others above threshold.
        let hit = scored
            .into_iter()
            .take_while(|(c, _)| *c >= m.threshold)
            .find(|(_, it)| m.guards_pass(&probe.guard, &it.probe.guard))
            .map(|(_, it)| it.exact);
        Found {
            best_similarity,
            hit,
        }
    }

    pub fn insert(&self, partition: KeyHash, probe: Arc<Probe>, exact: KeyHash) {
        let list = self
            .parts
            .get_with(partition, || Arc::new(Mutex::new(VecDeque::new())));
        let mut l = list.lock();
        l.retain(|it| it.exact != exact);
        if l.len() >= PER_PARTITION {
            l.pop_front();
        }
        l.push_back(Item { probe, exact });
    }

    /// Drop a stored question whose answer has expired.
    pub fn forget(&self, partition: &KeyHash, exact: &KeyHash) {
        if let Some(list) = self.parts.get(partition) {
            list.lock().retain(|it| &it.exact != exact);
        }
    }
}
