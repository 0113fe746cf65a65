mod common;

use std::sync::Arc;

use common::rec;
use switchyard_core::Secret;
use switchyard_observe::log::now_ms;
use switchyard_observe::ui::summary;
use switchyard_observe::{SqliteStore, Store, UiState, ui_router};

async fn serve(store: Arc<dyn Store>, key: Option<&str>) -> String {
    let app = ui_router(UiState {
        store,
        admin_key: key.map(Secret::new),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn summary_json_for_seeded_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(dir.path().join("u.sqlite"))
        .await
        .expect("open");
    // Records at 0 h and 1 h into a two-hour window.
    let h = 3_600_000;
    let mut a1 = rec("a1", 10, "openai/a", Some("0.25"), 100.0);
    a1.cache = "hit".into();
    let a2 = rec("a2", h + 10, "openai/a", Some("0.5"), 300.0);
    let mut b1 = rec("b1", h + 20, "anthropic/b", Some("1"), 2000.0);
    b1.escalations = 2;
    b1.status = 502;
    store.write_batch(&[a1, a2, b1]).await.expect("write");

    let s = summary(&store, 0, 2 * h).await.expect("summary");
    assert_eq!(
        s.bucket_ms, 300_000,
        "2h window: 5-minute buckets, 24 points"
    );
    assert_eq!(s.buckets.len(), 24);
    assert_eq!(s.totals.requests, 3);
    assert_eq!(s.totals.spend_usd, "1.75");
    assert_eq!(s.totals.errors, 1);
    assert_eq!(s.totals.escalations, 2);
    // Baseline 0.01 each: saved = 0.03 - 1.75.
    assert_eq!(s.totals.saved_usd, "-1.72");
    let names: Vec<_> = s.spend_by_model.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["anthropic/b", "openai/a"], "largest spend first");
    let a = &s.spend_by_model[1].values;
    assert_eq!((a[0], a[12]), (0.25, 0.5));
    assert_eq!(a.iter().filter(|v| **v != 0.0).count(), 2);
    assert_eq!(s.spend_by_provider.len(), 2);
    assert_eq!(s.cache.get("hit"), Some(&1));
    assert_eq!(s.cache.get("miss"), Some(&2));
    let esc = s
        .events
        .iter()
        .find(|e| e.name == "escalations")
        .expect("esc");
    assert_eq!(esc.values[12], 2.0);
    assert_eq!(s.cumulative_saved_usd.first(), Some(&(0.01 - 0.25)));
    assert_eq!(s.cumulative_saved_usd.last().copied(), Some(-1.72));
    let lat_a = s
        .latency
        .iter()
        .find(|l| l.model == "openai/a")
        .expect("lat");
    assert_eq!(
        (lat_a.count, lat_a.p50_ms, lat_a.p99_ms),
        (2, Some(100.0), Some(300.0))
    );
    assert_eq!(lat_a.histogram.iter().sum::<u64>(), 2);
    assert_eq!(lat_a.histogram[2], 1, "100 ms falls in the <=100 ms bucket");
}

#[tokio::test]
async fn page_and_api_over_http_with_admin_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(dir.path().join("u.sqlite"))
        .await
        .expect("open");
    store
        .write_batch(&[rec("x", now_ms() - 1000, "openai/a", Some("0.125"), 50.0)])
        .await
        .expect("w");
    let base = serve(Arc::new(store), Some("s3cret")).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    assert_eq!(
        c.get(format!("{base}/ui"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    assert_eq!(
        c.get(format!("{base}/ui/api/summary"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    assert_eq!(
        c.get(format!("{base}/ui?key=wrong"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );

    let login = c
        .get(format!("{base}/ui?key=s3cret"))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_redirection());
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_string();
    let page = c
        .get(format!("{base}/ui"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("<svg class=\"chart\" id=\"ch-model\""));
    assert!(
        !html.contains("http://") && !html.contains("https://cdn"),
        "page must be self-contained"
    );

    let js = c
        .get(format!("{base}/ui/app.js"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("js");
    assert_eq!(js.status(), 200);
    let api = c
        .get(format!("{base}/ui/api/summary?since=1h"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200);
    let v: serde_json::Value = api.json().await.expect("json");
    assert_eq!(v["totals"]["requests"], 1);
    assert_eq!(v["totals"]["spend_usd"], "0.125");
    assert_eq!(v["bucket_ms"], 60_000);
    assert_eq!(v["spend_by_model"][0]["name"], "openai/a");
    let bad = c
        .get(format!("{base}/ui/api/summary?since=soon"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn open_without_admin_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(dir.path().join("u.sqlite"))
        .await
        .expect("open");
    let base = serve(Arc::new(store), None).await;
    let r = reqwest::get(format!("{base}/ui/api/summary"))
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["totals"]["requests"], 0);
    assert_eq!(v["totals"]["spend_usd"], "0");
}
