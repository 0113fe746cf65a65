//! The full chaos run (the short one is `tests/reliability_chaos.rs`):
//!
//! ```sh
//! cargo run --release -p switchyard-testkit --example chaos -- 20000 64
//! ```
//! Arguments: requests (default 20000), concurrency (default 64). Prints the report and exits
//! non-zero if any invariant failed (see `switchyard_testkit::chaos`).

use std::time::Duration;

use switchyard_sim::SimConfig;
use switchyard_testkit::TestEnv;
use switchyard_testkit::chaos::{self, CHAOS_TOML, ChaosOpts};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let env = TestEnv::start(SimConfig::default_models(), CHAOS_TOML).await;
    // Warm up (connection pools, allocator arenas) before the first memory sample.
    let warm = ChaosOpts {
        requests: 500,
        concurrency,
        client_timeout: Duration::from_secs(30),
    };
    let _ = chaos::run(&env, &warm).await;
    env.records.clear();
    env.client()
        .post(format!("{}/sim/reset", env.sim.url()))
        .send()
        .await
        .ok();
    chaos::inject_faults(&env).await;
    let opts = ChaosOpts {
        requests,
        concurrency,
        client_timeout: Duration::from_secs(30),
    };
    let report = chaos::run(&env, &opts).await;
    let violations = report.violations();
    eprintln!("{report:#?}");
    if violations.is_empty() {
        eprintln!("chaos: PASS");
    } else {
        eprintln!("chaos: FAIL: {}", violations.join("; "));
        std::process::exit(1);
    }
}
