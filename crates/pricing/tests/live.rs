//! LivePrices keeps the last good book when a refresh fails.

use std::time::Duration;

use switchyard_pricing::{LivePrices, PriceBook, PricingConfig, live::http_client};

fn small_catalog(price: &str) -> String {
    format!(
        r#"{{"version": 1, "as_of": "2025-08", "models": [
            {{"id": "test/m", "context_window": 1000, "prices": {{"input": "{price}", "output": "1"}}}}
        ]}}"#
    )
}

fn cfg_for(path: &std::path::Path) -> PricingConfig {
    PricingConfig {
        catalog: Some(path.display().to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn refresh_swaps_in_a_good_file_and_keeps_it_over_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prices.json");
    let client = http_client().expect("client");
    let live = LivePrices::new(PriceBook::bundled().expect("bundled"));
    assert!(live.current().contains("openai/gpt-4o-mini"));

    std::fs::write(&path, small_catalog("2")).expect("write");
    live.refresh_once(&cfg_for(&path), &client)
        .await
        .expect("good file loads");
    assert!(live.last_refresh_ok());
    let good = live.current();
    assert_eq!(good.len(), 1);
    assert_eq!(
        good.entry("test/m").and_then(|e| e.prices.input),
        Some(2.into())
    );

    std::fs::write(&path, "{ not json").expect("write");
    let errs = live
        .refresh_once(&cfg_for(&path), &client)
        .await
        .expect_err("bad file");
    assert!(errs[0].starts_with("pricing.catalog \""), "{errs:?}");
    assert!(!live.last_refresh_ok());
    assert_eq!(live.refresh_failures(), 1);
    assert!(live.last_error().is_some());
    assert_eq!(
        live.current().entry("test/m").and_then(|e| e.prices.input),
        Some(2.into())
    );

    // A missing file also keeps the book; a later good file recovers.
    let missing = dir.path().join("gone.json");
    assert!(
        live.refresh_once(&cfg_for(&missing), &client)
            .await
            .is_err()
    );
    assert_eq!(live.refresh_failures(), 2);
    std::fs::write(&path, small_catalog("3")).expect("write");
    live.refresh_once(&cfg_for(&path), &client)
        .await
        .expect("recovers");
    assert!(live.last_refresh_ok() && live.last_error().is_none());
    assert_eq!(
        live.current().entry("test/m").and_then(|e| e.prices.input),
        Some(3.into())
    );
}

#[tokio::test]
async fn spawned_refresh_runs_on_its_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prices.json");
    std::fs::write(&path, small_catalog("5")).expect("write");
    let live = LivePrices::new(PriceBook::bundled().expect("bundled"));
    let handle = live.spawn_refresh(cfg_for(&path), Duration::from_secs(60));
    // The first tick fires at once; poll (up to 2 s) until the file IO is done.
    for _ in 0..200 {
        if live.current().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(live.current().len(), 1);
    handle.abort();
}

#[tokio::test]
async fn start_without_refresh_serves_the_configured_file_and_spawns_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prices.json");
    std::fs::write(&path, small_catalog("7")).expect("write");
    let (live, task) = LivePrices::start(&cfg_for(&path)).expect("starts");
    assert!(task.is_none());
    assert_eq!(
        live.current().entry("test/m").and_then(|e| e.prices.input),
        Some(7.into())
    );
    assert!(live.age() < Duration::from_secs(60));

    let bad = PricingConfig {
        refresh: Some("often".into()),
        ..Default::default()
    };
    assert!(LivePrices::start(&bad).is_err());
}
