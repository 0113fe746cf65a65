mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::rec;
use switchyard_core::Escalation;
use switchyard_observe::metrics::{LABEL_CAP, LATENCY_BUCKETS, Metrics, metrics_router};

/// One sample: name, labels (unescaped), value text.
type Sample = (String, Vec<(String, String)>, String);

/// A strict reader of the text exposition format: fails the test on anything malformed.
fn parse(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (n, t) = rest.split_once(' ').expect("type line");
            types.insert(n.to_string(), t.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "bad line {line:?}"
        );
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i..]),
            None => line.split_at(line.find(' ').expect("value")),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        let mut labels = Vec::new();
        let value_part = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.chars().peekable();
            let mut consumed = 1;
            loop {
                let mut key = String::new();
                for c in chars.by_ref() {
                    consumed += c.len_utf8();
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(chars.next(), Some('"'), "{line}");
                consumed += 1;
                let mut val = String::new();
                while let Some(c) = chars.next() {
                    consumed += c.len_utf8();
                    match c {
                        '\\' => {
                            let e = chars.next().expect("escape");
                            consumed += e.len_utf8();
                            val.push(match e {
                                'n' => '\n',
                                '\\' => '\\',
                                '"' => '"',
                                other => panic!("bad escape \\{other} in {line}"),
                            });
                        }
                        '"' => break,
                        c => val.push(c),
                    }
                }
                labels.push((key, val));
                let sep = chars.next().expect("sep");
                consumed += 1;
                if sep == '}' {
                    break;
                }
                assert_eq!(sep, ',', "{line}");
            }
            &rest[consumed..]
        } else {
            rest
        };
        let value = value_part.trim().to_string();
        assert!(
            value == "+Inf" || value.parse::<f64>().is_ok(),
            "value {value:?} in {line}"
        );
        samples.push((name.to_string(), labels, value));
    }
    (samples, types)
}

fn get<'a>(s: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Option<&'a str> {
    s.iter()
        .find(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v.as_str())
}

#[test]
fn records_become_valid_prometheus_text() {
    let m = Metrics::new();
    let mut r = rec("1", 0, "openai/gpt-4o-mini", Some("0.000123456"), 250.0);
    r.overhead_ms = 0.3;
    m.observe(&r);
    let mut r2 = rec("2", 0, "openai/gpt-4o-mini", Some("0.5"), 20_000.0);
    r2.cache = "semantic-hit".into();
    r2.attempts.insert(0, r2.attempts[0].clone());
    r2.attempts[0].outcome = "429".into();
    m.observe(&r2);
    let mut r3 = rec("3", 0, "odd\"model\\with\nnewline", None, 1.0);
    r3.status = 503;
    m.observe(&r3);
    m.set_breaker_state("openai/gpt-4o-mini@key#1", 2);
    m.set_catalog_age_seconds(12.5);
    m.observe_cache_similarity(0.93);

    let text = m.render();
    let (s, types) = parse(&text);
    assert_eq!(types["switchyard_request_duration_seconds"], "histogram");
    assert_eq!(types["switchyard_cost_microdollars_total"], "counter");

    let model = [("model", "openai/gpt-4o-mini")];
    assert_eq!(
        get(&s, "switchyard_cost_microdollars_total", &model),
        Some("500123.456")
    );
    assert_eq!(
        get(
            &s,
            "switchyard_requests_total",
            &[("model", "openai/gpt-4o-mini"), ("status", "200")]
        ),
        Some("2")
    );
    assert_eq!(
        get(
            &s,
            "switchyard_tokens_total",
            &[("class", "output"), ("model", "openai/gpt-4o-mini")]
        ),
        Some("100")
    );
    assert_eq!(
        get(&s, "switchyard_retries_total", &[("route", "auto")]),
        Some("1")
    );
    assert_eq!(
        get(
            &s,
            "switchyard_cache_requests_total",
            &[("kind", "semantic-hit")]
        ),
        Some("1")
    );
    assert_eq!(
        get(&s, "switchyard_attempts_total", &[("outcome", "429")]),
        Some("1")
    );
    assert_eq!(get(&s, "switchyard_breaker_state", &[]), Some("2"));
    assert_eq!(
        get(&s, "switchyard_price_catalog_age_seconds", &[]),
        Some("12.500")
    );
    // Escaped label survives the round trip; the unpriced request is counted, not costed at 0.
    let odd = [("model", "odd\"model\\with\nnewline")];
    assert_eq!(
        get(&s, "switchyard_unknown_cost_requests_total", &odd),
        Some("1")
    );
    assert_eq!(get(&s, "switchyard_cost_microdollars_total", &odd), None);
    // One metric for unknown prices: no family that nothing ever increments.
    let unknown: Vec<&str> = types
        .keys()
        .map(String::as_str)
        .filter(|n| n.contains("unknown"))
        .collect();
    assert_eq!(unknown, ["switchyard_unknown_cost_requests_total"]);
    assert_eq!(
        get(&s, "switchyard_requests_total", &[("status", "503")]),
        Some("1")
    );

    // Histogram buckets are cumulative, end in +Inf, and +Inf equals _count.
    let hist: Vec<(f64, u64)> = s
        .iter()
        .filter(|(n, l, _)| {
            n == "switchyard_request_duration_seconds_bucket"
                && l.contains(&("model".into(), "openai/gpt-4o-mini".into()))
        })
        .map(|(_, l, v)| {
            let le = &l.iter().find(|(k, _)| k == "le").expect("le").1;
            (
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                },
                v.parse().expect("n"),
            )
        })
        .collect();
    assert_eq!(hist.len(), LATENCY_BUCKETS.len() + 1);
    assert!(
        hist.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{hist:?}"
    );
    assert_eq!(
        hist.iter().find(|(le, _)| *le == 0.25).map(|h| h.1),
        Some(1)
    );
    assert_eq!(
        hist.iter().find(|(le, _)| *le == 10.0).map(|h| h.1),
        Some(1)
    );
    assert_eq!(hist.last().map(|h| h.1), Some(2));
    assert_eq!(
        get(&s, "switchyard_request_duration_seconds_count", &model),
        Some("2")
    );
    assert_eq!(
        get(&s, "switchyard_request_duration_seconds_sum", &model),
        Some("20.25")
    );
    // Sub-millisecond overhead lands in its own bucket.
    assert_eq!(
        get(
            &s,
            "switchyard_gateway_overhead_seconds_bucket",
            &[("le", "0.0001")]
        ),
        Some("0")
    );
    assert_eq!(
        get(
            &s,
            "switchyard_gateway_overhead_seconds_bucket",
            &[("le", "0.0005")]
        ),
        Some("3")
    );
}

