//! Smoke version of the routing benchmark: a few dozen RouterBench prompts, 2 folds, through
//! a real gateway and the replaying simulator. Takes a few seconds, mostly loading the
//! recorded data (28 MB). Skips, saying why, when routing-data is absent.

use switchyard_eval::bench::{BenchArgs, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_bench_smoke() {
    let data = std::path::PathBuf::from("/work/shared/routing-data");
    if !data.join("outcomes.jsonl").exists() {
        eprintln!("routing-data absent at {}: skipping", data.display());
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let args = BenchArgs {
        data,
        out: out.path().to_path_buf(),
        folds: 2,
        max_prompts: Some(40),
        sources: Some(vec!["routerbench_0shot".into()]),
        concurrency: 8,
        target: 0.95,
    };
    let res = run(&args).await.unwrap();
    assert_eq!(res.len(), 1);
    let r = &res[0];
    assert_eq!(r.prompts, 40);
    for p in &r.points {
        assert_eq!(p.n + p.failed, 40, "{} {}", p.policy, p.setting);
        assert_eq!(p.failed, 0, "{} {}", p.policy, p.setting);
    }
    // Single-model points are the recorded means: the gateway answered with the model asked.
    let single = r.points.iter().filter(|p| p.policy == "single").count();
    assert_eq!(single, 11);
    for p in r.points.iter().filter(|p| p.policy == "single") {
        assert_eq!(p.share.get(&p.setting).copied(), Some(1.0));
    }
    // Escalating everything (min_confidence 1.0) never serves the cheap tier's answer, and
    // pays for both tiers, so it costs more than the cheapest pure-cheap point.
    let all = r
        .points
        .iter()
        .find(|p| p.policy == "cascade" && p.setting.starts_with("min_confidence 1.000"))
        .unwrap();
    let none = r
        .points
        .iter()
        .find(|p| p.policy == "cascade" && p.setting.starts_with("min_confidence 0.000"))
        .unwrap();
    assert!(all.cost > none.cost);
    let svg = switchyard_eval::plot::svg(&res);
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
}
