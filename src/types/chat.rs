//! Chat Completions models: the response, its stream chunks, and their parts.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::json::model;

model! {
    /// Breakdown of the prompt tokens.
    pub struct PromptTokensDetails {
        /// Prompt tokens read from the provider's cache.
        cached_tokens: Option<u64> = "cached_tokens",
        /// Audio input tokens.
        audio_tokens: Option<u64> = "audio_tokens",
    }
}

model! {
    /// Breakdown of the completion tokens.
    pub struct CompletionTokensDetails {
        /// Tokens the model spent reasoning (part of the completion tokens).
        reasoning_tokens: Option<u64> = "reasoning_tokens",
        /// Audio output tokens.
        audio_tokens: Option<u64> = "audio_tokens",
        /// Predicted-output tokens that appeared in the completion.
        accepted_prediction_tokens: Option<u64> = "accepted_prediction_tokens",
        /// Predicted-output tokens that did not appear (billed all the same).
        rejected_prediction_tokens: Option<u64> = "rejected_prediction_tokens",
    }
}

model! {
    /// One of the most likely tokens at a position.
    pub struct TopLogprob {
        /// The token text.
        token: String = "token",
        /// Its log probability.
        logprob: f64 = "logprob",
        /// Its UTF-8 bytes (a token may hold part of a character).
        bytes: Option<Vec<u32>> = "bytes",
    }
}

model! {
    /// The log probability of one generated token, with the alternatives when requested.
    pub struct TokenLogprob {
        /// The token text.
        token: String = "token",
        /// Its log probability.
        logprob: f64 = "logprob",
        /// Its UTF-8 bytes (a token may hold part of a character).
        bytes: Option<Vec<u32>> = "bytes",
        /// The `top_logprobs` most likely tokens at this position, most likely first.
        top_logprobs: Vec<TopLogprob> = "top_logprobs",
    }
}

model! {
    /// Log probabilities of a choice's tokens (`logprobs=True`).
    pub struct ChoiceLogprobs {
        /// One entry per content token.
        content: Option<Vec<TokenLogprob>> = "content",
        /// One entry per refusal token.
        refusal: Option<Vec<TokenLogprob>> = "refusal",
    }
}

/// A value the language bindings attach to a message (its structured-output result): opaque to
/// the core and shared by clones. It is derived from the message's content, so equality ignores
/// it: two messages are equal when the provider sent the same thing.
#[derive(Clone, Default)]
pub struct Attached(pub Option<Arc<dyn Any + Send + Sync>>);

impl PartialEq for Attached {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl super::json::Heap for Attached {
    fn heap(&self) -> usize {
        // Shared with the bindings, which own it.
        0
    }
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attached(..)")
    }
}

model! {
    /// Token counts for one request.
    pub struct Usage {
        /// Tokens in the prompt.
        prompt_tokens: u64 = "prompt_tokens",
        /// Tokens in the completion.
        completion_tokens: u64 = "completion_tokens",
        /// Prompt plus completion.
        total_tokens: u64 = "total_tokens",
        /// Breakdown of prompt tokens (cached, audio).
        prompt_tokens_details: Option<PromptTokensDetails> = "prompt_tokens_details",
        /// Breakdown of completion tokens (reasoning, audio, predictions).
        completion_tokens_details: Option<CompletionTokensDetails> = "completion_tokens_details",
    }
}

model! {
    /// The function a tool call invokes.
    pub struct FunctionCall {
        /// Function name.
        name: String = "name",
        /// Arguments as a JSON string.
        arguments: String = "arguments",
    }
}

model! {
    /// A tool call made by the assistant.
    pub struct ToolCall {
        /// Call id, echoed back in the tool result.
        id: String = "id",
        /// Always `function` today.
        r#type: String = "type",
        /// The call itself.
        function: FunctionCall = "function",
    }
}

model! {
    /// The assistant's message in a non-streamed choice.
    pub struct AssistantMessage {
        /// Always `assistant`.
        role: String = "role",
        /// Text content.
        content: Option<String> = "content",
        /// Tool calls, when the model called tools.
        tool_calls: Option<Vec<ToolCall>> = "tool_calls",
        /// Refusal message, when the model refused.
        refusal: Option<String> = "refusal",
        /// Reasoning text, for providers that return it.
        reasoning_content: Option<String> = "reasoning_content",
        ; local:
        /// The structured-output result, attached by the bindings when a schema was requested.
        parsed: Attached,
    }
}

