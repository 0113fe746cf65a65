//! Every price rule pinned on concrete usages, with exact decimal results.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal_macros::dec;
use switchyard_core::{Usage, Usd};
use switchyard_pricing::{PriceBook, PricingConfig, PricingCtx};

fn book() -> PriceBook {
    PriceBook::bundled().expect("bundled catalog compiles")
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid time")
}

/// Friday 2025-08-01 10:00 UTC: outside every bundled window.
fn plain() -> PricingCtx {
    PricingCtx::at(at(2025, 8, 1, 10, 0))
}

fn usd(s: &str) -> Usd {
    Usd::from_str_exact(s).expect("decimal")
}

fn config(toml_text: &str) -> PricingConfig {
    toml::from_str(toml_text).expect("config parses")
}

#[test]
fn cached_tokens_bill_at_the_cached_rate() {
    // gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out per 1M.
    let u = Usage::from_classes(1000, 500, 0, 200, 0);
    let c = book()
        .cost("openai/gpt-4o-mini", &u, &plain())
        .expect("priced");
    assert_eq!(c.input, usd("0.00015"));
    assert_eq!(c.cached_input, usd("0.0000375"));
    assert_eq!(c.output, usd("0.00012"));
    assert_eq!(c.total, usd("0.0003075"));
    assert_eq!(c.total.micros(), 308);
    assert!(c.applied.is_empty());
}

#[test]
fn cached_tokens_without_a_cached_rate_bill_at_the_input_rate() {
    // gpt-4-turbo has no cached price: 10 per 1M for every prompt token.
    let u = Usage::from_classes(0, 1000, 0, 0, 0);
    let c = book()
        .cost("openai/gpt-4-turbo", &u, &plain())
        .expect("priced");
    assert_eq!(c.cached_input, usd("0.01"));
    assert_eq!(c.total, usd("0.01"));
}

#[test]
fn cache_writes_bill_at_the_write_rate_or_input() {
    // claude-3-5-haiku: 0.80 in, 0.08 read, 1.00 write, 4 out.
    let u = Usage::from_classes(2000, 10_000, 3000, 400, 0);
    let c = book()
        .cost("anthropic/claude-3-5-haiku-20241022", &u, &plain())
        .expect("priced");
    assert_eq!(
        (c.input, c.cached_input, c.cache_write, c.output),
        (usd("0.0016"), usd("0.0008"), usd("0.003"), usd("0.0016"))
    );
    assert_eq!(c.total, usd("0.007"));
    // OpenAI has no write charge: writes bill as plain input.
    let w = Usage::from_classes(0, 0, 1000, 0, 0);
    let c = book()
        .cost("openai/gpt-4o-mini", &w, &plain())
        .expect("priced");
    assert_eq!(c.cache_write, usd("0.00015"));
}

#[test]
fn reasoning_tokens_are_billed_once() {
    // o4-mini: 1000 completion tokens of which 800 reasoning, no own reasoning rate (4.40).
    let u = Usage::from_classes(0, 0, 0, 1000, 800);
    let c = book().cost("openai/o4-mini", &u, &plain()).expect("priced");
    assert_eq!(c.tokens.output, 200);
    assert_eq!(c.tokens.reasoning, 800);
    assert_eq!(c.output + c.reasoning, usd("0.0044"));
    assert_eq!(c.total, usd("0.0044"));
    // sonar-deep-research bills reasoning at its own 3 per 1M, output at 8.
    let u = Usage::from_classes(100, 0, 0, 1000, 600);
    let c = book()
        .cost("perplexity/sonar-deep-research", &u, &plain())
        .expect("priced");
    assert_eq!(c.output, usd("0.0032"));
    assert_eq!(c.reasoning, usd("0.0018"));
    assert_eq!(c.total, usd("0.0052"));
}

#[test]
fn reasoning_larger_than_completion_is_clamped() {
    let mut u = Usage::from_classes(0, 0, 0, 100, 0);
    u.completion_tokens_details = Some(switchyard_core::CompletionTokensDetails {
        reasoning_tokens: 500,
    });
    let c = book().cost("openai/o4-mini", &u, &plain()).expect("priced");
    assert_eq!((c.tokens.output, c.tokens.reasoning), (0, 100));
    assert_eq!(c.total, usd("0.00044"));
}

