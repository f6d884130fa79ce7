//! Typed response models built from parsed JSON.
//!
//! Every model keeps the fields a provider sent that we do not model in `extra`, so nothing is
//! dropped: `to_json()` gives back the modeled fields (absent optional ones as `null`) plus the
//! extras. Parsing is tolerant: a missing field takes its default, but a field of the wrong JSON
//! type is an error.

mod chat;
mod embeddings;
mod files;
pub(crate) mod json;
mod media;
mod models;
mod moderation;
mod responses;

pub use chat::{
    AssistantMessage, Attached, ChatCompletionChunk, ChatCompletionResponse, Choice, ChoiceLogprobs,
    CompletionTokensDetails, FunctionCall, FunctionCallDelta, PromptTokensDetails, StreamChoice, StreamDelta,
    TokenLogprob, ToolCall, ToolCallDelta, TopLogprob, Usage,
};
pub use embeddings::{Embedding, EmbeddingObject, EmbeddingResponse};
pub use files::{BatchListResponse, BatchObject, BatchRequestCounts, DeleteResponse, FileListResponse, FileObject};
pub use json::ToJson;
pub use media::{Image, ImagesResponse, TranscriptionResponse, TranscriptionSegment, TranscriptionWord};
pub use models::{ModelObject, ModelsListResponse};
pub use moderation::{
    ModerationCategories, ModerationCategoryScores, ModerationResponse, ModerationResult, RerankResponse, RerankResult,
};
pub use responses::{
    InputTokensDetails, OutputTokensDetails, ResponseContent, ResponseObject, ResponseOutputItem, ResponseUsage,
};
