//! The short chaos run (1,000 requests at concurrency 32, ~20% of upstream calls faulty):
//! every request ends complete or with an explicit error, none hangs (30 s client timeout),
//! each is recorded exactly once, the simulator saw exactly the calls the records list, and
//! memory stays flat. The full run is `examples/chaos.rs` (`scripts/chaos.sh`).

use std::time::Duration;

use switchyard_sim::SimConfig;
use switchyard_testkit::TestEnv;
use switchyard_testkit::chaos::{self, CHAOS_TOML, ChaosOpts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_under_random_faults_all_end_explicitly_and_once() {
    let env = TestEnv::start(SimConfig::default_models(), CHAOS_TOML).await;
    chaos::inject_faults(&env).await;
    let report = chaos::run(
        &env,
        &ChaosOpts {
            requests: 1000,
            concurrency: 32,
            client_timeout: Duration::from_secs(30),
        },
    )
    .await;
    eprintln!("{report:#?}");
    assert_eq!(report.violations(), Vec::<String>::new());
    // The faults really happened and were survived, not avoided.
    let injected: u64 = report
        .sim_faults
        .iter()
        .filter(|(k, _)| k.as_str() != "ok")
        .map(|(_, n)| n)
        .sum();
    assert!(injected > 100, "{:?}", report.sim_faults);
    assert!(report.failovers > 50, "{} failovers", report.failovers);
    assert!(report.complete > 850, "{} complete", report.complete);
}
