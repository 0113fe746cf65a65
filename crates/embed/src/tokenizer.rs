//! BERT uncased WordPiece tokenizer, matching HF `tokenizers`' `BertNormalizer`
//! (clean text, CJK spacing, strip accents, lowercase) + `BertPreTokenizer` +
//! `WordPiece` as configured in all-MiniLM-L6-v2's `tokenizer.json`.
//!
//! Written here rather than pulling in `tokenizers` because that crate (with its
//! regex and serde machinery) costs far more build time than this ~200 lines,
//! and the static embedder needs nothing but ids.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::EmbedError;

/// Words longer than this (in chars) become `[UNK]`, as in BERT.
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk_id: u32,
    vocab_len: usize,
}

impl WordPiece {
    /// Builds from the contents of a BERT `vocab.txt` (one token per line, id = line index).
    pub fn from_vocab_txt(text: &str) -> Result<Self, EmbedError> {
        let mut vocab = HashMap::with_capacity(32_000);
        let mut n = 0usize;
        for (i, line) in text.lines().enumerate() {
            let id = u32::try_from(i).map_err(|_| EmbedError::Format("vocab too large".into()))?;
            // Later duplicates must not shadow the first id (BERT keeps the first).
            vocab.entry(line.to_owned()).or_insert(id);
            n = i + 1;
        }
        let unk_id = *vocab
            .get("[UNK]")
            .ok_or_else(|| EmbedError::Format("vocab has no [UNK] token".into()))?;
        Ok(Self {
            vocab,
            unk_id,
            vocab_len: n,
        })
    }

    pub fn vocab_len(&self) -> usize {
        self.vocab_len
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// Token ids of `text`, without `[CLS]`/`[SEP]`, at most `max_tokens` of them.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 4 + 4);
        let mut piece = String::with_capacity(32);
        for word in pre_tokenize(&normalize(text)) {
            if ids.len() >= max_tokens {
                break;
            }
            self.word_piece(word, &mut ids, &mut piece);
        }
        ids.truncate(max_tokens);
        ids
    }

    fn word_piece(&self, word: &str, out: &mut Vec<u32>, piece: &mut String) {
        if word.chars().count() > MAX_INPUT_CHARS_PER_WORD {
            out.push(self.unk_id);
            return;
        }
        let start_len = out.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(piece.as_str()) {
                    found = Some(id);
                    break;
                }
                // Step back one whole char, never into the middle of one.
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    // BERT: one unmatched piece makes the whole word unknown.
                    out.truncate(start_len);
                    out.push(self.unk_id);
                    return;
                }
            }
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

fn is_bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_bert_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    // ASCII fast path (the category table lookup showed in the routing profile): the only
    // ASCII chars in the `Other` group are the controls.
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.general_category_group() == GeneralCategoryGroup::Other
}

pub(crate) fn is_bert_punctuation(c: char) -> bool {
    // BERT counts every ASCII non-alphanumeric symbol as punctuation, which covers the ASCII
    // chars of the Unicode `Punctuation` group; only non-ASCII chars need the table.
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    c.general_category_group() == GeneralCategoryGroup::Punctuation
}

/// `BertNormalizer { clean_text, handle_chinese_chars, strip_accents, lowercase }`.
pub(crate) fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || is_bert_control(c) {
            continue;
        }
        if is_bert_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    if cleaned.is_ascii() {
        cleaned.make_ascii_lowercase();
        return cleaned;
    }
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned.nfd() {
        if c.general_category() == GeneralCategory::NonspacingMark {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// `BertPreTokenizer`: split on whitespace, and every punctuation char is its own word.
pub(crate) fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_bert_whitespace)
        .filter(|w| !w.is_empty())
        .flat_map(split_punctuation)
}

fn split_punctuation(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let cut = if is_bert_punctuation(first) {
            first.len_utf8()
        } else {
            rest.char_indices()
                .find(|&(_, c)| is_bert_punctuation(c))
                .map_or(rest.len(), |(i, _)| i)
        };
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = "[PAD]\n[UNK]\nun\n##aff\n##able\nhello\n!\n,\nworld\ncafe\n中\n##s";
        WordPiece::from_vocab_txt(vocab).unwrap()
    }

    /// The ASCII fast paths answer what the Unicode tables answer.
    #[test]
    fn ascii_fast_paths_match_the_tables() {
        for c in (0u8..=0x7F).map(char::from) {
            let control = !matches!(c, '\t' | '\n' | '\r')
                && c.general_category_group() == GeneralCategoryGroup::Other;
            assert_eq!(is_bert_control(c), control, "{c:?}");
            let punct = c.is_ascii_punctuation()
                || c.general_category_group() == GeneralCategoryGroup::Punctuation;
            assert_eq!(is_bert_punctuation(c), punct, "{c:?}");
        }
    }

    #[test]
    fn greedy_longest_match_with_continuations() {
        let t = tiny();
        assert_eq!(t.encode("unaffable", 512), vec![2, 3, 4]);
        assert_eq!(t.encode("Hello, WORLD!", 512), vec![5, 7, 8, 6]);
        // One unmatched piece turns the whole word into [UNK].
        assert_eq!(t.encode("unaffablex hello", 512), vec![1, 5]);
    }

    #[test]
    fn accents_cjk_controls_and_truncation() {
        let t = tiny();
        assert_eq!(t.encode("Café\u{0000}s", 512), vec![9, 11]);
        assert_eq!(t.encode("hello中world", 512), vec![5, 10, 8]);
        assert_eq!(t.encode("hello hello hello", 2), vec![5, 5]);
        assert_eq!(normalize("A\tB\u{200B}c"), "a bc");
    }
}
