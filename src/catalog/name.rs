//! Reading a model string without allocating: the model's own name (the last `/` segment, an
//! OpenAI `ft:` fine-tune prefix removed), its `provider/` segments, and ASCII case-insensitive
//! prefix, family and substring tests.

/// Characters that may follow a family prefix (`o3-mini`, `gpt-4o:ft`, `gpt-4.1`, `o1@x`, `o1_x`).
pub const BOUNDARIES: [char; 5] = ['-', '.', ':', '@', '_'];

/// The model's own name: the last `/` segment, without a leading `ft:` (any case), trimmed.
pub fn base(model: &str) -> &str {
    let last = model.rsplit('/').next().unwrap_or(model).trim();
    strip_ft(last)
}

/// `name` without a leading `ft:` (any case).
pub fn strip_ft(name: &str) -> &str {
    if starts_with(name, "ft:") {
        &name[3..]
    } else {
        name
    }
}

/// The `provider/` segments before the model's own name, leftmost first.
pub fn prefixes(model: &str) -> impl Iterator<Item = &str> {
    let mut segments = model.trim().split('/');
    segments.next_back();
    segments
}

/// Whether `name` starts with `prefix`, ASCII case-insensitively.
pub fn starts_with(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether `name` is `prefix` or `prefix` followed by a [`BOUNDARIES`] character, ASCII
/// case-insensitively (`gpt-4o-mini` is in the `gpt-4o` family, `gpt-40` is not in `gpt-4`).
pub fn in_family(name: &str, prefix: &str) -> bool {
    starts_with(name, prefix)
        && name
            .as_bytes()
            .get(prefix.len())
            .is_none_or(|b| BOUNDARIES.contains(&char::from(*b)))
}

/// Whether `name` contains `needle`, ASCII case-insensitively.
pub fn contains(name: &str, needle: &str) -> bool {
    name.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}