#[test]
fn a_long_prompt_crosses_the_context_tier() {
    let b = book();
    let at_limit = Usage::from_classes(200_000, 0, 0, 1000, 0);
    let above = Usage::from_classes(200_001, 0, 0, 1000, 0);
    let c = b
        .cost("google/gemini-2.5-pro", &at_limit, &plain())
        .expect("priced");
    assert_eq!(c.total, usd("0.26"));
    assert!(c.applied.is_empty());
    let c = b
        .cost("google/gemini-2.5-pro", &above, &plain())
        .expect("priced");
    // Every token at the tier rates: 2.50 in, 15 out.
    assert_eq!(c.input, usd("0.5000025"));
    assert_eq!(c.output, usd("0.015"));
    assert_eq!(c.applied, vec!["tier>200000".to_string()]);
}

#[test]
fn deepseek_off_peak_window_halves_the_price() {
    let b = book();
    let u = Usage::from_classes(1000, 0, 0, 1000, 0);
    let peak = b
        .cost("deepseek/deepseek-chat", &u, &plain())
        .expect("priced");
    assert_eq!(peak.total, usd("0.00137"));
    let night = PricingCtx::at(at(2025, 8, 1, 17, 0));
    let off = b
        .cost("deepseek/deepseek-chat", &u, &night)
        .expect("priced");
    assert_eq!(off.total, usd("0.000685"));
    assert_eq!(
        off.applied,
        vec!["window:deepseek-chat-off-peak x0.5".to_string()]
    );
    let r = b
        .cost("deepseek/deepseek-reasoner", &u, &night)
        .expect("priced");
    assert_eq!(r.total, usd("0.000685")); // (0.55 + 2.19) / 1000 x 0.25
}

#[test]
fn a_peak_surcharge_flips_which_model_is_cheaper() {
    let cfg = config(
        r#"
        [[rules]]
        kind = "window"
        name = "gpt-5-surge"
        models = ["openai/gpt-5"]
        days = ["mon", "tue", "wed", "thu", "fri"]
        start = "14:00"
        end = "18:00"
        multiplier = "3"
        "#,
    );
    let b = PriceBook::from_config(&cfg).expect("config builds");
    let sonnet = "anthropic/claude-sonnet-4-20250514";
    let quiet = PricingCtx::at(at(2025, 8, 1, 19, 0));
    let surge = PricingCtx::at(at(2025, 8, 1, 15, 0));
    let est = |id: &str, ctx: &PricingCtx| b.estimate(id, 1000, 1000, ctx).expect("priced");
    assert_eq!(est("openai/gpt-5", &quiet), usd("0.01125"));
    assert_eq!(est(sonnet, &quiet), usd("0.018"));
    assert!(est("openai/gpt-5", &quiet) < est(sonnet, &quiet));
    assert_eq!(est("openai/gpt-5", &surge), usd("0.03375"));
    assert!(est("openai/gpt-5", &surge) > est(sonnet, &surge));
    // Saturday 15:00 is outside the weekday window.
    let saturday = PricingCtx::at(at(2025, 8, 2, 15, 0));
    assert_eq!(est("openai/gpt-5", &saturday), usd("0.01125"));
}

#[test]
fn batch_and_flex_discounts() {
    let b = book();
    let u = Usage::from_classes(1_000_000, 0, 0, 1_000_000, 0);
    let batch = PricingCtx {
        batch: true,
        ..plain()
    };
    let flex = PricingCtx {
        flex: true,
        ..plain()
    };
    let c = b.cost("openai/gpt-4o-mini", &u, &batch).expect("priced");
    assert_eq!(c.total, usd("0.375"));
    assert_eq!(c.applied, vec!["batch:openai-batch x0.5".to_string()]);
    let c = b.cost("openai/o3", &u, &flex).expect("priced");
    assert_eq!(c.total, usd("5"));
    // No flex tier for gpt-4o-mini: the request bills at the standard price, nothing applied.
    let c = b.cost("openai/gpt-4o-mini", &u, &flex).expect("priced");
    assert_eq!(c.total, usd("0.75"));
    assert!(c.applied.is_empty());
    // No batch API for DeepSeek either.
    let c = b
        .cost("deepseek/deepseek-chat", &u, &batch)
        .expect("priced");
    assert_eq!(c.total, usd("1.37"));
}

#[test]
fn an_override_wins_and_is_labelled() {
    let cfg = config(
        r#"
        [overrides."openai/gpt-4o-mini"]
        input = "0.12"
        output = "0.48"

        [overrides."local/llama-3-8b"]
        input = "0"
        output = "0"
        context_window = 8192
        "#,
    );
    let b = PriceBook::from_config(&cfg).expect("config builds");
    let u = Usage::from_classes(1000, 1000, 0, 1000, 0);
    let c = b.cost("openai/gpt-4o-mini", &u, &plain()).expect("priced");
    // Cached stays at the catalog's 0.075; input and output take the override.
    assert_eq!(c.total, usd("0.000675"));
    assert_eq!(c.applied, vec!["override".to_string()]);
    let local = b.cost("local/llama-3-8b", &u, &plain()).expect("priced");
    assert_eq!(local.total, Usd::ZERO);
    assert_eq!(
        b.entry("local/llama-3-8b").map(|e| e.context_window),
        Some(8192)
    );
}

