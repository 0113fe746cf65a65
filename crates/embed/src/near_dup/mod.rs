//! Semantic-cache matcher: cheap lexical guards, a cosine prefilter and a
//! learned pair model.
//!
//! A cosine threshold alone cannot keep wrong cached answers rare: QQP's hard
//! negatives ("... in Atlanta?" vs "... in Toronto?", "21+1" vs "1+1") embed
//! almost identically. Pairs whose numbers, negations or operator symbols
//! differ are rejected by hard vetoes that nothing overrules. Past them, a
//! pair with the same wording (up to case and punctuation) is a hit; any other
//! pair above the cosine prefilter is decided by the learned
//! [`crate::PairModel`] (boosted trees), which sees the names and question-word
//! guards as features (they can still be made hard vetoes: `check_names`,
//! `check_question_words`). Defaults are calibrated by
//! `examples/cache_pairs/main.rs` (see `Default`).
//!
//! Measured on held-out QQP dev pairs (`cargo run -p switchyard-embed --release
//! --example cache_pairs`): 16.4% true hits at 0.85% false hits by default
//! (before the weighted-overlap, containment and one-sided-word features,
//! cross-fitting and depth-8 trees: 13.2% at 0.72%; the previous logistic
//! model behind all five guards as hard vetoes: 9.3% at 0.85%). Scoring one
//! candidate costs about 13 us (`cargo bench -p switchyard-embed --bench
//! embed`, `pair_model_score_short`; 9 us before those changes on the same
//! machine). The goal of 30% true hits at 1% false hits is out of
//! reach of these features: the held-out curve passes about 17% at 0.9% and
//! 20% at 1.25%; even pairs that pass every guard with identical content
//! words are 14% non-duplicates (label noise and deixis: "What flag is
//! this?"), and the full MiniLM transformer with a plain cosine gets 21.5% at
//! 1.5%. Adding the transformer's cosine (or its `a*b`, `|a-b|`) to the pair
//! features reaches about 20% at 0.77% and at most 25% at 1.0% on the held-out
//! half (`CACHE_PAIRS_MINILM` in `examples/cache_pairs/main.rs`), still short of 30%.
//! MiniLM fine-tuned as a cross-encoder on the calibration half
//! (`tools/cross_encoder/`) does no better: 18.9% at 0.98% held-out, 13.5%
//! at 0.86% on pairs sharing no question with the calibration half; its
//! highest-scored non-duplicates are mostly QQP label noise.

use std::collections::BTreeSet;

use crate::pair_model::pair_model;
use crate::static_model::static_embedder;
use crate::{Embedder, cosine};

/// Settings for deciding whether a cached prompt answers a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct NearDuplicate {
    /// Minimum cosine of the two embeddings.
    pub threshold: f32,
    /// Minimum Jaccard overlap of the (lightly stemmed) content-word sets.
    pub min_content_overlap: f32,
    /// Every content word found on one side only must have a word on the other
    /// side whose static word vector has at least this cosine with it (a
    /// synonym or inflection), so "Atlanta" vs "Toronto" fails where
    /// "quickly" vs "fast" passes. 0 disables.
    pub min_alignment: f32,
    /// Numbers (digits and number words) must match as multisets.
    pub check_numbers: bool,
    /// The count of negation cues (not, no, never, n't, without, ...) must match.
    pub check_negation: bool,
    /// Every capitalised word past the first of a sentence in one text must occur in the other.
    pub check_names: bool,
    /// The question words (what, why, how, where, when, who, which) must match
    /// as sets: "Where is Palestine?" is not "What is Palestine?".
    pub check_question_words: bool,
    /// Operator-like symbols (`+ # & % $ @ * = < > /`) must match as multisets:
    /// "C++" is not "C#", "1/2+1/2" is not "1+2".
    pub check_symbols: bool,
    /// When set, the built-in [`crate::PairModel`] must give the pair at least this
    /// probability of being a duplicate (after the hard vetoes above, which
    /// the model can never overrule).
    pub min_pair_score: Option<f32>,
}

impl Default for NearDuplicate {
    /// The hard vetoes, a cosine prefilter and the [`crate::PairModel`] decision
    /// threshold, both calibrated with the model on QQP dev pairs and stored in
    /// its weights file (`cargo run -p switchyard-embed --release --example
    /// cache_pairs -- --write` refits and reports the held-out rates).
    /// Recalibrate `threshold` for any other embedder used for the prefilter.
    fn default() -> Self {
        let model = pair_model();
        let (names, question_words, symbols) = model.vetoes();
        Self {
            threshold: model.prefilter(),
            min_content_overlap: 0.0,
            min_alignment: model.min_alignment(),
            check_numbers: true,
            check_negation: true,
            check_names: names,
            check_question_words: question_words,
            check_symbols: symbols,
            min_pair_score: Some(model.decision()),
        }
    }
}

