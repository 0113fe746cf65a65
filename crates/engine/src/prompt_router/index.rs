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
    /// Per model (in `header.models` order): on the upper convex hull of (mean cost, mean
    /// quality), i.e. not beaten by a cheaper model or a mix of two others. Computed at load.
    pub frontier: Vec<bool>,
    /// The same per task, from the task table (quality) and `model_cost`.
    pub task_frontier: BTreeMap<String, Vec<bool>>,
    /// `emb` quantised to i16 per row for the neighbour scan, and each row's factor back.
    qemb: Vec<i16>,
    qback: Vec<f32>,
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
        PromptIndex::assemble(header, emb, scores)
    }

    /// Derived figures (means, frontiers) from the stored ones.
    fn assemble(header: IndexHeader, emb: Vec<f32>, scores: Vec<f32>) -> PromptIndex {
        let mut idx = PromptIndex {
            header,
            emb,
            scores,
            ..PromptIndex::default()
        };
        idx.mean = idx.means();
        let d = idx.header.dim;
        if d > 0 {
            let qm = qmax(d);
            let mut qemb = Vec::with_capacity(idx.emb.len());
            idx.qback = idx
                .emb
                .chunks_exact(d)
                .map(|row| quantise(row, qm, &mut qemb))
                .collect();
            idx.qemb = qemb;
        }
        let cost = |m: &String| idx.header.model_cost.get(m).copied();
        let overall: Vec<Option<(f64, f64)>> = idx
            .header
            .models
            .iter()
            .zip(&idx.mean)
            .map(|(m, &q)| cost(m).map(|c| (c, q)))
            .collect();
        idx.frontier = frontier(&overall);
        idx.task_frontier = idx
            .header
            .tasks
            .iter()
            .map(|(t, row)| {
                let pts: Vec<Option<(f64, f64)>> = idx
                    .header
                    .models
                    .iter()
                    .map(|m| Some((cost(m)?, *row.get(m)?)))
                    .collect();
                (t.clone(), frontier(&pts))
            })
            .collect();
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
        Ok(PromptIndex::assemble(header, emb, scores))
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

    /// The frontier for `task` (mode `task`), else the overall one.
    pub fn frontier_for(&self, task: Option<&str>) -> &[bool] {
        task.and_then(|t| self.task_frontier.get(t))
            .unwrap_or(&self.frontier)
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
        self.predict_from(&self.neighbours(q, k, skip), prior)
    }

    /// The `k` most similar rows to `q` (cosine, rows and query L2-normalised), most similar
    /// first, leaving out `skip`. Empty when `q` has the wrong dimension.
    ///
    /// The scan compares i16-quantised vectors (error ~1e-4 in similarity, so only near-ties
    /// can swap); the similarities returned, which weight the prediction, are exact f32.
    pub fn neighbours(&self, q: &[f32], k: usize, skip: Option<usize>) -> Vec<(f32, usize)> {
        let (n, d) = (self.header.n, self.header.dim);
        let k = k.clamp(1, n.max(1));
        // Top-k by insertion into a small sorted buffer: k is small, n is thousands, and most
        // rows fail the first comparison.
        let mut top: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        if q.len() != d || d == 0 {
            return top;
        }
        let mut qq = Vec::with_capacity(d);
        let qback = quantise(q, qmax(d), &mut qq);
        let rows = self.qemb.chunks_exact(d).zip(&self.qback);
        for (i, (row, &back)) in rows.enumerate().take(n) {
            if Some(i) == skip {
                continue;
            }
            let s = dot_i16(row, &qq) as f32 * (back * qback);
            if top.len() < k || s > top[top.len() - 1].0 {
                let at = top.partition_point(|&(x, _)| x >= s);
                top.insert(at, (s, i));
                top.truncate(k);
            }
        }
        for t in &mut top {
            t.0 = dot(&self.emb[t.1 * d..(t.1 + 1) * d], q);
        }
        top.sort_by(|a, b| b.0.total_cmp(&a.0));
        top
    }

    /// Predictions from neighbours (see [`Self::predict`]); `top` may be longer than the `k`
    /// wanted: pass `&top[..k]`.
    pub fn predict_from(&self, top: &[(f32, usize)], prior: f64) -> Vec<f64> {
        let m = self.header.models.len();
        let mut num: Vec<f64> = self.mean.iter().map(|&mu| prior * mu).collect();
        let mut den = vec![prior; m];
        for &(s, i) in top {
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

/// Lanes of [`dot`]: sixteen independent partial sums.
const LANES: usize = 16;

/// Dot product with sixteen independent partial sums. A single running f32 sum is one long
/// dependency chain that the compiler may not reorder (float addition is not associative),
/// so it neither vectorises nor pipelines; fixed-size lanes do both. The result differs from
/// the sequential sum only by rounding.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for ((s, p), q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    // Pairwise, so the lanes' sums stay balanced.
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        let (lo, hi) = acc.split_at_mut(w);
        for (l, h) in lo.iter_mut().zip(hi.iter()) {
            *l += *h;
        }
    }
    acc[0] + ra.iter().zip(rb).map(|(p, q)| p * q).sum::<f32>()
}

/// The largest quantised magnitude for `d` dimensions: `d` products of two such numbers sum
/// to at most `i32::MAX`, so the scan's integer sums cannot overflow whatever the data.
fn qmax(d: usize) -> f32 {
    (f64::from(i32::MAX) / d.max(1) as f64)
        .sqrt()
        .floor()
        .min(f64::from(i16::MAX)) as f32
}

/// Append `v` scaled so its largest magnitude is `qmax` and rounded to i16; returns the
/// factor back to the original scale (0 for an all-zero or non-finite vector).
fn quantise(v: &[f32], qmax: f32, out: &mut Vec<i16>) -> f32 {
    let m = v
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    if m <= 0.0 {
        out.extend(std::iter::repeat_n(0, v.len()));
        return 0.0;
    }
    let s = qmax / m;
    // `as` saturates, and maps NaN to 0.
    out.extend(v.iter().map(|x| (x * s).round() as i16));
    1.0 / s
}

/// Integer dot product: the compiler turns it into multiply-add instructions over eight i16
/// pairs at a time (integer addition is associative, so it may reorder freely), twice the
/// work per instruction of the f32 lanes, on half the memory.
#[inline]
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// Which of `pts` (cost, quality; None = unknown) lie on the upper convex hull that only
/// climbs with cost: a model off it is beaten by a cheaper, better one, or by a random mix of
/// two others at the same cost (RouterBench's zero router). Points on a segment count as off.
pub fn frontier(pts: &[Option<(f64, f64)>]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..pts.len())
        .filter(|&i| pts[i].is_some_and(|(c, q)| c.is_finite() && q.is_finite()))
        .collect();
    let p = |i: usize| pts[i].unwrap_or_default();
    order.sort_by(|&a, &b| p(a).0.total_cmp(&p(b).0).then(p(b).1.total_cmp(&p(a).1)));
    // Only models better than every cheaper one can be on the climbing hull.
    let mut best = f64::NEG_INFINITY;
    order.retain(|&i| {
        let keep = p(i).1 > best;
        best = best.max(p(i).1);
        keep
    });
    let mut hull: Vec<usize> = Vec::new();
    for i in order {
        while hull.len() >= 2 {
            let (a, b, c) = (p(hull[hull.len() - 2]), p(hull[hull.len() - 1]), p(i));
            // b on or below the segment a-c: a mix of a and c does at least as well.
            if (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0) >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(i);
    }
    let mut on = vec![false; pts.len()];
    for i in hull {
        on[i] = true;
    }
    on
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

    fn naive(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// A deterministic pseudo-random vector in [-1, 1) (xorshift), L2-normalised.
    fn unit(seed: u64, d: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..d)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        let n = naive(&v, &v).sqrt();
        v.iter_mut().for_each(|e| *e /= n);
        v
    }

    #[test]
    fn fast_dot_and_the_quantised_scan_equal_the_naive_ones() {
        // 256 (the embedder), and lengths that leave a remainder or have no full chunk.
        for d in [256, 255, 17, 16, 7, 1, 0] {
            for s in 0..50 {
                let (a, b) = (unit(s, d), unit(s + 1000, d));
                let (f, n) = (dot(&a, &b), naive(&a, &b));
                assert!((f - n).abs() <= 1e-5, "d {d} seed {s}: {f} vs {n}");
            }
        }
        // And the scan finds the same neighbours as a naive one.
        let header = IndexHeader {
            dim: 256,
            models: vec!["m".into()],
            ..IndexHeader::default()
        };
        let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..300).map(|i| (unit(i, 256), vec![0.5])).collect();
        let idx = PromptIndex::new(header, rows.clone());
        let q = unit(7777, 256);
        let mut want: Vec<(f32, usize)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (naive(&r.0, &q), i))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        let got = idx.neighbours(&q, 10, None);
        assert_eq!(got.len(), 10);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.1, w.1);
            assert!((g.0 - w.0).abs() <= 1e-5);
        }
        // The quantised scan's similarity itself is close to the exact one.
        let mut qq = Vec::new();
        let qb = quantise(&q, qmax(256), &mut qq);
        for (i, r) in rows.iter().enumerate() {
            let approx = dot_i16(&idx.qemb[i * 256..(i + 1) * 256], &qq) as f32 * idx.qback[i] * qb;
            assert!((approx - naive(&r.0, &q)).abs() < 1e-3, "row {i}");
        }
        // Extreme values cannot overflow the integer sums.
        let big = vec![1e30f32; 256];
        let mut qb2 = Vec::new();
        quantise(&big, qmax(256), &mut qb2);
        assert_eq!(
            i64::from(dot_i16(&qb2, &qb2)),
            256 * i64::from(qb2[0]).pow(2)
        );
    }

    #[test]
    fn frontier_drops_dominated_and_below_the_mix() {
        let pts = [
            Some((1.0, 0.5)),  // cheapest: on
            Some((2.0, 0.55)), // below the segment (1,0.5)-(3,0.8)
            Some((3.0, 0.8)),  // on
            Some((4.0, 0.7)),  // costlier and worse than (3,0.8)
            None,              // no cost: never
            Some((10.0, 0.9)), // strongest: on
            Some((12.0, 0.85)),
        ];
        assert_eq!(
            frontier(&pts),
            [true, false, true, false, false, true, false]
        );
        // The index computes it at load, overall and per task.
        let mut header = IndexHeader {
            dim: 1,
            models: vec!["a".into(), "b".into(), "c".into()],
            ..IndexHeader::default()
        };
        header.model_cost = [("a".into(), 1.0), ("b".into(), 2.0), ("c".into(), 3.0)].into();
        header.tasks.insert(
            "code".into(),
            [("a".into(), 0.1), ("b".into(), 0.9), ("c".into(), 0.8)].into(),
        );
        let rows = vec![(vec![1.0], vec![0.5, 0.4, 0.9])];
        let idx = PromptIndex::from_bytes(&PromptIndex::new(header, rows).to_bytes()).unwrap();
        assert_eq!(idx.frontier, [true, false, true]);
        assert_eq!(idx.frontier_for(Some("code")), [true, true, false]);
        assert_eq!(idx.frontier_for(Some("chat")), [true, false, true]);
    }
}
