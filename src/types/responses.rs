//! Responses API models: the response, its output items and usage.
//!
//! Output items of every type share one struct: a `message` has `role` and `content`, a
//! `reasoning` item has `summary`, a `function_call` has `call_id`, `name` and `arguments`;
//! fields another type uses are `None`, and anything else stays in `extra`.

use serde_json::Value;

use super::json::model;

model! {
    /// One part of an output message: `output_text` (with `text`) or `refusal`.
    pub struct ResponseContent {
        /// `output_text` or `refusal`.
        r#type: String = "type",
        /// The text (`output_text`).
        text: Option<String> = "text",
        /// Citations and other annotations, as sent.
        annotations: Option<Vec<Value>> = "annotations",
        /// The refusal (`refusal`).
        refusal: Option<String> = "refusal",
    }
}

model! {
    /// One output item: `message`, `reasoning`, `function_call` or another type.
    pub struct ResponseOutputItem {
        /// Item type.
        r#type: String = "type",
        /// Item id.
        id: Option<String> = "id",
        /// Item status.
        status: Option<String> = "status",
        /// `assistant` (messages).
        role: Option<String> = "role",
        /// Message parts (messages).
        content: Option<Vec<ResponseContent>> = "content",
        /// Reasoning summary parts, `{"type": "summary_text", "text": ...}` (reasoning).
        summary: Option<Vec<Value>> = "summary",
        /// Call id to answer with a `function_call_output` (function calls).
        call_id: Option<String> = "call_id",
        /// Function name (function calls).
        name: Option<String> = "name",
        /// Arguments as a JSON string (function calls).
        arguments: Option<String> = "arguments",
    }
}

model! {
    /// Breakdown of input tokens.
    pub struct InputTokensDetails {
        /// Tokens read from the prompt cache.
        cached_tokens: u64 = "cached_tokens",
    }
}

model! {
    /// Breakdown of output tokens.
    pub struct OutputTokensDetails {
        /// Tokens spent reasoning.
        reasoning_tokens: u64 = "reasoning_tokens",
    }
}

model! {
    /// Token usage of a response.
    pub struct ResponseUsage {
        /// Input tokens.
        input_tokens: u64 = "input_tokens",
        /// Output tokens (reasoning included).
        output_tokens: u64 = "output_tokens",
        /// Input plus output.
        total_tokens: u64 = "total_tokens",
        /// Input breakdown.
        input_tokens_details: InputTokensDetails = "input_tokens_details",
        /// Output breakdown.
        output_tokens_details: OutputTokensDetails = "output_tokens_details",
    }
}

model! {
    /// A model response from the Responses API.
    pub struct ResponseObject {
        /// Response id.
        id: String = "id",
        /// Always `response`.
        object: String = "object",
        /// Unix time of creation.
        created_at: i64 = "created_at",
        /// `completed`, `failed`, `in_progress`, `queued`, `cancelled` or `incomplete`.
        status: String = "status",
        /// Model that answered.
        model: String = "model",
        /// Output items.
        output: Vec<ResponseOutputItem> = "output",
        /// Token usage.
        usage: Option<ResponseUsage> = "usage",
        /// The error, when `status` is `failed`.
        error: Option<Value> = "error",
        /// Why the response is incomplete, when it is.
        incomplete_details: Option<Value> = "incomplete_details",
    }
}

impl ResponseObject {
    /// Every `output_text` part of every message, concatenated (as the openai SDK's
    /// `output_text`).
    pub fn output_text(&self) -> String {
        let mut out = String::new();
        for item in self.output.iter().filter(|i| i.r#type == "message") {
            for part in item.content.iter().flatten() {
                if let (Some(text), "output_text") = (&part.text, part.r#type.as_str()) {
                    out.push_str(text);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToJson;

    #[test]
    fn output_items_of_every_type_parse_and_output_text_joins_messages() {
        let doc = r#"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"m",
            "output":[
              {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}]},
              {"type":"message","id":"msg_1","role":"assistant","status":"completed",
               "content":[{"type":"output_text","text":"Hello ","annotations":[]},
                          {"type":"output_text","text":"world","annotations":[]}]},
              {"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"}],
            "usage":{"input_tokens":3,"output_tokens":5,"total_tokens":8,
                     "input_tokens_details":{"cached_tokens":1},"output_tokens_details":{"reasoning_tokens":2}},
            "parallel_tool_calls":true}"#;
        let r: ResponseObject = serde_json::from_str(doc).unwrap();
        assert_eq!(r.output_text(), "Hello world");
        assert_eq!(r.output[2].call_id.as_deref(), Some("call_1"));
        let usage = r.usage.as_ref().unwrap();
        assert_eq!(usage.output_tokens_details.reasoning_tokens, 2);
        assert_eq!(r.to_json()["parallel_tool_calls"], true);
    }
}
