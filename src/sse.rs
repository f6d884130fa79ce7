//! Incremental Server-Sent Events decoder (no I/O).
//!
//! Feed raw network bytes with [`Decoder::feed`] and pull complete events with
//! [`Decoder::next_event`]; chunk boundaries may fall anywhere, including inside a line ending or
//! a multi-byte UTF-8 character. Parsing follows the WHATWG `text/event-stream` rules:
//!
//! * lines end with CRLF, LF or a lone CR (a CR that ends one chunk followed by an LF starting the
//!   next counts as one line ending);
//! * a blank line dispatches the event being built; lines starting with `:` are comments;
//! * `name:value` has one optional space removed after the colon, a line with no colon is a field
//!   with an empty value, and unknown field names are ignored;
//! * `data` lines are joined with `\n`; `event` sets [`Event::event`] (empty means "no name");
//!   `id` is ignored when it contains NUL; `retry` is kept only when it is all ASCII digits and fits
//!   in a `u64`;
//! * a UTF-8 byte order mark at the very start of the stream is skipped.
//!
//! Deviations kept on purpose: an event is dispatched when it had at least one `data` line *or* a
//! non-empty `event` name (so `event: ping` alone yields an event with empty data); blocks with
//! neither are dropped, although their `id`/`retry` still update [`Decoder::last_event_id`] and
//! [`Decoder::reconnection_time`]. [`Event::id`] is the `id` given in that event's own block (not the
//! persistent last event id). Every complete line must be valid UTF-8; otherwise `next_event`
//! returns [`SseError::InvalidUtf8`] and the whole event containing that line is dropped (lines are
//! skipped up to the next blank line), after which decoding continues normally.
//!
//! Cost: bytes are copied once into an internal buffer that is scanned eight bytes at a time for
//! line endings and compacted only when that is amortised O(1) per byte; the usual
//! `data: {json}\n\n` event costs exactly one allocation (its `data` string).

use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Buffers whose capacity grew beyond this are shrunk back once they drain.
const SHRINK_ABOVE: usize = 1 << 20;
const SHRINK_TO: usize = 64 << 10;

/// One dispatched Server-Sent Event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event` field, or `None` when absent or empty (the spec's default type `message`).
    pub event: Option<String>,
    /// All `data` lines of the event joined with `\n` (empty when the event had only a name).
    pub data: String,
    /// The `id` field given in this event's block, if any (`Some("")` resets the last event id).
    pub id: Option<String>,
    /// The `retry` field (reconnection time in milliseconds) given in this event's block, if valid.
    pub retry: Option<u64>,
}

/// Errors reported by [`Decoder::next_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseError {
    /// A complete line was not valid UTF-8; the event containing it is discarded.
    InvalidUtf8,
    /// A line, or the `data` of one event, grew past the decoder's limit (see
    /// [`Decoder::with_limit`]); the decoder drops what it held and the stream should end.
    TooLarge,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::InvalidUtf8 => f.write_str("server-sent event stream contains invalid UTF-8"),
            SseError::TooLarge => f.write_str("a server-sent event line or event is larger than the limit"),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental SSE decoder: push bytes with [`feed`](Decoder::feed), pull events with
