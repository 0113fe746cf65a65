//! Learned near-duplicate pair classifier: a gradient-boosted tree ensemble
//! ([`crate::gbdt`]) over symmetric pair features of two [`GuardKey`]s
//! (word-overlap, rarity-weighted overlap, character n-gram, alignment and
//! word-order scalars, the optional lexical guards and question/auxiliary
//! words as flags, hashed one-sided words and their static embedding,
//! static-embedding products and differences), run after the
//! hard vetoes of [`crate::NearDuplicate`].
//!
//! The shipped model (`data/pair_model.bin`, `SYPAIR03`) was fitted on the
//! calibration half of the labelled QQP dev pairs in
//! `../shared/routing-data/cache_pairs` (Quora Question Pairs: non-commercial
//! terms; only the fitted numbers ship, never the pairs), its operating point
//! chosen on 5-fold out-of-fold scores of that half; on the held-out half it
//! serves 16.4% of duplicates at 0.85% false hits. Refit, recalibrate and
//! rewrite it with
//! `cargo run -p switchyard-embed --release --example cache_pairs -- --write`.
//!
//! File format (little endian): magic `b"SYPAIR03"`, `n: u32` features,
//! `vetoes: u32` (bit 0 names, 1 question words, 2 symbols: the optional
//! guards that were hard vetoes when fitting; numbers and negation always
//! are), f32 `prefilter` (cosine), `min_alignment`, `decision` (probability),
//! then the trees: `count: u32`, `depth: u32`, f32 `base` logit, then
//! `count * (2^depth - 1)` u32 split features, as many f32 thresholds, and
//! `count * 2^depth` f32 leaf values. The operating point is calibrated with
//! the trees.

use std::sync::OnceLock;

use crate::EmbedError;
use crate::gbdt::{BoostParams, Trees};
use crate::near_dup::{GuardKey, MARKER_WORDS, MAX_SEQ_WORDS};

const MAGIC: &[u8; 8] = b"SYPAIR03";
/// Magic, feature count, vetoes, then three f32: prefilter, min_alignment, decision.
const HEADER: usize = 28;
static BUILTIN: &[u8] = include_bytes!("../data/pair_model.bin");

/// Scalar features, see [`pair_features`].
pub const PAIR_SCALARS: usize = 31;
/// Per marker word: on both sides, on one side only.
pub const MARKER_FEATURES: usize = 2 * MARKER_WORDS.len();
/// Buckets for the one-sided words (FNV-1a of the lowercased word).
pub const DIFF_BUCKETS: usize = 256;
/// Dimension of the static embedding the model was fitted on.
pub const PAIR_EMB_DIM: usize = 256;
/// The static embedding of the one-sided words, then `a*b` and `|a-b|` of the texts' embeddings.
pub const PAIR_FEATURES: usize = PAIR_SCALARS + MARKER_FEATURES + DIFF_BUCKETS + 3 * PAIR_EMB_DIM;

/// FNV-1a over the bytes: the stable hash the hashed features, and the calibration tools'
/// splits and vector files, key texts by.
pub fn fnv1a(s: &str) -> u64 {
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

/// Items two sorted, deduplicated lists share.
fn sorted_common(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both
}

/// Jaccard of two sorted, deduplicated lists; 1 when both are empty.
fn sorted_jaccard(a: &[u32], b: &[u32]) -> f32 {
    let both = sorted_common(a, b);
    let union = a.len() + b.len() - both;
    if union == 0 {
        1.0
    } else {
        both as f32 / union as f32
    }
}

/// Shared items over the smaller set; 1 when either is empty.
fn sorted_containment(a: &[u32], b: &[u32]) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 1.0;
    }
    sorted_common(a, b) as f32 / smaller as f32
}

