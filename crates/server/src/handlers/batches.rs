//! `/v1/batches`: create, retrieve, list and cancel; the work itself is `batch::run`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_engine::GatewayError;

use super::{authenticate, body_bytes, json_or_error, parse_json};
use crate::batch::run;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBatch {
    input_file_id: String,
    endpoint: String,
    completion_window: String,
    #[serde(default)]
    metadata: Option<Value>,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let made = async {
        let tenant = authenticate(&state, &headers)?;
        let req: CreateBatch = parse_json(&body_bytes(body)?)?;
        // JSON null arrives as None.
        if req.metadata.as_ref().is_some_and(|m| !m.is_object()) {
            return Err(
                GatewayError::bad_request("`metadata` must be an object of strings.")
                    .with_param("metadata"),
            );
        }
        state
            .batches
            .create_batch(
                &tenant,
                &req.input_file_id,
                &req.endpoint,
                &req.completion_window,
                req.metadata,
            )
            .await
    }
    .await;
    if let Ok(batch) = &made {
        run::spawn(state.clone(), batch.id.clone());
    }
    json_or_error(&state, made)
}

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = authenticate(&state, &headers).and_then(|t| state.batches.batch(&t, &id));
    json_or_error(&state, r)
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = authenticate(&state, &headers).map(|tenant| {
        let limit = q.limit.unwrap_or(20).clamp(1, 100);
        let (data, has_more) = state.batches.batches(&tenant, q.after.as_deref(), limit);
        let first = data.first().map(|b| b.id.clone());
        let last = data.last().map(|b| b.id.clone());
        json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": has_more})
    });
    json_or_error(&state, r)
}

pub async fn cancel(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = match authenticate(&state, &headers) {
        Ok(t) => state.batches.cancel(&t, &id).await,
        Err(e) => Err(e),
    };
    json_or_error(&state, r)
}
