//! Semantic-cache quality through the cache's own code path (`cache::semantic`: the probe,
//! the partitioned index and the matcher at the defaults the cache uses) on the labelled QQP
//! pairs in ../shared/routing-data/cache_pairs: store question A, look up question B, count
//! a hit. Reported on all pairs and on the held-out half of switchyard-embed's calibration
//! split (FNV-1a of the pair, odd = held out).
//!
//! `cargo run -p switchyard-testkit --release --example cache_pairs [PATH.jsonl.gz]`
#![expect(clippy::print_stdout, reason = "a report tool")]

use std::io::BufRead;
use std::sync::Arc;

use switchyard_engine::cache::semantic::{Index, Probe, matcher};

#[derive(serde::Deserialize)]
struct Pair {
    text_a: String,
    text_b: String,
    label: u8,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Default)]
struct Tally {
    dup: u64,
    dup_hit: u64,
    non: u64,
    non_hit: u64,
}

impl Tally {
    fn add(&mut self, dup: bool, hit: bool) {
        if dup {
            self.dup += 1;
            self.dup_hit += u64::from(hit);
        } else {
            self.non += 1;
            self.non_hit += u64::from(hit);
        }
    }
    fn line(&self, name: &str) -> String {
        let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
        format!(
            "{name}: true hits {:.2}% of {} duplicates, false hits {:.2}% of {} non-duplicates",
            pct(self.dup_hit, self.dup),
            self.dup,
            pct(self.non_hit, self.non),
            self.non
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/routing-data/cache_pairs/qqp_dev.jsonl.gz"
        )
        .to_owned()
    });
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let m = matcher(None);
    println!("matcher: {m:?}");
    let index = Index::new(16);
    let (mut all, mut held) = (Tally::default(), Tally::default());
    let started = std::time::Instant::now();
    for (i, line) in reader.lines().enumerate() {
        let p: Pair = serde_json::from_str(&line?)?;
        // Each pair in a partition of its own: only A is stored when B is looked up.
        let mut part = [0u8; 32];
        part[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let exact = part;
        index.insert(part, Arc::new(Probe::new(&p.text_a)), exact);
        let found = index.lookup(&part, &Probe::new(&p.text_b), &m);
        let hit = found.hit.is_some();
        all.add(p.label == 1, hit);
        if fnv1a(&format!("{}\u{1f}{}", p.text_a, p.text_b)) % 2 == 1 {
            held.add(p.label == 1, hit);
        }
    }
    println!("{}", all.line("all pairs"));
    println!("{}", held.line("held-out half"));
    println!("{:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