model! {
    /// One completion choice.
    pub struct Choice {
        /// Position among the `n` choices.
        index: u32 = "index",
        /// The generated message.
        message: AssistantMessage = "message",
        /// Why generation stopped (`stop`, `length`, `tool_calls`, ...).
        finish_reason: Option<String> = "finish_reason",
        /// Token log probabilities, when requested.
        logprobs: Option<ChoiceLogprobs> = "logprobs",
    }
}

model! {
    /// A chat completion.
    pub struct ChatCompletionResponse {
        /// Response id.
        id: String = "id",
        /// Always `chat.completion`.
        object: String = "object",
        /// Unix timestamp.
        created: i64 = "created",
        /// Model that answered.
        model: String = "model",
        /// Completion choices.
        choices: Vec<Choice> = "choices",
        /// Token usage.
        usage: Option<Usage> = "usage",
        /// Backend configuration fingerprint.
        system_fingerprint: Option<String> = "system_fingerprint",
        /// Service tier used.
        service_tier: Option<String> = "service_tier",
        ; local:
        /// What the call cost in USD by the pricing table, `None` when the price is unknown.
        cost: Option<f64>,
        /// The provider's id for the request (`x-request-id`), for support tickets and logs.
        request_id: Option<String>,
        /// The id of the deployment that answered, when the model named a routed group.
        deployment: Option<String>,
        /// Answered from the response cache (no call was made; `usage` is the original call's).
        cache_hit: bool,
    }
}

model! {
    /// The streamed part of a function call.
    pub struct FunctionCallDelta {
        /// Function name (first delta only).
        name: Option<String> = "name",
        /// A fragment of the JSON arguments.
        arguments: Option<String> = "arguments",
    }
}

model! {
    /// A streamed fragment of a tool call.
    pub struct ToolCallDelta {
        /// Which tool call this fragment extends.
        index: u32 = "index",
        /// Call id (first delta only).
        id: Option<String> = "id",
        /// Call type (first delta only).
        r#type: Option<String> = "type",
        /// Function fragment.
        function: Option<FunctionCallDelta> = "function",
    }
}

model! {
    /// What a chunk adds to the message.
    pub struct StreamDelta {
        /// Role (first chunk only).
        role: Option<String> = "role",
        /// A text fragment.
        content: Option<String> = "content",
        /// Tool-call fragments.
        tool_calls: Option<Vec<ToolCallDelta>> = "tool_calls",
        /// A refusal fragment.
        refusal: Option<String> = "refusal",
        /// A reasoning fragment, for providers that stream it.
        reasoning_content: Option<String> = "reasoning_content",
    }
}

model! {
    /// One choice within a stream chunk.
    pub struct StreamChoice {
        /// Position among the `n` choices.
        index: u32 = "index",
        /// The increment.
        delta: StreamDelta = "delta",
        /// Set on the choice's last chunk.
        finish_reason: Option<String> = "finish_reason",
        /// Token log probabilities, when requested.
        logprobs: Option<ChoiceLogprobs> = "logprobs",
    }
}

