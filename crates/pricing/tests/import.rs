//! Both importers on small real excerpts of the public files.

use rust_decimal::Decimal;
use switchyard_pricing::{
    Catalog, Mode, PriceBook, PricingCtx, Rule, import_litellm, import_openrouter,
};

fn d(s: &str) -> Option<Decimal> {
    Some(s.parse().expect("decimal"))
}

fn find<'a>(c: &'a Catalog, id: &str) -> &'a switchyard_pricing::ModelEntry {
    c.models.iter().find(|m| m.id == id).unwrap_or_else(|| {
        panic!(
            "{id} not imported; have {:?}",
            c.models.iter().map(|m| &m.id).collect::<Vec<_>>()
        )
    })
}

#[test]
fn litellm_excerpt() {
    let c = import_litellm(include_str!("fixtures/litellm_excerpt.json")).expect("imports");
    let ids: Vec<&str> = c.models.iter().map(|m| m.id.as_str()).collect();
    // sample_spec, the image model and the completion model are skipped.
    assert_eq!(
        ids,
        [
            "bedrock/ai21.jamba-1-5-mini-v1:0",
            "bedrock/amazon.nova-lite-v1:0",
            "databricks/databricks-meta-llama-3-3-70b-instruct",
            "google/gemini-3.1-pro-preview",
            "moonshot/kimi-k2-thinking",
            "moonshot/moonshot-v1-8k",
            "vertex_ai/gemini-3-flash-preview",
            "vertex_ai/multimodalembedding",
        ]
    );
    assert!(c.note.contains("8 models, 2 entries skipped"), "{}", c.note);

    let nova = find(&c, "bedrock/amazon.nova-lite-v1:0");
    assert_eq!(
        (nova.prices.input, nova.prices.output),
        (d("0.06"), d("0.24"))
    );
    assert_eq!(
        (nova.context_window, nova.max_output),
        (300_000, Some(10_000))
    );
    assert!(nova.capabilities.tools && nova.capabilities.vision && nova.capabilities.json_schema);

    // 1.5000300000000002e-06 per token stays exact: no f64 rounding on the way.
    let dbx = find(&c, "databricks/databricks-meta-llama-3-3-70b-instruct");
    assert_eq!(dbx.prices.output, d("1.5000300000000002"));
    assert_eq!(dbx.prices.input, d("0.50001"));

    let gem = find(&c, "google/gemini-3.1-pro-preview");
    assert_eq!(
        (gem.prices.input, gem.prices.cached_input, gem.prices.output),
        (d("2"), d("0.2"), d("12"))
    );
    assert_eq!(gem.tiers.len(), 1);
    assert_eq!(gem.tiers[0].above_input_tokens, 200_000);
    assert_eq!(
        (gem.tiers[0].prices.input, gem.tiers[0].prices.output),
        (d("4"), d("18"))
    );
    assert_eq!(gem.tiers[0].prices.cached_input, d("0.4"));

    let flash = find(&c, "vertex_ai/gemini-3-flash-preview");
    assert_eq!(flash.prices.reasoning, d("3"));

    let kimi = find(&c, "moonshot/kimi-k2-thinking");
    assert_eq!(kimi.prices.cached_input, d("0.15"));

    let emb = find(&c, "vertex_ai/multimodalembedding");
    assert_eq!(emb.mode, Mode::Embedding);
    assert!(emb.capabilities.embeddings);
    assert_eq!((emb.prices.input, emb.prices.output), (d("0.8"), d("0")));

    // Batch prices become a rule with the ratio, only for the model that lists them.
    assert_eq!(c.rules.len(), 1);
    match &c.rules[0] {
        Rule::Batch(b) => {
            assert_eq!(b.models, ["google/gemini-3.1-pro-preview"]);
            assert_eq!(b.multiplier, Decimal::new(5, 1));
        }
        other => panic!("expected a batch rule, got {other:?}"),
    }

    // The result is a valid catalog that round-trips and compiles.
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    assert_eq!(Catalog::parse(&c.to_json()).expect("reparses"), c);
    assert!(PriceBook::compile(&c, &[]).is_ok());
}

#[test]
fn openrouter_excerpt() {
    let c = import_openrouter(include_str!("fixtures/openrouter_excerpt.json")).expect("imports");
    let ids: Vec<&str> = c.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini"]);
    assert!(c.note.contains("2 models, 1 skipped"), "{}", c.note);

    let mini = find(&c, "openai/gpt-4o-mini");
    assert_eq!(
        (
            mini.prices.input,
            mini.prices.cached_input,
            mini.prices.output
        ),
        (d("0.15"), d("0.075"), d("0.6"))
    );
    // "internal_reasoning": "0" means not listed: reasoning bills at the completion rate.
    assert_eq!(mini.prices.reasoning, None);
    assert_eq!(
        (mini.context_window, mini.max_output),
        (128_000, Some(16_384))
    );
    let caps = mini.capabilities;
    assert!(caps.tools && caps.json_schema && caps.vision && caps.logprobs && !caps.embeddings);

    let sonnet = find(&c, "anthropic/claude-sonnet-4");
    assert_eq!(
        (
            sonnet.prices.cache_write,
            sonnet.prices.cached_input,
            sonnet.prices.reasoning
        ),
        (d("3.75"), d("0.3"), d("15"))
    );
    assert!(!sonnet.capabilities.json_schema && !sonnet.capabilities.logprobs);

    let book = PriceBook::compile(&c, &[]).expect("compiles");
    let u = switchyard_core::Usage::from_classes(1000, 0, 0, 1000, 0);
    let cost = book
        .cost("openai/gpt-4o-mini", &u, &PricingCtx::now())
        .expect("priced");
    assert_eq!(cost.total.to_string(), "0.00075");
}

#[test]
fn importers_reject_the_wrong_file() {
    assert!(import_litellm("[1, 2]").is_err());
    assert!(import_litellm("{}").is_err());
    assert!(import_openrouter("{\"models\": []}").is_err());
    let err = import_openrouter("{\"data\": [{\"id\": 5}]}").expect_err("bad id type");
    assert!(err.to_string().contains("data[0].id"), "{err}");
}