/// [`next_event`](Decoder::next_event).
#[derive(Debug)]
pub struct Decoder {
    /// Raw bytes; `buf[..pos]` is consumed.
    buf: Vec<u8>,
    /// Start of the first unconsumed line.
    pos: usize,
    /// `buf[pos..scanned]` is known to hold no CR or LF, so searches resume here.
    scanned: usize,
    /// Still at stream start: a BOM may have to be skipped.
    bom_pending: bool,
    /// The last line ended with a CR at the end of the buffer; an LF that follows belongs to it.
    skip_lf: bool,
    /// Fields of the event being built.
    pending: Pending,
    /// The longest line, and the most `data` bytes of one event, accepted.
    max: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The event under construction plus the state that persists across events.
#[derive(Debug, Default)]
struct Pending {
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    retry: Option<u64>,
    /// A line of this event was invalid UTF-8: skip lines until the next blank one.
    poisoned: bool,
    last_event_id: Option<String>,
    reconnection_time: Option<u64>,
}

impl Decoder {
    /// Creates a decoder positioned at the start of a stream.
    pub fn new() -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            bom_pending: true,
            skip_lf: false,
            pending: Pending::default(),
            max: usize::MAX,
        }
    }

    /// Creates a decoder that fails with [`SseError::TooLarge`] once a line, or the `data` of one
    /// event, passes `max` bytes, so a hostile stream cannot make it buffer without bound.
    pub fn with_limit(max: usize) -> Self {
        Decoder { max, ..Decoder::new() }
    }

    /// Drops everything buffered and reports an oversized line or event.
    fn too_large(&mut self) -> SseError {
        self.buf = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.pending.clear_event();
        SseError::TooLarge
    }

    /// Appends raw bytes received from the network; any split point is fine.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Compact only when moving the unconsumed tail costs no more than what was consumed.
        if self.pos > 0 && self.buf.len() - self.pos <= self.pos {
            if self.pos == self.buf.len() {
                self.buf.clear();
                if self.buf.capacity() > SHRINK_ABOVE && bytes.len() <= SHRINK_TO {
                    self.buf.shrink_to(SHRINK_TO);
                }
            } else {
                self.buf.drain(..self.pos);
            }
            self.scanned -= self.pos;
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete event, or `Ok(None)` when more bytes are needed.
    ///
    /// Call it in a loop after every [`feed`](Decoder::feed) until it returns `Ok(None)`. After an
    /// `Err` the decoder stays usable: the offending event is dropped and decoding resumes.
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        if self.bom_pending {
            let avail = &self.buf[self.pos..];
            if avail.len() < BOM.len() && BOM.starts_with(avail) {
                return Ok(None);
            }
            if avail.starts_with(BOM) {
                self.pos += BOM.len();
                self.scanned = self.scanned.max(self.pos);
            }
            self.bom_pending = false;
        }
        loop {
            if self.skip_lf {
                match self.buf.get(self.pos) {
                    None => return Ok(None),
                    Some(&b) => {
                        if b == b'\n' {
                            self.pos += 1;
                            self.scanned = self.scanned.max(self.pos);
                        }
                        self.skip_lf = false;
                    }
                }
            }
            let Some(rel) = find_eol(&self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() - self.pos > self.max {
                    return Err(self.too_large());
                }
                return Ok(None);
            };
            let start = self.pos;
            let eol = self.scanned + rel;
            if eol - start > self.max {
                return Err(self.too_large());
            }
            let next = if self.buf[eol] == b'\r' {
                match self.buf.get(eol + 1) {
                    Some(b'\n') => eol + 2,
                    Some(_) => eol + 1,
                    None => {
                        self.skip_lf = true;
                        eol + 1
                    }
                }
            } else {
                eol + 1
            };
            self.pos = next;
            self.scanned = next;
            match self.pending.line(&self.buf[start..eol], self.max) {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(SseError::TooLarge) => return Err(self.too_large()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the decoder holds an incomplete event: unterminated bytes, or `data`/`event` fields
    /// not yet closed by a blank line.
    ///
    /// Meant for end of stream, after [`next_event`](Decoder::next_event) returned `Ok(None)`:
    /// `true` then means the stream was cut mid-event (the spec discards such an event).
    pub fn has_partial(&self) -> bool {
        self.pos < self.buf.len() || self.pending.has_data || self.pending.event.is_some() || self.pending.poisoned
    }

    /// The last `id` seen on the stream (persists across events, as the spec's "last event ID"
    /// used for `Last-Event-ID` on reconnection); `None` if no `id` field was seen yet.
    pub fn last_event_id(&self) -> Option<&str> {
        self.pending.last_event_id.as_deref()
    }

    /// The last valid `retry` value (milliseconds) seen on the stream, even in undispatched blocks.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.pending.reconnection_time
    }
}

impl Pending {
    /// Forgets the event being built (not the persistent last id and reconnection time).
    fn clear_event(&mut self) {
        self.event = None;
        self.data.clear();
        self.has_data = false;
        self.id = None;
        self.retry = None;
    }

    /// Processes one complete line (without its terminator); returns an event on dispatch. The
    /// event's `data` may hold at most `max` bytes.
    fn line(&mut self, line: &[u8], max: usize) -> Result<Option<Event>, SseError> {
        if line.is_empty() {
            if self.poisoned {
                self.poisoned = false;
                return Ok(None);
            }
            return Ok(self.dispatch());
        }
        if self.poisoned {
            return Ok(None);
        }
        let Ok(line) = std::str::from_utf8(line) else {
            self.poisoned = true;
            self.clear_event();
            return Err(SseError::InvalidUtf8);
        };
        let (name, value) = match line.find(':') {
            Some(0) => return Ok(None), // comment
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match name {
            "data" => {
                if self.data.len() + usize::from(self.has_data) + value.len() > max {
                    return Err(SseError::TooLarge);
                }
                if self.has_data {
                    self.data.reserve(value.len() + 1);
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                if value.is_empty() {
                    self.event = None;
                } else if let Some(event) = &mut self.event {
                    event.clear();
                    event.push_str(value);
                } else {
                    self.event = Some(value.to_owned());
                }
            }
            "id" if !value.contains('\0') => {
                self.id = Some(value.to_owned());
                let last = self.last_event_id.get_or_insert_with(String::new);
                last.clear();
                last.push_str(value);
            }
            "retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                    self.reconnection_time = Some(ms);
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// Ends the current block at a blank line.
    fn dispatch(&mut self) -> Option<Event> {
        let id = self.id.take();
        let retry = self.retry.take();
        if !self.has_data && self.event.is_none() {
            self.data.clear();
            return None;
        }
        self.has_data = false;
        Some(Event {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id,
            retry,
        })
    }
}

/// A `retry` value: non-empty, ASCII digits only, fitting in a `u64`.
fn parse_retry(value: &str) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.bytes().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Index of the first CR or LF in `hay`, scanning a word at a time.
fn find_eol(hay: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
        let lf = word ^ LF;
        let cr = word ^ CR;
        // Sets the high bit of the lowest zero byte (higher bytes may get false positives, which
        // `trailing_zeros` never looks at since bytes are little-endian ordered).
        let hits = (lf.wrapping_sub(LO) & !lf & HI) | (cr.wrapping_sub(LO) & !cr & HI);
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests;
