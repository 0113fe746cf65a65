//! Successful answers: SPEC section 2's `x-switchyard-*` headers, and JSON bodies written
//! with them. Shared by the chat, messages and embeddings handlers.

use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_engine::GatewayError;
use switchyard_engine::pipeline::Meta;

use crate::envelope::{error_response, set};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-switchyard-request-id");
const MODEL: HeaderName = HeaderName::from_static("x-switchyard-model");
const PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
const ROUTE: HeaderName = HeaderName::from_static("x-switchyard-route");
const CACHE: HeaderName = HeaderName::from_static("x-switchyard-cache");
const OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");
const COST: HeaderName = HeaderName::from_static("x-switchyard-cost");

/// SPEC section 2's response headers. Built on every answer, so the names are constants (no
/// parse per header) and strings made here become values without another copy; a value not valid
/// in a header (a control character in a config name) is left out.
pub fn meta_headers(meta: &Meta) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(10);
    set(&mut h, REQUEST_ID, &meta.request_id);
    if let Some(m) = &meta.model {
        set(&mut h, MODEL, m);
    }
    if let Some(p) = &meta.provider {
        set(&mut h, PROVIDER, p);
    }
    set(&mut h, ATTEMPTS, meta.attempts_header());
    set(&mut h, ROUTE, &meta.route);
    h.insert(CACHE, HeaderValue::from_static(meta.cache));
    set(&mut h, OVERHEAD, millis_3(meta.overhead_ms));
    // Known for JSON answers; a stream's cost arrives in its final usage chunk.
    if let Some(c) = meta.cost {
        set(&mut h, COST, c.to_string());
    }
    h
}

/// `ms` with three decimals, through integer formatting: `{:.3}` on an f64 goes through the
/// float formatter, several times the cost, on every answer.
fn millis_3(ms: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an overhead is a small non-negative number of milliseconds"
    )]
    let us = (ms.max(0.0) * 1000.0).round() as u64;
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// A JSON answer with SPEC section 2's headers: the body serialized straight into one buffer
/// sized for a typical answer, and the header map becoming the response's own:
/// `(headers, Json(..))` grew a small buffer several times and then copied every header into
/// a second map.
pub fn json_answer<T: serde::Serialize + ?Sized>(meta: &Meta, body: &T) -> Response {
    let mut buf = Vec::with_capacity(1024);
    if let Err(e) = serde_json::to_writer(&mut buf, body) {
        let err = GatewayError::new(
            500,
            "api_error",
            "internal",
            format!("serializing the answer: {e}"),
        );
        return error_response(&err, &meta.request_id);
    }
    let mut headers = meta_headers(meta);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut r = Response::new(axum::body::Body::from(buf));
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::millis_3;

    #[test]
    fn overhead_has_three_decimals() {
        for (ms, s) in [
            (0.0, "0.000"),
            (0.0414, "0.041"),
            (1.2345, "1.235"),
            (12.0, "12.000"),
            (-1.0, "0.000"),
        ] {
            assert_eq!(millis_3(ms), s);
        }
    }
}