/// The lexical features of one text and its static embedding, computed once
/// per cache entry (a few microseconds for a question).
#[derive(Debug, Clone, Default)]
pub struct GuardKey {
    pub(crate) numbers: Vec<String>,
    pub(crate) negations: usize,
    pub(crate) names: BTreeSet<String>,
    pub(crate) words: BTreeSet<String>,
    /// Per word of `words` (same order), its static-embedding weight
    /// ([`crate::StaticEmbedder::word_weight`], an IDF-like rarity).
    pub(crate) weights: Vec<f32>,
    pub(crate) content: BTreeSet<String>,
    pub(crate) question_words: BTreeSet<&'static str>,
    pub(crate) symbols: Vec<char>,
    /// Lowercased words in order, the first [`MAX_SEQ_WORDS`] only (word-order features).
    pub(crate) seq: Vec<String>,
    pub(crate) n_words: usize,
    /// Characters of the lowercased text, whitespace runs counted once.
    pub(crate) n_chars: usize,
    /// Sorted, deduplicated hashes of the character 3-, 4- and 5-grams of the
    /// lowercased text (its first [`MAX_GRAM_CHARS`] characters).
    pub(crate) grams: [Vec<u32>; 3],
    /// Bit i: word [`MARKER_WORDS`]`[i]` occurs.
    pub(crate) markers: u32,
    /// The static embedding: the pair model is fitted on it, whatever
    /// embedder the caller uses for candidate search.
    pub(crate) emb: Vec<f32>,
}

/// Word order is compared on prompt heads only, which bounds the quadratic
/// LCS at 64 x 64 steps per comparison.
pub(crate) const MAX_SEQ_WORDS: usize = 64;
/// Character n-grams are taken from prompt heads only.
pub(crate) const MAX_GRAM_CHARS: usize = 512;
/// Question and auxiliary words whose presence on one or both sides is a
/// pair feature ("Can I ...?" vs "Should I ...?").
pub(crate) const MARKER_WORDS: &[&str] = &[
    "what", "why", "how", "where", "when", "who", "which", "is", "are", "can", "do", "does",
    "should", "will", "would",
];
/// Texts with more one-sided content words than this are not aligned word by
/// word (that would cost milliseconds for long prompts); they align at 0.
const MAX_ALIGN_WORDS: usize = 32;

/// Bit-for-bit equal float slices (so NaN equals itself and a key always equals its clone).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl PartialEq for GuardKey {
    fn eq(&self, o: &Self) -> bool {
        self.numbers == o.numbers
            && self.negations == o.negations
            && self.names == o.names
            && self.words == o.words
            && same_bits(&self.weights, &o.weights)
            && self.content == o.content
            && self.question_words == o.question_words
            && self.symbols == o.symbols
            && self.seq == o.seq
            && self.n_words == o.n_words
            && self.n_chars == o.n_chars
            && self.grams == o.grams
            && self.markers == o.markers
            && same_bits(&self.emb, &o.emb)
    }
}

/// Bitwise float comparison makes equality reflexive.
impl Eq for GuardKey {}

const QUESTION_WORDS: &[&str] = &["what", "why", "how", "where", "when", "who", "which"];
const SYMBOLS: &[char] = &['+', '#', '&', '%', '$', '@', '*', '=', '<', '>', '/'];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without",
    "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
    "wouldnt", "shouldnt", "couldnt", "hasnt", "havent", "hadnt", "mustnt",
];

const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("billion", "1000000000"),
];

/// Function words and question scaffolding: paraphrases differ in these freely.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for",
    "with", "from", "about", "as", "into", "over", "after", "before", "between", "through",
    "during", "up", "down", "out", "off", "than", "then", "so", "is", "are", "was", "were",
    "be", "been", "being", "am", "do", "does", "did", "doing", "done", "have", "has", "had",
    "having", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "i",
    "me", "my", "mine", "myself", "we", "us", "our", "you", "your", "yours", "he", "him", "his",
    "she", "her", "it", "its", "they", "them", "their", "this", "that", "these", "those",
    "there", "here", "what", "which", "who", "whom", "whose", "when", "where", "why", "how",
    "some", "any", "all", "each", "every", "much", "many", "more", "most", "other", "such",
    "own", "same", "just", "also", "very", "really", "too", "s", "t", "get", "got", "one",
    "ones", "way", "ways", "thing", "things", "someone", "something", "anyone", "anything",
    "please", "best", "good", "possible", "know", "tell", "explain", "like", "make", "use",
    "using", "want", "need",
];

fn stem(word: &str) -> String {
    let w = word.strip_suffix("'s").unwrap_or(word);
    if w.len() > 4 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_owned()
    } else {
        w.to_owned()
    }
}

