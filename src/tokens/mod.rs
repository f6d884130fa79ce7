//! Token counting: exact for OpenAI's `o200k_base` and `cl100k_base` encodings, a documented
//! estimate for everything else.
//!
//! **Exact.** `o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, gpt-oss and codex models;
//! `cl100k_base` for gpt-4, gpt-3.5-turbo and the text-embedding models (a `provider/` or `ft:`
//! prefix is ignored; which model uses which tokenizer is [`crate::catalog::tokenizer_of`]'s
//! call). The split patterns are hand-written scanners equivalent to tiktoken's
//! regular expressions and the merge rule is tiktoken's, so counts and ids equal tiktoken's (the
//! tests compare with tiktoken-rs). Vocabularies are embedded zstd-compressed (o200k 0.88 MB,
//! cl100k 0.41 MB) and each is decompressed once, on first use, behind a `OnceLock` (release
//! build: about 40 ms and 10 MB of memory for o200k, 20 ms and 4 MB for cl100k).
//!
//! **Estimated.** Other models (Claude, Gemini, Mistral, Llama, DeepSeek, Grok, unknown) are counted
//! with `o200k_base` and scaled by a factor for the catalog's tokenizer family, rounded up: Claude
//! 1.25, Mistral 1.10, close to o200k (Gemini, Gemma, DeepSeek, Grok, other OpenAI names, models
//! of OpenAI, Azure, Gemini, DeepSeek, xAI or Groq with no family in their name) 1.05, unknown 1.10. The factors reflect how
//! much finer those tokenizers are than o200k on English prose and code; they are approximations
//! chosen to err high, which is what a rate limiter's reservation needs.
//!
//! **Messages** follow OpenAI's documented chat format: 3 tokens per message, plus the tokens of
//! its role, content, name (+1), tool-call id and tool calls (name + arguments + 3 each), plus 3
//! tokens priming the reply (`gpt-3.5-turbo-0301`: 4 per message, name -1). Content parts: `text`
//! is encoded; an image costs 85 tokens at `detail: "low"`, else 765 (a 1024×1024 image at high
//! detail) for OpenAI-family models, 1,400 for Claude and 1,000 for other models; audio and file
//! parts a flat 200; base64 payloads are never tokenized. Request-level `tools` and
//! `functions` are counted as their JSON text.

mod borrowed;
mod bpe;
mod split;
mod unicode;

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::catalog::{tokenizer_of, Tokenizer};
pub use bpe::Rank;
use bpe::Vocab;
use split::{Pattern, Pieces};

static O200K_DATA: &[u8] = include_bytes!("o200k_base.zst");
static CL100K_DATA: &[u8] = include_bytes!("cl100k_base.zst");

/// Tokens that prime the assistant's reply in OpenAI's chat format.
pub const REPLY_PRIMING_TOKENS: u64 = 3;
/// Flat estimate for one audio or file content part.
const MEDIA_PART_TOKENS: u64 = 200;

/// A BPE encoding shipped with the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `o200k_base` (gpt-4o and later).
    O200kBase,
    /// `cl100k_base` (gpt-4, gpt-3.5-turbo, embeddings).
    Cl100kBase,
}

impl Encoding {
    /// The exact encoding of an OpenAI-family model, or `None` for other models (the catalog's
    /// rules, [`crate::catalog::encoding_of`]).
    pub fn for_model(model: &str) -> Option<Self> {
        crate::catalog::encoding_of(model)
    }

