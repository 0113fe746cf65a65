//! The one error type that crosses from providers into the engine. The engine decides what to
//! do from `kind`, `retryable` and `retry_after` alone; it never looks at which provider failed.

use std::fmt;
use std::time::Duration;

/// What went wrong, in terms the engine can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is bad (400/404/422 from upstream, or rejected before dispatch).
    InvalidRequest,
    /// The prompt plus output does not fit this model; a larger-context candidate may succeed.
    ContextLengthExceeded,
    /// The upstream rejected our key (401/403, Gemini `API_KEY_INVALID`).
    Auth,
    /// Throttled (429, Gemini `RESOURCE_EXHAUSTED`).
    RateLimited,
    /// Billing or quota exhausted (OpenAI `insufficient_quota`, 402): not worth retrying.
    QuotaExhausted,
    /// Provider overloaded (503, Anthropic 529).
    Overloaded,
    /// Upstream 5xx.
    Upstream,
    /// Could not connect, or the connection dropped before a response.
    Connect,
    /// No first byte or no progress within the allowed time.
    Timeout,
    /// The stream ended without a finish (cut mid-way) or with an error event.
    StreamInterrupted,
    /// The upstream answered something we could not parse.
    Decode,
    /// Refused for safety reasons upstream.
    ContentFiltered,
    /// This provider or its adapter cannot express the request: a capability gap found
    /// locally, before any upstream call (embeddings on Anthropic, `n > 1` on Anthropic, a
    /// system-only conversation on Gemini). Unlike `InvalidRequest` it is not the client's
    /// fault, so the engine moves on to a candidate that can serve the request.
    Unsupported,
}

impl ErrorKind {
    /// Low-cardinality label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::ContextLengthExceeded => "context_length_exceeded",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::Decode => "decode",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::Unsupported => "unsupported",
        }
    }

    /// Whether another attempt (same or other deployment) may succeed.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Upstream
                | ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::StreamInterrupted
        )
    }
}

#[derive(Debug, Clone)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub retryable: bool,
    /// The upstream HTTP status, if there was one.
    pub status: Option<u16>,
    /// How long the upstream asked us to wait (`retry-after`, `retry-after-ms`, Gemini `retryDelay`).
    pub retry_after: Option<Duration>,
    /// The upstream's error code (`context_length_exceeded`, `insufficient_quota`, ...) if any.
    pub code: Option<String>,
    /// Human-readable; never contains a secret (providers build it from the upstream message).
    pub message: String,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            retryable: kind.default_retryable(),
            status: None,
            retry_after: None,
            code: None,
            message: message.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn unsupported(what: &str) -> Self {
        ProviderError::new(
            ErrorKind::Unsupported,
            format!("{what} is not supported by this provider"),
        )
    }

    /// A capability gap of this provider (see [`ErrorKind::Unsupported`]), with its reason.
    pub fn cannot_express(message: impl Into<String>) -> Self {
        ProviderError::new(ErrorKind::Unsupported, message)
    }

    /// Classify an upstream HTTP status into a kind, as every provider's own mapping starts from.
    pub fn kind_for_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Auth,
            402 => ErrorKind::QuotaExhausted,
            408 | 504 => ErrorKind::Timeout,
            409 => ErrorKind::Upstream,
            413 => ErrorKind::InvalidRequest,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            s if s >= 500 => ErrorKind::Upstream,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// Build from an upstream status and message with the default classification.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        ProviderError::new(Self::kind_for_status(status), message).with_status(status)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(
                f,
                "{} (upstream status {s}): {}",
                self.kind.as_str(),
                self.message
            ),
            None => write!(f, "{}: {}", self.kind.as_str(), self.message),
        }
    }
}

impl std::error::Error for ProviderError {}

/// Parse `retry-after` (seconds or HTTP date; dates are treated as unknown) and `retry-after-ms`.
pub fn parse_retry_after(
    retry_after: Option<&str>,
    retry_after_ms: Option<&str>,
) -> Option<Duration> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let secs = retry_after.and_then(|v| v.trim().parse::<f64>().ok())?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Parse a protobuf-JSON duration such as Gemini's `retryDelay: "37s"` or `"1.5s"`.
pub fn parse_proto_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(Some("2"), None),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(Some("2"), Some("150")),
            Some(Duration::from_millis(150))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            None
        );
        assert_eq!(parse_proto_duration("37s"), Some(Duration::from_secs(37)));
        assert_eq!(
            parse_proto_duration("0.5s"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_proto_duration("x"), None);
    }

    #[test]
    fn status_classes() {
        assert_eq!(
            ProviderError::from_status(529, "x").kind,
            ErrorKind::Overloaded
        );
        assert!(ProviderError::from_status(429, "x").retryable);
        assert!(!ProviderError::from_status(400, "x").retryable);
        assert!(!ProviderError::from_status(401, "x").retryable);
        assert!(!ProviderError::from_status(402, "x").retryable);
    }
}
