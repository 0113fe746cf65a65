//! Static (model2vec-style) embeddings distilled from all-MiniLM-L6-v2: one
//! precomputed int8 row per WordPiece token, mean-pooled and L2-normalised.
//!
//! File format `SYSEMB01` (little endian), written by `tools/distill.py`:
//! magic `b"SYSEMB01"`, `rows: u32`, `dim: u32`, then `rows` f32 row scales,
//! then `rows * dim` i8 values. Row `i` is `scale[i] * q[i, ..]`; the Zipf/SIF
//! token weight is already folded into the scale.

use std::path::Path;
use std::sync::OnceLock;

use crate::tokenizer::WordPiece;
use crate::{EmbedError, Embedder, normalize_in_place};

const MAGIC: &[u8; 8] = b"SYSEMB01";

/// Long prompts are truncated: the head of a prompt carries its intent, and
/// capping the work keeps the per-request cost bounded.
pub const DEFAULT_MAX_TOKENS: usize = 512;

static BUILTIN_MODEL: &[u8] = include_bytes!("../data/minilm_static_256.bin");
static BUILTIN_VOCAB: &str = include_str!("../data/vocab.txt");

pub struct StaticEmbedder {
    tokenizer: WordPiece,
    dim: usize,
    scales: Vec<f32>,
    rows: Vec<i8>,
    max_tokens: usize,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("rows", &self.scales.len())
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

/// The built-in model, parsed once on first use (about 10 ms).
pub fn static_embedder() -> &'static StaticEmbedder {
    static MODEL: OnceLock<StaticEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        #[expect(
            clippy::expect_used,
            reason = "the built-in model is compiled in and checked by tests; a bad one is a build defect"
        )]
        StaticEmbedder::from_bytes(BUILTIN_MODEL, BUILTIN_VOCAB).expect("built-in static model is valid")
    })
}

impl StaticEmbedder {
    pub fn from_bytes(model: &[u8], vocab_txt: &str) -> Result<Self, EmbedError> {
        let tokenizer = WordPiece::from_vocab_txt(vocab_txt)?;
        if model.len() < 16 || &model[..8] != MAGIC {
            return Err(EmbedError::Format("bad magic, not a SYSEMB01 file".into()));
        }
        let rd = |at: usize| {
            u32::from_le_bytes([model[at], model[at + 1], model[at + 2], model[at + 3]]) as usize
        };
        let (n, dim) = (rd(8), rd(12));
        let need = 16 + n * 4 + n * dim;
        if dim == 0 || model.len() != need {
            return Err(EmbedError::Format(format!(
                "size {} does not match header ({n} rows x {dim} dims needs {need})",
                model.len()
            )));
        }
        if n != tokenizer.vocab_len() {
            return Err(EmbedError::Format(format!(
                "model has {n} rows but vocab has {} tokens",
                tokenizer.vocab_len()
            )));
        }
        let scales = model[16..16 + n * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let rows = model[16 + n * 4..].iter().map(|&b| b as i8).collect();
        Ok(Self {
            tokenizer,
            dim,
            scales,
            rows,
            max_tokens: DEFAULT_MAX_TOKENS,
        })
    }

    pub fn from_paths(model: &Path, vocab_txt: &Path) -> Result<Self, EmbedError> {
        let bytes = std::fs::read(model).map_err(|e| EmbedError::io(model, e))?;
        let vocab = std::fs::read_to_string(vocab_txt).map_err(|e| EmbedError::io(vocab_txt, e))?;
        Self::from_bytes(&bytes, &vocab)
    }

    #[must_use]
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = max_tokens.max(1);
        self
    }

    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Mean of the token rows, un-normalised; all zeros for text with no tokens.
    fn pool(&self, ids: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        for &id in ids {
            let id = id as usize;
            let scale = self.scales[id];
            let row = &self.rows[id * self.dim..(id + 1) * self.dim];
            for (o, &q) in out.iter_mut().zip(row) {
                *o += scale * f32::from(q);
            }
        }
    }

    /// How much a word weighs in a pooled embedding: the mean norm of its
    /// token rows (the Zipf/SIF weight is folded into the row scales, so
    /// rare words weigh more, like an IDF). 0 for text with no tokens.
    pub fn word_weight(&self, word: &str) -> f32 {
        let ids = self.tokenizer.encode(word, 8);
        if ids.is_empty() {
            return 0.0;
        }
        let norm = |id: u32| {
            let id = id as usize;
            let row = &self.rows[id * self.dim..(id + 1) * self.dim];
            let sq: f32 = row.iter().map(|&q| f32::from(q) * f32::from(q)).sum();
            self.scales[id].abs() * sq.sqrt()
        };
        ids.iter().map(|&id| norm(id)).sum::<f32>() / ids.len() as f32
    }

    /// Embedding of already-tokenized ids (used by the classifier to tokenize once).
    pub fn embed_ids(&self, ids: &[u32]) -> Vec<f32> {
        let mut v = vec![0.0; self.dim];
        self.pool(ids, &mut v);
        normalize_in_place(&mut v);
        v
    }
}

impl Embedder for StaticEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let ids = self.tokenizer.encode(text, self.max_tokens);
        self.embed_ids(&ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;

    #[test]
    fn rejects_truncated_or_mismatched_files() {
        let vocab = "[UNK]\na\n";
        assert!(StaticEmbedder::from_bytes(b"nope", vocab).is_err());
        let mut f = MAGIC.to_vec();
        f.extend(2u32.to_le_bytes());
        f.extend(3u32.to_le_bytes());
        f.extend(1.0f32.to_le_bytes());
        f.extend(0.5f32.to_le_bytes());
        f.extend([1u8, 0, 0, 0, 2, 0]);
        let e = StaticEmbedder::from_bytes(&f, vocab).unwrap();
        assert_eq!(e.dim(), 3);
        let v = e.embed("a");
        assert!((v[1] - 1.0).abs() < 1e-6, "{v:?}");
        f.pop();
        assert!(StaticEmbedder::from_bytes(&f, vocab).is_err());
    }

    #[test]
    fn builtin_model_ranks_paraphrases_above_unrelated() {
        let e = static_embedder();
        assert_eq!(e.dim(), 256);
        let a = e.embed("How do I reset my password?");
        let b = e.embed("What are the steps to change my password?");
        let c = e.embed("The weather in Paris is lovely in spring.");
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(
            cosine(&a, &b) > cosine(&a, &c) + 0.2,
            "{} vs {}",
            cosine(&a, &b),
            cosine(&a, &c)
        );
        assert!(e.embed("").iter().all(|&x| x == 0.0));
    }
}
