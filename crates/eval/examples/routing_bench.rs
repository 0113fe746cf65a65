//! Routing benchmark on recorded outcomes: `scripts/routing-bench.sh` (release, minutes).
//! Writes `routing_bench.md`, `routing_bench.svg`, `routing_bench.json` into `--out`.

use std::path::PathBuf;

use switchyard_eval::bench::{BenchArgs, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut a = BenchArgs {
        data: PathBuf::from("/work/shared/routing-data"),
        out: PathBuf::from("target/routing-bench"),
        folds: 5,
        max_prompts: None,
        sources: None,
        concurrency: 32,
        target: 0.95,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match k.as_str() {
            "--data" => a.data = v.into(),
            "--out" => a.out = v.into(),
            "--folds" => a.folds = v.parse().unwrap_or(5),
            "--max-prompts" => a.max_prompts = v.parse().ok(),
            "--sources" => a.sources = Some(v.split(',').map(str::to_owned).collect()),
            "--concurrency" => a.concurrency = v.parse().unwrap_or(32),
            "--target" => a.target = v.parse().unwrap_or(0.95),
            _ => {
                eprintln!("unknown argument {k}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if !a.data.join("outcomes.jsonl").exists() {
        eprintln!(
            "routing-data not found at {}: skipping the benchmark",
            a.data.display()
        );
        return std::process::ExitCode::SUCCESS;
    }
    let t0 = std::time::Instant::now();
    match run(&a).await {
        Ok(results) => {
            let md = switchyard_eval::plot::table(&results, a.target);
            let write = |name: &str, body: &[u8]| std::fs::write(a.out.join(name), body);
            let ok = write("routing_bench.md", md.as_bytes())
                .and_then(|()| {
                    write(
                        "routing_bench.svg",
                        switchyard_eval::plot::svg(&results).as_bytes(),
                    )
                })
                .and_then(|()| {
                    write(
                        "routing_bench.json",
                        &serde_json::to_vec_pretty(&results).unwrap_or_default(),
                    )
                });
            if let Err(e) = ok {
                eprintln!("cannot write results: {e}");
                return std::process::ExitCode::FAILURE;
            }
            eprintln!(
                "{md}\nwrote {} in {:.0} s",
                a.out.display(),
                t0.elapsed().as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
