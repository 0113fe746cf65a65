//! Learned near-duplicate pair classifier: logistic regression over symmetric
//! pair features of two [`GuardKey`]s (static-embedding products and
//! differences, word-overlap, alignment and word-order scalars, and hashed
//! one-sided words), run after the hard vetoes of [`crate::NearDuplicate`].
//!
//! The shipped weights (`data/pair_model.bin`, `SYPAIR01`) were fitted on part
//! of the labelled QQP dev pairs in `../shared/routing-data/cache_pairs`
//! (Quora Question Pairs: non-commercial terms; only the fitted numbers ship,
//! never the pairs). Refit, recalibrate and rewrite them with
//! `cargo run -p switchyard-embed --release --example cache_pairs -- --write`.
//!
//! File format (little endian): magic `b"SYPAIR01"`, `n: u32` features, then
//! f32 `bias`, `prefilter` (cosine), `min_alignment`, `decision` (probability),
//! then `n` f32 weights. The operating point is calibrated with the weights.

use std::sync::OnceLock;

use crate::EmbedError;
use crate::near_dup::{GuardKey, MAX_SEQ_WORDS};

const MAGIC: &[u8; 8] = b"SYPAIR01";
/// Magic, feature count, then four f32: bias, prefilter, min_alignment, decision.
const HEADER: usize = 28;
static BUILTIN: &[u8] = include_bytes!("../data/pair_model.bin");

/// Scalar features, see [`pair_features`].
pub const PAIR_SCALARS: usize = 17;
/// Buckets for the one-sided words (FNV-1a of the lowercased word).
pub const DIFF_BUCKETS: usize = 256;
/// Dimension of the static embedding the model was fitted on.
pub const PAIR_EMB_DIM: usize = 256;
pub const PAIR_FEATURES: usize = PAIR_SCALARS + DIFF_BUCKETS + 2 * PAIR_EMB_DIM;

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn jaccard<T: Ord>(a: &std::collections::BTreeSet<T>, b: &std::collections::BTreeSet<T>) -> f32 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f32 / union as f32
}

fn bigrams(k: &GuardKey) -> std::collections::BTreeSet<(&str, &str)> {
    k.seq
        .windows(2)
        .map(|w| (w[0].as_str(), w[1].as_str()))
        .collect()
}

