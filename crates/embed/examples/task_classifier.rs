//! Trains and evaluates the embedding task classifier on the routing-data prompts.
//!
//! `cargo run -p switchyard-embed --release --example task_classifier [-- --write]`
//!
//! Split: FNV-1a(prompt_id) % 10 < 7 trains, the rest is the held-out report.
//! `--write` stores the weights trained on the 70% part in `data/task_classifier.bin`
//! (numbers only; the prompts themselves must not ship).
#![expect(clippy::print_stdout, reason = "a report tool")]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use switchyard_embed::{Embedder, Task, TaskClassifier, classify_rules, static_embedder};

mod common;
use common::data_file;
use switchyard_embed::fnv1a;

#[derive(serde::Deserialize)]
struct Prompt {
    prompt_id: String,
    task_type: String,
    turns: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = data_file("prompts.jsonl") else {
        return Ok(());
    };
    let emb = static_embedder();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
        let p: Prompt = serde_json::from_str(&line?)?;
        let text = p.turns.join("\n\n");
        let task: Task = p.task_type.parse()?;
        let row = (emb.embed(&text), task, text);
        if fnv1a(&p.prompt_id) % 10 < 7 {
            train.push(row)
        } else {
            test.push(row)
        }
    }
    let examples: Vec<(Vec<f32>, Task)> = train.iter().map(|(e, t, _)| (e.clone(), *t)).collect();
    let t0 = std::time::Instant::now();
    let model = TaskClassifier::train(&examples, 400, 4.0, 1e-4)?;
    println!(
        "trained on {} prompts in {:.1}s; held-out {} prompts",
        train.len(),
        t0.elapsed().as_secs_f32(),
        test.len()
    );

    // Choose when rules may override the embedding classifier, on the training part only.
    let macro_acc = |rows: &[(Vec<f32>, Task, String)], tau: f32| {
        let mut per: BTreeMap<Task, (usize, usize)> = BTreeMap::new();
        for (e, t, text) in rows {
            let (pred, p) = model.predict(e);
            let pred = if p >= tau {
                pred
            } else {
                classify_rules(text).unwrap_or(pred)
            };
            let s = per.entry(*t).or_default();
            s.0 += 1;
            s.1 += usize::from(pred == *t);
        }
        per.values()
            .map(|(n, r)| *r as f64 / *n as f64)
            .sum::<f64>()
            / per.len() as f64
    };
    for tau in [0.0f32, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01] {
        println!(
            "rules override below p={tau:.2}: macro acc train {:.1}%, held-out {:.1}%",
            100.0 * macro_acc(&train, tau),
            100.0 * macro_acc(&test, tau)
        );
    }
    // Per class: (n, rules fired, rules right, embed right, combined right)
    let mut per: BTreeMap<Task, [usize; 5]> = BTreeMap::new();
    for (e, t, text) in &test {
        let s = per.entry(*t).or_default();
        s[0] += 1;
        let rule = classify_rules(text);
        let (pred, _) = model.predict(e);
        if rule.is_some() {
            s[1] += 1
        }
        if rule == Some(*t) {
            s[2] += 1
        }
        if pred == *t {
            s[3] += 1
        }
        if model.classify_embedded(text, e).0 == *t {
            s[4] += 1
        }
    }
    println!(
        "{:<14} {:>5} {:>12} {:>11} {:>10} {:>10}",
        "task", "n", "rules fired", "rules prec", "embed acc", "combined"
    );
    let pct = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let mut tot = [0usize; 5];
    let (mut macro_e, mut macro_c) = (0.0, 0.0);
    for (t, s) in &per {
        println!(
            "{:<14} {:>5} {:>11.1}% {:>10.1}% {:>9.1}% {:>9.1}%",
            t.as_str(),
            s[0],
            pct(s[1], s[0]),
            pct(s[2], s[1]),
            pct(s[3], s[0]),
            pct(s[4], s[0])
        );
        for i in 0..5 {
            tot[i] += s[i]
        }
        macro_e += pct(s[3], s[0]) / per.len() as f64;
        macro_c += pct(s[4], s[0]) / per.len() as f64;
    }
    println!(
        "{:<14} {:>5} {:>11.1}% {:>10.1}% {:>9.1}% {:>9.1}%",
        "all (micro)",
        tot[0],
        pct(tot[1], tot[0]),
        pct(tot[2], tot[1]),
        pct(tot[3], tot[0]),
        pct(tot[4], tot[0])
    );
    println!(
        "{:<14} {:>5} {:>12} {:>11} {:>9.1}% {:>9.1}%",
        "macro (mean)", "", "", "", macro_e, macro_c
    );

    if std::env::args().any(|a| a == "--write") {
        let out = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/task_classifier.bin"
        ));
        std::fs::write(&out, model.to_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