    /// The encoding's name (`o200k_base`, `cl100k_base`).
    pub fn name(self) -> &'static str {
        match self {
            Self::O200kBase => "o200k_base",
            Self::Cl100kBase => "cl100k_base",
        }
    }

    fn pattern(self) -> Pattern {
        match self {
            Self::O200kBase => Pattern::O200k,
            Self::Cl100kBase => Pattern::Cl100k,
        }
    }

    /// The vocabulary, decompressed on first use; `None` only if the embedded data is corrupt.
    fn vocab(self) -> Option<&'static Vocab> {
        static O200K: OnceLock<Option<Vocab>> = OnceLock::new();
        static CL100K: OnceLock<Option<Vocab>> = OnceLock::new();
        let (cell, data) = match self {
            Self::O200kBase => (&O200K, O200K_DATA),
            Self::Cl100kBase => (&CL100K, CL100K_DATA),
        };
        cell.get_or_init(|| {
            let vocab = zstd::stream::decode_all(data)
                .ok()
                .and_then(|raw| Vocab::parse(Box::leak(raw.into_boxed_slice())));
            if vocab.is_none() {
                log::error!(
                    target: "liter_llm",
                    "the embedded {} vocabulary is corrupt; token counts are estimates",
                    self.name()
                );
            }
            vocab
        })
        .as_ref()
    }

    /// Loads the vocabulary now (otherwise it loads on first use).
    pub fn preload(self) {
        let _ = self.vocab();
    }

    /// Token ids of `text` (special tokens are treated as ordinary text).
    pub fn encode(self, text: &str) -> Vec<Rank> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        if let Some(vocab) = self.vocab() {
            for piece in Pieces::new(text, self.pattern()) {
                vocab.encode(piece.as_bytes(), &mut out);
            }
        }
        out
    }

    /// Number of tokens in `text` (special tokens are treated as ordinary text).
    pub fn count(self, text: &str) -> u64 {
        match self.vocab() {
            Some(vocab) => Pieces::new(text, self.pattern())
                .map(|piece| vocab.count(piece.as_bytes()) as u64)
                .sum(),
            None => (text.len() as u64).div_ceil(4),
        }
    }
}

/// How to count tokens for one model; build once per request with [`Counter::for_model`].
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    encoding: Encoding,
    exact: bool,
    factor: f64,
    per_message: u64,
    per_name: i64,
    image: u64,
}

impl Counter {
    /// The counter for `model` (exact for OpenAI-family names, estimated otherwise), from the
    /// catalog's [`Tokenizer`] for it.
    pub fn for_model(model: &str) -> Self {
        let estimate = |factor: f64, image: u64| Self {
            encoding: Encoding::O200kBase,
            exact: false,
            factor,
            per_message: 3,
            per_name: 1,
            image,
        };
        match tokenizer_of(model) {
            Tokenizer::Exact {
                encoding,
                legacy_chat_format,
            } => Self {
                encoding,
                exact: true,
                factor: 1.0,
                per_message: if legacy_chat_format { 4 } else { 3 },
                per_name: if legacy_chat_format { -1 } else { 1 },
                image: 765,
            },
            Tokenizer::Claude => estimate(1.25, 1_400),
            Tokenizer::Mistral | Tokenizer::Unknown => estimate(1.10, 1_000),
            Tokenizer::NearO200k => estimate(1.05, 1_000),
        }
    }

    /// Whether counts are exact (an OpenAI encoding) rather than estimates.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The encoding used (for estimates, the one that is scaled).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Tokens in plain text.
    pub fn text(&self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        self.scale(self.encoding.count(text))
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn scale(&self, n: u64) -> u64 {
        if self.exact {
            n
        } else {
            (n as f64 * self.factor).ceil() as u64
        }
    }

    /// Tokens of one chat message, including the per-message overhead.
    pub fn message(&self, message: &Value) -> u64 {
        let Some(msg) = message.as_object() else {
            return self.per_message + self.json(message);
        };
        let mut n = self.per_message;
        for (key, value) in msg {
            match (key.as_str(), value) {
                ("role" | "tool_call_id", Value::String(s)) => n += self.text(s),
                ("name", Value::String(s)) => n = (n + self.text(s)).saturating_add_signed(self.per_name),
                ("content", content) => n += self.content(content),
                ("tool_calls", Value::Array(calls)) => {
                    for call in calls {
                        n += 3 + self.function(call.get("function").unwrap_or(call));
                    }
                }
                ("function_call", call) => n += 3 + self.function(call),
                _ => {}
            }
        }
        n
    }

    fn function(&self, f: &Value) -> u64 {
        let field = |k: &str| f.get(k).and_then(Value::as_str).map_or(0, |s| self.text(s));
        field("name") + field("arguments")
    }

    fn content(&self, content: &Value) -> u64 {
        match content {
            Value::String(s) => self.text(s),
            Value::Array(parts) => parts.iter().map(|p| self.part(p)).sum(),
            Value::Null => 0,
            other => self.json(other),
        }
    }

    fn part(&self, part: &Value) -> u64 {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "image_url" | "image" | "input_image" => {
                let detail = part
                    .get("image_url")
                    .and_then(|i| i.get("detail"))
                    .or_else(|| part.get("detail"))
                    .and_then(Value::as_str);
                if self.exact && detail == Some("low") {
                    85
                } else {
                    self.image
                }
            }
            "input_audio" | "audio" | "file" | "input_file" | "document" => MEDIA_PART_TOKENS,
            _ => match part {
                Value::String(s) => self.text(s),
                _ => ["text", "refusal"]
                    .iter()
                    .filter_map(|k| part.get(*k).and_then(Value::as_str))
                    .map(|s| self.text(s))
                    .sum(),
            },
        }
    }

