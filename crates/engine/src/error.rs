//! What the gateway tells a client when a request fails. Rendered by the server into the
//! OpenAI error envelope; built here because only the engine knows what was tried.

use std::time::Duration;

use switchyard_core::{AttemptRecord, ErrorKind, ProviderError};

#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: u16,
    /// OpenAI `error.type`: invalid_request_error, authentication_error, not_found_error,
    /// rate_limit_error, insufficient_quota, api_error, timeout_error, overloaded_error.
    pub kind: &'static str,
    pub code: Option<String>,
    pub param: Option<String>,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// Low-cardinality class for logs and metrics.
    pub class: &'static str,
    /// Attempts made before giving up (for the `x-switchyard-attempts` header and the log).
    pub attempts: Vec<AttemptRecord>,
}

impl GatewayError {
    pub fn new(
        status: u16,
        kind: &'static str,
        class: &'static str,
        message: impl Into<String>,
    ) -> Self {
        GatewayError {
            status,
            kind,
            code: None,
            param: None,
            message: message.into(),
            retry_after: None,
            class,
            attempts: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        GatewayError::new(400, "invalid_request_error", "invalid_request", message)
    }

    pub fn with_param(mut self, p: impl Into<String>) -> Self {
        self.param = Some(p.into());
        self
    }

    pub fn with_code(mut self, c: impl Into<String>) -> Self {
        self.code = Some(c.into());
        self
    }

    pub fn unknown_model(name: &str) -> Self {
        GatewayError::new(
            404,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{name}` does not exist on this gateway. GET /v1/models lists every model, alias and route you can use."),
        )
        .with_code("model_not_found")
        .with_param("model")
    }

    /// The final error after every attempt failed with `last`.
    pub fn from_provider(last: &ProviderError, model: &str) -> Self {
        let upstream = &last.message;
        let mut e = match last.kind {
            ErrorKind::InvalidRequest => GatewayError::bad_request(format!("{model} rejected the request: {upstream}")),
            ErrorKind::ContextLengthExceeded => GatewayError::bad_request(format!(
                "The prompt plus max_tokens does not fit the context window of {model} (and no larger-context candidate was available): {upstream}"
            ))
            .with_code("context_length_exceeded"),
            ErrorKind::Auth => GatewayError::new(
                502,
                "api_error",
                "upstream_auth",
                format!("The provider of {model} rejected the gateway's API key; an operator must fix the key pool. Upstream said: {upstream}"),
            ),
            ErrorKind::RateLimited => GatewayError::new(
                429,
                "rate_limit_error",
                "rate_limited",
                format!("{model} is rate limited and no other candidate could serve the request; retry after the indicated delay. Upstream said: {upstream}"),
            )
            .with_code("rate_limit_exceeded"),
            ErrorKind::QuotaExhausted => GatewayError::new(
                429,
                "insufficient_quota",
                "quota_exhausted",
                format!("The provider account behind {model} is out of quota or credit. Upstream said: {upstream}"),
            )
            .with_code("insufficient_quota"),
            ErrorKind::Overloaded => GatewayError::new(503, "overloaded_error", "overloaded", format!("{model} is overloaded: {upstream}")),
            ErrorKind::Timeout => GatewayError::new(504, "timeout_error", "timeout", format!("{model} did not answer in time: {upstream}")),
            ErrorKind::ContentFiltered => GatewayError::bad_request(format!("{model} refused the request (content filter): {upstream}")).with_code("content_filter"),
            ErrorKind::Unsupported => GatewayError::bad_request(format!("{model} cannot serve this request: {upstream}")).with_code("unsupported"),
            ErrorKind::Upstream | ErrorKind::Connect | ErrorKind::Decode | ErrorKind::StreamInterrupted => {
                GatewayError::new(502, "api_error", "upstream_error", format!("{model} failed: {upstream}"))
            }
        };
        e.retry_after = last.retry_after;
        e
    }

    /// The request's own latency budget ran out: 408, as SPEC section 2 lists for a deadline
    /// (an upstream that timed out while budget remained is a 504).
    pub fn deadline(tried: &str) -> Self {
        GatewayError::new(
            408,
            "timeout_error",
            "deadline",
            format!(
                "The request's latency budget ran out before any candidate answered. Tried: {tried}. Raise x-switchyard-latency-budget-ms or retry."
            ),
        )
    }
}
