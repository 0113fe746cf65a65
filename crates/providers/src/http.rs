//! The one place that talks HTTP to upstreams. Providers build a `reqwest::RequestBuilder`
//! and hand it here; this applies the attempt's deadline and first-byte timeout, turns transport
//! failures into classified `ProviderError`s, and exposes response bodies as SSE event streams
//! with an idle timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::sse::{SseDecoder, SseEvent};
use switchyard_core::{CallCtx, ErrorKind, ProviderError};

/// The shared client. Connection pooling matters more than anything else for overhead, so
/// every provider instance clones this one (clones share the pool).
pub fn shared_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        // The engine retries (and fails over) itself, by error class; reqwest's own retry layer
        // would otherwise clone every request's headers up front in case of an HTTP/2 refusal.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A provider's configured extra headers (`[providers.X] headers`) as a header map. A name or
/// value HTTP cannot carry is a config error, better than a failure on every request. Values are
/// never echoed and are marked sensitive: configured headers sometimes carry tokens (Azure's
/// `api-key`), and `{:?}` of a provider must not print them.
pub fn configured_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("header name \"{k}\" is not a valid HTTP header name"))?;
        let mut value = HeaderValue::from_str(v)
            .map_err(|_| format!("the value of header \"{k}\" is not valid in HTTP"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// An API key as the value of the provider's key header (`x-api-key`, `x-goog-api-key`),
/// marked sensitive so no debug print of the request shows it. A key HTTP cannot carry is an
/// auth error that retrying cannot fix.
pub fn key_header(key: &str, provider: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::try_from(key).map_err(|_| {
        ProviderError::new(
            ErrorKind::Auth,
            format!("the {provider} API key contains characters not allowed in a header"),
        )
        .retryable(false)
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A non-2xx upstream answer, kept raw for the provider's own error decoder.
#[derive(Debug)]
pub struct ErrorResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Send a request and wait for the status line (and, for errors, the body), within the
/// attempt's first-byte timeout and deadline.
pub async fn send(
    req: reqwest::RequestBuilder,
    ctx: &CallCtx,
) -> Result<Result<reqwest::Response, ErrorResponse>, ProviderError> {
    let limit = wait_limit(ctx, ctx.first_byte_timeout);
    let fut = async {
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Ok(resp));
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport_error)?;
        Ok(Err(ErrorResponse {
            status,
            headers,
            body,
        }))
    };
    match limit {
        Some(d) => tokio::time::timeout(d, fut)
            .await
            .unwrap_or_else(|_| Err(timeout_error("no response from upstream in time"))),
        None => fut.await,
    }
}

/// A whole upstream body as `T`; `what` names it in the error ("Gemini sent an unreadable
/// response").
pub fn decode_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProviderError::new(ErrorKind::Decode, format!("{what}: {e}")))
}

/// Read a whole 2xx body within the deadline.
pub async fn read_body(resp: reqwest::Response, ctx: &CallCtx) -> Result<Bytes, ProviderError> {
    let fut = resp.bytes();
    match wait_limit(ctx, None) {
        Some(d) => tokio::time::timeout(d, fut)
            .await
            .map_err(|_| timeout_error("upstream body not complete before the deadline"))?
            .map_err(transport_error),
        None => fut.await.map_err(transport_error),
    }
}

/// The body as SSE events. Ends with `Err(StreamInterrupted)` if the connection drops, and
/// `Err(Timeout)` if no bytes arrive within the idle timeout or the deadline passes.
pub fn sse_events(
    resp: reqwest::Response,
    ctx: &CallCtx,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send + use<> {
    let idle = ctx.idle_timeout;
    let deadline = ctx.deadline;
    let mut body = resp.bytes_stream();
    async_stream::stream! {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        loop {
            let wait = match (idle, deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()))) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let next = match wait {
                Some(d) => match tokio::time::timeout(d, body.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        yield Err(timeout_error("upstream stream stalled"));
                        return;
                    }
                },
                None => body.next().await,
            };
            match next {
                Some(Ok(bytes)) => {
                    dec.push(&bytes, &mut out);
                    for ev in out.drain(..) {
                        yield Ok(ev);
                    }
                }
                Some(Err(e)) => {
                    yield Err(ProviderError::new(ErrorKind::StreamInterrupted, format!("upstream stream broke: {}", redact(&e))));
                    return;
                }
                None => {
                    // A body that is not SSE at all (some providers send a JSON error on a
                    // stream) is surfaced as one event without a name so the provider can
                    // decode it.
                    let pending = String::from_utf8_lossy(dec.pending()).trim().to_owned();
                    if pending.starts_with('{') || pending.starts_with('[') {
                        yield Ok(SseEvent { event: Some("raw".to_owned()), data: pending });
                    } else {
                        dec.finish(&mut out);
                        for ev in out.drain(..) {
                            yield Ok(ev);
                        }
                    }
                    return;
                }
            }
        }
    }
}

