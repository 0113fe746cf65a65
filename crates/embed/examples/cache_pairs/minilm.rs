//! Features of the full MiniLM transformer's embeddings for the pair model
//! (`CACHE_PAIRS_MINILM`, see `main.rs`), read from vectors computed ahead by
//! `examples/minilm_embed.rs`.

use std::collections::HashMap;

use switchyard_embed::cosine;

/// Buckets (dimension index modulo this) for the summed MiniLM `a*b` and `|a-b|`.
const MINILM_BUCKETS: usize = 16;

/// Per-text MiniLM vectors keyed by FNV-1a of the text (`SYEMBC01`, see
/// `examples/minilm_embed.rs`).
pub fn load_vectors(
    path: &std::path::Path,
) -> Result<HashMap<u64, Vec<f32>>, Box<dyn std::error::Error>> {
    let b = std::fs::read(path)?;
    if b.len() < 16 || &b[..8] != b"SYEMBC01" {
        return Err(format!("{}: not a SYEMBC01 file", path.display()).into());
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let (n, dim) = (u32_at(8), u32_at(12));
    let rec = 8 + 4 * dim;
    if b.len() != 16 + n * rec {
        return Err(format!("{}: truncated", path.display()).into());
    }
    Ok(b[16..]
        .chunks_exact(rec)
        .map(|r| {
            let mut h = [0u8; 8];
            h.copy_from_slice(&r[..8]);
            let v = r[8..]
                .chunks_exact(4)
                .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
                .collect();
            (u64::from_le_bytes(h), v)
        })
        .collect())
}

/// Which MiniLM features `CACHE_PAIRS_MINILM_FEATURES` adds.
#[derive(Clone, Copy, PartialEq)]
pub enum MiniLmFeatures {
    Cos,
    Buckets,
    Full,
}

/// Symmetric features of two MiniLM vectors: the cosine, then (by `kind`)
/// `a*b` and `|a-b|` summed per bucket, then all of `a*b` and `|a-b|`.
pub fn minilm_features(a: &[f32], b: &[f32], kind: MiniLmFeatures) -> Vec<f32> {
    let mut f = vec![cosine(a, b)];
    if kind != MiniLmFeatures::Cos {
        let mut prod = [0.0f32; MINILM_BUCKETS];
        let mut diff = [0.0f32; MINILM_BUCKETS];
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            prod[i % MINILM_BUCKETS] += x * y;
            diff[i % MINILM_BUCKETS] += (x - y).abs();
        }
        f.extend(prod);
        f.extend(diff);
    }
    if kind == MiniLmFeatures::Full {
        f.extend(a.iter().zip(b).map(|(x, y)| x * y));
        f.extend(a.iter().zip(b).map(|(x, y)| (x - y).abs()));
    }
    f
}
