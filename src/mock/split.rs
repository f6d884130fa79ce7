//! Splitting a reply into stream pieces: one per word, a given number of even pieces, or the
//! boundaries of explicitly configured pieces. Pieces always concatenate back to the text.

/// Splits `text` into pieces that each start at a word, keeping whitespace attached to the
/// following word, so the pieces concatenate back to `text` exactly.
pub(crate) fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if space && !prev_space && i > start {
            pieces.push(&text[start..i]);
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits `text` into exactly `parts` pieces of nearly equal character counts (trailing pieces
/// are empty when `text` has fewer characters than `parts`).
pub(crate) fn split_even(text: &str, parts: usize) -> Vec<&str> {
    let parts = parts.max(1);
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = bounds.len() - 1;
    let (base, extra) = (chars / parts, chars % parts);
    let mut pieces = Vec::with_capacity(parts);
    let mut at = 0;
    for k in 0..parts {
        let len = base + usize::from(k < extra);
        pieces.push(&text[bounds[at]..bounds[at + len]]);
        at += len;
    }
    pieces
}

/// Splits `text` (a prefix of the concatenation of `given`) at the boundaries of `given`;
/// pieces past the end of `text` are dropped and the last one is shortened.
pub(crate) fn split_given<'a>(text: &'a str, given: &[String]) -> Vec<&'a str> {
    let mut pieces = Vec::with_capacity(given.len());
    let mut at = 0;
    for piece in given {
        if at >= text.len() && !piece.is_empty() {
            break;
        }
        let end = (at + piece.len()).min(text.len());
        match text.get(at..end) {
            Some(slice) => pieces.push(slice),
            None => break,
        }
        at = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_whitespace() {
        let text = "  Hello big\n world! ";
        let pieces = split_words(text);
        assert_eq!(pieces, vec!["  Hello", " big", "\n world!", " "]);
        assert_eq!(pieces.concat(), text);
        assert!(split_words("").is_empty());
    }

    #[test]
    fn even_split_is_exact() {
        let text = "héllo wörld";
        for parts in 1..20 {
            let pieces = split_even(text, parts);
            assert_eq!(pieces.len(), parts);
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(split_even("abcdefg", 3), vec!["abc", "de", "fg"]);
    }

    #[test]
    fn given_pieces_follow_truncation() {
        let given: Vec<String> = ["Hel", "lo, ", "wor", "ld"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(split_given("Hello, world", &given), vec!["Hel", "lo, ", "wor", "ld"]);
        assert_eq!(split_given("Hello", &given), vec!["Hel", "lo"]);
    }
}
