//! Latency of the per-request embedding work (the budget is 1 ms at p99).
//!
//! `cargo bench -p switchyard-embed --bench embed`
//! Criterion reports means with confidence intervals; the `latency_percentiles`
//! line printed first gives p50/p99/max over single calls.
#![expect(clippy::print_stdout, reason = "bench report")]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_embed::{Embedder, GuardKey, NearDuplicate, classify, pair_model, static_embedder};

const SHORT: &str = "How do I reset my password?";

/// Exactly 128 WordPiece tokens of ordinary prose.
fn long_prompt() -> String {
    let s = "The quarterly report shows that revenue grew by twelve percent while operating costs \
             fell, mainly because the company renegotiated its cloud contracts and consolidated \
             two data centres. Analysts expect the trend to continue next year, although currency \
             movements and new regulation in Europe could reduce the margin. Summarize the main \
             drivers of growth and list the risks the board should watch, in plain language for \
             shareholders who are not finance experts, and suggest three questions for the meeting.";
    let tok = static_embedder().tokenizer();
    let mut out = String::new();
    for w in s.split_whitespace().cycle() {
        let next = format!("{out} {w}");
        if tok.encode(&next, usize::MAX).len() > 128 {
            break;
        }
        out = next;
    }
    assert_eq!(tok.encode(&out, usize::MAX).len(), 128);
    out
}

fn percentiles(name: &str, f: impl Fn()) {
    let mut t: Vec<u128> = (0..20_000)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_nanos()
        })
        .collect();
    t.sort_unstable();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "latency_percentiles {name}: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        q(0.5),
        q(0.99),
        q(1.0)
    );
}

fn bench(c: &mut Criterion) {
    let e = static_embedder();
    let long = long_prompt();
    percentiles("embed_short", || drop(black_box(e.embed(black_box(SHORT)))));
    percentiles("embed_128_tokens", || {
        drop(black_box(e.embed(black_box(&long))))
    });
    percentiles("classify_128_tokens", || {
        black_box(classify(black_box(&long)));
    });
    c.bench_function("embed_short", |b| b.iter(|| e.embed(black_box(SHORT))));
    c.bench_function("embed_128_tokens", |b| b.iter(|| e.embed(black_box(&long))));
    c.bench_function("classify_short", |b| b.iter(|| classify(black_box(SHORT))));
    c.bench_function("classify_128_tokens", |b| {
        b.iter(|| classify(black_box(&long)))
    });
    let (ea, eb) = (
        e.embed(SHORT),
        e.embed("What are the steps to reset my password?"),
    );
    let m = NearDuplicate::default();
    c.bench_function("near_duplicate_short", |b| {
        b.iter(|| {
            m.matches(
                black_box(SHORT),
                "What are the steps to reset my password?",
                &ea,
                &eb,
            )
        })
    });
    // One comparison of a request against a stored entry, keys prepared once
    // (as the cache stores them): cosine prefilter, hard vetoes, pair model.
    let (ka, kb) = (
        GuardKey::new(SHORT),
        GuardKey::new("What are the steps to reset my password?"),
    );
    c.bench_function("near_duplicate_prepared_short", |b| {
        b.iter(|| m.matches_prepared(black_box(&ka), black_box(&kb), &ea, &eb))
    });
    // The worst case per candidate: the pair model always runs.
    c.bench_function("pair_model_score_short", |b| {
        b.iter(|| pair_model().score(black_box(&ka), black_box(&kb)))
    });
    c.bench_function("guard_key_short", |b| {
        b.iter(|| GuardKey::new(black_box(SHORT)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
