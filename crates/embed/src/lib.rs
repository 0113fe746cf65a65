//! Offline text embeddings for routing and caching.
//!
//! - [`static_embedder`]: the default, a static embedding table distilled from
//!   all-MiniLM-L6-v2 (see `tools/distill.py`); a few microseconds per prompt.
//! - `transformer::MiniLm` (feature `transformer`): the full model via candle,
//!   more accurate, tens of milliseconds per prompt.
//! - [`classify`]: task classification for routing.
//! - [`NearDuplicate`]: the semantic-cache matcher (hard guards, cosine
//!   prefilter, learned [`PairModel`]).

mod classify;
mod gbdt;
mod near_dup;
mod pair_model;
mod static_model;
pub mod tokenizer;
#[cfg(feature = "transformer")]
pub mod transformer;

use std::path::{Path, PathBuf};

pub use classify::{Task, TaskClassifier, classify, classify_rules, task_classifier};
pub use gbdt::BoostParams;
pub use near_dup::{GuardKey, NearDuplicate, near_duplicate};
pub use pair_model::{
    DIFF_BUCKETS, MARKER_FEATURES, PAIR_EMB_DIM, PAIR_FEATURES, PAIR_SCALARS, PairModel, fnv1a,
    pair_features, pair_model,
};
pub use static_model::{DEFAULT_MAX_TOKENS, StaticEmbedder, static_embedder};

/// Text to a fixed-size, L2-normalised vector (all zeros for empty text).
pub trait Embedder: Send + Sync {
    fn dim(&self) -> usize;
    fn embed(&self, text: &str) -> Vec<f32>;
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model file: {0}")]
    Format(String),
    #[cfg(feature = "transformer")]
    #[error("transformer: {0}")]
    Transformer(String),
}

impl EmbedError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Cosine similarity; 0 when either vector is all zeros or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

pub(crate) fn normalize_in_place(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_handles_zero_and_mismatched_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-6);
    }
}