/// Weighted word overlap of two keys: (shared weight, weight only in `a`,
/// weight only in `b`, heaviest one-sided word), with each key's words
/// weighted by [`crate::StaticEmbedder::word_weight`].
fn weighted_overlap(a: &GuardKey, b: &GuardKey) -> (f32, f32, f32, f32) {
    let (mut shared, mut only_a, mut only_b, mut max) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let mut ia = a.words.iter().zip(&a.weights).peekable();
    let mut ib = b.words.iter().zip(&b.weights).peekable();
    loop {
        match (ia.peek(), ib.peek()) {
            (Some(&(x, &wx)), Some(&(y, &wy))) => match x.cmp(y) {
                std::cmp::Ordering::Less => {
                    only_a += wx;
                    max = max.max(wx);
                    ia.next();
                }
                std::cmp::Ordering::Greater => {
                    only_b += wy;
                    max = max.max(wy);
                    ib.next();
                }
                std::cmp::Ordering::Equal => {
                    shared += wx;
                    ia.next();
                    ib.next();
                }
            },
            (Some(&(_, &wx)), None) => {
                only_a += wx;
                max = max.max(wx);
                ia.next();
            }
            (None, Some(&(_, &wy))) => {
                only_b += wy;
                max = max.max(wy);
                ib.next();
            }
            (None, None) => break,
        }
    }
    (shared, only_a, only_b, max)
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
/// word sets, the names, question-word and symbol guards as 0/1 (for
/// matchers that do not make them hard vetoes), character 3-, 4- and 5-gram
/// Jaccard, character-count ratio, ln(1+|character-count difference|) and
/// ln(1+total characters); then, with words weighted by their rarity
/// ([`crate::StaticEmbedder::word_weight`]), the weighted word Jaccard,
/// ln(1+one-sided weight), ln(1+the smaller side's one-sided weight), the
/// heaviest one-sided word; word containment (shared over the smaller set),
/// and character 3-, 4- and 5-gram containment. Then per marker word
/// whether it occurs on both sides and on one side only, one-sided word
/// counts per hash bucket, the static embedding of the one-sided words, then
/// `a*b` and `|a-b|` of the static embeddings.
pub fn pair_features(a: &GuardKey, b: &GuardKey) -> Vec<f32> {
    let mut f = Vec::with_capacity(PAIR_FEATURES);
    let al = a.alignment_stats(b);
    let (na, nb) = (a.n_words as f32, b.n_words as f32);
    let (ca, cb) = (a.n_chars as f32, b.n_chars as f32);
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
        sorted_jaccard(&a.grams[0], &b.grams[0]),
        sorted_jaccard(&a.grams[1], &b.grams[1]),
        sorted_jaccard(&a.grams[2], &b.grams[2]),
        if ca.max(cb) > 0.0 {
            ca.min(cb) / ca.max(cb)
        } else {
            1.0
        },
        (ca - cb).abs().ln_1p(),
        (ca + cb).ln_1p(),
    ]);
    let (shared, only_a, only_b, heaviest) = weighted_overlap(a, b);
    let total = shared + only_a + only_b;
    let smaller = a.words.len().min(b.words.len());
    let both_words = a.words.intersection(&b.words).count();
    f.extend([
        if total > 0.0 { shared / total } else { 1.0 },
        (only_a + only_b).ln_1p(),
        only_a.min(only_b).ln_1p(),
        heaviest,
        if smaller > 0 {
            both_words as f32 / smaller as f32
        } else {
            1.0
        },
        sorted_containment(&a.grams[0], &b.grams[0]),
        sorted_containment(&a.grams[1], &b.grams[1]),
        sorted_containment(&a.grams[2], &b.grams[2]),
    ]);
    for i in 0..MARKER_WORDS.len() {
        let (x, y) = (a.markers >> i & 1 == 1, b.markers >> i & 1 == 1);
        f.extend([flag(x && y), flag(x != y)]);
    }
    let mut buckets = [0.0f32; DIFF_BUCKETS];
    for w in a.words.symmetric_difference(&b.words) {
        buckets[(fnv1a(w) % DIFF_BUCKETS as u64) as usize] += 1.0;
    }
    f.extend(buckets);
    // The one-sided words, embedded together (in sorted order: symmetric).
    let one_sided: Vec<&str> = a
        .words
        .symmetric_difference(&b.words)
        .map(String::as_str)
        .collect();
    let diff = if one_sided.is_empty() {
        Vec::new()
    } else {
        crate::Embedder::embed(crate::static_embedder(), &one_sided.join(" "))
    };
    f.extend((0..PAIR_EMB_DIM).map(|i| diff.get(i).copied().unwrap_or(0.0)));
    let emb = |k: &GuardKey, i: usize| k.emb.get(i).copied().unwrap_or(0.0);
    f.extend((0..PAIR_EMB_DIM).map(|i| emb(a, i) * emb(b, i)));
    f.extend((0..PAIR_EMB_DIM).map(|i| (emb(a, i) - emb(b, i)).abs()));
    f
}

/// Boosted trees over [`pair_features`], with the operating point and the
/// hard vetoes they were calibrated with.
#[derive(Debug, Clone, PartialEq)]
pub struct PairModel {
    trees: Trees,
    vetoes: u32,
    prefilter: f32,
    min_alignment: f32,
    decision: f32,
}

