//! Tests of the SSE decoder: framing, field parsing, line endings, chunk boundaries and limits.

use super::*;

fn ev(event: Option<&str>, data: &str) -> Event {
    Event {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        ..Event::default()
    }
}

/// Drains every available event, recording errors in-line.
fn drain(d: &mut Decoder, out: &mut Vec<Result<Event, SseError>>) {
    loop {
        match d.next_event() {
            Ok(Some(e)) => out.push(Ok(e)),
            Ok(None) => break,
            Err(e) => out.push(Err(e)),
        }
    }
}

/// Feeds `input` split at the given (sorted) cut points; returns events and `has_partial`.
fn decode_split(input: &[u8], cuts: &[usize]) -> (Vec<Result<Event, SseError>>, bool) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        d.feed(&input[last..c]);
        drain(&mut d, &mut out);
        last = c;
    }
    (out, d.has_partial())
}

fn decode(input: &[u8]) -> Vec<Event> {
    decode_split(input, &[])
        .0
        .into_iter()
        .map(|r| r.expect("valid stream"))
        .collect()
}

#[test]
fn the_limit_bounds_lines_and_events_whatever_the_split() {
    let limit = 64;
    let exact = format!("data: {}\n\n", "a".repeat(limit));
    let mut d = Decoder::with_limit(limit + 6);
    d.feed(exact.as_bytes());
    assert_eq!(d.next_event(), Ok(Some(ev(None, &"a".repeat(limit)))));
    // One unterminated line, fed a byte at a time: fails once past the limit, holding no more.
    let mut d = Decoder::with_limit(limit);
    let mut failed_at = None;
    for i in 0..10 * limit {
        d.feed(b"x");
        if d.next_event() == Err(SseError::TooLarge) {
            failed_at = Some(i);
            break;
        }
    }
    assert_eq!(failed_at, Some(limit));
    assert!(d.buf.capacity() <= limit + 1);
    // A huge complete line in one chunk.
    let mut d = Decoder::with_limit(limit);
    d.feed(format!("data: {}\n\n", "b".repeat(10 * limit)).as_bytes());
    assert_eq!(d.next_event(), Err(SseError::TooLarge));
    // Many short data lines adding up to a huge event.
    let mut d = Decoder::with_limit(limit);
    d.feed("data: 0123456789\n".repeat(10).as_bytes());
    assert_eq!(d.next_event(), Err(SseError::TooLarge));
    assert!(d.pending.data.is_empty());
    // Comments and blank lines never accumulate.
    let mut d = Decoder::with_limit(limit);
    for _ in 0..1000 {
        d.feed(b": keep-alive\n\n");
        assert_eq!(d.next_event(), Ok(None));
    }
}

#[test]
fn data_without_event_name() {
    assert_eq!(decode(b"data: hello\n\n"), vec![ev(None, "hello")]);
}

#[test]
fn event_name_and_data() {
    let got = decode(b"event: message_start\ndata: {\"a\":1}\n\n");
    assert_eq!(got, vec![ev(Some("message_start"), "{\"a\":1}")]);
}

#[test]
fn missing_data() {
    // A name alone dispatches with empty data; id/retry alone dispatch nothing but are tracked.
    let mut d = Decoder::new();
    d.feed(b"event: ping\n\nid: 7\n\nretry: 1500\n\n: c\n\n\n\n");
    assert_eq!(d.next_event(), Ok(Some(ev(Some("ping"), ""))));
    assert_eq!(d.next_event(), Ok(None));
    assert_eq!(d.last_event_id(), Some("7"));
    assert_eq!(d.reconnection_time(), Some(1500));
    assert!(!d.has_partial());
    // An empty event name is no name.
    assert_eq!(decode(b"event:\n\n"), vec![]);
    assert_eq!(decode(b"event:\ndata: x\n\n"), vec![ev(None, "x")]);
}

#[test]
fn empty_data_line_dispatches() {
    assert_eq!(decode(b"data:\n\n"), vec![ev(None, "")]);
    assert_eq!(decode(b"data\n\n"), vec![ev(None, "")]);
    assert_eq!(decode(b"data\ndata\n\n"), vec![ev(None, "\n")]);
}

