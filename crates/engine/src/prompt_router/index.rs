//! The per-prompt quality index written by `switchyard eval`: evaluated prompts' embeddings
//! and each model's score on them, plus per-model mean cost and a per-task quality table.
//!
//! File layout (little endian): magic `SWYPIDX1`, `u32` header length, a JSON header
//! (`dim`, `models`, `n`, `model_cost`, `tasks`), then `n * dim` f32 embeddings (L2-normalised)
//! and `n * models` f32 scores (NaN = that model was not evaluated on that prompt).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"SWYPIDX1";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexHeader {
    pub dim: usize,
    pub models: Vec<String>,
    pub n: usize,
    /// Mean USD per prompt for each model, measured by the evaluation.
    #[serde(default)]
    pub model_cost: BTreeMap<String, f64>,
    /// Task -> model -> mean score (the task table).
    #[serde(default)]
    pub tasks: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Default)]
pub struct PromptIndex {
    pub header: IndexHeader,
    pub emb: Vec<f32>,
    pub scores: Vec<f32>,
    /// Mean score per model over the prompts it was evaluated on (the neighbours' prior).
    pub mean: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a prompt index: {0}")]
    Format(String),
}

impl PromptIndex {
    /// Build from rows of (embedding, score per model in `models` order; NaN for missing).
    pub fn new(mut header: IndexHeader, rows: Vec<(Vec<f32>, Vec<f32>)>) -> PromptIndex {
        header.n = rows.len();
        let m = header.models.len();
        let mut emb = Vec::with_capacity(rows.len() * header.dim);
        let mut scores = Vec::with_capacity(rows.len() * m);
        for (e, s) in rows {
            emb.extend(
                e.iter()
                    .copied()
                    .chain(std::iter::repeat(0.0))
                    .take(header.dim),
            );
            scores.extend(s.iter().copied().chain(std::iter::repeat(f32::NAN)).take(m));
        }
        let mut idx = PromptIndex {
            header,
            emb,
            scores,
            mean: Vec::new(),
        };
        idx.mean = idx.means();
        idx
    }

    fn means(&self) -> Vec<f64> {
        let m = self.header.models.len();
        let mut sum = vec![0.0f64; m];
        let mut cnt = vec![0usize; m];
        for row in self.scores.chunks(m.max(1)) {
            for (j, &s) in row.iter().enumerate() {
                if !s.is_nan() {
                    sum[j] += f64::from(s);
                    cnt[j] += 1;
                }
            }
        }
        sum.iter()
            .zip(&cnt)
            .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let head = serde_json::to_vec(&self.header).unwrap_or_default();
        let mut out =
            Vec::with_capacity(12 + head.len() + 4 * (self.emb.len() + self.scores.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&head);
        for x in self.emb.iter().chain(&self.scores) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<PromptIndex, IndexError> {
        let bad = |s: &str| IndexError::Format(s.to_owned());
        if b.len() < 12 || &b[..8] != MAGIC {
            return Err(bad("bad magic"));
        }
        let hl = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        let head = b.get(12..12 + hl).ok_or_else(|| bad("truncated header"))?;
        let header: IndexHeader =
            serde_json::from_slice(head).map_err(|e| IndexError::Format(e.to_string()))?;
        let (n, d, m) = (header.n, header.dim, header.models.len());
        let body = &b[12 + hl..];
        if body.len() != 4 * (n * d + n * m) {
            return Err(bad("body size does not match the header"));
        }
        let floats: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let scores = floats[n * d..].to_vec();
        let mut emb = floats;
        emb.truncate(n * d);
        let mut idx = PromptIndex {
            header,
            emb,
            scores,
            mean: Vec::new(),
        };
        idx.mean = idx.means();
        Ok(idx)
    }

    pub fn read(path: &Path) -> Result<PromptIndex, IndexError> {
        PromptIndex::from_bytes(&std::fs::read(path)?)
    }

    /// Write atomically (temp file + rename), so a watching gateway never reads half a file.
    pub fn write(&self, path: &Path) -> Result<(), IndexError> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_bytes())?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    pub fn model_pos(&self, name: &str) -> Option<usize> {
        self.header.models.iter().position(|m| m == name)
    }

    /// Predicted score of every model for a prompt embedding: the similarity-weighted mean of
    /// its `k` nearest evaluated prompts, shrunk toward the model's overall mean by `prior`
    /// (a weight in units of one perfectly similar neighbour), so a model seen on few
    /// neighbours is not judged on one or two of them.
    pub fn predict(&self, q: &[f32], k: usize, prior: f64) -> Vec<f64> {
        self.predict_skip(q, k, prior, None)
    }

    /// [`Self::predict`] leaving out row `skip` (leave-one-out calibration on the index's own
    /// prompts).
    pub fn predict_skip(&self, q: &[f32], k: usize, prior: f64, skip: Option<usize>) -> Vec<f64> {
        let (n, d, m) = (self.header.n, self.header.dim, self.header.models.len());
        let k = k.clamp(1, n.max(1));
        // Top-k by insertion into a small sorted buffer: k is small, n is thousands.
        let mut top: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        if q.len() == d {
            for (i, row) in self.emb.chunks_exact(d.max(1)).enumerate().take(n) {
                if Some(i) == skip {
                    continue;
                }
                let s: f32 = row.iter().zip(q).map(|(a, b)| a * b).sum();
                if top.len() < k || s > top[top.len() - 1].0 {
                    let at = top.partition_point(|&(x, _)| x >= s);
                    top.insert(at, (s, i));
                    top.truncate(k);
                }
            }
        }
        let mut num: Vec<f64> = self.mean.iter().map(|&mu| prior * mu).collect();
        let mut den = vec![prior; m];
        for &(s, i) in &top {
            let w = f64::from(s.max(0.0)).powi(2);
            for j in 0..m {
                let sc = self.scores[i * m + j];
                if !sc.is_nan() {
                    num[j] += w * f64::from(sc);
                    den[j] += w;
                }
            }
        }
        num.iter()
            .zip(&den)
            .map(|(a, b)| if *b > 0.0 { a / b } else { 0.0 })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_nearest_neighbours_decide() {
        let header = IndexHeader {
            dim: 2,
            models: vec!["cheap".into(), "strong".into()],
            ..IndexHeader::default()
        };
        // Prompts near (1,0): cheap is right; near (0,1): cheap is wrong.
        let rows = vec![
            (vec![1.0, 0.0], vec![1.0, 1.0]),
            (vec![0.99, 0.14], vec![1.0, 1.0]),
            (vec![0.0, 1.0], vec![0.0, 1.0]),
            (vec![0.14, 0.99], vec![0.0, f32::NAN]),
        ];
        let idx = PromptIndex::new(header, rows);
        let back = PromptIndex::from_bytes(&idx.to_bytes()).unwrap();
        assert_eq!(back.header.n, 4);
        assert_eq!(back.emb, idx.emb);
        let a = back.predict(&[1.0, 0.0], 2, 0.1);
        let b = back.predict(&[0.0, 1.0], 2, 0.1);
        assert!(a[0] > 0.9 && b[0] < 0.2, "{a:?} {b:?}");
        assert!(b[1] > 0.9);
        assert!(PromptIndex::from_bytes(b"nope").is_err());
    }
}