    fn json(&self, value: &Value) -> u64 {
        match value {
            Value::Null => 0,
            Value::String(s) => self.text(s),
            other => self.text(&other.to_string()),
        }
    }

    /// Tokens of a chat conversation: every message plus the reply priming.
    pub fn messages(&self, messages: &Value) -> u64 {
        match messages {
            Value::Array(items) => items.iter().map(|m| self.message(m)).sum::<u64>() + REPLY_PRIMING_TOKENS,
            Value::Null => 0,
            other => self.message(other) + REPLY_PRIMING_TOKENS,
        }
    }

    /// Prompt tokens of a whole request body: its messages plus its tool definitions.
    pub fn request(&self, body: &Map<String, Value>) -> u64 {
        self.prompt(body.get("messages"), [body.get("tools"), body.get("functions")])
    }

    /// [`Counter::request`] of a body's `messages` and its `tools` and `functions`.
    pub fn prompt(&self, messages: Option<&Value>, tools: [Option<&Value>; 2]) -> u64 {
        self.with_tools(messages.map_or(0, |m| self.messages(m)), tools)
    }

    /// `n` tokens of messages plus the tool definitions'.
    fn with_tools(&self, n: u64, tools: [Option<&Value>; 2]) -> u64 {
        tools.into_iter().flatten().fold(n, |n, t| n + self.json(t))
    }
}

/// Tokens in `text` for `model` (exact for OpenAI-family models, estimated otherwise).
pub fn count_text_tokens(model: &str, text: &str) -> u64 {
    Counter::for_model(model).text(text)
}

/// Prompt tokens of a `messages` array for `model`, in OpenAI's chat format (see the module docs).
/// This is the rate limiter's TPM estimate for the prompt.
pub fn count_prompt_tokens(model: &str, messages: &Value) -> u64 {
    Counter::for_model(model).messages(messages)
}

/// Prompt tokens of a request body for `model`: its messages plus its tool definitions.
pub fn count_request_tokens(model: &str, body: &Map<String, Value>) -> u64 {
    Counter::for_model(model).request(body)
}