impl GuardKey {
    pub fn new(text: &str) -> Self {
        let mut key = Self::default();
        let mut sentence_start = true;
        // Words are runs of alphanumerics (plus inner apostrophes and dots
        // between digits); everything else separates them.
        let mut chars = text.char_indices().peekable();
        while let Some(&(start, c)) = chars.peek() {
            if !c.is_alphanumeric() {
                if matches!(c, '.' | '?' | '!' | '\n' | ':' | ';') {
                    sentence_start = true;
                }
                chars.next();
                continue;
            }
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                let keep = c.is_alphanumeric()
                    || (matches!(c, '\'' | '’' | '.' | ',')
                        && text[i + c.len_utf8()..]
                            .chars()
                            .next()
                            .is_some_and(char::is_alphanumeric)
                        && (c != '.' && c != ','
                            || text[start..i].chars().all(|d| d.is_ascii_digit())));
                if !keep {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            key.add_word(&text[start..end], sentence_start);
            sentence_start = false;
        }
        key.numbers.sort_unstable();
        key.symbols = text.chars().filter(|c| SYMBOLS.contains(c)).collect();
        key.symbols.sort_unstable();
        let e = static_embedder();
        key.emb = e.embed(text);
        key.weights = key.words.iter().map(|w| e.word_weight(w)).collect();
        key.char_grams(text);
        key
    }

    fn char_grams(&mut self, text: &str) {
        let mut chars: Vec<char> = vec![' '];
        for c in text.chars().flat_map(char::to_lowercase) {
            let c = if c.is_whitespace() { ' ' } else { c };
            if !(c == ' ' && chars.last() == Some(&' ')) {
                chars.push(c);
            }
        }
        if chars.last() != Some(&' ') {
            chars.push(' ');
        }
        self.n_chars = chars.len() - 2;
        chars.truncate(MAX_GRAM_CHARS);
        for (k, set) in self.grams.iter_mut().enumerate() {
            let n = k + 3;
            *set = chars
                .windows(n)
                .map(|w| {
                    w.iter().fold(0x811c_9dc5u32, |h, &c| {
                        (h ^ u32::from(c)).wrapping_mul(0x0100_0193)
                    })
                })
                .collect();
            set.sort_unstable();
            set.dedup();
        }
    }

    fn add_word(&mut self, raw: &str, sentence_start: bool) {
        let lower = raw.to_lowercase().replace('’', "'");
        if raw.chars().any(|c| c.is_ascii_digit()) {
            let n: String = lower.chars().filter(|&c| c != ',').collect();
            let n = n.trim_start_matches('0');
            self.numbers.push(if n.is_empty() {
                "0".into()
            } else {
                n.to_owned()
            });
        } else if let Some((_, n)) = NUMBER_WORDS.iter().find(|(w, _)| *w == lower) {
            self.numbers.push((*n).to_owned());
        }
        if let Some(q) = QUESTION_WORDS
            .iter()
            .find(|q| lower.as_str() == **q || lower.starts_with(&format!("{q}'")))
        {
            self.question_words.insert(q);
        }
        let bare = lower.replace('\'', "");
        if NEGATIONS.contains(&bare.as_str()) {
            self.negations += 1;
        }
        let capitalised = raw.chars().next().is_some_and(char::is_uppercase);
        // "I" is capitalised everywhere and names nothing.
        if capitalised && !sentence_start && lower != "i" && !lower.starts_with("i'") {
            self.names.insert(lower.clone());
        }
        if !STOPWORDS.contains(&lower.as_str()) && !NEGATIONS.contains(&bare.as_str()) {
            self.content.insert(stem(&lower));
        }
        if let Some(i) = MARKER_WORDS.iter().position(|m| {
            lower
                .strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('\''))
        }) {
            self.markers |= 1 << i;
        }
        self.n_words += 1;
        if self.seq.len() < MAX_SEQ_WORDS {
            self.seq.push(lower.clone());
        }
        self.words.insert(lower);
    }

    /// Every capitalised name of each text occurs (in any case) in the other.
    pub fn names_compatible(&self, other: &Self) -> bool {
        self.names.iter().all(|n| other.words.contains(n))
            && other.names.iter().all(|n| self.words.contains(n))
    }

    /// The same words in the same order, up to case and punctuation, and the
    /// same operator symbols: such a pair is a hit once the hard vetoes pass,
    /// whatever the model says (the model, fitted on QQP, is unsure about
    /// short questions such as "What is 1+1?" vs "what is 1+1 ?").
    pub fn same_wording(&self, other: &Self) -> bool {
        self.n_words == other.n_words && self.seq == other.seq && self.symbols == other.symbols
    }

    /// Jaccard overlap of content words; 1 when both have none.
    pub fn content_overlap(&self, other: &Self) -> f32 {
        let union = self.content.union(&other.content).count();
        if union == 0 {
            return 1.0;
        }
        self.content.intersection(&other.content).count() as f32 / union as f32
    }

