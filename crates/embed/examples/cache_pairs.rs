//! Calibrates and evaluates the semantic-cache matcher on labelled QQP pairs.
//!
//! `cargo run -p switchyard-embed --release --example cache_pairs`
//!
//! Pairs are split by FNV-1a of their text into a calibration half and a
//! held-out half. Settings are chosen on the calibration half only (most true
//! hits with false hits <= TARGET_FALSE_HIT_PCT), then both rates are reported
//! on the held-out half, for the chosen settings and for the crate defaults.
//! The data is read in place from ../shared (it may not ship).
#![expect(clippy::print_stdout, reason = "a report tool")]

use std::io::BufRead;
use std::path::PathBuf;

use switchyard_embed::{Embedder, GuardKey, NearDuplicate, cosine, static_embedder};

/// Below the 1% target to leave room for calibration-to-held-out noise.
const TARGET_FALSE_HIT_PCT: f64 = 0.8;

#[derive(serde::Deserialize)]
struct Pair {
    text_a: String,
    text_b: String,
    label: u8,
}

struct Scored {
    cos: f32,
    a: GuardKey,
    b: GuardKey,
    /// numbers, negation and names guards
    strict_ok: bool,
    qwords_ok: bool,
    symbols_ok: bool,
    overlap: f32,
    align: f32,
    dup: bool,
    calibration: bool,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn data_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_ROUTING_DATA").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/routing-data"
            ))
        },
        PathBuf::from,
    )
}

/// (true-hit %, false-hit %) over the pairs `keep` selects, from precomputed
/// features (the grid search would otherwise recompute the guards per point).
fn rates(pairs: &[Scored], m: &NearDuplicate, keep: impl Fn(&Scored) -> bool) -> (f64, f64) {
    count(pairs, keep, |p| {
        p.cos >= m.threshold
            && (!m.check_numbers || p.strict_ok)
            && (!m.check_question_words || p.qwords_ok)
            && (!m.check_symbols || p.symbols_ok)
            && p.overlap >= m.min_content_overlap
            && (m.min_alignment <= 0.0 || p.align >= m.min_alignment)
    })
}

