//! The typed endpoint methods of [`Client`]: each builds an [`ApiRequest`] and parses the answer.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::{parse, ApiRequest, Payload, Priced, Upload};
use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::http::Chunks;
use crate::providers::registry::Endpoint;
use crate::types::{
    BatchListResponse, BatchObject, DeleteResponse, FileListResponse, FileObject, ImagesResponse, ModelsListResponse,
    ModerationResponse, RerankResponse, ResponseObject, TranscriptionResponse,
};
use crate::usage::TokenBreakdown;

/// Paging and filtering of `list_files` and `list_batches`.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    /// Only files with this purpose (files only).
    pub purpose: Option<String>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor: the last id of the previous page.
    pub after: Option<String>,
}

impl ListParams {
    fn query(self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(purpose) = self.purpose {
            query.push(("purpose", purpose));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(after) = self.after {
            query.push(("after", after));
        }
        query
    }
}

/// The body of `create_batch`, already serialised.
#[derive(Clone, Debug, Default)]
pub struct BatchParams {
    /// `{"input_file_id": ..., "endpoint": ..., "completion_window": ..., "metadata": ...}`.
    pub body: Bytes,
    /// Per-call headers.
    pub headers: HeaderMap,
}

/// Fails with `InvalidArgument` unless `id` can name a resource: not empty, and with no `.` or
/// `..` segment in any spelling (`%2e%2E`, `../x`, `..\\x`), which a URL, a proxy that decodes
/// `%2F`, or a server resolves as a path step, reaching another endpoint. (An id is sent as one
/// segment: its `/` and `\` are escaped.)
///
/// # Errors
/// `InvalidArgument` naming `what`.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || crate::providers::has_dot_segment(id) {
        return Err(Error::new(
            Kind::InvalidArgument,
            format!("{what} must be a resource id, got {id:?}"),
        ));
    }
    Ok(())
}

