use super::*;
use crate::config::{SimConfig, Wire};

fn model(name: &str, tokens: u32) -> ModelConfig {
    let mut m = SimConfig::default_models().models[0].clone();
    m.name = name.into();
    m.wire = Wire::Openai;
    m.output_tokens = tokens;
    m
}

fn prompt(model: &str, user: &str, seed: Option<i64>) -> PromptInfo {
    let mut b = PromptBuilder::new(model, seed);
    b.message(false, "Be brief.");
    b.message(true, user);
    b.finish(None)
}

#[test]
fn prompt_tokens_follow_the_documented_rule() {
    // "Be brief." = 9 chars -> 3 + 4; "héllo wörld" = 11 chars -> 3 + 4
    assert_eq!(prompt("m", "héllo wörld", None).tokens, 14);
    assert_eq!(est_tokens(""), 0);
    assert_eq!(est_tokens("abcd"), 1);
    assert_eq!(est_tokens("abcde"), 2);
}

#[test]
fn answers_are_deterministic_and_depend_on_model_prompt_and_seed() {
    let m = model("m", 8);
    let a = answer_tokens(
        &m,
        &prompt("m", "alpha beta gamma delta", None),
        0,
        &Shape::Text,
    );
    let b = answer_tokens(
        &m,
        &prompt("m", "alpha beta gamma delta", None),
        0,
        &Shape::Text,
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 8);
    assert_eq!(a[0], "[m]");
    assert!(
        a[1..]
            .iter()
            .all(|w| ["alpha", "beta", "gamma", "delta"].contains(&w.trim()))
    );
    let seeded = answer_tokens(
        &m,
        &prompt("m", "alpha beta gamma delta", Some(7)),
        0,
        &Shape::Text,
    );
    let other_choice = answer_tokens(
        &m,
        &prompt("m", "alpha beta gamma delta", None),
        1,
        &Shape::Text,
    );
    assert!(a != seeded || a != other_choice);
}

#[test]
fn limit_table() {
    let toks = |s: &[&str]| s.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let base = toks(&["[m]", " one", " two", " three"]);
    let cases: Vec<(Vec<String>, Option<u32>, &str, Finish)> = vec![
        (vec![], None, "[m] one two three", Finish::Stop),
        (vec![], Some(2), "[m] one", Finish::Length),
        (
            vec!["two".into()],
            None,
            "[m] one ",
            Finish::StopSequence("two".into()),
        ),
        (
            vec!["wo".into(), "one".into()],
            None,
            "[m] ",
            Finish::StopSequence("one".into()),
        ),
        // stop inside a token keeps the token's prefix, counted as one token
        (
            vec!["ne t".into()],
            None,
            "[m] o",
            Finish::StopSequence("ne t".into()),
        ),
        (vec!["three".into()], Some(1), "[m]", Finish::Length),
        (
            vec!["zzz".into()],
            Some(10),
            "[m] one two three",
            Finish::Stop,
        ),
    ];
    for (stop, max, want, finish) in cases {
        let out = limit(base.clone(), &stop, max);
        assert_eq!(
            (out.text().as_str(), &out.finish),
            (want, &finish),
            "{stop:?} {max:?}"
        );
    }
    assert_eq!(limit(base.clone(), &["ne t".into()], None).count(), 2);
}

#[test]
fn synth_table() {
    let cases = vec![
        (
            json!({"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"}},"required":["city"]}),
            false,
            json!({"city":"example"}),
        ),
        (
            json!({"type":"OBJECT","properties":{"ok":{"type":"BOOLEAN"},"x":{"type":"NUMBER"}},"required":["ok","x"]}),
            false,
            json!({"ok":true,"x":1}),
        ),
        (
            json!({"type":"object","properties":{"a":{"type":"array","items":{"enum":["q","r"]}}}}),
            true,
            json!({"a":["q"]}),
        ),
        (
            json!({"type":"object","properties":{"a":{"type":"string"}}}),
            false,
            json!({}),
        ),
        (json!({"type":["string","null"]}), false, json!("example")),
        (
            json!({"anyOf":[{"type":"integer"},{"type":"string"}]}),
            false,
            json!(1),
        ),
    ];
    for (schema, all, want) in cases {
        assert_eq!(synth(&schema, all, 0), want, "{schema}");
    }
}

#[test]
fn tool_args_fragments_rejoin() {
    let call = tool_call(
        "get_weather",
        &json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}),
    );
    assert_eq!(call.args, r#"{"city":"example"}"#);
    assert_eq!(call.tokens, 3 + 5);
    let f = fragments(&call.args, 3);
    assert_eq!(f.len(), 3);
    assert_eq!(f.concat(), call.args);
    assert_eq!(fragments("é", 3).concat(), "é");
}

#[test]
fn logprobs_are_stable_and_in_range() {
    let a = logprob(1, " word");
    assert_eq!(a, logprob(1, " word"));
    assert!((-2.0..=-0.001).contains(&a));
    let top = top_alternatives(" word", a, 3);
    assert_eq!(top[0], (" word".to_string(), a));
    assert!(top.windows(2).all(|w| w[0].1 > w[1].1));
}

#[test]
fn embeddings_are_unit_length_and_reflect_word_overlap() {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let a = embedding("how do I reset my password", 256);
    let b = embedding("how can I reset my password", 256);
    let c = embedding("best pizza in naples", 256);
    assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
    assert!(dot(&a, &b) > 0.7, "{}", dot(&a, &b));
    assert!(dot(&a, &c) < 0.3, "{}", dot(&a, &c));
}
