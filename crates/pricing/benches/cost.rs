//! cost() and estimate() across every model of the bundled catalog.
//! Run: `cargo bench -p switchyard-pricing --bench cost`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_core::Usage;
use switchyard_pricing::{PriceBook, PricingCtx};

fn bench(c: &mut Criterion) {
    let book = match PriceBook::bundled() {
        Ok(b) => b,
        Err(e) => panic!("bundled catalog: {e:?}"),
    };
    let mut ids: Vec<String> = book.ids().map(str::to_owned).collect();
    ids.sort();
    let usage = Usage::from_classes(1200, 3000, 500, 800, 300);
    // 17:00 UTC: inside the DeepSeek windows, so window rules are evaluated too.
    let ctx = PricingCtx {
        batch: true,
        ..PricingCtx::at(chrono::DateTime::from_timestamp(1_754_067_600, 0).unwrap_or_default())
    };
    let n = ids.len();
    c.bench_function(&format!("cost x{n} models"), |b| {
        b.iter(|| {
            for id in &ids {
                black_box(book.cost(black_box(id), &usage, &ctx));
            }
        })
    });
    c.bench_function(&format!("estimate x{n} models"), |b| {
        b.iter(|| {
            for id in &ids {
                black_box(book.estimate(black_box(id), 250_000, 4096, &ctx));
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
