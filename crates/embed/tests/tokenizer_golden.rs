//! The crate's WordPiece tokenizer against ids from HF `tokenizers` on the
//! model's own `tokenizer.json` (fixture written by `tools/distill.py`).

use switchyard_embed::static_embedder;

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[test]
fn matches_hf_tokenizers_on_tricky_text() {
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("fixtures/tokenizer_golden.json")).unwrap();
    assert!(cases.len() >= 10);
    let tok = static_embedder().tokenizer();
    for c in cases {
        assert_eq!(tok.encode(&c.text, usize::MAX), c.ids, "text: {:?}", c.text);
    }
}