#[test]
fn an_unknown_model_has_no_price() {
    let b = book();
    let u = Usage::from_classes(10, 0, 0, 10, 0);
    assert!(b.cost("openai/gpt-7", &u, &plain()).is_none());
    assert!(b.estimate("openai/gpt-7", 10, 10, &plain()).is_none());
    assert!(b.rates("openai/gpt-7", 10, &plain()).is_none());
    assert!(b.entry("openai/gpt-7").is_none());
}

#[test]
fn estimate_is_the_worst_case() {
    let b = book();
    // Everything uncached, all output at max(output, reasoning).
    assert_eq!(
        b.estimate("perplexity/sonar-deep-research", 1000, 1000, &plain()),
        Some(usd("0.01"))
    );
    // The estimate for a long prompt uses the tier rates.
    assert_eq!(
        b.estimate("google/gemini-2.5-pro", 300_000, 0, &plain()),
        Some(usd("0.75"))
    );
    let u = Usage::from_classes(5000, 0, 0, 700, 0);
    let actual = b
        .cost("openai/gpt-4o-mini", &u, &plain())
        .expect("priced")
        .total;
    assert_eq!(
        b.estimate("openai/gpt-4o-mini", 5000, 700, &plain()),
        Some(actual)
    );
}

#[test]
fn rates_reflect_every_rule() {
    let b = book();
    let night = PricingCtx::at(at(2025, 8, 1, 23, 0));
    let r = b
        .rates("deepseek/deepseek-chat", 100, &night)
        .expect("priced");
    assert_eq!(r.input, Usd(dec!(0.000000135)));
    assert_eq!(r.cached_input, Usd(dec!(0.000000035)));
    assert_eq!(r.output, Usd(dec!(0.00000055)));
}

/// The integer fast path of `estimate` against the rates spelled out in decimals, for every
/// catalog model, across tiers, a discount window, batch and flex.
#[test]
fn estimates_equal_the_decimal_rates_for_every_model() {
    let b = book();
    // 17:30 UTC is inside DeepSeek's off-peak window (see the test above).
    let off_peak = PricingCtx::at(at(2025, 8, 1, 17, 30));
    let mut batch = plain();
    batch.batch = true;
    let mut flex = plain();
    flex.flex = true;
    let mut checked = 0;
    for id in b.ids() {
        for ctx in [plain(), off_peak, batch, flex] {
            for (p, o) in [(0, 0), (1, 1), (40, 300), (150_000, 8192), (300_000, 0)] {
                let r = b.rates(id, p, &ctx).expect("priced");
                let want = r.input.0 * rust_decimal::Decimal::from(p)
                    + r.output.max(r.reasoning).0 * rust_decimal::Decimal::from(o);
                let got = b.estimate(id, p, o, &ctx).expect("priced");
                assert_eq!(got.0, want, "{id} {p}+{o} {ctx:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 150 * 20);
}

/// A remembered slot follows the book it is asked with: a new generation (a refresh or a
/// reload with other prices) is looked up again, never priced from a stale index.
#[test]
fn a_price_slot_follows_book_generations() {
    let slot = switchyard_pricing::PriceSlot::default();
    let one = book();
    let two = PriceBook::from_config(&config(
        r#"
        [overrides."openai/gpt-4o-mini"]
        input = "1"
        output = "2"
        "#,
    ))
    .expect("config builds");
    let id = "openai/gpt-4o-mini";
    for b in [&one, &two, &one, &two] {
        assert_eq!(
            slot.estimate(b, id, 1000, 1000, &plain()),
            b.estimate(id, 1000, 1000, &plain())
        );
    }
    assert_eq!(
        slot.estimate(&two, id, 1_000_000, 0, &plain()),
        Some(usd("1"))
    );
    let unknown = switchyard_pricing::PriceSlot::default();
    assert!(
        unknown
            .estimate(&one, "openai/gpt-7", 1, 1, &plain())
            .is_none()
    );
    assert!(
        unknown
            .estimate(&one, "openai/gpt-7", 1, 1, &plain())
            .is_none()
    );
}
