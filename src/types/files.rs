//! Files and batches models.

use serde_json::Value;

use super::json::model;

model! {
    /// An uploaded file.
    pub struct FileObject {
        /// File id.
        id: String = "id",
        /// Always `file`.
        object: String = "object",
        /// Size in bytes.
        bytes: u64 = "bytes",
        /// Unix time of upload.
        created_at: i64 = "created_at",
        /// The name it was uploaded with.
        filename: String = "filename",
        /// Its purpose (`batch`, `fine-tune`, `assistants`, `user_data`, ...).
        purpose: String = "purpose",
        /// Processing status (deprecated by OpenAI, still sent).
        status: Option<String> = "status",
        /// Why processing failed, if it did.
        status_details: Option<String> = "status_details",
        /// Unix time it expires, if it does.
        expires_at: Option<i64> = "expires_at",
    }
}

model! {
    /// A page of files.
    pub struct FileListResponse {
        /// Always `list`.
        object: String = "object",
        /// The files.
        data: Vec<FileObject> = "data",
        /// Whether more files follow (pass `after=last_id`).
        has_more: Option<bool> = "has_more",
        /// Id of the first file on the page.
        first_id: Option<String> = "first_id",
        /// Id of the last file on the page.
        last_id: Option<String> = "last_id",
    }
}

model! {
    /// The answer to a deletion.
    pub struct DeleteResponse {
        /// Id of the deleted object.
        id: String = "id",
        /// Kind of the deleted object (`file`).
        object: String = "object",
        /// Whether it was deleted.
        deleted: bool = "deleted",
    }
}

model! {
    /// How many requests of a batch are done.
    pub struct BatchRequestCounts {
        /// Requests in the batch.
        total: u64 = "total",
        /// Requests completed.
        completed: u64 = "completed",
        /// Requests failed.
        failed: u64 = "failed",
    }
}

model! {
    /// A batch job.
    pub struct BatchObject {
        /// Batch id.
        id: String = "id",
        /// Always `batch`.
        object: String = "object",
        /// The endpoint every request goes to (`/v1/chat/completions`, ...).
        endpoint: String = "endpoint",
        /// Validation errors, as sent.
        errors: Option<Value> = "errors",
        /// Id of the uploaded JSONL input.
        input_file_id: String = "input_file_id",
        /// Time frame, e.g. `24h`.
        completion_window: String = "completion_window",
        /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
        /// `cancelling` or `cancelled`.
        status: String = "status",
        /// Id of the results file, once there is one.
        output_file_id: Option<String> = "output_file_id",
        /// Id of the errors file, once there is one.
        error_file_id: Option<String> = "error_file_id",
        /// Unix time of creation.
        created_at: i64 = "created_at",
        /// When processing started.
        in_progress_at: Option<i64> = "in_progress_at",
        /// When the batch expires.
        expires_at: Option<i64> = "expires_at",
        /// When finalizing started.
        finalizing_at: Option<i64> = "finalizing_at",
        /// When it completed.
        completed_at: Option<i64> = "completed_at",
        /// When it failed.
        failed_at: Option<i64> = "failed_at",
        /// When it expired.
        expired_at: Option<i64> = "expired_at",
        /// When cancelling started.
        cancelling_at: Option<i64> = "cancelling_at",
        /// When it was cancelled.
        cancelled_at: Option<i64> = "cancelled_at",
        /// Request counts.
        request_counts: Option<BatchRequestCounts> = "request_counts",
        /// Your metadata.
        metadata: Option<Value> = "metadata",
    }
}

model! {
    /// A page of batches.
    pub struct BatchListResponse {
        /// Always `list`.
        object: String = "object",
        /// The batches.
        data: Vec<BatchObject> = "data",
        /// Whether more batches follow (pass `after=last_id`).
        has_more: Option<bool> = "has_more",
        /// Id of the first batch on the page.
        first_id: Option<String> = "first_id",
        /// Id of the last batch on the page.
        last_id: Option<String> = "last_id",
    }
}