model! {
    /// One streamed chunk.
    pub struct ChatCompletionChunk {
        /// Response id (the same for every chunk).
        id: String = "id",
        /// Always `chat.completion.chunk`.
        object: String = "object",
        /// Unix timestamp.
        created: i64 = "created",
        /// Model that answered.
        model: String = "model",
        /// Choice increments (empty on the usage chunk).
        choices: Vec<StreamChoice> = "choices",
        /// Token usage (usage chunk only).
        usage: Option<Usage> = "usage",
        /// Backend configuration fingerprint.
        system_fingerprint: Option<String> = "system_fingerprint",
        /// Service tier used.
        service_tier: Option<String> = "service_tier",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToJson;
    use serde_json::Value;

    fn parse(body: &[u8]) -> serde_json::Result<ChatCompletionResponse> {
        serde_json::from_slice(body)
    }

    #[test]
    fn parses_and_keeps_extras() {
        let body = br#"{"id":"c1","object":"chat.completion","created":1,"model":"m","x_extra":{"a":1},
            "choices":[{"index":0,"message":{"role":"assistant","content":"hi","annotations":[]},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("hi"));
        assert_eq!(r.usage.as_ref().unwrap().total_tokens, 4);
        assert_eq!(r.extra["x_extra"]["a"], 1);
        let back = r.to_json();
        assert_eq!(back["x_extra"]["a"], 1);
        assert_eq!(back["choices"][0]["message"]["annotations"], Value::Array(vec![]));
        assert_eq!(serde_json::from_value::<ChatCompletionResponse>(back).unwrap(), r);
    }

    #[test]
    fn serialize_writes_what_to_json_builds() {
        let body = br#"{"id":"c1","object":"chat.completion","created":1,"model":"m","x_extra":{"a":[1,null]},
            "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function",
            "function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls","logprobs":null}],
            "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":1}}}"#;
        let r = parse(body).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), r.to_json());
        let chunk: ChatCompletionChunk = serde_json::from_slice(
            br#"{"id":"c","object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,
            "delta":{"content":"hi","role":"assistant"},"finish_reason":null}],"service_tier":"default"}"#,
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&chunk).unwrap(), chunk.to_json());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse(br#"{"choices":[{"message":{"content":5}}]}"#).unwrap_err();
        assert!(err.to_string().contains("string"), "{err}");
        let lenient = parse(br#"{"id":null,"created":1.7e9,"choices":null}"#).unwrap();
        assert_eq!(lenient.created, 1_700_000_000);
        assert!(lenient.choices.is_empty());
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[1]").is_err());
    }

    #[test]
    fn logprobs_and_usage_details_are_typed_and_round_trip() {
        let v = serde_json::json!({"choices":[{"index":0,"message":{"content":"Hi"},"logprobs":{"content":[
            {"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":null}]}],
            "refusal":null}}],
            "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,
            "prompt_tokens_details":{"cached_tokens":1,"audio_tokens":0,"x":7},
            "completion_tokens_details":{"reasoning_tokens":1,"audio_tokens":0,
            "accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}});
        let r: ChatCompletionResponse = serde_json::from_value(v.clone()).unwrap();
        let lp = r.choices[0].logprobs.as_ref().unwrap();
        let token = &lp.content.as_ref().unwrap()[0];
        assert_eq!((token.token.as_str(), token.logprob), ("Hi", -0.5));
        assert_eq!(token.bytes.as_deref(), Some(&[72, 105][..]));
        assert_eq!(token.top_logprobs[0].bytes, None);
        assert!(lp.refusal.is_none());
        let usage = r.usage.as_ref().unwrap();
        let details = usage.prompt_tokens_details.as_ref().unwrap();
        assert_eq!((details.cached_tokens, details.extra["x"].as_u64()), (Some(1), Some(7)));
        assert_eq!(
            usage.completion_tokens_details.as_ref().unwrap().reasoning_tokens,
            Some(1)
        );
        let back = r.to_json();
        assert_eq!(back["choices"][0]["logprobs"], v["choices"][0]["logprobs"]);
        assert_eq!(
            back["usage"]["prompt_tokens_details"],
            v["usage"]["prompt_tokens_details"]
        );
        assert!(serde_json::from_value::<ChatCompletionResponse>(
            serde_json::json!({"choices":[{"logprobs":{"content":[{"logprob":"x"}]}}]})
        )
        .is_err());
    }

    #[test]
    fn attached_values_do_not_change_equality() {
        let a = Attached(Some(Arc::new(1_u8)));
        assert_eq!(format!("{a:?}"), "Attached(..)");
        let with = AssistantMessage {
            content: Some("{}".to_owned()),
            parsed: a,
            ..AssistantMessage::default()
        };
        let without = AssistantMessage {
            content: Some("{}".to_owned()),
            ..AssistantMessage::default()
        };
        assert_eq!(with, without);
        assert_ne!(with, AssistantMessage::default());
    }

    #[test]
    fn parses_tool_call_delta() {
        let v = serde_json::json!({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[
            {"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]});
        let c: ChatCompletionChunk = serde_json::from_value(v).unwrap();
        let tc = &c.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(tc.id.as_deref(), Some("call_1"));
        assert_eq!(tc.function.as_ref().unwrap().name.as_deref(), Some("f"));
    }
}