    /// The worst alignment of a one-sided content word: min over words in one
    /// set only of the max cosine to any content word of the other text,
    /// using static word vectors. 1 when the content sets are equal.
    pub fn alignment(&self, other: &Self) -> f32 {
        self.alignment_stats(other).min
    }

    /// Per one-sided content word, its best cosine to the other text's content words.
    pub(crate) fn alignment_stats(&self, other: &Self) -> Alignment {
        let only_a: Vec<&String> = self.content.difference(&other.content).collect();
        let only_b: Vec<&String> = other.content.difference(&self.content).collect();
        let one_sided = only_a.len() + only_b.len();
        if one_sided == 0 {
            return Alignment {
                min: 1.0,
                mean: 1.0,
                one_sided,
                unaligned: 0,
            };
        }
        if one_sided > MAX_ALIGN_WORDS
            || self.content.len().max(other.content.len()) > 4 * MAX_ALIGN_WORDS
        {
            return Alignment {
                min: 0.0,
                mean: 0.0,
                one_sided,
                unaligned: one_sided,
            };
        }
        let e = static_embedder();
        let vecs = |set: &BTreeSet<String>| set.iter().map(|w| e.embed(w)).collect::<Vec<_>>();
        let (va, vb) = (vecs(&self.content), vecs(&other.content));
        let best = |w: &str, others: &[Vec<f32>]| {
            let v = e.embed(w);
            others.iter().map(|o| cosine(&v, o)).fold(0.0f32, f32::max)
        };
        let scores: Vec<f32> = only_a
            .iter()
            .map(|w| best(w, &vb))
            .chain(only_b.iter().map(|w| best(w, &va)))
            .collect();
        Alignment {
            min: scores.iter().copied().fold(1.0f32, f32::min),
            mean: scores.iter().sum::<f32>() / scores.len() as f32,
            one_sided,
            unaligned: scores.iter().filter(|&&s| s < UNALIGNED_BELOW).count(),
        }
    }
}

/// A one-sided word whose best match is below this counts as unaligned.
const UNALIGNED_BELOW: f32 = 0.7;

pub(crate) struct Alignment {
    pub min: f32,
    pub mean: f32,
    pub one_sided: usize,
    pub unaligned: usize,
}

impl NearDuplicate {
    /// Everything but the caller's cosine: the hard vetoes, then a hit for
    /// the same wording ([`GuardKey::same_wording`]), else the overlap and
    /// alignment floors and the pair model when `min_pair_score` is set (it
    /// uses the static embeddings inside the keys).
    pub fn guards_pass(&self, a: &GuardKey, b: &GuardKey) -> bool {
        if !self.vetoes_pass(a, b) {
            return false;
        }
        if a.same_wording(b) {
            return true;
        }
        if self.min_content_overlap > 0.0 && a.content_overlap(b) < self.min_content_overlap {
            return false;
        }
        if self.min_alignment > 0.0 && a.alignment(b) < self.min_alignment {
            return false;
        }
        self.min_pair_score
            .is_none_or(|t| pair_model().score(a, b) >= t)
    }

    /// The hard vetoes alone: numbers, negation, names, question words, symbols.
    pub fn vetoes_pass(&self, a: &GuardKey, b: &GuardKey) -> bool {
        if self.check_numbers && a.numbers != b.numbers {
            return false;
        }
        if self.check_negation && a.negations != b.negations {
            return false;
        }
        if self.check_names && !a.names_compatible(b) {
            return false;
        }
        if self.check_question_words && a.question_words != b.question_words {
            return false;
        }
        !(self.check_symbols && a.symbols != b.symbols)
    }

    /// For cache entries whose [`GuardKey`] and embedding are stored.
    pub fn matches_prepared(
        &self,
        a: &GuardKey,
        b: &GuardKey,
        emb_a: &[f32],
        emb_b: &[f32],
    ) -> bool {
        cosine(emb_a, emb_b) >= self.threshold && self.guards_pass(a, b)
    }

    pub fn matches(&self, a: &str, b: &str, emb_a: &[f32], emb_b: &[f32]) -> bool {
        // Cosine first: it is cheaper than the guards and rejects most pairs.
        cosine(emb_a, emb_b) >= self.threshold
            && self.guards_pass(&GuardKey::new(a), &GuardKey::new(b))
    }
}

/// [`NearDuplicate::default`] guards with a caller-chosen cosine threshold.
pub fn near_duplicate(a: &str, b: &str, emb_a: &[f32], emb_b: &[f32], threshold: f32) -> bool {
    NearDuplicate {
        threshold,
        ..NearDuplicate::default()
    }
    .matches(a, b, emb_a, emb_b)
}

#[cfg(test)]
mod tests;
