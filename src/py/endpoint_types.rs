//! Python classes for the responses of the endpoints beyond chat and embeddings (models,
//! images, audio, moderation, rerank, files, batches, responses).

use pyo3::prelude::*;

use crate::py::types::{dict_access, py_model};

py_model!(
    PyModelObject,
    "ModelObject",
    ModelObject,
    [id, object, created, owned_by]
);
py_model!(
    PyModelsListResponse,
    "ModelsListResponse",
    ModelsListResponse,
    [object, data]
);
py_model!(PyImage, "Image", Image, [url, b64_json, revised_prompt]);
py_model!(
    PyImagesResponse,
    "ImagesResponse",
    ImagesResponse,
    [created, data, usage]
);
py_model!(
    PyTranscriptionSegment,
    "TranscriptionSegment",
    TranscriptionSegment,
    [
        id,
        seek,
        start,
        end,
        text,
        tokens,
        temperature,
        avg_logprob,
        compression_ratio,
        no_speech_prob
    ]
);
py_model!(
    PyTranscriptionWord,
    "TranscriptionWord",
    TranscriptionWord,
    [word, start, end]
);
py_model!(
    PyTranscriptionResponse,
    "TranscriptionResponse",
    TranscriptionResponse,
    [text, language, duration, segments, words, usage]
);
py_model!(
    PyModerationCategories,
    "ModerationCategories",
    ModerationCategories,
    [
        harassment,
        harassment_threatening,
        hate,
        hate_threatening,
        illicit,
        illicit_violent,
        self_harm,
        self_harm_intent,
        self_harm_instructions,
        sexual,
        sexual_minors,
        violence,
        violence_graphic
    ]
);
py_model!(
    PyModerationCategoryScores,
    "ModerationCategoryScores",
    ModerationCategoryScores,
    [
        harassment,
        harassment_threatening,
        hate,
        hate_threatening,
        illicit,
        illicit_violent,
        self_harm,
        self_harm_intent,
        self_harm_instructions,
        sexual,
        sexual_minors,
        violence,
        violence_graphic
    ]
);
py_model!(
    PyModerationResult,
    "ModerationResult",
    ModerationResult,
    [flagged, categories, category_scores, category_applied_input_types]
);
py_model!(
    PyModerationResponse,
    "ModerationResponse",
    ModerationResponse,
    [id, model, results]
);
py_model!(
    PyRerankResult,
    "RerankResult",
    RerankResult,
    [index, relevance_score, document]
);
py_model!(
    PyRerankResponse,
    "RerankResponse",
    RerankResponse,
    [id, model, results, usage, meta]
);
py_model!(
    PyFileObject,
    "FileObject",
    FileObject,
    [
        id,
        object,
        bytes,
        created_at,
        filename,
        purpose,
        status,
        status_details,
        expires_at
    ]
);
py_model!(
    PyFileListResponse,
    "FileListResponse",
    FileListResponse,
    [object, data, has_more, first_id, last_id]
);
py_model!(
    PyDeleteResponse,
    "DeleteResponse",
    DeleteResponse,
    [id, object, deleted]
);
py_model!(
    PyBatchRequestCounts,
    "BatchRequestCounts",
    BatchRequestCounts,
    [total, completed, failed]
);
py_model!(
    PyBatchObject,
    "BatchObject",
    BatchObject,
    [
        id,
        object,
        endpoint,
        errors,
        input_file_id,
        completion_window,
        status,
        output_file_id,
        error_file_id,
        created_at,
        in_progress_at,
        expires_at,
        finalizing_at,
        completed_at,
        failed_at,
        expired_at,
        cancelling_at,
        cancelled_at,
        request_counts,
        metadata
    ]
);
py_model!(
    PyBatchListResponse,
    "BatchListResponse",
    BatchListResponse,
    [object, data, has_more, first_id, last_id]
);
py_model!(
    PyResponseContent,
    "ResponseContent",
    ResponseContent,
    [r#type, text, annotations, refusal]
);
py_model!(
    PyResponseOutputItem,
    "ResponseOutputItem",
    ResponseOutputItem,
    [r#type, id, status, role, content, summary, call_id, name, arguments]
);
py_model!(
    PyInputTokensDetails,
    "InputTokensDetails",
    InputTokensDetails,
    [cached_tokens]
);
py_model!(
    PyOutputTokensDetails,
    "OutputTokensDetails",
    OutputTokensDetails,
    [reasoning_tokens]
);
py_model!(
    PyResponseUsage,
    "ResponseUsage",
    ResponseUsage,
    [
        input_tokens,
        output_tokens,
        total_tokens,
        input_tokens_details,
        output_tokens_details
    ]
);
py_model!(
    PyResponseObject,
    "ResponseObject",
    ResponseObject,
    [
        id,
        object,
        created_at,
        status,
        model,
        output,
        usage,
        error,
        incomplete_details
    ]
);

#[pymethods]
impl PyResponseObject {
    /// Every `output_text` part of every message, concatenated.
    #[getter]
    fn output_text(&self) -> String {
        self.0.output_text()
    }
}

/// Adds the endpoint response classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModelObject>()?;
    m.add_class::<PyModelsListResponse>()?;
    m.add_class::<PyImage>()?;
    m.add_class::<PyImagesResponse>()?;
    m.add_class::<PyTranscriptionSegment>()?;
    m.add_class::<PyTranscriptionWord>()?;
    m.add_class::<PyTranscriptionResponse>()?;
    m.add_class::<PyModerationCategories>()?;
    m.add_class::<PyModerationCategoryScores>()?;
    m.add_class::<PyModerationResult>()?;
    m.add_class::<PyModerationResponse>()?;
    m.add_class::<PyRerankResult>()?;
    m.add_class::<PyRerankResponse>()?;
    m.add_class::<PyFileObject>()?;
    m.add_class::<PyFileListResponse>()?;
    m.add_class::<PyDeleteResponse>()?;
    m.add_class::<PyBatchRequestCounts>()?;
    m.add_class::<PyBatchObject>()?;
    m.add_class::<PyBatchListResponse>()?;
    m.add_class::<PyResponseContent>()?;
    m.add_class::<PyResponseOutputItem>()?;
    m.add_class::<PyInputTokensDetails>()?;
    m.add_class::<PyOutputTokensDetails>()?;
    m.add_class::<PyResponseUsage>()?;
    m.add_class::<PyResponseObject>()?;
    Ok(())
}

dict_access!(
    PyFileObject,
    PyFileListResponse,
    PyDeleteResponse,
    PyBatchObject,
    PyBatchListResponse,
    PyResponseObject,
);