fn count(
    pairs: &[Scored],
    keep: impl Fn(&Scored) -> bool,
    hit: impl Fn(&Scored) -> bool,
) -> (f64, f64) {
    let (mut tp, mut np, mut fp, mut nn) = (0usize, 0usize, 0usize, 0usize);
    for p in pairs.iter().filter(|p| keep(p)) {
        let h = hit(p);
        if p.dup {
            np += 1;
            tp += usize::from(h)
        } else {
            nn += 1;
            fp += usize::from(h)
        }
    }
    (
        100.0 * tp as f64 / np.max(1) as f64,
        100.0 * fp as f64 / nn.max(1) as f64,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = data_dir().join("cache_pairs/qqp_dev.jsonl.gz");
    if !path.exists() {
        println!(
            "skipped: {} not found (set SWITCHYARD_ROUTING_DATA)",
            path.display()
        );
        return Ok(());
    }
    let emb = static_embedder();
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(&path)?));
    let t0 = std::time::Instant::now();
    let mut pairs = Vec::new();
    for line in reader.lines() {
        let p: Pair = serde_json::from_str(&line?)?;
        let cos = cosine(&emb.embed(&p.text_a), &emb.embed(&p.text_b));
        let (a, b) = (GuardKey::new(&p.text_a), GuardKey::new(&p.text_b));
        let only = |q: bool, s: bool, base: bool| NearDuplicate {
            threshold: -1.0,
            min_content_overlap: 0.0,
            min_alignment: 0.0,
            check_numbers: base,
            check_negation: base,
            check_names: base,
            check_question_words: q,
            check_symbols: s,
        };
        pairs.push(Scored {
            cos,
            strict_ok: only(false, false, true).guards_pass(&a, &b),
            qwords_ok: only(true, false, false).guards_pass(&a, &b),
            symbols_ok: only(false, true, false).guards_pass(&a, &b),
            overlap: a.content_overlap(&b),
            // Only pairs that can pass the cheaper gates need the alignment.
            align: if cos >= 0.7 { a.alignment(&b) } else { 0.0 },
            a,
            b,
            dup: p.label == 1,
            calibration: fnv1a(&format!("{}\u{1f}{}", p.text_a, p.text_b)) % 2 == 0,
        });
    }
    let n_cal = pairs.iter().filter(|p| p.calibration).count();
    println!(
        "{} pairs embedded in {:.1}s ({} calibration, {} held-out)",
        pairs.len(),
        t0.elapsed().as_secs_f32(),
        n_cal,
        pairs.len() - n_cal
    );

    let no_guards = |t: f32| NearDuplicate {
        threshold: t,
        min_content_overlap: 0.0,
        min_alignment: 0.0,
        check_numbers: false,
        check_negation: false,
        check_names: false,
        check_question_words: false,
        check_symbols: false,
    };
    println!("\nplain cosine (held-out): threshold, true-hit %, false-hit %");
    for t in [0.80f32, 0.85, 0.90, 0.93, 0.95, 0.97] {
        let (tp, fp) = rates(&pairs, &no_guards(t), |p| !p.calibration);
        println!("  {t:.2}  {tp:5.1}  {fp:5.2}");
    }

    if std::env::var_os("CACHE_PAIRS_DIAG").is_some() {
        for t in [0.0f32, 0.8, 0.85, 0.9] {
            for a in [0.0f32, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9] {
                let (tp, fp) = count(
                    &pairs,
                    |p| p.calibration,
                    |p| p.cos >= t && p.strict_ok && p.qwords_ok && p.symbols_ok && p.align >= a,
                );
                println!("diag cos>={t:.2} strict align>={a:.1}: tp {tp:5.1} fp {fp:5.2}");
            }
        }
    }
    let mut best: Option<(f64, f64, NearDuplicate)> = None;
    for (guards, extra) in [(false, false), (true, false), (true, true)] {
        for overlap in [0.0f32, 0.2, 0.3, 0.4, 0.5, 0.6] {
            for align in [0.0f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
                for step in 0..=30 {
                    let m = NearDuplicate {
                        threshold: 0.70 + 0.01 * step as f32,
                        min_content_overlap: overlap,
                        min_alignment: align,
                        check_numbers: guards,
                        check_negation: guards,
                        check_names: guards,
                        check_question_words: extra,
                        check_symbols: extra,
                    };
                    let (tp, fp) = rates(&pairs, &m, |p| p.calibration);
                    if fp <= TARGET_FALSE_HIT_PCT && best.as_ref().is_none_or(|b| tp > b.0) {
                        best = Some((tp, fp, m));
                    }
                }
            }
        }
    }
    let Some((cal_tp, cal_fp, chosen)) = best else {
        println!("no setting reaches {TARGET_FALSE_HIT_PCT}% false hits on calibration");
        return Ok(());
    };
    println!("\nchosen on calibration (false hits <= {TARGET_FALSE_HIT_PCT}%): {chosen:?}");
    println!("  calibration: true hits {cal_tp:.1}%, false hits {cal_fp:.2}%");
    let (tp, fp) = rates(&pairs, &chosen, |p| !p.calibration);
    println!("  held-out:    true hits {tp:.1}%, false hits {fp:.2}%");
    // The defaults are checked through the public matcher itself, not the precomputed features.
    let d = NearDuplicate::default();
    let (tp, fp) = count(
        &pairs,
        |p| !p.calibration,
        |p| p.cos >= d.threshold && d.guards_pass(&p.a, &p.b),
    );
    println!("\ncrate default {d:?}\n  held-out:    true hits {tp:.1}%, false hits {fp:.2}%");
    Ok(())
}
