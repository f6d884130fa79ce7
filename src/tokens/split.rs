//! Pre-tokenizers: split text into the pieces BPE runs on, exactly as tiktoken's regular
//! expressions for `o200k_base` and `cl100k_base` do, written as hand-made scanners (no regex
//! engine) that follow the patterns' leftmost-first, greedy-with-backtracking semantics.
//!
//! `o200k_base`:
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//! `cl100k_base`:
//! ```text
//! '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+
//! |\s++$|\s*[\r\n]|\s+(?!\S)|\s
//! ```
//! The tests compare both scanners with tiktoken-rs (which runs these patterns through
//! fancy-regex) on fixed and random text.

use super::unicode::{class, Class};

/// Which split pattern to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// The `o200k_base` pattern.
    O200k,
    /// The `cl100k_base` pattern.
    Cl100k,
}

/// Iterator over the pieces of a text.
pub struct Pieces<'a> {
    text: &'a str,
    pos: usize,
    pattern: Pattern,
}

impl<'a> Pieces<'a> {
    /// Splits `text` with `pattern`.
    pub fn new(text: &'a str, pattern: Pattern) -> Self {
        Self { text, pos: 0, pattern }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let s = Scanner(self.text);
        let end = match self.pattern {
            Pattern::O200k => s.o200k(self.pos),
            Pattern::Cl100k => s.cl100k(self.pos),
        };
        // Every alternative consumes at least one character; guard anyway.
        let end = if end > self.pos { end } else { s.after(self.pos) };
        let piece = &self.text[self.pos..end];
        self.pos = end;
        Some(piece)
    }
}

#[derive(Clone, Copy)]
struct Scanner<'a>(&'a str);

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`
fn is_upperish(k: Class) -> bool {
    matches!(
        k,
        Class::Upper | Class::Title | Class::Modifier | Class::OtherLetter | Class::Mark
    )
}

/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`
fn is_lowerish(k: Class) -> bool {
    matches!(k, Class::Lower | Class::Modifier | Class::OtherLetter | Class::Mark)
}

/// `[^\r\n\p{L}\p{N}]`
fn is_prefix(c: char, k: Class) -> bool {
    c != '\r' && c != '\n' && !k.is_letter() && !k.is_number()
}

