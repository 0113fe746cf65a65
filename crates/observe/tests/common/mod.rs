#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::str::FromStr;

use rust_decimal::Decimal;
use switchyard_core::{AttemptRecord, RequestRecord, TokenCounts, Usd};

pub fn usd(s: &str) -> Usd {
    Usd(Decimal::from_str(s).expect("decimal"))
}

/// A finished request with the fields reports read; cost strings are exact decimals.
pub fn rec(id: &str, ts_ms: i64, model: &str, cost: Option<&str>, total_ms: f64) -> RequestRecord {
    RequestRecord {
        request_id: id.to_string(),
        ts_ms,
        tenant: "key#0001".into(),
        endpoint: "chat".into(),
        route: "auto".into(),
        task: Some("code".into()),
        requested_model: "auto".into(),
        served_model: Some(model.to_string()),
        provider: Some(model.split('/').next().unwrap_or("p").to_string()),
        stream: false,
        attempts: vec![AttemptRecord {
            model: model.to_string(),
            provider: model.split('/').next().unwrap_or("p").to_string(),
            outcome: "ok".into(),
            latency_ms: total_ms,
            cost: cost.map(usd),
            cost_estimated: false,
        }],
        tokens: TokenCounts {
            input: 100,
            cached_input: 10,
            cache_write: 0,
            output: 50,
            reasoning: 5,
        },
        cost: cost.map(usd),
        baseline_cost: Some(usd("0.01")),
        cache: "miss".into(),
        ttft_ms: Some(total_ms / 4.0),
        total_ms,
        overhead_ms: 0.4,
        status: 200,
        error_class: None,
        escalations: 0,
        escalated: Vec::new(),
    }
}