/// Whether token counts for `model` are exact.
pub fn is_exact(model: &str) -> bool {
    Encoding::for_model(model).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodings_by_model() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "openai/gpt-4.1-nano",
            "gpt-5",
            "o1",
            "o3-mini",
            "o4-mini",
            "ft:gpt-4o-mini:org::x",
            "gpt-oss-120b",
        ] {
            assert_eq!(Encoding::for_model(m), Some(Encoding::O200kBase), "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-0613",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
        ] {
            assert_eq!(Encoding::for_model(m), Some(Encoding::Cl100kBase), "{m}");
        }
        for m in [
            "claude-sonnet-4-5",
            "gemini-2.5-pro",
            "llama-3.3-70b-versatile",
            "o1x",
            "gpt-40",
        ] {
            assert_eq!(Encoding::for_model(m), None, "{m}");
        }
    }

    #[test]
    fn known_token_ids() {
        // tiktoken's documented examples.
        assert_eq!(Encoding::Cl100kBase.encode("hello world"), [15339, 1917]);
        assert_eq!(Encoding::O200kBase.encode("hello world"), [24912, 2375]);
        assert_eq!(Encoding::Cl100kBase.count("tiktoken is great!"), 6);
        assert_eq!(Encoding::O200kBase.count("tiktoken is great!"), 6);
        assert_eq!(Encoding::Cl100kBase.count(""), 0);
    }

    #[test]
    fn chat_overhead_matches_openai_cookbook() {
        // The OpenAI cookbook's example conversation counts 129 prompt tokens for gpt-4 and
        // gpt-3.5-turbo-0613 (cl100k_base) and 124 for gpt-4o (o200k_base).
        let messages = json!([
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
        ]);
        assert_eq!(count_prompt_tokens("gpt-4", &messages), 129);
        assert_eq!(count_prompt_tokens("gpt-3.5-turbo-0613", &messages), 129);
        assert_eq!(count_prompt_tokens("gpt-4o", &messages), 124);
        assert_eq!(count_prompt_tokens("gpt-4o-mini", &messages), 124);
    }

    #[test]
    fn estimates_err_high_for_other_providers() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let exact = count_text_tokens("gpt-4o", &text);
        let claude = count_text_tokens("claude-sonnet-4-5", &text);
        assert!(!is_exact("claude-sonnet-4-5"));
        assert_eq!(claude, (exact as f64 * 1.25).ceil() as u64);
        assert!(count_text_tokens("my-local-model", &text) > exact);
    }

    #[test]
    fn multimodal_and_tool_messages() {
        let c = Counter::for_model("gpt-4o");
        let image = json!({"role": "user", "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        ]});
        // 3 overhead + "user" (1) + "hello world" (2) + 85.
        assert_eq!(c.message(&image), 3 + 1 + 2 + 85);
        let high = json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]});
        assert_eq!(c.message(&high), 3 + 1 + 765);
        let call = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]});
        let tool = json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"});
        assert!(c.message(&call) > 3 + 3);
        assert!(c.message(&tool) > 3);
        let mut body = Map::new();
        body.insert("messages".into(), json!([{"role": "user", "content": "hi"}]));
        let without = c.request(&body);
        body.insert(
            "tools".into(),
            json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        );
        assert!(c.request(&body) > without);
    }

    #[test]
    fn long_repetitive_input_is_fast() {
        let text = " ".repeat(200_000) + &"a".repeat(200_000);
        let start = std::time::Instant::now();
        assert!(Encoding::O200kBase.count(&text) > 0);
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    /// Compares ids with tiktoken-rs (the reference: tiktoken's regexes through fancy-regex).
    fn same_as_tiktoken(text: &str) {
        let refs = [
            (Encoding::O200kBase, tiktoken_rs::o200k_base_singleton()),
            (Encoding::Cl100kBase, tiktoken_rs::cl100k_base_singleton()),
        ];
        for (ours, reference) in refs {
            let want = reference.encode_ordinary(text);
            assert_eq!(ours.encode(text), want, "{} on {text:?}", ours.name());
            assert_eq!(ours.count(text), want.len() as u64, "{} on {text:?}", ours.name());
        }
    }

    #[test]
    fn identical_to_tiktoken_on_tricky_text() {
        for text in [
            "",
            " ",
            "\n",
            "Hello, world! It's a test. I'M SURE you'LL see; they've gone, we'd agreed.",
            "   leading and trailing spaces   ",
            "tabs\tand\r\nwindows\r\n\r\nnewlines\n\n\n  \n x",
            "numbers 1 12 123 1234 12345 3.14159 1,000,000 ١٢٣٤ ½ ²",
            "ſ's 'S 's 'Re 'VE 'll 'LL 'd 'm 't 'x '",
            "CamelCaseWords HTTPServerError iPhone ǅungla ǈ ʰʱ 中文字符测试 日本語のテキスト 한국어",
            "combining e\u{301}\u{302} \u{301}a \u{301}\u{301} ÅÅ naïve café",
            "emoji 😀😀 👍🏽 🇫🇷 ✓✓ — – … «quotes» “curly” ‘single’",
            "code: fn main() { let x = vec![1, 2, 3]; println!(\"{x:?}\"); } // done",
            "paths /usr/local/bin and urls https://example.com/a/b?c=d&e=f#g",
            "punct!!!\n\n///\r\n/ ??? ... ,,, ;;; :::",
            "\u{a0}non\u{a0}breaking\u{2009}thin\u{3000}ideographic\u{2028}line",
            "ǅ\u{301}x Aʰb ABC'S abc'S",
        ] {
            same_as_tiktoken(text);
        }
        // A long piece takes the heap-based merge path.
        same_as_tiktoken(&"abcdefghij".repeat(50));
        same_as_tiktoken(&" ".repeat(1000));
        same_as_tiktoken(&"=-".repeat(300));
    }

    #[test]
    fn identical_to_tiktoken_on_real_files() {
        for text in [
            include_str!("../../README.md"),
            include_str!("../sanitize.rs"),
            include_str!("../catalog/models.json"),
            include_str!("generate.py"),
        ] {
            same_as_tiktoken(text);
        }
    }

    #[test]
    fn identical_to_tiktoken_on_random_text() {
        // Characters from every class the split patterns distinguish.
        let alphabet: Vec<char> = "aZz Q\t\n\r'sStTlLdDmMvVeErR019٣½!?.,;/-_()\"ſǅʰ中é\u{301}\u{a0}\u{3000}😀—"
            .chars()
            .collect();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for _ in 0..3000 {
            let len = next(40);
            let text: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            same_as_tiktoken(&text);
        }
    }
}