/// An id as one URL path segment: unreserved characters pass, everything else is escaped.
pub(crate) fn segment(what: &str, id: &str) -> Result<String> {
    check_id(what, id)?;
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// A JSON call for `request` (its model routes it).
fn json_call(endpoint: Endpoint, path: &str, request: Request) -> ApiRequest {
    ApiRequest {
        payload: Payload::Json(request.body),
        model: request.model,
        headers: request.headers,
        ..ApiRequest::new(endpoint, Method::POST, path)
    }
}

impl Client {
    /// Lists the models of the client's own provider (`GET /models`); Anthropic's and Gemini's
    /// lists are asked for in one page and returned in OpenAI's shape.
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn list_models(&self) -> Result<ModelsListResponse> {
        let adapter = self.router.own().adapter();
        let mut req = ApiRequest::new(Endpoint::Models, Method::GET, "models");
        if let Some((name, value)) = adapter.models_page() {
            req.query.push((name, value.to_owned()));
        }
        adapter.models(&self.api(req).await?.body)
    }

    /// Generates images (`POST /images/generations`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn image_generate(&self, request: Request) -> Result<ImagesResponse> {
        let answer = self
            .api(json_call(Endpoint::Images, "images/generations", request))
            .await?;
        parse(&answer.body, "images response")
    }

    /// Synthesises speech (`POST /audio/speech`); the audio bytes as received.
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn speech(&self, request: Request) -> Result<Chunks> {
        Ok(self
            .api_chunks(json_call(Endpoint::Audio, "audio/speech", request))
            .await?
            .0)
    }

    /// Transcribes audio (`POST /audio/transcriptions`, multipart). A plain-text answer
    /// (`response_format` `text`, `srt` or `vtt`) becomes the response's `text`.
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn transcribe(&self, upload: Upload, model: String, headers: HeaderMap) -> Result<TranscriptionResponse> {
        let req = ApiRequest {
            payload: Payload::Form(upload),
            model,
            headers,
            ..ApiRequest::new(Endpoint::Audio, Method::POST, "audio/transcriptions")
        };
        let answer = self.api(req).await?;
        if answer.is_json() {
            return parse(&answer.body, "transcription");
        }
        Ok(TranscriptionResponse {
            text: String::from_utf8_lossy(&answer.body).into_owned(),
            ..TranscriptionResponse::default()
        })
    }

    /// Classifies content (`POST /moderations`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn moderate(&self, request: Request) -> Result<ModerationResponse> {
        let answer = self
            .api(json_call(Endpoint::Moderation, "moderations", request))
            .await?;
        parse(&answer.body, "moderation response")
    }

    /// Reranks documents (`POST /rerank`); results sorted by relevance, highest first.
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn rerank(&self, request: Request) -> Result<RerankResponse> {
        let answer = self.api(json_call(Endpoint::Rerank, "rerank", request)).await?;
        let mut parsed: RerankResponse = parse(&answer.body, "rerank response")?;
        parsed
            .results
            .sort_by(|a, b| b.relevance_score.total_cmp(&a.relevance_score));
        Ok(parsed)
    }

    /// Uploads a file (`POST /files`, multipart).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn create_file(&self, upload: Upload, headers: HeaderMap) -> Result<FileObject> {
        let req = ApiRequest {
            payload: Payload::Form(upload),
            headers,
            ..ApiRequest::new(Endpoint::Files, Method::POST, "files")
        };
        parse(&self.api(req).await?.body, "file object")
    }

    /// A file's metadata (`GET /files/{id}`).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty id; otherwise as [`Client::api`].
    pub async fn retrieve_file(&self, file_id: &str) -> Result<FileObject> {
        let path = format!("files/{}", segment("file_id", file_id)?);
        let answer = self.api(ApiRequest::new(Endpoint::Files, Method::GET, path)).await?;
        parse(&answer.body, "file object")
    }

    /// Deletes a file (`DELETE /files/{id}`).
    ///
    /// # Errors
    /// As [`Client::retrieve_file`].
    pub async fn delete_file(&self, file_id: &str) -> Result<DeleteResponse> {
        let path = format!("files/{}", segment("file_id", file_id)?);
        let answer = self.api(ApiRequest::new(Endpoint::Files, Method::DELETE, path)).await?;
        parse(&answer.body, "deletion response")
    }

    /// One page of files (`GET /files`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn list_files(&self, params: ListParams) -> Result<FileListResponse> {
        let req = ApiRequest {
            query: params.query(),
            ..ApiRequest::new(Endpoint::Files, Method::GET, "files")
        };
        parse(&self.api(req).await?.body, "file list")
    }

    /// A file's content (`GET /files/{id}/content`), as received.
    ///
    /// # Errors
    /// As [`Client::retrieve_file`].
    pub async fn file_content(&self, file_id: &str) -> Result<Chunks> {
        let path = format!("files/{}/content", segment("file_id", file_id)?);
        Ok(self
            .api_chunks(ApiRequest::new(Endpoint::Files, Method::GET, path))
            .await?
            .0)
    }

    /// Creates a batch (`POST /batches`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn create_batch(&self, params: BatchParams) -> Result<BatchObject> {
        let req = ApiRequest {
            payload: Payload::Json(params.body),
            headers: params.headers,
            ..ApiRequest::new(Endpoint::Batches, Method::POST, "batches")
        };
        parse(&self.api(req).await?.body, "batch object")
    }

    /// A batch (`GET /batches/{id}`).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty id; otherwise as [`Client::api`].
    pub async fn retrieve_batch(&self, batch_id: &str) -> Result<BatchObject> {
        let path = format!("batches/{}", segment("batch_id", batch_id)?);
        let answer = self.api(ApiRequest::new(Endpoint::Batches, Method::GET, path)).await?;
        parse(&answer.body, "batch object")
    }

    /// One page of batches (`GET /batches`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn list_batches(&self, params: ListParams) -> Result<BatchListResponse> {
        let req = ApiRequest {
            query: params.query(),
            ..ApiRequest::new(Endpoint::Batches, Method::GET, "batches")
        };
        parse(&self.api(req).await?.body, "batch list")
    }

    /// Cancels a batch (`POST /batches/{id}/cancel`).
    ///
    /// # Errors
    /// As [`Client::retrieve_batch`].
    pub async fn cancel_batch(&self, batch_id: &str) -> Result<BatchObject> {
        let path = format!("batches/{}/cancel", segment("batch_id", batch_id)?);
        let answer = self.api(ApiRequest::new(Endpoint::Batches, Method::POST, path)).await?;
        parse(&answer.body, "batch object")
    }

    /// Creates a model response (`POST /responses`).
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn create_response(&self, request: Request) -> Result<ResponseObject> {
        let req = json_call(Endpoint::Responses, "responses", request);
        self.api_metered(req, |body, _| {
            let response: ResponseObject = parse(&body.into_bytes(), "response object")?;
            let usage = response
                .usage
                .as_ref()
                .and_then(TokenBreakdown::from_response_usage)
                .map(|tokens| (response.model.clone(), tokens));
            Ok(Priced { value: response, usage })
        })
        .await
    }

    /// A stored response (`GET /responses/{id}`).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty id; otherwise as [`Client::api`].
    pub async fn retrieve_response(&self, response_id: &str) -> Result<ResponseObject> {
        let path = format!("responses/{}", segment("response_id", response_id)?);
        let answer = self
            .api(ApiRequest::new(Endpoint::Responses, Method::GET, path))
            .await?;
        parse(&answer.body, "response object")
    }

    /// Cancels a background response (`POST /responses/{id}/cancel`).
    ///
    /// # Errors
    /// As [`Client::retrieve_response`].
    pub async fn cancel_response(&self, response_id: &str) -> Result<ResponseObject> {
        let path = format!("responses/{}/cancel", segment("response_id", response_id)?);
        let answer = self
            .api(ApiRequest::new(Endpoint::Responses, Method::POST, path))
            .await?;
        parse(&answer.body, "response object")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_escaped_segment() {
        assert_eq!(segment("id", "file-abc_1.x").unwrap(), "file-abc_1.x");
        assert_eq!(segment("id", "a/b?c").unwrap(), "a%2Fb%3Fc");
        for bad in ["", ".", "..", "%2e%2E", "%2e", ".%2E"] {
            assert_eq!(segment("id", bad).unwrap_err().kind(), Kind::InvalidArgument);
        }
        assert_eq!(segment("id", "...").unwrap(), "...");
        for bad in ["../batches", "..\\x", "a/../b", "x/%2e%2E", "files/."] {
            assert_eq!(segment("id", bad).unwrap_err().kind(), Kind::InvalidArgument, "{bad}");
        }
        assert_eq!(segment("id", "a/b..c").unwrap(), "a%2Fb..c");
    }
}
