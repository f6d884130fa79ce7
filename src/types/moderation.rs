//! Moderation and rerank models.
//!
//! Moderation categories are typed with every category OpenAI documents; a category missing
//! from a provider's answer (older models lack `illicit`) reads as `None`.

use serde_json::Value;

use super::json::model;

macro_rules! categories {
    ($(#[$meta:meta])* $name:ident, $ty:ty) => {
        model! {
            $(#[$meta])*
            pub struct $name {
                /// Harassment.
                harassment: Option<$ty> = "harassment",
                /// Harassment with threats.
                harassment_threatening: Option<$ty> = "harassment/threatening",
                /// Hate.
                hate: Option<$ty> = "hate",
                /// Hate with threats.
                hate_threatening: Option<$ty> = "hate/threatening",
                /// Advice on wrongdoing.
                illicit: Option<$ty> = "illicit",
                /// Advice on violent wrongdoing.
                illicit_violent: Option<$ty> = "illicit/violent",
                /// Self-harm.
                self_harm: Option<$ty> = "self-harm",
                /// Intent to self-harm.
                self_harm_intent: Option<$ty> = "self-harm/intent",
                /// Instructions for self-harm.
                self_harm_instructions: Option<$ty> = "self-harm/instructions",
                /// Sexual content.
                sexual: Option<$ty> = "sexual",
                /// Sexual content involving minors.
                sexual_minors: Option<$ty> = "sexual/minors",
                /// Violence.
                violence: Option<$ty> = "violence",
                /// Graphic violence.
                violence_graphic: Option<$ty> = "violence/graphic",
            }
        }
    };
}

categories!(
    /// Whether each category was flagged.
    ModerationCategories,
    bool
);
categories!(
    /// The model's score (0 to 1) for each category.
    ModerationCategoryScores,
    f64
);

model! {
    /// The verdict for one input.
    pub struct ModerationResult {
        /// Whether any category was flagged.
        flagged: bool = "flagged",
        /// Per-category flags.
        categories: ModerationCategories = "categories",
        /// Per-category scores.
        category_scores: ModerationCategoryScores = "category_scores",
        /// Which input types (text, image) each category applied to, as sent.
        category_applied_input_types: Option<Value> = "category_applied_input_types",
    }
}

model! {
    /// A moderation response.
    pub struct ModerationResponse {
        /// Response id.
        id: String = "id",
        /// Model that classified.
        model: String = "model",
        /// One result per input.
        results: Vec<ModerationResult> = "results",
    }
}

model! {
    /// One reranked document.
    pub struct RerankResult {
        /// Position of the document in the request's `documents`.
        index: u32 = "index",
        /// Relevance to the query (higher is more relevant).
        relevance_score: f64 = "relevance_score",
        /// The document, when the provider returns it (`{"text": ...}` or the text).
        document: Option<Value> = "document",
    }
}

model! {
    /// A rerank response; `results` are sorted by `relevance_score`, highest first.
    pub struct RerankResponse {
        /// Response id, when the provider sends one.
        id: Option<String> = "id",
        /// Model that ranked, when the provider says.
        model: Option<String> = "model",
        /// The documents by relevance.
        results: Vec<RerankResult> = "results",
        /// Usage, as sent (Jina style).
        usage: Option<Value> = "usage",
        /// Billing and version metadata, as sent (Cohere style).
        meta: Option<Value> = "meta",
    }
}