/// Bits of [`PairModel::vetoes`].
const VETO_NAMES: u32 = 1;
const VETO_QUESTION_WORDS: u32 = 2;
const VETO_SYMBOLS: u32 = 4;

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

    /// Whether the names, question-word and symbol guards were hard vetoes
    /// when the model was fitted and calibrated (the defaults of
    /// [`crate::NearDuplicate`] follow them).
    pub fn vetoes(&self) -> (bool, bool, bool) {
        (
            self.vetoes & VETO_NAMES != 0,
            self.vetoes & VETO_QUESTION_WORDS != 0,
            self.vetoes & VETO_SYMBOLS != 0,
        )
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

    /// Records which optional guards were hard vetoes when fitting.
    #[must_use]
    pub fn with_vetoes(mut self, names: bool, question_words: bool, symbols: bool) -> Self {
        self.vetoes = [
            (names, VETO_NAMES),
            (question_words, VETO_QUESTION_WORDS),
            (symbols, VETO_SYMBOLS),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit);
        self
    }

    pub fn logit_of(&self, features: &[f32]) -> f32 {
        self.trees.logit(features)
    }

    /// Probability that the two texts ask the same thing.
    pub fn score(&self, a: &GuardKey, b: &GuardKey) -> f32 {
        sigmoid(self.logit_of(&pair_features(a, b)))
    }

    /// Number of trees and their depth.
    pub fn shape(&self) -> (usize, usize) {
        (self.trees.len(), self.trees.depth())
    }

    /// Fits the tree ensemble (see [`BoostParams`]). Deterministic for a given
    /// seed. The operating point starts neutral (no prefilter, decision 0.5)
    /// and the optional guards as model features, not vetoes.
    pub fn train(rows: &[(Vec<f32>, bool)], params: &BoostParams) -> Result<Self, EmbedError> {
        Ok(Self {
            trees: Trees::fit(rows, params)?,
            vetoes: 0,
            prefilter: 0.0,
            min_alignment: 0.0,
            decision: 0.5,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((PAIR_FEATURES as u32).to_le_bytes());
        out.extend(self.vetoes.to_le_bytes());
        for v in [self.prefilter, self.min_alignment, self.decision] {
            out.extend(v.to_le_bytes());
        }
        self.trees.write(&mut out);
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, EmbedError> {
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err(EmbedError::Format("bad magic, not a SYPAIR03 file".into()));
        }
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let n = u32::from_le_bytes(word(8)) as usize;
        if n != PAIR_FEATURES {
            return Err(EmbedError::Format(format!(
                "pair model has {n} features; expected {PAIR_FEATURES}"
            )));
        }
        let vetoes = u32::from_le_bytes(word(12));
        let [prefilter, min_alignment, decision] =
            [16, 20, 24].map(|i| f32::from_le_bytes(word(i)));
        if [prefilter, min_alignment, decision]
            .iter()
            .any(|v| !v.is_finite())
        {
            return Err(EmbedError::Format(
                "pair model has a non-finite number".into(),
            ));
        }
        Ok(Self {
            trees: Trees::read(&b[HEADER..], PAIR_FEATURES)?,
            vetoes,
            prefilter,
            min_alignment,
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NearDuplicate;
    use crate::gbdt::BoostParams;

    fn key(s: &str) -> GuardKey {
        GuardKey::new(s)
    }

    #[test]
    fn builtin_weights_load_with_a_calibrated_operating_point() {
        let m = pair_model();
        let (trees, depth) = m.shape();
        assert!(trees >= 10 && depth >= 2, "{trees} trees of depth {depth}");
        assert!((0.5..1.0).contains(&m.prefilter()), "{}", m.prefilter());
        assert!((0.0..1.0).contains(&m.decision()), "{}", m.decision());
        assert_eq!(PairModel::from_bytes(&m.to_bytes()).unwrap(), *m);
        let d = NearDuplicate::default();
        assert_eq!(d.threshold, m.prefilter());
        assert_eq!(d.min_pair_score, Some(m.decision()));
        assert_eq!(
            (d.check_names, d.check_question_words, d.check_symbols),
            m.vetoes()
        );
        assert!(d.check_numbers && d.check_negation);
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
    fn training_is_deterministic_and_round_trips() {
        // Label = first feature positive; the second is noise.
        let rows: Vec<(Vec<f32>, bool)> = (0..400)
            .map(|i| {
                let x = ((i * 37) % 101) as f32 / 50.0 - 1.0;
                let noise = ((i * 53) % 97) as f32 / 97.0;
                let mut f = vec![0.0; PAIR_FEATURES];
                (f[0], f[1]) = (x, noise);
                (f, x > 0.0)
            })
            .collect();
        let p = BoostParams {
            trees: 20,
            depth: 2,
            learning_rate: 0.3,
            feature_sample: 1.0,
            ..BoostParams::default()
        };
        let m1 = PairModel::train(&rows, &p).unwrap();
        assert_eq!(m1, PairModel::train(&rows, &p).unwrap());
        let acc = rows
            .iter()
            .filter(|(x, y)| (m1.logit_of(x) > 0.0) == *y)
            .count();
        assert!(acc >= 390, "{acc}/400");
        let m1 = m1.with_vetoes(true, false, true);
        assert_eq!(m1.vetoes(), (true, false, true));
        assert_eq!(PairModel::from_bytes(&m1.to_bytes()).unwrap(), m1);
        assert!(PairModel::train(&[], &p).is_err());
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
            ("Why do cats purr?", "Why don't cats purr?"),
            (
                "Population of France in 1990",
                "Population of France in 1999",
            ),
        ] {
            assert!(!lax.matches(a, b, &v, &v), "{a} / {b}");
            assert!(!NearDuplicate::default().matches(a, b, &v, &v), "{a} / {b}");
        }
        assert!(lax.matches("What is 1+1?", "what is 1+1", &v, &v));
    }
}