#[test]
fn escalations_are_counted_per_route_tier_and_gate() {
    let esc = |tier: &str, gate: &str| Escalation {
        tier: tier.into(),
        gate: gate.into(),
    };
    let m = Metrics::new();
    let mut r = rec("1", 0, "openai/gpt-4o", Some("0.01"), 1.0);
    r.route = "smart".into();
    r.escalated = vec![
        esc("openai/refuser", "refusal"),
        esc("openai/gpt-4o-mini", "confidence"),
    ];
    r.escalations = 2;
    m.observe(&r);
    let mut r2 = r.clone();
    r2.escalated = vec![esc("openai/gpt-4o-mini", "confidence")];
    r2.escalations = 1;
    m.observe(&r2);
    // A record with a count but no detail is still counted, under `unknown`.
    let mut r3 = rec("3", 0, "openai/gpt-4o", Some("0.01"), 1.0);
    r3.escalations = 1;
    m.observe(&r3);
    // Gate names come from the record, so they are capped like every other label.
    for i in 0..40 {
        let mut r = r2.clone();
        r.escalated = vec![esc("openai/gpt-4o-mini", &format!("g{i}"))];
        m.observe(&r);
    }

    let (s, _) = parse(&m.render());
    let count = |route: &str, tier: &str, gate: &str| {
        get(
            &s,
            "switchyard_escalations_total",
            &[("route", route), ("tier", tier), ("gate", gate)],
        )
    };
    assert_eq!(
        count("smart", "openai/gpt-4o-mini", "confidence"),
        Some("2")
    );
    assert_eq!(count("smart", "openai/refuser", "refusal"), Some("1"));
    assert_eq!(count("smart", "openai/refuser", "confidence"), None);
    assert_eq!(count("auto", "unknown", "unknown"), Some("1"));
    let gates: std::collections::HashSet<_> = s
        .iter()
        .filter(|(n, _, _)| n == "switchyard_escalations_total")
        .filter_map(|(_, l, _)| l.iter().find(|(k, _)| k == "gate").map(|(_, v)| v.clone()))
        .collect();
    // 16 kept, `other` for the rest, and the count-only record's `unknown`.
    assert_eq!(gates.len(), 18, "{gates:?}");
    assert!(gates.contains("other"), "{gates:?}");
}

#[test]
fn label_values_are_capped() {
    let m = Metrics::new();
    for i in 0..LABEL_CAP + 50 {
        m.observe(&rec(
            &i.to_string(),
            0,
            &format!("m{i}"),
            Some("0.001"),
            1.0,
        ));
    }
    let (s, _) = parse(&m.render());
    let models: std::collections::HashSet<_> = s
        .iter()
        .filter(|(n, _, _)| n == "switchyard_requests_total")
        .filter_map(|(_, l, _)| l.iter().find(|(k, _)| k == "model").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(models.len(), LABEL_CAP + 1);
    assert_eq!(
        get(&s, "switchyard_requests_total", &[("model", "other")]),
        Some("50")
    );
}

#[tokio::test]
async fn metrics_endpoint_serves_text() {
    let m = Arc::new(Metrics::new());
    m.observe(&rec("1", 0, "a/b", Some("1"), 1.0));
    let app = metrics_router(m);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("get");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain; version=0.0.4")
    );
    let body = resp.text().await.expect("body");
    assert!(
        body.contains("switchyard_cost_microdollars_total{model=\"a/b\""),
        "{body}"
    );
}
