//! Anthropic Messages API adapter: `POST {base}/v1/messages` with `x-api-key` and
//! `anthropic-version`. IO and wiring only; the translation lives in [`convert`] and [`stream`].

pub mod convert;
pub mod error;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue};
use switchyard_core::{CallCtx, ChatRequest, ChatResponse, ChunkStream, Provider, ProviderError};

use crate::http::{
    configured_headers, decode_json, join, key_header, now_unix, read_body, send, sse_events,
};
use crate::registry::ProviderSettings;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    url: String,
    count_url: String,
    headers: HeaderMap,
    default_max_tokens: Option<u32>,
    client: reqwest::Client,
}

pub fn build(s: &ProviderSettings, client: reqwest::Client) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(AnthropicProvider::new(s, client)?))
}

impl AnthropicProvider {
    pub fn new(s: &ProviderSettings, client: reqwest::Client) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        // Configured headers may override the version or add `anthropic-beta`.
        headers.extend(configured_headers(&s.headers)?);
        Ok(AnthropicProvider {
            url: join(
                s.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
                "v1/messages",
            ),
            count_url: join(
                s.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
                "v1/messages/count_tokens",
            ),
            headers,
            default_max_tokens: s.default_max_tokens,
            client,
        })
    }

    async fn post(
        &self,
        body: &wire::MessagesRequest,
        ctx: &CallCtx,
    ) -> Result<reqwest::Response, ProviderError> {
        self.post_to(&self.url, body, ctx).await
    }

    async fn post_to(
        &self,
        url: &str,
        body: &impl serde::Serialize,
        ctx: &CallCtx,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut req = self
            .client
            .post(url)
            .headers(self.headers.clone())
            .json(body);
        if let Some(key) = &ctx.api_key {
            req = req.header("x-api-key", key_header(key.expose(), "Anthropic")?);
        }
        send(req, ctx)
            .await?
            .map_err(|e| error::from_http(e.status, &e.headers, &e.body))
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn offers_logprobs(&self) -> bool {
        false
    }

    fn offers_multiple_choices(&self) -> bool {
        false
    }

    async fn chat(&self, req: &ChatRequest, ctx: &CallCtx) -> Result<ChatResponse, ProviderError> {
        let body = convert::to_wire(req, &ctx.upstream_model, self.default_max_tokens, false)?;
        let resp = self.post(&body, ctx).await?;
        let bytes = read_body(resp, ctx).await?;
        let parsed: wire::MessagesResponse =
            decode_json(&bytes, "Anthropic sent an unreadable response")?;
        Ok(convert::from_wire(parsed, now_unix()))
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        ctx: &CallCtx,
    ) -> Result<ChunkStream, ProviderError> {
        let body = convert::to_wire(req, &ctx.upstream_model, self.default_max_tokens, true)?;
        let resp = self.post(&body, ctx).await?;
        let events = sse_events(resp, ctx);
        let mut state = stream::StreamState::new(&ctx.upstream_model, now_unix());
        Ok(Box::pin(async_stream::stream! {
            futures::pin_mut!(events);
            while let Some(ev) = futures::StreamExt::next(&mut events).await {
                match ev.and_then(|ev| state.on_event(&ev)) {
                    Ok(chunks) => {
                        for c in chunks {
                            yield Ok(c);
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            if let Err(e) = state.on_end() {
                yield Err(e);
            }
        }))
    }

    async fn count_tokens(
        &self,
        req: &ChatRequest,
        ctx: &CallCtx,
    ) -> Result<Option<u64>, ProviderError> {
        let full = convert::to_wire(req, &ctx.upstream_model, self.default_max_tokens, false)?;
        let body = wire::CountTokensRequest::of(&full);
        let resp = self.post_to(&self.count_url, &body, ctx).await?;
        let bytes = read_body(resp, ctx).await?;
        let parsed: wire::CountTokensResponse =
            decode_json(&bytes, "Anthropic sent an unreadable token count")?;
        Ok(Some(parsed.input_tokens))
    }
}
