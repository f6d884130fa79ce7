//! Native provider protocols: each module turns an OpenAI-shaped chat request into the
//! provider's wire format and the provider's answers (bodies, stream events, errors) back into
//! the OpenAI-shaped types, so every provider yields the same response, chunks and errors.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::error::{Error, Kind, Result};

pub mod adapter;
pub mod anthropic;
pub mod azure;
pub mod gemini;
pub mod openai;
pub mod registry;
pub mod route;

/// A native model list in OpenAI's shape: the objects under `items` in `body`, each read by
/// `read` into its id and creation time, owned by `owner`.
///
/// # Errors
/// `Serialization` for a body that is not JSON.
pub(crate) fn model_list(
    body: &[u8],
    items: &str,
    owner: &str,
    read: impl Fn(&Value) -> (String, i64),
) -> Result<crate::types::ModelsListResponse> {
    let doc: Value = crate::api::parse(body, "model list")?;
    let data = doc
        .get(items)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let mut extra = m.as_object().cloned().unwrap_or_default();
            let (id, created) = read(m);
            extra.remove("id");
            crate::types::ModelObject {
                id,
                object: "model".to_owned(),
                created,
                owned_by: owner.to_owned(),
                extra,
            }
        })
        .collect();
    Ok(crate::types::ModelsListResponse {
        object: "list".to_owned(),
        data,
        ..crate::types::ModelsListResponse::default()
    })
}

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

/// Whether `segment` is `.` or `..` in any spelling a URL parser or server resolves as a path
/// step: each dot literal or percent-encoded (`%2e`, `%2E`). The one rule for every name or id
/// that goes into a URL path.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// Whether `name`, split at `/` and `\` (which URL parsers take for `/`), has a `.` or `..`
/// segment.
pub(crate) fn has_dot_segment(name: &str) -> bool {
    name.split(['/', '\\']).any(is_dot_segment)
}

/// `name` (a model, deployment or resource name) made safe inside a URL path: `?`, `#`, `%`,
/// `\`, whitespace, controls and non-ASCII bytes are percent-encoded, so the name can never
/// change the query or fragment (`/` is kept: Gemini resource names are paths).
///
/// # Errors
/// `InvalidArgument` for a name with a `.` or `..` segment, which would leave the provider's
/// path (`azure/../../x`).
pub(crate) fn path_escape(name: &str) -> Result<Cow<'_, str>> {
    if has_dot_segment(name) {
        return Err(Error::new(
            Kind::InvalidArgument,
            format!("a model name must not have a '.' or '..' path segment, got {name:?}"),
        ));
    }
    Ok(escape(name))
}

fn escape(text: &str) -> Cow<'_, str> {
    let unsafe_byte = |b: u8| matches!(b, b'?' | b'#' | b'%' | b'\\') || !b.is_ascii_graphic();
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
    use super::*;

    /// Names that are not path steps, with their escaped form.
    const GOOD: &[(&str, &str)] = &[
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("gpt-4.1", "gpt-4.1"),
        ("tunedModels/my-model", "tunedModels/my-model"),
        ("x?key=1#f 100%é", "x%3Fkey=1%23f%20100%25%C3%A9"),
        ("...", "..."),
        (".x", ".x"),
        ("x.", "x."),
        ("..x/y..", "..x/y.."),
        ("%2e%2e%2e", "%252e%252e%252e"),
        ("%2ex", "%252ex"),
        ("a\\b", "a%5Cb"),
        (". .", ".%20."),
        (".\t.", ".%09."),
        ("a//b", "a//b"),
    ];

    /// Names with a `.` or `..` segment in some spelling.
    const BAD: &[&str] = &[
        ".",
        "..",
        "./x",
        "../x",
        "x/..",
        "x/.",
        "a/../b",
        "a/./b",
        "../../../../x",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2E%2E",
        "%2e.",
        ".%2E",
        "%2e%2E/x",
        "x/%2e%2e",
        "..\\x",
        "x\\..",
        "a\\.\\b",
        "models/..",
        "tunedModels/../files",
    ];

    #[test]
    fn path_escape_keeps_names_and_encodes_what_could_change_the_url() {
        for (name, want) in GOOD {
            assert_eq!(path_escape(name).unwrap(), *want, "{name:?}");
            assert!(!has_dot_segment(name), "{name:?}");
        }
    }

    #[test]
    fn path_escape_rejects_dot_segments_in_every_spelling() {
        for name in BAD {
            let err = path_escape(name).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidArgument, "{name:?}");
            assert!(err.message().contains(&format!("{name:?}")), "{}", err.message());
        }
    }

    #[test]
    fn escaped_names_stay_under_the_base_path() {
        let base = "https://host.example/v1/openai/deployments";
        for (name, _) in GOOD {
            let url = reqwest::Url::parse(&format!("{base}/{}/chat", path_escape(name).unwrap())).unwrap();
            assert!(url.path().starts_with("/v1/openai/deployments/"), "{name:?}: {url}");
            assert_eq!((url.query(), url.fragment()), (None, None), "{name:?}");
        }
    }

    #[test]
    fn choice_indexes_are_bounded() {
        let at = |v: Value, position| choice_index(Some(&v), position, Kind::Streaming);
        assert_eq!(at(Value::from(0), 5).unwrap(), 0);
        assert_eq!(at(Value::from(MAX_CHOICES - 1), 0).unwrap(), MAX_CHOICES - 1);
        assert_eq!(choice_index(None, 3, Kind::Serialization).unwrap(), 3);
        // Not an unsigned integer: the position stands in.
        for v in [Value::from(-1), Value::from(1e30), Value::from("7"), Value::Null] {
            assert_eq!(at(v, 2).unwrap(), 2);
        }
        for v in [
            Value::from(MAX_CHOICES),
            Value::from(u64::from(u32::MAX)),
            Value::from(u64::MAX),
        ] {
            assert_eq!(at(v, 0).unwrap_err().kind(), Kind::Streaming);
        }
        let far = choice_index(None, usize::MAX, Kind::Serialization).unwrap_err();
        assert_eq!(far.kind(), Kind::Serialization);
    }
}