fn wait_limit(ctx: &CallCtx, own: Option<Duration>) -> Option<Duration> {
    match (own, ctx.remaining()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub fn timeout_error(msg: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Timeout, msg)
}

/// Transport failures: connect errors and resets are retryable; nothing here can hold a key
/// (reqwest errors name the URL, which never carries one: keys go in headers).
pub fn transport_error(e: reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_decode() {
        ErrorKind::Decode
    } else {
        ErrorKind::Connect
    };
    ProviderError::new(kind, format!("upstream unreachable: {}", redact(&e)))
}

/// reqwest's Display includes the URL; strip any query string in case a user configured a key there.
fn redact(e: &reqwest::Error) -> String {
    let s = e.to_string();
    match (s.find('?'), s.rfind(')')) {
        (Some(q), Some(end)) if q < end => format!("{}{}", &s[..q], &s[end..]),
        _ => s,
    }
}

/// Join a base URL and a path without doubling or dropping the slash.
pub fn join(base: &str, path: &str) -> String {
    let b = base.trim_end_matches('/');
    let p = path.trim_start_matches('/');
    format!("{b}/{p}")
}

/// `retry-after` / `retry-after-ms` from headers.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    switchyard_core::error::parse_retry_after(get("retry-after"), get("retry-after-ms"))
}

/// `x-should-retry: true|false`, which OpenAI and Anthropic use to override the status rule.
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// A message for the client from an upstream error body, trimmed so that a huge or binary
/// body cannot flood our logs.
pub fn short_body(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_owned()
    }
}

/// Unix seconds now, for `created` fields.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Random alphanumeric id of `n` characters (tool-call ids, response ids).
pub fn random_id(n: usize) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| ALPHA[fastrand::usize(..ALPHA.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_header_is_sensitive_and_a_bad_key_is_a_final_auth_error() {
        let v = key_header("sk-ant-123", "Anthropic").expect("valid");
        assert!(v.is_sensitive());
        assert_eq!(v.as_bytes(), b"sk-ant-123");
        for bad in ["sk-123\n", "key\u{7f}", "a\rb"] {
            let e = key_header(bad, "Gemini").expect_err(bad);
            assert_eq!(e.kind, ErrorKind::Auth, "{bad:?}");
            assert!(!e.retryable, "{bad:?}");
            assert!(e.message.contains("Gemini"), "{}", e.message);
            assert!(
                !e.message.contains(bad.trim()),
                "the key must not be echoed"
            );
        }
    }

    #[test]
    fn configured_headers_are_sensitive_and_checked() {
        let ok = BTreeMap::from([("api-key".to_owned(), "secret-123".to_owned())]);
        let map = configured_headers(&ok).expect("valid");
        let v = map.get("api-key").expect("kept");
        assert!(v.is_sensitive());
        assert!(!format!("{map:?}").contains("secret-123"));

        let bad_name = BTreeMap::from([("bad name".to_owned(), "x".to_owned())]);
        let e = configured_headers(&bad_name).unwrap_err();
        assert!(e.contains("\"bad name\""), "{e}");
        // A bad value is reported by its header's name only: the value may be a token.
        let bad_value = BTreeMap::from([("x-token".to_owned(), "line\nbreak-secret".to_owned())]);
        let e = configured_headers(&bad_value).unwrap_err();
        assert!(e.contains("x-token") && !e.contains("secret"), "{e}");
    }
}
