//! The reply the mock sends and its token counts: the fallback text, the deterministic
//! prompt-token estimate, and [`make_reply`], which applies a `max_tokens` limit and bills
//! completion tokens as OpenAI's current models do (o200k_base).

use crate::tokens::Encoding;

/// Reply used when there is nothing to echo.
pub(crate) const FALLBACK_REPLY: &str = "Hello! This is the liter_llm mock provider.";

/// Deterministic token estimate: a quarter of the characters, rounded up.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// The reply actually sent, after `max_tokens` truncation.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) finish_reason: &'static str,
    /// Completion tokens of one choice.
    pub(crate) tokens: u64,
}

/// Completion tokens of a reply text: o200k_base, as OpenAI's current models bill them.
pub(crate) fn reply_tokens(text: &str) -> u64 {
    Encoding::O200kBase.count(text)
}

/// Applies the `max_tokens` limit to `text`: a reply over the limit is cut to its longest
/// prefix of at most `limit` tokens ending at a word (or, when the first word is already too
/// long, at a character) and bills exactly `limit`, as a provider that stopped generating at
/// the limit does.
pub(crate) fn make_reply(text: String, max_tokens: Option<u64>) -> Reply {
    let tokens = reply_tokens(&text);
    match max_tokens {
        Some(limit) if tokens > limit => {
            let longest = |bounds: &[usize]| {
                let fits = bounds.partition_point(|&end| reply_tokens(&text[..end]) <= limit);
                fits.checked_sub(1).map(|i| bounds[i])
            };
            let words: Vec<usize> = text
                .char_indices()
                .filter(|&(i, c)| i > 0 && c.is_whitespace())
                .map(|(i, _)| i)
                .collect();
            let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
            let cut = longest(&words).or_else(|| longest(&chars)).unwrap_or(0);
            let mut text = text;
            text.truncate(cut);
            Reply {
                tokens: limit.max(1),
                text,
                finish_reason: "length",
            }
        }
        _ => Reply {
            tokens: tokens.max(1),
            text,
            finish_reason: "stop",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_over_max_tokens_are_cut_to_the_limit_on_a_char_boundary() {
        let text = "The quick brown fox jumps over the lazy dog, then naps in the sun.";
        let reply = make_reply(text.to_owned(), Some(4));
        assert_eq!(reply.text, "The quick brown fox");
        assert_eq!((reply.finish_reason, reply.tokens), ("length", 4));
        let reply = make_reply("日本語のテキストです".to_owned(), Some(2));
        assert!(reply_tokens(&reply.text) <= 2 && !reply.text.is_empty());
        assert_eq!(reply.tokens, 2);
        let reply = make_reply(text.to_owned(), None);
        assert_eq!((reply.finish_reason, reply.tokens), ("stop", reply_tokens(text)));
    }
}
