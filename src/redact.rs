//! Keeps an API key out of everything a server can make the client show: error messages,
//! error bodies (string values and object keys), request ids and log lines.
//!
//! Redaction always runs before truncation, so a cut can never leave part of a key behind; a
//! text that was already cut short when it arrived (an error body read up to its cap) also
//! loses a trailing prefix of the key. Secrets shorter than 4 bytes are not searched for, since
//! they would match ordinary text.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// What a key is replaced with.
pub const MASK: &str = "[redacted]";
/// Secrets (and cut-off key prefixes) shorter than this are left alone.
const MIN_SECRET: usize = 4;

/// Whether `secret` is long enough to be searched for.
fn searchable(secret: &str) -> bool {
    secret.len() >= MIN_SECRET
}

/// `text` with every occurrence of `secret` masked (borrowed when there is none).
pub fn text<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if searchable(secret) && text.contains(secret) {
        Cow::Owned(text.replace(secret, MASK))
    } else {
        Cow::Borrowed(text)
    }
}

/// Raw bytes with every occurrence of `secret` masked; when the bytes were `cut` short, a
/// trailing prefix of the key is masked too.
pub fn bytes<'a>(raw: &'a [u8], secret: &str, cut: bool) -> Cow<'a, [u8]> {
    if !searchable(secret) {
        return Cow::Borrowed(raw);
    }
    let needle = secret.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= raw.len() {
        if raw[i..].starts_with(needle) {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(raw.len()));
            buf.extend_from_slice(&raw[start..i]);
            buf.extend_from_slice(MASK.as_bytes());
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    let tail = &raw[start..];
    let partial = if cut { trailing_prefix(tail, needle) } else { 0 };
    if out.is_none() && partial == 0 {
        return Cow::Borrowed(raw);
    }
    let mut buf = out.unwrap_or_else(|| Vec::with_capacity(raw.len()));
    buf.extend_from_slice(&tail[..tail.len() - partial]);
    if partial > 0 {
        buf.extend_from_slice(MASK.as_bytes());
    }
    Cow::Owned(buf)
}

/// The length of the longest proper prefix of `needle` (at least [`MIN_SECRET`] bytes) that
/// `hay` ends with; 0 when none.
fn trailing_prefix(hay: &[u8], needle: &[u8]) -> usize {
    let longest = needle.len().saturating_sub(1).min(hay.len());
    (MIN_SECRET..=longest)
        .rev()
        .find(|&n| hay.ends_with(&needle[..n]))
        .unwrap_or(0)
}

/// Masks `secret` in `text`, then cuts it to at most `max` bytes on a character boundary.
pub fn cut(text: &str, max: usize, secret: &str) -> String {
    let clean = self::text(text, secret);
    if clean.len() <= max {
        return clean.into_owned();
    }
    let mut end = max;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_owned()
}

/// Masks `secret` in every string and every object key of a JSON value.
pub fn value(value: &mut Value, secret: &str) {
    if !searchable(secret) {
        return;
    }
    match value {
        Value::String(s) if s.contains(secret) => *s = s.replace(secret, MASK),
        Value::Array(items) => items.iter_mut().for_each(|v| self::value(v, secret)),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains(secret)) {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(k, v)| (k.replace(secret, MASK), v))
                    .collect::<Map<String, Value>>();
            }
            map.values_mut().for_each(|v| self::value(v, secret));
        }
        _ => {}
    }
}

/// `url` with any `user:password@` credentials replaced by `***@`, for display.
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let rest = &url[scheme_end..];
    let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
    match authority.rfind('@') {
        Some(at) => Cow::Owned(format!("{}***{}", &url[..scheme_end], &rest[at..])),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-live-0123456789abcdef";

    #[test]
    fn masks_every_occurrence_and_borrows_clean_text() {
        assert!(matches!(text("nothing here", KEY), Cow::Borrowed(_)));
        let echoed = format!("bad key {KEY} and again {KEY}.");
        assert_eq!(text(&echoed, KEY), "bad key [redacted] and again [redacted].");
        assert_eq!(text("short abc", "abc"), "short abc");
    }

    #[test]
    fn cutting_after_masking_never_leaves_a_key_prefix() {
        for pad in 0..40 {
            let body = format!("{}{KEY} trailing", "x".repeat(pad));
            for max in 0..body.len() {
                let shown = cut(&body, max, KEY);
                assert!(!shown.contains(&KEY[..MIN_SECRET]), "pad {pad} max {max}: {shown}");
            }
        }
    }

    #[test]
    fn bytes_cut_short_on_arrival_lose_the_key_prefix() {
        for n in 0..KEY.len() {
            let raw = format!("{{\"error\": \"{}", &KEY[..n]);
            let shown = bytes(raw.as_bytes(), KEY, true);
            let shown = String::from_utf8_lossy(&shown);
            if n >= MIN_SECRET {
                assert!(shown.ends_with(MASK), "{n}: {shown}");
            }
            assert!(!shown.contains(&KEY[..MIN_SECRET]), "{n}: {shown}");
        }
        let whole = format!("a{KEY}b{KEY}");
        assert_eq!(&*bytes(whole.as_bytes(), KEY, false), b"a[redacted]b[redacted]");
        assert!(matches!(bytes(b"clean body", KEY, true), Cow::Borrowed(_)));
    }

    #[test]
    fn urls_lose_their_credentials_only() {
        let cases = [
            ("https://user:pa55@host:8080/v1?x=1", "https://***@host:8080/v1?x=1"),
            ("http://tok@host/v1", "http://***@host/v1"),
            ("http://a:b@c@host", "http://***@host"),
            ("http://host/v1?email=a@b.c", "http://host/v1?email=a@b.c"),
            ("http://host/p@th", "http://host/p@th"),
            ("not a url", "not a url"),
        ];
        for (given, shown) in cases {
            assert_eq!(url(given), shown);
        }
    }

    #[test]
    fn json_keys_and_values_are_masked_in_order() {
        let mut v = serde_json::json!({
            "first": 1,
            KEY: {"nested": [format!("x{KEY}"), {KEY: KEY}]},
            "last": 2,
        });
        value(&mut v, KEY);
        let shown = v.to_string();
        assert!(!shown.contains(KEY), "{shown}");
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["first", "[redacted]", "last"]);
    }
}
