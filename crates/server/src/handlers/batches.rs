//! `/v1/batches`: create, retrieve, list and cancel; the work itself is `batch::run`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_engine::GatewayError;

use super::{authenticate, body_bytes, parse_json};
use crate::batch::run;
use crate::envelope::error_response;
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
        if req
            .metadata
            .as_ref()
            .is_some_and(|m| !m.is_object() && !m.is_null())
        {
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
    match made {
        Ok(batch) => {
            run::spawn(state.clone(), batch.id.clone());
            Json(batch).into_response()
        }
        Err(e) => error_response(&e, &state.request_id()),
    }
}

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match authenticate(&state, &headers).and_then(|t| state.batches.batch(&t, &id)) {
        Ok(b) => Json(b).into_response(),
        Err(e) => error_response(&e, &state.request_id()),
    }
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
    let tenant = match authenticate(&state, &headers) {
        Ok(t) => t,
        Err(e) => return error_response(&e, &state.request_id()),
    };
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let (data, has_more) = state.batches.batches(&tenant, q.after.as_deref(), limit);
    let first = data.first().map(|b| b.id.clone());
    let last = data.last().map(|b| b.id.clone());
    Json(json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": has_more}))
        .into_response()
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
    match r {
        Ok(b) => Json(b).into_response(),
        Err(e) => error_response(&e, &state.request_id()),
    }
}
