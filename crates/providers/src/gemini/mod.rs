//! Gemini (Generative Language API, v1beta) adapter:
//! `POST {base}/v1beta/models/{model}:generateContent` (`:streamGenerateContent?alt=sse` for
//! streams, `:embedContent` / `:batchEmbedContents` for embeddings), key in `x-goog-api-key`.
//! The key never goes in the `?key=` query: URLs end up in logs and error messages.
//! IO and wiring only; the translation lives in the sibling modules.

pub mod convert;
pub mod embed;
pub mod error;
pub mod response;
pub mod schema;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_stream;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_core::{
    CallCtx, ChatRequest, ChatResponse, ChunkStream, EmbedRequest, EmbedResponse, Provider,
    ProviderError,
};

use crate::http::{
    configured_headers, decode_json, join, key_header, now_unix, random_id, read_body, send,
    sse_events,
};
use crate::registry::ProviderSettings;
use convert::{IdMemory, Remembered};

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// How many tool-call ids (with Gemini ids or thought signatures) one process remembers. A
/// conversation that comes back after eviction still works on models that do not demand
/// signatures; Gemini 3 models would answer 400 for the evicted call.
const ID_MEMORY_CAP: usize = 10_000;

#[derive(Debug, Default)]
struct IdStore {
    map: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

/// Remembers, per tool-call id handed to a client, what Gemini needs echoed on the next turn.
#[derive(Debug, Default)]
pub struct IdCache(Mutex<IdStore>);

impl IdCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdStore> {
        // A panic while holding this lock cannot leave the map inconsistent for readers.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn remember(&self, entries: Vec<(String, Remembered)>) {
        if entries.is_empty() {
            return;
        }
        let mut s = self.lock();
        for (id, r) in entries {
            if s.map.insert(id.clone(), r).is_none() {
                s.order.push_back(id);
            }
            while s.order.len() > ID_MEMORY_CAP {
                if let Some(old) = s.order.pop_front() {
                    s.map.remove(&old);
                }
            }
        }
    }
}

impl IdMemory for IdCache {
    fn recall(&self, id: &str) -> Option<Remembered> {
        self.lock().map.get(id).cloned()
    }
}

#[derive(Debug)]
pub struct GeminiProvider {
    base: String,
    headers: http::HeaderMap,
    client: reqwest::Client,
    ids: Arc<IdCache>,
}

pub fn build(s: &ProviderSettings, client: reqwest::Client) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(GeminiProvider::new(s, client)?))
}

impl GeminiProvider {
    pub fn new(s: &ProviderSettings, client: reqwest::Client) -> Result<Self, String> {
        Ok(GeminiProvider {
            base: s.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL).to_owned(),
            headers: configured_headers(&s.headers)?,
            client,
            ids: Arc::default(),
        })
    }

    /// `{base}/v1beta/models/{model}:{method}`; a `models/` prefix on the name is tolerated.
    fn url(&self, model: &str, method: &str) -> String {
        let model = model.strip_prefix("models/").unwrap_or(model);
        join(&self.base, &format!("v1beta/models/{model}:{method}"))
    }

    async fn post<B: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &B,
        ctx: &CallCtx,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut req = self
            .client
            .post(url)
            .headers(self.headers.clone())
            .json(body);
        if let Some(key) = &ctx.api_key {
            req = req.header("x-goog-api-key", key_header(key.expose(), "Gemini")?);
        }
        send(req, ctx)
            .await?
            .map_err(|e| error::from_http(e.status, &e.headers, &e.body))
    }

    async fn post_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
        ctx: &CallCtx,
    ) -> Result<R, ProviderError> {
        let resp = self.post(url, body, ctx).await?;
        let bytes = read_body(resp, ctx).await?;
        decode_json(&bytes, "Gemini sent an unreadable response")
    }
}

#[async_trait]
impl Provider for GeminiProvider {
    fn kind(&self) -> &'static str {
        "gemini"
    }

    async fn chat(&self, req: &ChatRequest, ctx: &CallCtx) -> Result<ChatResponse, ProviderError> {
        let body = convert::to_wire(req, self.ids.as_ref())?;
        let url = self.url(&ctx.upstream_model, "generateContent");
        let parsed: wire::GenerateContentResponse = self.post_json(&url, &body, ctx).await?;
        let (resp, remembered) = response::from_wire(parsed, &ctx.upstream_model, now_unix());
        self.ids.remember(remembered);
        Ok(resp)
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        ctx: &CallCtx,
    ) -> Result<ChunkStream, ProviderError> {
        let body = convert::to_wire(req, self.ids.as_ref())?;
        let url = self.url(&ctx.upstream_model, "streamGenerateContent?alt=sse");
        let resp = self.post(&url, &body, ctx).await?;
        let events = sse_events(resp, ctx);
        let ids = self.ids.clone();
        let mut state = stream::StreamState::new(
            format!("chatcmpl-{}", random_id(24)),
            &ctx.upstream_model,
            now_unix(),
        );
        Ok(Box::pin(async_stream::stream! {
            futures::pin_mut!(events);
            while let Some(ev) = futures::StreamExt::next(&mut events).await {
                let out = ev.and_then(|ev| state.on_event(&ev));
                ids.remember(state.take_remembered());
                match out {
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
            match state.on_end() {
                Ok(Some(c)) => yield Ok(c),
                Ok(None) => {}
                Err(e) => yield Err(e),
            }
        }))
    }

    async fn embed(
        &self,
        req: &EmbedRequest,
        ctx: &CallCtx,
    ) -> Result<EmbedResponse, ProviderError> {
        let model = &ctx.upstream_model;
        let vectors = match embed::to_wire(req, model)? {
            embed::EmbedCall::One(body) => {
                let r: wire::EmbedContentResponse = self
                    .post_json(&self.url(model, "embedContent"), &body, ctx)
                    .await?;
                vec![r.embedding]
            }
            embed::EmbedCall::Batch(body) => {
                let r: wire::BatchEmbedResponse = self
                    .post_json(&self.url(model, "batchEmbedContents"), &body, ctx)
                    .await?;
                r.embeddings
            }
        };
        embed::from_wire(vectors, req, model)
    }
}
