use super::*;

/// Every guard as a hard veto (the defaults keep only numbers and
/// negation hard; the others are pair-model features).
fn guards(a: &str, b: &str) -> bool {
    NearDuplicate {
        min_content_overlap: 0.0,
        min_alignment: 0.0,
        check_names: true,
        check_question_words: true,
        check_symbols: true,
        ..NearDuplicate::default()
    }
    .vetoes_pass(&GuardKey::new(a), &GuardKey::new(b))
}

#[test]
fn numbers_must_match() {
    assert!(!guards("What is 21+1?", "What is 1+1?"));
    assert!(!guards(
        "Population of France in 1990",
        "Population of France in 1999"
    ));
    assert!(!guards("What is 3.5 times 2?", "What is 35 times 2?"));
    assert!(guards("What is 2 plus 2?", "what's two plus two?"));
    assert!(guards("Cost of 1,000 items", "cost of 1000 items"));
}

#[test]
fn negation_must_match() {
    assert!(!guards(
        "Is it safe to eat raw eggs?",
        "Is it not safe to eat raw eggs?"
    ));
    assert!(!guards("Why do cats purr?", "Why don't cats purr?"));
    assert!(!guards("Why do cats purr?", "Why don’t cats purr?"));
    assert!(guards("Why can't I sleep?", "Why cannot I sleep?"));
}

#[test]
fn names_must_occur_in_both() {
    assert!(!guards(
        "What are the most competitive job sectors in Atlanta?",
        "What are the most competitive job sectors in Toronto?"
    ));
    // Case differences alone are not a different name.
    assert!(guards(
        "How do I learn Python quickly?",
        "how can i learn python fast"
    ));
    assert!(guards("Where is Paris?", "Paris: where is it?"));
}

#[test]
fn question_words_and_symbols_must_match() {
    assert!(!guards("Where is Palestine?", "What is Palestine?"));
    assert!(!guards(
        "What is the difference between C and C++?",
        "What is the difference between C and C#?"
    ));
    assert!(guards(
        "What's the capital of Peru?",
        "what is the capital of peru"
    ));
}

#[test]
fn content_overlap_and_cosine_gate() {
    let a = GuardKey::new("How do I learn guitar fast?");
    let b = GuardKey::new("What is the fastest way to learn guitar?");
    assert!(a.content_overlap(&b) >= 1.0 / 3.0);
    assert_eq!(
        GuardKey::new("what is it?").content_overlap(&GuardKey::new("is it?")),
        1.0
    );
    let m = NearDuplicate::default();
    let v = [1.0, 0.0];
    assert!(m.matches("learn guitar", "learn guitar", &v, &v));
    assert!(!m.matches("learn guitar", "learn guitar", &v, &[0.0, 1.0]));
    assert!(!near_duplicate("learn guitar", "learn violin", &v, &v, 0.5));
}

#[test]
fn defaults_reject_near_misses_the_soft_guards_used_to_veto() {
    // Names and question words are model features by default (symbols are
    // a hard veto); these hard negatives must still be turned down.
    let m = NearDuplicate::default();
    let e = static_embedder();
    for (a, b) in [
        (
            "What are the most competitive job sectors in Atlanta?",
            "What are the most competitive job sectors in Toronto?",
        ),
        ("Where is Palestine?", "What is Palestine?"),
        (
            "What is the difference between C and C++?",
            "What is the difference between C and C#?",
        ),
    ] {
        assert!(!m.matches(a, b, &e.embed(a), &e.embed(b)), "{a} / {b}");
    }
    for (a, b) in [
        ("What is 1+1?", "what is 1+1 ?"),
        (
            "How do I learn Python quickly?",
            "How can I learn Python fast?",
        ),
    ] {
        assert!(m.matches(a, b, &e.embed(a), &e.embed(b)), "{a} / {b}");
    }
}