#[test]
fn multi_line_data() {
    let got = decode(b"data: first\ndata:second\ndata:  third\ndata\n\n");
    assert_eq!(got, vec![ev(None, "first\nsecond\n third\n")]);
}

#[test]
fn line_endings() {
    let want = vec![ev(Some("a"), "1\n2"), ev(None, "3")];
    assert_eq!(decode(b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"), want);
    assert_eq!(decode(b"event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r"), want);
    assert_eq!(decode(b"event: a\r\ndata: 1\rdata: 2\n\r\ndata: 3\n\r"), want);
}

#[test]
fn cr_then_lf_in_next_feed_is_one_line_ending() {
    let mut d = Decoder::new();
    d.feed(b"data: x\r");
    assert_eq!(d.next_event(), Ok(None));
    d.feed(b"\n\r");
    // The blank line (lone CR) dispatches immediately, without waiting for a possible LF.
    assert_eq!(d.next_event(), Ok(Some(ev(None, "x"))));
    d.feed(b"\ndata: y\r");
    assert_eq!(d.next_event(), Ok(None));
    d.feed(b"\r");
    assert_eq!(d.next_event(), Ok(Some(ev(None, "y"))));
    assert!(!d.has_partial());
}

#[test]
fn comments_are_ignored() {
    let got = decode(b": hello\n:\ndata: a\n: inside\ndata: b\n\n: keep-alive\n\n");
    assert_eq!(got, vec![ev(None, "a\nb")]);
}

#[test]
fn id_and_retry_fields() {
    let got = decode(b"id: 42\nretry: 3000\ndata: x\n\ndata: y\n\n");
    let first = Event {
        id: Some("42".into()),
        retry: Some(3000),
        ..ev(None, "x")
    };
    assert_eq!(got, vec![first, ev(None, "y")]);

    let mut d = Decoder::new();
    d.feed(b"id: a\0b\nretry: 12x\nretry: -1\nretry:\nretry: 99999999999999999999999\ndata: z\n\n");
    assert_eq!(d.next_event(), Ok(Some(ev(None, "z"))));
    assert_eq!(d.last_event_id(), None);
    assert_eq!(d.reconnection_time(), None);

    let mut d = Decoder::new();
    d.feed(b"id: 1\ndata: a\n\nid\ndata: b\n\ndata: c\n\n");
    let a = d.next_event().unwrap().unwrap();
    assert_eq!((a.id.as_deref(), d.last_event_id()), (Some("1"), Some("1")));
    let b = d.next_event().unwrap().unwrap();
    assert_eq!((b.id.as_deref(), d.last_event_id()), (Some(""), Some("")));
    let c = d.next_event().unwrap().unwrap();
    assert_eq!((c.id.as_deref(), d.last_event_id()), (None, Some("")));
}

#[test]
fn field_without_colon_and_unknown_fields() {
    assert_eq!(decode(b"data\n\n"), vec![ev(None, "")]);
    assert_eq!(decode(b"event\ndata: x\n\n"), vec![ev(None, "x")]);
    assert_eq!(decode(b"foo: bar\nDATA: no\nData: no\ndata : no\n\n"), vec![]);
    assert_eq!(decode(b"foo\ndata: x\n\n"), vec![ev(None, "x")]);
}

#[test]
fn space_handling() {
    assert_eq!(decode(b"data:x\n\n"), vec![ev(None, "x")]);
    assert_eq!(decode(b"data: x\n\n"), vec![ev(None, "x")]);
    assert_eq!(decode(b"data:  x \n\n"), vec![ev(None, " x ")]);
    assert_eq!(decode(b"data:\tx\n\n"), vec![ev(None, "\tx")]);
    assert_eq!(decode(b"data: a: b\n\n"), vec![ev(None, "a: b")]);
    assert_eq!(decode(b"event:  sp\ndata\n\n"), vec![ev(Some(" sp"), "")]);
}

#[test]
fn done_sentinel_is_plain_data() {
    assert_eq!(
        decode(b"data: {}\n\ndata: [DONE]\n\n"),
        vec![ev(None, "{}"), ev(None, "[DONE]")]
    );
}

#[test]
fn bom_at_start_only() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: x\n\n"), vec![ev(None, "x")]);
    // Split inside the BOM.
    let (got, partial) = decode_split(b"\xEF\xBB\xBFdata: x\n\n", &[1, 2]);
    assert_eq!(got, vec![Ok(ev(None, "x"))]);
    assert!(!partial);
    // A second BOM is part of the first line, making the field name unknown.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"), vec![]);
    // A BOM later in the stream is not stripped.
    assert_eq!(decode(b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"), vec![ev(None, "x")]);
    // A lone BOM prefix at EOF is a partial stream.
    let mut d = Decoder::new();
    d.feed(b"\xEF\xBB");
    assert_eq!(d.next_event(), Ok(None));
    assert!(d.has_partial());
    // Stream start that only looks like a BOM prefix.
    assert_eq!(
        decode_split(b"\xEFdata: x\n\n", &[]).0,
        vec![Err(SseError::InvalidUtf8)]
    );
    assert_eq!(decode_split(b"\xEF\xBB\xBF", &[]), (vec![], false));
}

#[test]
fn invalid_utf8_drops_the_event_and_recovers() {
    let input = b"data: ok\n\ndata: a\ndata: \xFF\xFE\ndata: b\n\ndata: after\n\n";
    let (got, partial) = decode_split(input, &[]);
    assert_eq!(
        got,
        vec![Ok(ev(None, "ok")), Err(SseError::InvalidUtf8), Ok(ev(None, "after"))]
    );
    assert!(!partial);
    // A truncated multi-byte sequence inside a complete line is invalid too.
    let (got, _) = decode_split(b"data: \xE4\xB8\n\n", &[]);
    assert_eq!(got, vec![Err(SseError::InvalidUtf8)]);
    assert_eq!(
        SseError::InvalidUtf8.to_string(),
        "server-sent event stream contains invalid UTF-8"
    );
}

#[test]
fn has_partial_at_eof() {
    let mut d = Decoder::new();
    assert!(!d.has_partial());
    d.feed(b"data: {\"a\":1}\n\n");
    assert!(d.has_partial()); // not drained yet
    assert!(d.next_event().unwrap().is_some());
    assert_eq!(d.next_event(), Ok(None));
    assert!(!d.has_partial());

    // Cut inside a line.
    d.feed(b"data: {\"a\"");
    assert_eq!(d.next_event(), Ok(None));
    assert!(d.has_partial());
    // Line complete but the event not terminated by a blank line.
    d.feed(b":2}\n");
    assert_eq!(d.next_event(), Ok(None));
    assert!(d.has_partial());
    d.feed(b"\n");
    assert_eq!(d.next_event(), Ok(Some(ev(None, "{\"a\":2}"))));
    assert!(!d.has_partial());

    // A trailing CR that may still be followed by LF is a complete line ending.
    d.feed(b"data: x\r\r");
    assert!(d.next_event().unwrap().is_some());
    assert!(!d.has_partial());
    // Named event without terminator.
    d.feed(b"event: x\n");
    assert_eq!(d.next_event(), Ok(None));
    assert!(d.has_partial());
    // Comments and id-only blocks are not partial events.
    let mut d = Decoder::new();
    d.feed(b": keep-alive\nid: 3\n");
    assert_eq!(d.next_event(), Ok(None));
    assert!(!d.has_partial());
}

#[test]
fn multibyte_split_byte_by_byte() {
    let input = "data: héllo 世界 🎉\n\n".as_bytes();
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for b in input {
        d.feed(std::slice::from_ref(b));
        drain(&mut d, &mut out);
    }
    assert_eq!(out, vec![Ok(ev(None, "héllo 世界 🎉"))]);
}

#[test]
fn long_lines_and_compaction() {
    let payload: String = (0..10_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut input = Vec::new();
    for i in 0..50 {
        input.extend_from_slice(format!("data: {i}{payload}\n\n").as_bytes());
    }
    let want: Vec<Event> = (0..50).map(|i| ev(None, &format!("{i}{payload}"))).collect();
    for chunk in [1usize, 7, 8, 9, 4096, 100_000] {
        let cuts: Vec<usize> = (chunk..input.len()).step_by(chunk).collect();
        let (got, partial) = decode_split(&input, &cuts);
        assert_eq!(
            got.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            want,
            "chunk {chunk}"
        );
        assert!(!partial);
    }
}

#[test]
fn find_eol_matches_naive() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2000 {
        let len = rng.usize(0..40);
        let hay: Vec<u8> = (0..len)
            .map(|_| match rng.u8(0..20) {
                0 => b'\n',
                1 => b'\r',
                2 => 0x8A, // shares low bits with LF
                3 => 0x0B,
                _ => rng.u8(..),
            })
            .collect();
        let naive = hay.iter().position(|&b| b == b'\n' || b == b'\r');
        assert_eq!(find_eol(&hay), naive, "{hay:?}");
    }
}

// ---- property-style tests -------------------------------------------------------------

fn realistic_streams() -> Vec<Vec<u8>> {
    let openai = concat!(
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,",
        "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"héllo\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" 世界 🎉\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let anthropic = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"héllo 世界 🎉\"}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let mixed = concat!(
        "\u{FEFF}: comment é\nretry: 2500\nid: ev-1\n",
        "data: line one 世界\ndata:line two\ndata\ndata:  🎉 indented\n\n",
        "event: custom\nfoo: ignored\ndata: x\n\n",
        "event: named-only\n\n",
        "id: 9\n\n",
        "data: [DONE]\n\n",
    );
    let mut streams = Vec::new();
    for s in [openai, anthropic, mixed] {
        streams.push(s.as_bytes().to_vec());
        streams.push(s.replace('\n', "\r\n").into_bytes());
        streams.push(s.replace('\n', "\r").into_bytes());
    }
    // Alternating line endings, including LF followed by CR (two line endings, not one).
    let mut alt = String::new();
    for (i, line) in mixed.split('\n').enumerate() {
        if i > 0 {
            alt.push_str(["\n", "\r", "\r\n"][i % 3]);
        }
        alt.push_str(line);
    }
    streams.push(alt.into_bytes());
    streams
}

fn assert_same(input: &[u8], cuts: &[usize], want: &(Vec<Result<Event, SseError>>, bool)) {
    let got = decode_split(input, cuts);
    assert_eq!(&got, want, "cuts {cuts:?} in {:?}", String::from_utf8_lossy(input));
}

#[test]
fn realistic_streams_decode_as_expected() {
    let s = realistic_streams();
    let openai = decode(&s[0]);
    assert_eq!(openai.len(), 5);
    assert!(openai[1].data.contains("\"héllo\""));
    assert!(openai[2].data.contains("\" 世界 🎉\""));
    assert_eq!(openai[4].data, "[DONE]");
    let mixed = decode(&s[6]);
    let first = Event {
        id: Some("ev-1".into()),
        retry: Some(2500),
        ..ev(None, "line one 世界\nline two\n\n 🎉 indented")
    };
    let want = vec![
        first,
        ev(Some("custom"), "x"),
        ev(Some("named-only"), ""),
        ev(None, "[DONE]"),
    ];
    assert_eq!(mixed, want);
    // Every line-ending variant of a stream decodes identically.
    for group in s[..9].chunks(3) {
        let whole = decode(&group[0]);
        for variant in group {
            assert_eq!(decode(variant), whole);
        }
    }
    assert_eq!(decode(&s[9]), want);
}

#[test]
fn every_single_split_matches_whole() {
    for input in realistic_streams() {
        let want = decode_split(&input, &[]);
        assert!(!want.1);
        for i in 0..=input.len() {
            assert_same(&input, &[i], &want);
        }
    }
}

#[test]
fn every_pair_of_splits_matches_whole_on_short_streams() {
    let shorts: [&[u8]; 4] = [
        "\u{FEFF}data: héllo 世界 🎉\r\n\r\n: c\r\rdata: [DONE]\n\n".as_bytes(),
        b"event: e\rid: 1\rretry: 10\rdata: a\rdata\r\rdata: b\n\r\n",
        "data:é\r\n:x\r\ndata: 🎉\r\r\n\r\ndata:x\n\n".as_bytes(),
        b"event: a\n\nid: 1\n\ndata: y\r\n\n",
    ];
    for input in shorts {
        let want = decode_split(input, &[]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_same(input, &[i, j], &want);
            }
        }
    }
}

#[test]
fn random_multi_splits_match_whole() {
    let mut rng = fastrand::Rng::with_seed(0x5EE_D5E5);
    for input in realistic_streams() {
        let want = decode_split(&input, &[]);
        for _ in 0..300 {
            let n = rng.usize(1..=input.len().min(64));
            let mut cuts: Vec<usize> = (0..n).map(|_| rng.usize(0..=input.len())).collect();
            cuts.sort_unstable();
            assert_same(&input, &cuts, &want);
        }
    }
}

/// A deliberately simple, independent reading of the rules, over a whole stream.
fn reference(input: &[u8]) -> Vec<Result<Event, SseError>> {
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let mut lines = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                lines.push(std::mem::take(&mut cur));
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => lines.push(std::mem::take(&mut cur)),
            b => cur.push(b),
        }
        i += 1;
    }
    let mut out = Vec::new();
    let (mut name, mut data, mut id, mut retry, mut bad): (Option<String>, Option<Vec<String>>, _, _, _) =
        (None, None, None, None, false);
    for line in lines {
        if line.is_empty() {
            if !bad && (data.is_some() || name.is_some()) {
                let data = data.take().unwrap_or_default().join("\n");
                out.push(Ok(Event {
                    event: name.take(),
                    data,
                    id: id.take(),
                    retry: retry.take(),
                }));
            }
            (name, data, id, retry, bad) = (None, None, None, None, false);
            continue;
        }
        if bad {
            continue;
        }
        let Ok(line) = String::from_utf8(line) else {
            out.push(Err(SseError::InvalidUtf8));
            bad = true;
            continue;
        };
        if line.starts_with(':') {
            continue;
        }
        let (f, v) = line.split_once(':').unwrap_or((&line, ""));
        let v = v.strip_prefix(' ').unwrap_or(v).to_string();
        match f {
            "data" => data.get_or_insert_with(Vec::new).push(v),
            "event" => name = Some(v).filter(|v| !v.is_empty()),
            "id" if !v.contains('\0') => id = Some(v),
            "retry" if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => retry = v.parse().ok().or(retry),
            _ => {}
        }
    }
    out
}

#[test]
fn random_streams_match_reference_under_random_splits() {
    const TOKENS: &[&[u8]] = &[
        b"data",
        b"event",
        b"id",
        b"retry",
        b":",
        b": ",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"x",
        b"12",
        "é".as_bytes(),
        "世".as_bytes(),
        "🎉".as_bytes(),
        b"\0",
        b"\xFF",
        b"\xEF\xBB\xBF",
        b"[DONE]",
    ];
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..3000 {
        let mut input = Vec::new();
        for _ in 0..rng.usize(0..30) {
            input.extend_from_slice(TOKENS[rng.usize(..TOKENS.len())]);
        }
        let want = reference(&input);
        let (whole, _) = decode_split(&input, &[]);
        assert_eq!(whole, want, "{:?}", String::from_utf8_lossy(&input));
        for _ in 0..5 {
            let n = rng.usize(0..=input.len().min(8));
            let mut cuts: Vec<usize> = (0..n).map(|_| rng.usize(0..=input.len())).collect();
            cuts.sort_unstable();
            assert_eq!(decode_split(&input, &cuts).0, want, "cuts {cuts:?} in {input:?}");
        }
    }
}
