//! Character classes for the pre-tokenizer: the Unicode general categories tiktoken's split
//! patterns name (`\p{Lu}`, `\p{Ll}`, `\p{Lt}`, `\p{Lm}`, `\p{Lo}`, `\p{M}`, `\p{N}`) and `\s`
//! (the White_Space property), from a generated table (Unicode 16.0, as the regex crate uses).
//!
//! Lookup is a 2 KiB direct table below U+0800 and a binary search over about 3,200 ranges above.

#[rustfmt::skip]
#[path = "unicode_table.rs"]
mod table;

/// The class of one character; the numbers match `generate.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// Anything else: punctuation, symbols, controls, unassigned.
    Other = 0,
    /// Uppercase letter (Lu).
    Upper = 1,
    /// Lowercase letter (Ll).
    Lower = 2,
    /// Titlecase letter (Lt).
    Title = 3,
    /// Modifier letter (Lm).
    Modifier = 4,
    /// Other letter (Lo).
    OtherLetter = 5,
    /// Mark (Mn, Mc, Me).
    Mark = 6,
    /// Number (Nd, Nl, No).
    Number = 7,
    /// White_Space.
    Space = 8,
}

const DIRECT: usize = 0x800;

static LOW: [u8; DIRECT] = build_low();

const fn build_low() -> [u8; DIRECT] {
    let mut out = [0u8; DIRECT];
    let mut range = 0;
    let mut cp = 0;
    while cp < DIRECT {
        while range + 1 < table::STARTS.len() && table::STARTS[range + 1] as usize <= cp {
            range += 1;
        }
        out[cp] = table::CLASSES[range];
        cp += 1;
    }
    out
}

const fn from_u8(v: u8) -> Class {
    match v {
        1 => Class::Upper,
        2 => Class::Lower,
        3 => Class::Title,
        4 => Class::Modifier,
        5 => Class::OtherLetter,
        6 => Class::Mark,
        7 => Class::Number,
        8 => Class::Space,
        _ => Class::Other,
    }
}

/// The class of `c`.
#[inline]
pub fn class(c: char) -> Class {
    let cp = c as usize;
    if cp < DIRECT {
        return from_u8(LOW[cp]);
    }
    let i = table::STARTS.partition_point(|&s| s as usize <= cp);
    from_u8(table::CLASSES[i.saturating_sub(1)])
}

impl Class {
    /// `\p{L}`.
    #[inline]
    pub fn is_letter(self) -> bool {
        matches!(
            self,
            Class::Upper | Class::Lower | Class::Title | Class::Modifier | Class::OtherLetter
        )
    }

    /// `\p{N}`.
    #[inline]
    pub fn is_number(self) -> bool {
        self == Class::Number
    }

    /// `\s`.
    #[inline]
    pub fn is_space(self) -> bool {
        self == Class::Space
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_known_characters() {
        assert_eq!(class('A'), Class::Upper);
        assert_eq!(class('z'), Class::Lower);
        assert_eq!(class('ǅ'), Class::Title);
        assert_eq!(class('ʰ'), Class::Modifier);
        assert_eq!(class('中'), Class::OtherLetter);
        assert_eq!(class('\u{301}'), Class::Mark);
        assert_eq!(class('٣'), Class::Number);
        assert_eq!(class('½'), Class::Number);
        assert_eq!(class(' '), Class::Space);
        assert_eq!(class('\u{3000}'), Class::Space);
        assert_eq!(class('!'), Class::Other);
        assert_eq!(class('😀'), Class::Other);
        assert_eq!(class('𝔸'), Class::Upper);
        assert_eq!(class('\u{10FFFF}'), Class::Other);
    }

    #[test]
    fn agrees_with_std_on_space_and_numbers() {
        // std may follow a newer Unicode version; characters assigned since 16.0 can differ, so
        // numbers are compared in the long-stable Basic Multilingual Plane only.
        for cp in 0..0x11_0000u32 {
            let Some(c) = char::from_u32(cp) else { continue };
            let k = class(c);
            assert_eq!(k.is_space(), c.is_whitespace(), "U+{cp:04X}");
            if cp < 0x1_0000 {
                assert_eq!(k.is_number(), c.is_numeric(), "U+{cp:04X}");
            }
        }
    }
}