fn lcs(a: &[String], b: &[String]) -> usize {
    let mut prev = [0u16; MAX_SEQ_WORDS + 1];
    let mut cur = [0u16; MAX_SEQ_WORDS + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    usize::from(prev[b.len()])
}

/// The feature vector of a pair; symmetric in `a` and `b`.
///
/// Scalars: static cosine, content-word Jaccard, word Jaccard, worst and mean
/// alignment of one-sided content words, ln(1+one-sided), ln(1+unaligned),
/// word-count ratio, ln(1+|word-count difference|), word-bigram Jaccard, LCS
/// ratio of the word sequences, equal content sets, equal first word, equal
/// word sets, and the names, question-word and symbol guards as 0/1 (for
/// matchers that do not make them hard vetoes). Then one-sided word counts per hash bucket, then `a*b` and
/// `|a-b|` of the static embeddings.
pub fn pair_features(a: &GuardKey, b: &GuardKey) -> Vec<f32> {
    let mut f = Vec::with_capacity(PAIR_FEATURES);
    let al = a.alignment_stats(b);
    let (na, nb) = (a.n_words as f32, b.n_words as f32);
    let longest = a.seq.len().max(b.seq.len()).max(1) as f32;
    let flag = |x: bool| if x { 1.0 } else { 0.0 };
    f.extend([
        crate::cosine(&a.emb, &b.emb),
        a.content_overlap(b),
        jaccard(&a.words, &b.words),
        al.min,
        al.mean,
        (al.one_sided as f32).ln_1p(),
        (al.unaligned as f32).ln_1p(),
        if na.max(nb) > 0.0 {
            na.min(nb) / na.max(nb)
        } else {
            1.0
        },
        (na - nb).abs().ln_1p(),
        jaccard(&bigrams(a), &bigrams(b)),
        lcs(&a.seq, &b.seq) as f32 / longest,
        flag(a.content == b.content),
        flag(a.seq.first() == b.seq.first()),
        flag(a.words == b.words),
        flag(a.names_compatible(b)),
        flag(a.question_words == b.question_words),
        flag(a.symbols == b.symbols),
    ]);
    let mut buckets = [0.0f32; DIFF_BUCKETS];
    for w in a.words.symmetric_difference(&b.words) {
        buckets[(fnv1a(w) % DIFF_BUCKETS as u64) as usize] += 1.0;
    }
    f.extend(buckets);
    let emb = |k: &GuardKey, i: usize| k.emb.get(i).copied().unwrap_or(0.0);
    f.extend((0..PAIR_EMB_DIM).map(|i| emb(a, i) * emb(b, i)));
    f.extend((0..PAIR_EMB_DIM).map(|i| (emb(a, i) - emb(b, i)).abs()));
    f
}

/// Logistic regression over [`pair_features`], with the operating point it
/// was calibrated at.
#[derive(Debug, Clone, PartialEq)]
pub struct PairModel {
    weights: Vec<f32>,
    bias: f32,
    prefilter: f32,
    min_alignment: f32,
    decision: f32,
}

/// The built-in model, parsed once.
pub fn pair_model() -> &'static PairModel {
    static MODEL: OnceLock<PairModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        #[expect(
            clippy::expect_used,
            reason = "the built-in weights are compiled in and checked by tests; a bad file is a build defect"
        )]
        PairModel::from_bytes(BUILTIN).expect("built-in pair model is valid")
    })
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl PairModel {
    /// Cosine below which candidates are not scored (the calibrated default
    /// for [`crate::NearDuplicate::threshold`]).
    pub fn prefilter(&self) -> f32 {
        self.prefilter
    }

    /// The calibrated word-alignment floor ([`crate::NearDuplicate::min_alignment`]).
    pub fn min_alignment(&self) -> f32 {
        self.min_alignment
    }

    /// The calibrated probability threshold ([`crate::NearDuplicate::min_pair_score`]).
    pub fn decision(&self) -> f32 {
        self.decision
    }

    #[must_use]
    pub fn with_operating_point(
        mut self,
        prefilter: f32,
        min_alignment: f32,
        decision: f32,
    ) -> Self {
        self.prefilter = prefilter;
        self.min_alignment = min_alignment;
        self.decision = decision;
        self
    }

    pub fn logit_of(&self, features: &[f32]) -> f32 {
        self.weights
            .iter()
            .zip(features)
            .map(|(w, x)| w * x)
            .sum::<f32>()
            + self.bias
    }

    /// Probability that the two texts ask the same thing.
    pub fn score(&self, a: &GuardKey, b: &GuardKey) -> f32 {
        sigmoid(self.logit_of(&pair_features(a, b)))
    }

    /// Fits by mini-batch Adam on standardised features with L2 penalty `l2`,
    /// then folds the standardisation into the weights. Deterministic: the
    /// batch order comes from a fixed-seed generator.
    pub fn train(
        rows: &[(Vec<f32>, bool)],
        epochs: usize,
        lr: f32,
        l2: f32,
    ) -> Result<Self, EmbedError> {
        let dim = rows
            .first()
            .map(|(x, _)| x.len())
            .ok_or_else(|| EmbedError::Format("no examples".into()))?;
        if rows.iter().any(|(x, _)| x.len() != dim) {
            return Err(EmbedError::Format("examples differ in length".into()));
        }
        let n = rows.len() as f64;
        let mut mean = vec![0.0f64; dim];
        let mut var = vec![0.0f64; dim];
        for (x, _) in rows {
            mean.iter_mut()
                .zip(x)
                .for_each(|(m, &v)| *m += f64::from(v) / n);
        }
        for (x, _) in rows {
            var.iter_mut()
                .zip(x.iter().zip(&mean))
                .for_each(|(s, (&v, m))| *s += (f64::from(v) - m).powi(2) / n);
        }
        let sd: Vec<f32> = var.iter().map(|v| (v.sqrt() as f32).max(1e-6)).collect();
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let z: Vec<Vec<f32>> = rows
            .iter()
            .map(|(x, _)| {
                x.iter()
                    .zip(&mean)
                    .zip(&sd)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect();
        let (mut w, mut b) = (vec![0.0f32; dim], 0.0f32);
        let (mut mw, mut vw) = (vec![0.0f32; dim], vec![0.0f32; dim]);
        let (mut mb, mut vb) = (0.0f32, 0.0f32);
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut t = 0i32;
        let mut grad = vec![0.0f32; dim];
        const BATCH: usize = 256;
        for _ in 0..epochs {
            for i in (1..order.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            for chunk in order.chunks(BATCH) {
                grad.fill(0.0);
                let mut gb = 0.0f32;
                for &i in chunk {
                    let x = &z[i];
                    let p = sigmoid(w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + b);
                    let g = p - if rows[i].1 { 1.0 } else { 0.0 };
                    grad.iter_mut().zip(x).for_each(|(gi, xi)| *gi += g * xi);
                    gb += g;
                }
                let k = chunk.len() as f32;
                t += 1;
                let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                for j in 0..dim {
                    let g = grad[j] / k + l2 * w[j];
                    mw[j] = b1 * mw[j] + (1.0 - b1) * g;
                    vw[j] = b2 * vw[j] + (1.0 - b2) * g * g;
                    w[j] -= lr * (mw[j] / c1) / ((vw[j] / c2).sqrt() + eps);
                }
                let g = gb / k;
                mb = b1 * mb + (1.0 - b1) * g;
                vb = b2 * vb + (1.0 - b2) * g * g;
                b -= lr * (mb / c1) / ((vb / c2).sqrt() + eps);
            }
        }
        // w.(x-m)/s + b  ==  (w/s).x + (b - sum w m / s)
        let weights: Vec<f32> = w.iter().zip(&sd).map(|(w, s)| w / s).collect();
        let bias = b - weights.iter().zip(&mean).map(|(w, m)| w * m).sum::<f32>();
        Ok(Self {
            weights,
            bias,
            prefilter: 0.0,
            min_alignment: 0.0,
            decision: 0.5,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((self.weights.len() as u32).to_le_bytes());
        for v in [self.bias, self.prefilter, self.min_alignment, self.decision]
            .iter()
            .chain(&self.weights)
        {
            out.extend(v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, EmbedError> {
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err(EmbedError::Format("bad magic, not a SYPAIR01 file".into()));
        }
        let n = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        if n != PAIR_FEATURES || b.len() != HEADER + 4 * n {
            return Err(EmbedError::Format(format!(
                "pair model has {n} features and {} bytes; expected {PAIR_FEATURES} features",
                b.len()
            )));
        }
        let f: Vec<f32> = b[12..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if f.iter().any(|v| !v.is_finite()) {
            return Err(EmbedError::Format(
                "pair model has a non-finite number".into(),
            ));
        }
        Ok(Self {
            bias: f[0],
            prefilter: f[1],
            min_alignment: f[2],
            decision: f[3],
            weights: f[4..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NearDuplicate;

    fn key(s: &str) -> GuardKey {
        GuardKey::new(s)
    }

    #[test]
    fn builtin_weights_load_with_a_calibrated_operating_point() {
        let m = pair_model();
        assert_eq!(m.weights.len(), PAIR_FEATURES);
        assert!(m.weights.iter().any(|&w| w != 0.0), "weights are all zero");
        assert!((0.5..1.0).contains(&m.prefilter()), "{}", m.prefilter());
        assert!((0.0..1.0).contains(&m.decision()), "{}", m.decision());
        assert_eq!(PairModel::from_bytes(&m.to_bytes()).unwrap(), *m);
        let d = NearDuplicate::default();
        assert_eq!(d.threshold, m.prefilter());
        assert_eq!(d.min_pair_score, Some(m.decision()));
        assert!(PairModel::from_bytes(&m.to_bytes()[..100]).is_err());
        assert!(PairModel::from_bytes(b"SYTASK01").is_err());
    }

    #[test]
    fn features_are_symmetric_and_scores_rank_paraphrases_first() {
        let (a, b) = (
            key("How do I learn Python quickly?"),
            key("What is the fastest way to learn Python?"),
        );
        let c = key("Where can I buy cheap flights to Rome?");
        let (fab, fba) = (pair_features(&a, &b), pair_features(&b, &a));
        assert_eq!(fab.len(), PAIR_FEATURES);
        for (x, y) in fab.iter().zip(&fba) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        let m = pair_model();
        let same = key("How do I learn Python quickly?");
        assert!(m.score(&a, &same) > m.score(&a, &b));
        assert!(m.score(&a, &b) > m.score(&a, &c));
    }

    #[test]
    fn training_is_deterministic_and_separates_toy_classes() {
        // Label = first feature positive; the second is noise.
        let rows: Vec<(Vec<f32>, bool)> = (0..400)
            .map(|i| {
                let x = ((i * 37) % 101) as f32 / 50.0 - 1.0;
                let noise = ((i * 53) % 97) as f32 / 97.0;
                (vec![x, noise], x > 0.0)
            })
            .collect();
        let m1 = PairModel::train(&rows, 30, 0.05, 1e-4).unwrap();
        let m2 = PairModel::train(&rows, 30, 0.05, 1e-4).unwrap();
        assert_eq!(m1, m2);
        let acc = rows
            .iter()
            .filter(|(x, y)| (m1.logit_of(x) > 0.0) == *y)
            .count();
        assert!(acc >= 390, "{acc}/400");
        assert!(PairModel::train(&[], 1, 0.1, 0.0).is_err());
    }

    #[test]
    fn hard_vetoes_hold_whatever_the_model_says() {
        // Even a model threshold that accepts everything cannot overrule them.
        let lax = NearDuplicate {
            threshold: -1.0,
            min_pair_score: Some(0.0),
            ..NearDuplicate::default()
        };
        let v = [1.0, 0.0];
        for (a, b) in [
            ("What is 21+1?", "What is 1+1?"),
            (
                "Is it safe to eat raw eggs?",
                "Is it not safe to eat raw eggs?",
            ),
            ("Best jobs in Atlanta?", "Best jobs in Toronto?"),
        ] {
            assert!(!lax.matches(a, b, &v, &v), "{a} / {b}");
            assert!(!NearDuplicate::default().matches(a, b, &v, &v), "{a} / {b}");
        }
        assert!(lax.matches("What is 1+1?", "what is 1+1", &v, &v));
    }
}
