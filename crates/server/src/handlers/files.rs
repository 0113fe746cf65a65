//! `/v1/files`: upload (multipart, as the OpenAI SDKs send it), list, retrieve, download and
//! delete. Files are stored for the Batch API: uploads must have purpose `batch`, and a batch's
//! results appear here with purpose `batch_output`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::json;
use switchyard_engine::GatewayError;
use tokio::io::AsyncWriteExt;

use super::{authenticate, json_or_error};
use crate::batch::types::FileObject;
use crate::batch::{new_id, now_s, storage_error};
use crate::envelope::error_response;
use crate::state::AppState;

pub async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = upload_inner(&state, &headers, form).await;
    json_or_error(&state, r)
}

async fn upload_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<FileObject, GatewayError> {
    let tenant = authenticate(state, headers)?;
    let mut form = form.map_err(|r| {
        GatewayError::bad_request(format!(
            "Send the file as multipart/form-data with fields `file` and `purpose` ({r})."
        ))
    })?;
    let svc = &state.batches;
    svc.ensure_dirs().await?;
    let id = new_id("file-");
    let path = svc.content_path(&id);
    let (mut purpose, mut filename, mut bytes) = (None, None, None);
    let too_large = |e: &dyn std::fmt::Display| {
        GatewayError::new(
            413,
            "invalid_request_error",
            "too_large",
            format!(
                "The upload could not be read ({e}); files are limited to [batches] max_file_bytes."
            ),
        )
        .with_code("file_too_large")
    };
    while let Some(mut field) = form.next_field().await.map_err(|e| too_large(&e))? {
        match field.name() {
            Some("purpose") => purpose = Some(field.text().await.map_err(|e| too_large(&e))?),
            Some("file") => {
                filename = Some(field.file_name().unwrap_or("upload.jsonl").to_owned());
                // Streamed to disk chunk by chunk: an input file may be far larger than a request.
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(storage_error)?;
                let mut n = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(|e| too_large(&e))? {
                    n += chunk.len() as u64;
                    out.write_all(&chunk).await.map_err(storage_error)?;
                }
                out.flush().await.map_err(storage_error)?;
                bytes = Some(n);
            }
            _ => {}
        }
    }
    let cleanup = || async {
        let _ = tokio::fs::remove_file(&path).await;
    };
    let (Some(filename), Some(bytes)) = (filename, bytes) else {
        cleanup().await;
        return Err(GatewayError::bad_request("The form has no `file` field.").with_param("file"));
    };
    match purpose.as_deref() {
        Some("batch") => {}
        other => {
            cleanup().await;
            return Err(GatewayError::bad_request(format!(
                "`purpose` must be 'batch' (this gateway stores files for the Batch API), got {other:?}."
            ))
            .with_param("purpose"));
        }
    }
    let file = FileObject {
        id,
        object: "file".into(),
        bytes,
        created_at: now_s(),
        filename,
        purpose: "batch".into(),
        status: "processed".into(),
    };
    svc.add_file(&tenant, file.clone()).await?;
    Ok(file)
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = authenticate(&state, &headers).map(|tenant| {
        let data = state
            .batches
            .files(&tenant, q.get("purpose").map(String::as_str));
        json!({"object": "list", "data": data, "has_more": false})
    });
    json_or_error(&state, r)
}

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = authenticate(&state, &headers).and_then(|t| state.batches.file(&t, &id));
    json_or_error(&state, r)
}

pub async fn content(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = authenticate(&state, &headers).and_then(|t| state.batches.file(&t, &id)) {
        return error_response(&e, &state.request_id());
    }
    match tokio::fs::read(state.batches.content_path(&id)).await {
        Ok(bytes) => (
            [(http::header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Err(e) => error_response(&storage_error(e), &state.request_id()),
    }
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = match authenticate(&state, &headers) {
        Ok(t) => state.batches.delete_file(&t, &id).await,
        Err(e) => Err(e),
    };
    let r = r.map(|()| json!({"id": id, "object": "file", "deleted": true}));
    json_or_error(&state, r)
}
