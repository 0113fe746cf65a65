//! Cache-hit latency end to end: a client posts the same deterministic chat request over
//! HTTP to a gateway (in process, loopback) whose cache already holds the answer, from 16
//! concurrent connections; the time is measured per request from send to the last body byte.
//! Build it as release:
//!
//! `cargo run -p switchyard-testkit --release --example cache_bench [REQUESTS] [CONCURRENCY]`
//!
//! The load generator shares the machine (and here the process) with the gateway, so the
//! figure includes the client's own HTTP work: it is an upper bound on the gateway's.
#![expect(clippy::print_stdout, reason = "a benchmark report")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_testkit::{DEMO_CONFIG, TestEnv};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let conc: usize = args.next().map_or(Ok(16), |s| s.parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let env = Arc::new(TestEnv::start(switchyard_sim::SimConfig::default_models(), DEMO_CONFIG).await);
        for stream in [false, true] {
            let body = json!({
                "model": "fast", "temperature": 0, "stream": stream,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
            });
            let client = reqwest::Client::builder().pool_max_idle_per_host(conc).build()?;
            let url = env.url("/v1/chat/completions");
            let warm = client.post(&url).json(&body).send().await?;
            assert_eq!(warm.status(), 200);
            warm.bytes().await?;
            // Warm the connections and check the answers are hits.
            let r = client.post(&url).json(&body).send().await?;
            let label = r.headers().get("x-switchyard-cache").and_then(|v| v.to_str().ok()).map(str::to_owned);
            r.bytes().await?;
            assert_eq!(label.as_deref(), Some("hit"));
            let per = total / conc;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..conc {
                let (client, url, body) = (client.clone(), url.clone(), body.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t = Instant::now();
                        let r = client.post(&url).json(&body).send().await.expect("send");
                        let ok = r.status() == 200;
                        r.bytes().await.expect("body");
                        assert!(ok);
                        lat.push(t.elapsed());
                    }
                    lat
                }));
            }
            let mut all = Vec::with_capacity(total);
            for t in tasks {
                all.extend(t.await?);
            }
            let wall = started.elapsed();
            all.sort();
            println!(
                "cache hit, {}, concurrency {conc}: {} requests in {:.2}s ({:.0} req/s); p50 {} µs, p99 {} µs, max {} µs",
                if stream { "streamed" } else { "JSON" },
                all.len(),
                wall.as_secs_f64(),
                all.len() as f64 / wall.as_secs_f64(),
                pct(&all, 50.0).as_micros(),
                pct(&all, 99.0).as_micros(),
                all.last().map_or(0, |d| d.as_micros()),
            );
            // The gateway's own time per hit (handler entry to response built), from the records.
            let mut server: Vec<f64> = env.records.all().iter().filter(|r| r.cache == "hit").map(|r| r.total_ms * 1000.0).collect();
            server.sort_by(f64::total_cmp);
            if !server.is_empty() {
                let at = |p: f64| server[(((p / 100.0) * server.len() as f64).ceil() as usize).clamp(1, server.len()) - 1];
                println!("  inside the gateway (record total_ms): p50 {:.0} µs, p99 {:.0} µs", at(50.0), at(99.0));
            }
            env.records.clear();
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
