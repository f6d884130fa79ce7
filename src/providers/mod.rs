//! Native provider protocols: each module turns an OpenAI-shaped chat request into the
//! provider's wire format and the provider's answers (bodies, stream events, errors) back into
//! the OpenAI-shaped types, so every provider yields the same response, chunks and errors.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::error::{Error, Kind, Result};

pub mod anthropic;
pub mod gemini;
pub mod registry;
pub mod route;

/// Most choices one answer may carry (OpenAI's `n` is at most 128, Gemini's `candidateCount`
/// at most 8): a choice index at or past it is an error, so a number from the wire can never
/// size memory.
pub const MAX_CHOICES: u32 = 128;

/// The index of the choice at `position` of an answer: its `index` field when that is an
/// unsigned integer, else its position.
///
/// # Errors
/// `kind` (`Streaming` in streams, `Serialization` in bodies) for an index of
/// [`MAX_CHOICES`] or more.
pub(crate) fn choice_index(index: Option<&Value>, position: usize, kind: Kind) -> Result<u32> {
    let index = index
        .and_then(Value::as_u64)
        .unwrap_or_else(|| u64::try_from(position).unwrap_or(u64::MAX));
    u32::try_from(index).ok().filter(|i| *i < MAX_CHOICES).ok_or_else(|| {
        Error::new(
            kind,
            format!("choice index {index} is out of range (at most {MAX_CHOICES} choices)"),
        )
    })
}

/// `text` made safe inside a URL path: `?`, `#`, `%`, whitespace, controls and non-ASCII bytes
/// are percent-encoded, so a model or deployment name can never change the query or fragment
/// (`/` is kept: Gemini resource names are paths).
pub(crate) fn path_escape(text: &str) -> Cow<'_, str> {
    let unsafe_byte = |b: u8| matches!(b, b'?' | b'#' | b'%') || !b.is_ascii_graphic();
    if !text.bytes().any(unsafe_byte) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if unsafe_byte(b) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_escape_keeps_names_and_encodes_what_could_change_the_url() {
        assert_eq!(super::path_escape("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(super::path_escape("tunedModels/my-model"), "tunedModels/my-model");
        assert_eq!(super::path_escape("x?key=1#f 100%é"), "x%3Fkey=1%23f%20100%25%C3%A9");
    }
}
