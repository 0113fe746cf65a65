//! A small gradient-boosted tree ensemble for binary classification (logistic
//! loss): complete binary trees of fixed depth, fitted level by level on
//! quantile-binned features. Evaluation is `trees x depth` comparisons, a few
//! microseconds for hundreds of trees.

use crate::EmbedError;

/// Fitting settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostParams {
    pub trees: usize,
    pub depth: usize,
    pub learning_rate: f32,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Fewest fitting rows on each side of a split.
    pub min_rows: usize,
    /// Fraction of rows each tree is fitted on.
    pub row_sample: f64,
    /// Fraction of features each tree may split on.
    pub feature_sample: f64,
    /// Quantile bins per feature (at most 256).
    pub bins: usize,
    pub seed: u64,
}

impl Default for BoostParams {
    fn default() -> Self {
        Self {
            trees: 500,
            depth: 6,
            learning_rate: 0.05,
            lambda: 1.0,
            min_rows: 20,
            row_sample: 0.8,
            feature_sample: 0.3,
            bins: 32,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// Complete trees of one depth: per tree `2^depth - 1` splits (go right when
/// `x[feature] > threshold`) in breadth-first order, then `2^depth` leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Trees {
    pub(crate) depth: usize,
    pub(crate) base: f32,
    pub(crate) feature: Vec<u32>,
    pub(crate) threshold: Vec<f32>,
    pub(crate) leaf: Vec<f32>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Trees {
    pub(crate) fn len(&self) -> usize {
        self.leaf.len() >> self.depth
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The log-odds of the positive class.
    pub fn logit(&self, x: &[f32]) -> f32 {
        let splits = (1usize << self.depth) - 1;
        let mut sum = self.base;
        for (t, leaves) in self.leaf.chunks_exact(splits + 1).enumerate() {
            let (f, th) = (
                &self.feature[t * splits..(t + 1) * splits],
                &self.threshold[t * splits..(t + 1) * splits],
            );
            let mut i = 0;
            for _ in 0..self.depth {
                let v = x.get(f[i] as usize).copied().unwrap_or(0.0);
                i = 2 * i + 1 + usize::from(v > th[i]);
            }
            sum += leaves[i - splits];
        }
        sum
    }

    /// Fits on `rows` (features, label). Deterministic for a given seed.
    pub fn fit(rows: &[(Vec<f32>, bool)], p: &BoostParams) -> Result<Self, EmbedError> {
        let dim = rows
            .first()
            .map(|(x, _)| x.len())
            .ok_or_else(|| EmbedError::Format("no examples".into()))?;
        if rows.iter().any(|(x, _)| x.len() != dim) {
            return Err(EmbedError::Format("examples differ in length".into()));
        }
        if !(1..=12).contains(&p.depth) || !(2..=256).contains(&p.bins) {
            return Err(EmbedError::Format("depth 1..=12 and bins 2..=256".into()));
        }
        let n = rows.len();
        // Per feature, cut points at quantiles; bin b holds cuts[b-1] < x <= cuts[b].
        // Bins are stored row by row: the histogram pass reads one row at a time.
        let mut cuts: Vec<Vec<f32>> = Vec::with_capacity(dim);
        let mut bins = vec![0u8; dim * n];
        let mut col: Vec<f32> = Vec::with_capacity(n);
        for f in 0..dim {
            col.clear();
            col.extend(rows.iter().map(|(x, _)| x[f]));
            col.sort_by(f32::total_cmp);
            let mut c: Vec<f32> = (1..p.bins)
                .map(|b| col[(b * n / p.bins).min(n - 1)])
                .collect();
            c.dedup();
            if c.last() == col.last() {
                c.pop();
            }
            for (r, (x, _)) in rows.iter().enumerate() {
                bins[r * dim + f] = c.partition_point(|&cut| cut < x[f]) as u8;
            }
            cuts.push(c);
        }
        let pos = rows.iter().filter(|(_, y)| *y).count() as f64;
        let prior = (pos.max(1.0) / (n as f64 - pos).max(1.0)).ln();
        let mut score = vec![prior; n];
        let (mut grad, mut hess) = (vec![0.0f64; n], vec![0.0f64; n]);
        let splits = (1usize << p.depth) - 1;
        let mut out = Self {
            depth: p.depth,
            base: prior as f32,
            feature: Vec::with_capacity(p.trees * splits),
            threshold: Vec::with_capacity(p.trees * splits),
            leaf: Vec::with_capacity(p.trees * (splits + 1)),
        };
        let mut rng = Rng(p.seed | 1);
        let nb = p.bins;
        let mut node = vec![0usize; n];
        for _ in 0..p.trees {
            for (r, (_, y)) in rows.iter().enumerate() {
                let q = sigmoid(score[r]);
                grad[r] = q - if *y { 1.0 } else { 0.0 };
                hess[r] = (q * (1.0 - q)).max(1e-12);
            }
            let sample: Vec<usize> = (0..n).filter(|_| rng.unit() < p.row_sample).collect();
            let feats: Vec<usize> = (0..dim).filter(|_| rng.unit() < p.feature_sample).collect();
            let feats = if feats.is_empty() { vec![0] } else { feats };
            sample.iter().for_each(|&r| node[r] = 0);
            let mut t_feat = vec![0u32; splits];
            let mut t_thr = vec![f32::INFINITY; splits];
            // Per split node, the chosen (feature, bin); None goes all left.
            let mut t_bin: Vec<Option<(usize, usize)>> = vec![None; splits];
            for level in 0..p.depth {
                let first = (1usize << level) - 1;
                let width = 1usize << level;
                // hist[(node * feats + fi) * nb + bin] = (g, h, count)
                let mut hist = vec![(0.0f64, 0.0f64, 0u32); width * feats.len() * nb];
                let mut tot = vec![(0.0f64, 0.0f64, 0u32); width];
                for &r in &sample {
                    let k = node[r] - first;
                    let (g, h) = (grad[r], hess[r]);
                    let t = &mut tot[k];
                    t.0 += g;
                    t.1 += h;
                    t.2 += 1;
                    let base = k * feats.len();
                    for (fi, &f) in feats.iter().enumerate() {
                        let e = &mut hist[(base + fi) * nb + usize::from(bins[r * dim + f])];
                        e.0 += g;
                        e.1 += h;
                        e.2 += 1;
                    }
                }
                for k in 0..width {
                    let (g, h, c) = tot[k];
                    if (c as usize) < 2 * p.min_rows {
                        continue;
                    }
                    let parent = g * g / (h + p.lambda);
                    let mut best: Option<(f64, usize, usize)> = None;
                    for (fi, &f) in feats.iter().enumerate() {
                        let (mut gl, mut hl, mut cl) = (0.0, 0.0, 0u32);
                        let hs = &hist[(k * feats.len() + fi) * nb..][..nb];
                        for (b, e) in hs.iter().enumerate().take(cuts[f].len()) {
                            gl += e.0;
                            hl += e.1;
                            cl += e.2;
                            if (cl as usize) < p.min_rows {
                                continue;
                            }
                            if ((c - cl) as usize) < p.min_rows {
                                break;
                            }
                            let (gr, hr) = (g - gl, h - hl);
                            let gain =
                                gl * gl / (hl + p.lambda) + gr * gr / (hr + p.lambda) - parent;
                            if best.is_none_or(|(bg, _, _)| gain > bg) {
                                best = Some((gain, f, b));
                            }
                        }
                    }
                    if let Some((gain, f, b)) = best.filter(|(gain, _, _)| *gain > 1e-9) {
                        let _ = gain;
                        t_feat[first + k] = f as u32;
                        t_thr[first + k] = cuts[f][b];
                        t_bin[first + k] = Some((f, b));
                    }
                }
                for &r in &sample {
                    let i = node[r];
                    let right = t_bin[i].is_some_and(|(f, b)| usize::from(bins[r * dim + f]) > b);
                    node[r] = 2 * i + 1 + usize::from(right);
                }
            }
            let mut sums = vec![(0.0f64, 0.0f64); splits + 1];
            for &r in &sample {
                let s = &mut sums[node[r] - splits];
                s.0 += grad[r];
                s.1 += hess[r];
            }
            let leaves: Vec<f32> = sums
                .iter()
                .map(|(g, h)| (-g / (h + p.lambda) * f64::from(p.learning_rate)) as f32)
                .collect();
            // Update every row's score through the tree just built.
            for (r, s) in score.iter_mut().enumerate() {
                let mut i = 0;
                for _ in 0..p.depth {
                    let right = t_bin[i].is_some_and(|(f, b)| usize::from(bins[r * dim + f]) > b);
                    i = 2 * i + 1 + usize::from(right);
                }
                *s += f64::from(leaves[i - splits]);
            }
            out.feature.extend(t_feat);
            out.threshold.extend(t_thr);
            out.leaf.extend(leaves);
        }
        Ok(out)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend((self.len() as u32).to_le_bytes());
        out.extend((self.depth as u32).to_le_bytes());
        out.extend(self.base.to_le_bytes());
        out.extend(self.feature.iter().flat_map(|f| f.to_le_bytes()));
        out.extend(self.threshold.iter().flat_map(|f| f.to_le_bytes()));
        out.extend(self.leaf.iter().flat_map(|f| f.to_le_bytes()));
    }

    /// Parses what [`Self::write`] wrote; features must be below `dim`.
    pub(crate) fn read(b: &[u8], dim: usize) -> Result<Self, EmbedError> {
        let bad = |m: &str| EmbedError::Format(format!("tree ensemble: {m}"));
        let word = |i: usize| -> Result<[u8; 4], EmbedError> {
            b.get(4 * i..4 * i + 4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad("truncated"))
        };
        let trees = u32::from_le_bytes(word(0)?) as usize;
        let depth = u32::from_le_bytes(word(1)?) as usize;
        if !(1..=12).contains(&depth) {
            return Err(bad("depth out of range"));
        }
        let splits = (1usize << depth) - 1;
        let words = 3 + trees * (2 * splits + splits + 1);
        if b.len() != 4 * words {
            return Err(bad("wrong length"));
        }
        let f32_at =
            |i: usize| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let base = f32_at(2);
        let feature: Vec<u32> = (0..trees * splits)
            .map(|i| {
                u32::from_le_bytes([b[12 + 4 * i], b[13 + 4 * i], b[14 + 4 * i], b[15 + 4 * i]])
            })
            .collect();
        let at = 3 + trees * splits;
        // An unused split has an infinite threshold (everything goes left).
        let threshold: Vec<f32> = (at..at + trees * splits).map(f32_at).collect();
        let at = at + trees * splits;
        let leaf: Vec<f32> = (at..at + trees * (splits + 1)).map(f32_at).collect();
        if feature.iter().any(|&f| f as usize >= dim) {
            return Err(bad("feature index out of range"));
        }
        if !base.is_finite()
            || leaf.iter().any(|v| !v.is_finite())
            || threshold.iter().any(|v| v.is_nan())
        {
            return Err(bad("non-finite number"));
        }
        Ok(Self {
            depth,
            base,
            feature,
            threshold,
            leaf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<(Vec<f32>, bool)> {
        // Label = x0 > 0 xor x1 > 0.5 (needs depth 2); x2 is noise.
        (0..2000)
            .map(|i| {
                let x = ((i * 37) % 101) as f32 / 50.0 - 1.0;
                let z = ((i * 53) % 97) as f32 / 97.0;
                let noise = ((i * 71) % 89) as f32 / 89.0;
                (vec![x, z, noise], (x > 0.0) != (z > 0.5))
            })
            .collect()
    }

    #[test]
    fn fits_an_interaction_deterministically_and_round_trips() {
        let rows = toy();
        let p = BoostParams {
            trees: 60,
            depth: 3,
            learning_rate: 0.3,
            feature_sample: 1.0,
            ..BoostParams::default()
        };
        let m = Trees::fit(&rows, &p).unwrap();
        assert_eq!(m, Trees::fit(&rows, &p).unwrap());
        assert_eq!(m.len(), 60);
        let acc = rows
            .iter()
            .filter(|(x, y)| (m.logit(x) > 0.0) == *y)
            .count();
        assert!(acc >= 1900, "{acc}/2000");
        let mut b = Vec::new();
        m.write(&mut b);
        assert_eq!(Trees::read(&b, 3).unwrap(), m);
        assert!(Trees::read(&b, 2).is_err() || m.feature.iter().all(|&f| f < 2));
        assert!(Trees::read(&b[..b.len() - 4], 3).is_err());
        assert!(Trees::fit(&[], &p).is_err());
    }
}
