//! Byte-pair encoding over a rank table, with tiktoken's merge rule: repeatedly merge the
//! adjacent pair whose concatenation has the lowest rank (leftmost on ties) until no pair is in
//! the vocabulary. Short pieces use a linear scan per merge; long ones a heap, so a piece of
//! n bytes costs O(n log n) rather than O(n²).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Token id (rank in the vocabulary).
pub type Rank = u32;

const NONE: Rank = Rank::MAX;
/// Pieces longer than this use the heap-based merge.
const SHORT: usize = 128;

/// A small, fast hasher for byte strings (the multiply-rotate scheme rustc uses).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A vocabulary: token bytes to rank.
pub struct Vocab {
    ranks: HashMap<&'static [u8], Rank, BuildHasherDefault<FxHasher>>,
    max_len: usize,
}

impl Vocab {
    /// Reads the length-prefixed token records (in rank order) from `data`.
    ///
    /// Returns `None` when the data is malformed.
    pub fn parse(data: &'static [u8]) -> Option<Self> {
        let mut ranks = HashMap::with_capacity_and_hasher(data.len() / 7, BuildHasherDefault::default());
        let mut max_len = 0;
        let mut i = 0;
        let mut rank: Rank = 0;
        while i < data.len() {
            let len = usize::from(data[i]);
            let token = data.get(i + 1..i + 1 + len)?;
            if len == 0 || ranks.insert(token, rank).is_some() {
                return None;
            }
            max_len = max_len.max(len);
            rank += 1;
            i += 1 + len;
        }
        (0..=255u8)
            .all(|b| ranks.contains_key(&[b][..]))
            .then_some(Self { ranks, max_len })
    }

    #[inline]
    fn rank(&self, bytes: &[u8]) -> Rank {
        if bytes.len() > self.max_len {
            return NONE;
        }
        self.ranks.get(bytes).copied().unwrap_or(NONE)
    }

    /// Number of tokens `piece` encodes to.
    pub fn count(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 || self.rank(piece) != NONE {
            return usize::from(!piece.is_empty());
        }
        self.boundaries(piece).len() - 1
    }

    /// Appends the token ids of `piece` to `out`.
    pub fn encode(&self, piece: &[u8], out: &mut Vec<Rank>) {
        if piece.is_empty() {
            return;
        }
        let whole = self.rank(piece);
        if whole != NONE {
            out.push(whole);
            return;
        }
        let bounds = self.boundaries(piece);
        out.extend(bounds.windows(2).map(|w| self.rank(&piece[w[0]..w[1]])));
    }

    /// Part boundaries after merging (`0`, ..., `piece.len()`).
    fn boundaries(&self, piece: &[u8]) -> Vec<usize> {
        if piece.len() <= SHORT {
            self.merge_short(piece)
        } else {
            self.merge_long(piece)
        }
    }

    fn merge_short(&self, piece: &[u8]) -> Vec<usize> {
        let mut bounds: Vec<usize> = (0..=piece.len()).collect();
        // pairs[i] = rank of parts i and i + 1 merged.
        let mut pairs: Vec<Rank> = (0..piece.len() - 1).map(|i| self.rank(&piece[i..i + 2])).collect();
        loop {
            let mut best = NONE;
            let mut at = 0;
            for (i, &r) in pairs.iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == NONE {
                return bounds;
            }
            bounds.remove(at + 1);
            pairs.remove(at);
            if at < pairs.len() {
                pairs[at] = self.rank(&piece[bounds[at]..bounds[at + 2]]);
            }
            if at > 0 {
                pairs[at - 1] = self.rank(&piece[bounds[at - 1]..bounds[at + 1]]);
            }
        }
    }

    fn merge_long(&self, piece: &[u8]) -> Vec<usize> {
        let n = piece.len();
        // Parts are identified by their start; `next[i]` is the start of the following part.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut pair = vec![NONE; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            pair[i] = self.rank(&piece[i..i + 2]);
            if pair[i] != NONE {
                heap.push(Reverse((pair[i], i)));
            }
        }
        while let Some(Reverse((rank, i))) = heap.pop() {
            if !alive[i] || pair[i] != rank {
                continue; // stale entry
            }
            let j = next[i];
            let k = next[j];
            alive[j] = false;
            next[i] = k;
            if k < n {
                prev[k] = i;
                pair[i] = self.rank(&piece[i..next[k]]);
                if pair[i] != NONE {
                    heap.push(Reverse((pair[i], i)));
                }
            } else {
                pair[i] = NONE;
            }
            let p = prev[i];
            if p != usize::MAX {
                pair[p] = self.rank(&piece[p..k]);
                if pair[p] != NONE {
                    heap.push(Reverse((pair[p], p)));
                }
            }
        }
        let mut bounds = Vec::new();
        let mut i = 0;
        while i < n {
            bounds.push(i);
            i = next[i];
        }
        bounds.push(n);
        bounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[&str]) -> Vocab {
        let mut data = Vec::new();
        for b in 0..=255u8 {
            data.extend([1, b]);
        }
        for t in tokens {
            data.push(u8::try_from(t.len()).unwrap());
            data.extend_from_slice(t.as_bytes());
        }
        Vocab::parse(Box::leak(data.into_boxed_slice())).unwrap()
    }

    #[test]
    fn merges_lowest_rank_first() {
        let v = vocab(&["ab", "bc", "abc", "cd"]);
        let mut out = Vec::new();
        v.encode(b"abcd", &mut out);
        // "ab" (256) merges before "bc" (257); then "abc" (258), and "abc"+"d" is unknown.
        assert_eq!(out, [258, u32::from(b'd')]);
        assert_eq!(v.count(b"abcd"), 2);
    }

    #[test]
    fn short_and_long_merges_agree() {
        let v = vocab(&["aa", "aaaa", "ab", "aab", "ba", "bb"]);
        let mut rng = 7u64;
        for len in [2usize, 3, 10, 129, 300, 1000] {
            let piece: Vec<u8> = (0..len)
                .map(|_| {
                    rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    if (rng >> 33) % 3 == 0 {
                        b'b'
                    } else {
                        b'a'
                    }
                })
                .collect();
            assert_eq!(v.merge_short(&piece), v.merge_long(&piece), "len {len}");
        }
    }

    #[test]
    fn rejects_malformed_data() {
        assert!(Vocab::parse(b"\x02a").is_none());
        assert!(Vocab::parse(b"\x01a").is_none()); // missing byte tokens
    }
}
