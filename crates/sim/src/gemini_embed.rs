//! Gemini embeddings: `:embedContent` and `:batchEmbedContents`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::config::ModelConfig;
use crate::content::embedding;
use crate::gemini::field;
use crate::http::{Resp, gemini_invalid, json_response};

pub fn embed_one(req: &Value, cfg: &ModelConfig) -> Result<Value, Resp> {
    let Some(dims) = cfg.embedding_dims else {
        return Err(gemini_invalid(&format!(
            "models/{} does not support embedContent.",
            cfg.name
        )));
    };
    let text: String = req
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if text.is_empty() {
        return Err(gemini_invalid(
            "* EmbedContentRequest.content: contents is not specified\n",
        ));
    }
    let dims = field(req, "outputDimensionality", "output_dimensionality")
        .and_then(Value::as_u64)
        .map_or(dims as usize, |d| (d as usize).clamp(1, dims as usize));
    Ok(json!({"values": embedding(&text, dims)}))
}

pub fn embed_batch(req: &Value, cfg: &ModelConfig, model: &str) -> Result<Resp, Resp> {
    let reqs = req
        .get("requests")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            gemini_invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
        })?;
    let want = format!("models/{model}");
    let mut out = Vec::with_capacity(reqs.len());
    for (i, r) in reqs.iter().enumerate() {
        if r.get("model").and_then(Value::as_str) != Some(want.as_str()) {
            return Err(gemini_invalid(&format!(
                "* BatchEmbedContentsRequest.requests[{i}].model: the model must be {want}, the model of the batch request.\n"
            )));
        }
        out.push(embed_one(r, cfg)?);
    }
    Ok(json_response(StatusCode::OK, &json!({"embeddings": out})))
}
