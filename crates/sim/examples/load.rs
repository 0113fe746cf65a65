//! Load generator for measuring the simulator's own throughput (not a test).
//! `cargo run --release -p switchyard-sim --example load -- URL [SECONDS] [CONCURRENCY] [stream]`
//! Pin the sim and this client to different cores (taskset) for a one-core figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:4001".into());
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let conc: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let stream = args.get(4).is_some_and(|s| s == "stream");
    let client = reqwest::Client::new();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let body = serde_json::json!({"model": "local-llama", "stream": stream,
        "messages": [{"role": "user", "content": "measure the simulator throughput please"}]});
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (client, ok, failed, body) =
                (client.clone(), ok.clone(), failed.clone(), body.clone());
            let url = format!("{url}/v1/chat/completions");
            tokio::spawn(async move {
                while Instant::now() < end {
                    let r = client.post(&url).bearer_auth("k").json(&body).send().await;
                    let good = match r {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if good { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let n = ok.load(Ordering::Relaxed);
    eprintln!(
        "{n} ok, {} failed in {secs}s: {:.0} req/s (stream={stream}, concurrency={conc})",
        failed.load(Ordering::Relaxed),
        n as f64 / secs as f64
    );
}
