//! Invariants of the bundled catalog and of the `[pricing]` config section.

use std::collections::HashSet;

use switchyard_pricing::{Catalog, Mode, PriceBook, PricingConfig};

#[test]
fn bundled_catalog_invariants() {
    let c = Catalog::bundled().expect("bundled catalog parses and validates");
    assert!(c.models.len() >= 150, "only {} models", c.models.len());
    let providers = c.providers();
    assert!(
        providers.len() >= 14,
        "only {} providers: {providers:?}",
        providers.len()
    );
    for must in [
        "openai",
        "anthropic",
        "google",
        "deepseek",
        "mistral",
        "qwen",
        "groq",
        "together",
        "xai",
        "cohere",
        "fireworks",
        "amazon",
        "ai21",
        "perplexity",
        "moonshot",
        "zhipu",
        "minimax",
    ] {
        assert!(providers.contains(&must), "no {must} models");
    }
    let mut ids = HashSet::new();
    for m in &c.models {
        assert!(ids.insert(m.id.as_str()), "duplicate {}", m.id);
        assert!(
            m.prices.input.is_some() && m.prices.output.is_some(),
            "{} lacks a price",
            m.id
        );
        assert!(m.context_window > 0, "{} has no context window", m.id);
        assert_eq!(
            m.mode == Mode::Embedding,
            m.capabilities.embeddings,
            "{}",
            m.id
        );
        if let (Some(i), Some(c)) = (m.prices.input, m.prices.cached_input) {
            assert!(c <= i, "{}: cached read dearer than input", m.id);
        }
        for t in &m.tiers {
            assert!(t.above_input_tokens > 0, "{}", m.id);
        }
    }
    assert!(c.as_of.len() == 7 && c.note.contains("switchyard prices import"));
    for id in [
        "openai/gpt-4o-mini",
        "anthropic/claude-3-5-haiku-20241022",
        "google/gemini-2.0-flash",
        "deepseek/deepseek-chat",
        "groq/llama-3.3-70b-versatile",
        "openai/text-embedding-3-small",
    ] {
        assert!(ids.contains(id), "{id} missing");
    }
    let book = PriceBook::compile(&c, &[]).expect("compiles");
    assert_eq!(book.len(), c.models.len());
}

#[test]
fn catalog_round_trips_through_its_file_format() {
    let c = Catalog::bundled().expect("bundled");
    let again = Catalog::parse(&c.to_json()).expect("reparses");
    assert_eq!(c, again);
}

#[test]
fn catalog_errors_carry_paths() {
    let bad = r#"{"version": 1, "as_of": "2025-08", "models": [
        {"id": "a/x", "context_window": 10, "prices": {"input": "1", "output": "2"}},
        {"id": "a/x", "context_window": 0, "prices": {"input": "-1"}},
        {"id": "nope", "context_window": 5, "prices": {"input": "1", "output": "1"}}
    ]}"#;
    let errs = Catalog::parse(bad).expect_err("invalid");
    let want = [
        "models[1].id: duplicate model id \"a/x\"",
        "models[1].context_window: must be > 0 (a/x)",
        "models[1].prices.output: missing (a/x)",
        "models[1].prices.input: price -1 is negative",
        "models[2].id: \"nope\" is not of the form provider/model",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
    }
    let typo = r#"{"version": 1, "as_of": "x", "models": [{"id": "a/b", "context_window": 1, "prices": {"inptu": "1"}}]}"#;
    let errs = Catalog::parse(typo).expect_err("unknown field");
    assert!(
        errs[0].starts_with("models[0].prices.inptu: unknown field `inptu`"),
        "{errs:?}"
    );
    let float = r#"{"version": 1, "as_of": "x", "models": [{"id": "a/b", "context_window": 1, "prices": {"input": 0.1, "output": "1"}}]}"#;
    let errs = Catalog::parse(float).expect_err("floats are refused");
    assert!(errs[0].starts_with("models[0].prices.input:"), "{errs:?}");
}

#[test]
fn config_section_parses_from_toml() {
    let cfg: PricingConfig = toml::from_str(
        r#"
        catalog = "prices.json"
        refresh = "10m"
        disable_rules = ["deepseek-chat-off-peak"]

        [[rules]]
        kind = "batch"
        name = "groq-batch"
        models = ["groq/*"]
        multiplier = "0.5"

        [overrides."openai/gpt-4o"]
        input = "2"
        "#,
    )
    .expect("parses");
    assert_eq!(
        cfg.refresh_interval(),
        Ok(Some(std::time::Duration::from_secs(600)))
    );
    assert_eq!(cfg.rules.len(), 1);
    assert!(toml::from_str::<PricingConfig>("refrsh = \"1m\"").is_err());
    let bad_rule = toml::from_str::<PricingConfig>(
        "[[rules]]\nkind = \"batch\"\nname = \"b\"\nmodels = [\"*\"]\nmultiplier = \"0.5\"\nstart = \"10:00\"\n",
    );
    assert!(bad_rule.is_err(), "unknown field in a rule must be refused");
}

#[test]
fn config_errors_are_all_reported_with_paths() {
    let cfg: PricingConfig = toml::from_str(
        r#"
        refresh = "soon"
        disable_rules = ["no-such-rule"]

        [[rules]]
        kind = "window"
        name = "typo"
        models = ["deepsek/*"]
        start = "16:30"
        end = "00:30"
        multiplier = "0.5"

        [overrides."openai/gpt-9"]
        input = "1"

        [overrides."openai/gpt-4o-mini"]
        output = "-2"
        "#,
    )
    .expect("parses");
    let errs = PriceBook::from_config(&cfg).expect_err("invalid");
    let want_prefixes = [
        "pricing.refresh: \"soon\" is not a duration",
        "pricing.disable_rules: no catalog rule is named \"no-such-rule\"",
        "pricing.rules[0].models[0]: \"deepsek/*\" matches no model in the catalog",
        "pricing.overrides.\"openai/gpt-9\": model not in the catalog",
        "pricing.overrides.\"openai/gpt-4o-mini\".output: price -2 is negative",
    ];
    for w in want_prefixes {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), want_prefixes.len(), "{errs:#?}");
}

#[test]
fn disabling_a_catalog_rule_removes_it() {
    let cfg: PricingConfig =
        toml::from_str("disable_rules = [\"deepseek-chat-off-peak\"]").expect("parses");
    let b = PriceBook::from_config(&cfg).expect("builds");
    let night = switchyard_pricing::PricingCtx::at(
        chrono::DateTime::parse_from_rfc3339("2025-08-01T17:00:00Z")
            .expect("time")
            .into(),
    );
    let u = switchyard_core::Usage::from_classes(1000, 0, 0, 1000, 0);
    let c = b
        .cost("deepseek/deepseek-chat", &u, &night)
        .expect("priced");
    assert!(c.applied.is_empty());
}