/// `[^\s\p{L}\p{N}]`
fn is_punct(k: Class) -> bool {
    !k.is_space() && !k.is_letter() && !k.is_number()
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// `s` under Unicode simple case folding (`s`, `S`, `ſ`).
fn is_s(c: char) -> bool {
    matches!(c, 's' | 'S' | '\u{17F}')
}

impl Scanner<'_> {
    /// The character at byte `i`, its class and the byte after it.
    #[inline]
    fn at(self, i: usize) -> Option<(char, Class, usize)> {
        let c = self.0.get(i..)?.chars().next()?;
        Some((c, class(c), i + c.len_utf8()))
    }

    /// The byte after the character at `i`.
    fn after(self, i: usize) -> usize {
        self.at(i).map_or(self.0.len(), |(_, _, n)| n)
    }

    /// The start of the character before byte `i`.
    fn before(self, i: usize) -> usize {
        self.0[..i].chars().next_back().map_or(0, |c| i - c.len_utf8())
    }

    /// End of the run of characters from `i` whose class satisfies `f`.
    #[inline]
    fn run(self, mut i: usize, f: impl Fn(char, Class) -> bool) -> usize {
        while let Some((c, k, n)) = self.at(i) {
            if !f(c, k) {
                break;
            }
            i = n;
        }
        i
    }

    /// End of `\p{N}{1,3}` at `i`, if it matches.
    fn digits(self, i: usize) -> Option<usize> {
        let mut end = i;
        for _ in 0..3 {
            match self.at(end) {
                Some((_, k, n)) if k.is_number() => end = n,
                _ => break,
            }
        }
        (end > i).then_some(end)
    }

    /// End of ` ?[^\s\p{L}\p{N}]+` followed by a run of `tail` characters, if it matches.
    fn punct(self, i: usize, tail: impl Fn(char) -> bool) -> Option<usize> {
        let (c0, _, i1) = self.at(i)?;
        let start = match self.at(i1) {
            Some((_, k, _)) if c0 == ' ' && is_punct(k) => i1,
            _ => i,
        };
        let end = self.run(start, |_, k| is_punct(k));
        (end > start).then(|| self.run(end, |c, _| tail(c)))
    }

    /// End of the whitespace run at `i`, and the end of its last `\r`/`\n` if it has one.
    fn spaces(self, i: usize) -> (usize, Option<usize>) {
        let mut j = i;
        let mut newline = None;
        while let Some((c, k, n)) = self.at(j) {
            if !k.is_space() {
                break;
            }
            if is_newline(c) {
                newline = Some(n);
            }
            j = n;
        }
        (j, newline)
    }

    /// End of `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `i` (o200k's contraction suffix).
    fn contraction(self, i: usize) -> usize {
        let Some(('\'', _, i1)) = self.at(i) else { return i };
        let Some((a, _, i2)) = self.at(i1) else { return i };
        let lower = a.to_ascii_lowercase();
        if is_s(a) || matches!(lower, 't' | 'm' | 'd') {
            return i2;
        }
        let Some((b, _, i3)) = self.at(i2) else { return i };
        let b = b.to_ascii_lowercase();
        if matches!((lower, b), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
            return i3;
        }
        i
    }

    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` + contraction, from `s`.
    fn o200k_word_lower(self, s: usize) -> Option<usize> {
        let a = self.run(s, |_, k| is_upperish(k));
        // Backtrack the greedy upper run until a lower-ish character can start the second run.
        let mut k = a;
        loop {
            if let Some((_, cls, n)) = self.at(k) {
                if is_lowerish(cls) {
                    let b = self.run(n, |_, c| is_lowerish(c));
                    return Some(self.contraction(b));
                }
            }
            if k == s {
                return None;
            }
            k = self.before(k);
        }
    }

    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*` + contraction, from `s`.
    fn o200k_word_upper(self, s: usize) -> Option<usize> {
        let a = self.run(s, |_, k| is_upperish(k));
        if a == s {
            return None;
        }
        let b = self.run(a, |_, k| is_lowerish(k));
        Some(self.contraction(b))
    }

    fn o200k(self, i: usize) -> usize {
        let Some((c0, k0, i1)) = self.at(i) else { return i };
        let prefixed = is_prefix(c0, k0);
        for word in [Self::o200k_word_lower, Self::o200k_word_upper] {
            if prefixed {
                if let Some(end) = word(self, i1) {
                    return end;
                }
            }
            if let Some(end) = word(self, i) {
                return end;
            }
        }
        if let Some(end) = self.digits(i) {
            return end;
        }
        if let Some(end) = self.punct(i, |c| matches!(c, '\r' | '\n' | '/')) {
            return end;
        }
        // Only whitespace is left.
        let (j, newline) = self.spaces(i);
        if let Some(end) = newline {
            return end;
        }
        if j == self.0.len() {
            return j;
        }
        let back = self.before(j);
        if back > i {
            return back;
        }
        j.max(i1)
    }

    fn cl100k(self, i: usize) -> usize {
        let Some((c0, k0, i1)) = self.at(i) else { return i };
        if c0 == '\'' {
            if let Some((a, _, i2)) = self.at(i1) {
                if is_s(a) || matches!(a.to_ascii_lowercase(), 'd' | 'm' | 't') {
                    return i2;
                }
                if let Some((b, _, i3)) = self.at(i2) {
                    let pair = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
                    if matches!(pair, ('l', 'l') | ('v', 'e') | ('r', 'e')) {
                        return i3;
                    }
                }
            }
        }
        let start = if is_prefix(c0, k0) { i1 } else { i };
        let end = self.run(start, |_, k| k.is_letter());
        if end > start {
            return end;
        }
        if let Some(end) = self.digits(i) {
            return end;
        }
        if let Some(end) = self.punct(i, is_newline) {
            return end;
        }
        let (j, newline) = self.spaces(i);
        if j > i && j == self.0.len() {
            return j;
        }
        if let Some(end) = newline {
            return end;
        }
        let back = self.before(j);
        if back > i {
            return back;
        }
        i1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, p: Pattern) -> Vec<&str> {
        Pieces::new(text, p).collect()
    }

    #[test]
    fn o200k_pieces() {
        assert_eq!(
            split("Hello world, it's 2024!\n\n  Done", Pattern::O200k),
            ["Hello", " world", ",", " it's", " ", "202", "4", "!\n\n", " ", " Done"]
        );
        assert_eq!(split("HTTPServer", Pattern::O200k), ["HTTPServer"]);
        assert_eq!(split("ABC def", Pattern::O200k), ["ABC", " def"]);
        assert_eq!(split("a/b//\n", Pattern::O200k), ["a", "/b", "//\n"]);
        assert_eq!(split("x  ", Pattern::O200k), ["x", "  "]);
    }

    #[test]
    fn cl100k_pieces() {
        assert_eq!(
            split("Hello world, it's 2024!\n\n  Done", Pattern::Cl100k),
            ["Hello", " world", ",", " it", "'s", " ", "202", "4", "!\n\n", " ", " Done"]
        );
        assert_eq!(split("I'LL go", Pattern::Cl100k), ["I", "'LL", " go"]);
        assert_eq!(split("x \n y", Pattern::Cl100k), ["x", " \n", " y"]);
        assert_eq!(split("end  ", Pattern::Cl100k), ["end", "  "]);
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = "mixed: ABCdef 12345 ‘quotes’ 日本語テキスト \u{301}e\r\n\t x";
        for p in [Pattern::O200k, Pattern::Cl100k] {
            assert_eq!(split(text, p).concat(), text);
        }
    }
}
