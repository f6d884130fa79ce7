//! Mock images, speech, transcription, moderation and rerank: validated like OpenAI (and
//! Cohere/Jina for rerank) and answered with deterministic bodies of the documented shapes.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::content_text;
use super::multipart::FormPart;
use super::reply::estimate_tokens;
use super::routes::{bad, Out};

/// A 1x1 transparent PNG.
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// Moderation categories, in OpenAI's order, with the words that trigger them here.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("harassment", &["idiot", "stupid"]),
    ("harassment/threatening", &["i will hurt you"]),
    ("hate", &["hate"]),
    ("hate/threatening", &[]),
    ("illicit", &["steal", "hack into"]),
    ("illicit/violent", &["build a bomb"]),
    ("self-harm", &["hurt myself"]),
    ("self-harm/intent", &["want to die"]),
    ("self-harm/instructions", &[]),
    ("sexual", &["explicit"]),
    ("sexual/minors", &[]),
    ("violence", &["kill", "attack"]),
    ("violence/graphic", &["gore"]),
];

fn text_of<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

/// `POST /images/generations`.
pub(crate) fn images(body: &Map<String, Value>, created: u64) -> Out {
    let Some(prompt) = text_of(body, "prompt").filter(|p| !p.is_empty()) else {
        return bad("Missing required parameter: 'prompt'.", "prompt");
    };
    let model = text_of(body, "model").unwrap_or("dall-e-2");
    let n = body.get("n").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=10).contains(&n) || (model == "dall-e-3" && n != 1) {
        return bad(&format!("Invalid 'n': {n} is not supported by {model}."), "n");
    }
    let gpt_image = model.starts_with("gpt-image");
    let b64 = gpt_image || text_of(body, "response_format") == Some("b64_json");
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let mut image = Map::new();
            if b64 {
                image.insert("b64_json".into(), PNG_1X1.into());
            } else {
                image.insert(
                    "url".into(),
                    format!("https://mock.liter-llm.invalid/images/{created}-{i}.png").into(),
                );
            }
            if model == "dall-e-3" {
                image.insert(
                    "revised_prompt".into(),
                    format!("A detailed illustration of {prompt}").into(),
                );
            }
            Value::Object(image)
        })
        .collect();
    let mut doc = json!({"created": created, "data": data});
    if gpt_image {
        let input = estimate_tokens(prompt);
        let output = 272 * n;
        doc["usage"] = json!({
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0},
        });
    }
    Out::Json(doc)
}

/// A WAV header for `len` bytes of 24 kHz 16-bit mono PCM.
fn wav_header(len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&24_000u32.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&len.to_le_bytes());
    h
}

/// `POST /audio/speech`: audio bytes whose size grows with the input.
pub(crate) fn speech(body: &Map<String, Value>) -> Out {
    for key in ["model", "input", "voice"] {
        if text_of(body, key).is_none_or(str::is_empty) {
            return bad(&format!("Missing required parameter: '{key}'."), key);
        }
    }
    let input = text_of(body, "input").unwrap_or_default();
    if input.chars().count() > 4096 {
        return bad("Input is too long: the maximum is 4096 characters.", "input");
    }
    let format = text_of(body, "response_format").unwrap_or("mp3");
    // About 50 ms of audio per character.
    let samples = u32::try_from(input.chars().count() * 1200).unwrap_or(u32::MAX / 4);
    let (mut audio, content_type): (Vec<u8>, &'static str) = match format {
        "mp3" => (
            vec![0x49, 0x44, 0x33, 0x04, 0, 0, 0, 0, 0, 0, 0xFF, 0xFB, 0x90, 0x64],
            "audio/mpeg",
        ),
        "wav" => (wav_header(samples * 2), "audio/wav"),
        "flac" => (b"fLaC".to_vec(), "audio/flac"),
        "opus" => (b"OggS".to_vec(), "audio/ogg"),
        "aac" => (vec![0xFF, 0xF1, 0x50, 0x80], "audio/aac"),
        "pcm" => (Vec::new(), "audio/pcm"),
        other => {
            return bad(
                &format!(
                    "Invalid value: '{other}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'."
                ),
                "response_format",
            )
        }
    };
    let payload = if format == "mp3" { samples / 8 } else { samples * 2 };
    let seed = input.bytes().fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    audio.extend((0..payload).map(|i| seed.wrapping_add(i.to_le_bytes()[0])));
    Out::Bytes(Bytes::from(audio), content_type)
}

fn field<'a>(form: &'a [FormPart], name: &str) -> Option<&'a FormPart> {
    form.iter().find(|p| p.name == name)
}

/// `POST /audio/transcriptions` (multipart).
pub(crate) fn transcription(form: &[FormPart]) -> Out {
    let Some(file) = field(form, "file").filter(|f| f.filename.is_some()) else {
        return bad("Missing required parameter: 'file'.", "file");
    };
    if field(form, "model").is_none_or(|m| m.data.is_empty()) {
        return bad("Missing required parameter: 'model'.", "model");
    }
    let filename = file.filename.clone().unwrap_or_default();
    let text = format!(
        "This is a mock transcription of {filename} ({} bytes).",
        file.data.len()
    );
    #[allow(clippy::cast_precision_loss)]
    let duration = (file.data.len() as f64 / 16_000.0).max(0.5);
    let format = field(form, "response_format").map_or_else(|| "json".to_owned(), FormPart::text);
    let language = field(form, "language").map_or_else(|| "english".to_owned(), FormPart::text);
    let stamp = |secs: f64, sep: char| {
        let ms = (secs * 1000.0).round() as u64;
        format!("00:00:{:02}{sep}{:03}", (ms / 1000) % 60, ms % 1000)
    };
    match format.as_str() {
        "json" => {
            let tokens = estimate_tokens(&text);
            Out::Json(json!({
                "text": text,
                "usage": {"type": "tokens", "input_tokens": 50, "input_token_details": {"text_tokens": 0, "audio_tokens": 50},
                          "output_tokens": tokens, "total_tokens": 50 + tokens},
            }))
        }
        "verbose_json" => {
            let words: Vec<&str> = text.split_whitespace().collect();
            #[allow(clippy::cast_precision_loss)]
            let step = duration / words.len().max(1) as f64;
            let word_stamps: Vec<Value> = words
                .iter()
                .enumerate()
                .map(|(i, w)| json!({"word": w.trim_matches(|c: char| !c.is_alphanumeric()), "start": step * i as f64, "end": step * (i + 1) as f64}))
                .collect();
            let mut doc = json!({
                "task": "transcribe",
                "language": language,
                "duration": duration,
                "text": text,
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": format!(" {text}"),
                    "tokens": [50364, 639, 307, 257], "temperature": 0.0, "avg_logprob": -0.25,
                    "compression_ratio": 1.1, "no_speech_prob": 0.01,
                }],
                "usage": {"type": "duration", "seconds": duration.ceil()},
            });
            let granular = form
                .iter()
                .any(|p| p.name.starts_with("timestamp_granularities") && p.text() == "word");
            if granular {
                doc["words"] = Value::Array(word_stamps);
            }
            Out::Json(doc)
        }
        "text" => Out::Bytes(Bytes::from(format!("{text}\n")), "text/plain; charset=utf-8"),
        "srt" => Out::Bytes(
            Bytes::from(format!(
                "1\n{} --> {}\n{text}\n\n",
                stamp(0.0, ','),
                stamp(duration, ',')
            )),
            "text/plain; charset=utf-8",
        ),
        "vtt" => Out::Bytes(
            Bytes::from(format!(
                "WEBVTT\n\n{} --> {}\n{text}\n\n",
                stamp(0.0, '.'),
                stamp(duration, '.')
            )),
            "text/vtt; charset=utf-8",
        ),
        other => bad(
            &format!(
                "Invalid value: '{other}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'."
            ),
            "response_format",
        ),
    }
}

/// `POST /moderations`: every category with a score; trigger words flag their category.
pub(crate) fn moderation(body: &Map<String, Value>, seq: u64) -> Out {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => {
            if items.iter().any(Value::is_object) {
                vec![content_text(body.get("input"))]
            } else {
                items
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            }
        }
        _ => return bad("Missing required parameter: 'input'.", "input"),
    };
    let results: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let lower = text.to_lowercase();
            let (mut flags, mut scores, mut applied) = (Map::new(), Map::new(), Map::new());
            for (name, triggers) in CATEGORIES {
                let hit = triggers.iter().any(|t| lower.contains(t));
                flags.insert((*name).into(), hit.into());
                scores.insert((*name).into(), json!(if hit { 0.93 } else { 0.000_12 }));
                applied.insert((*name).into(), json!(["text"]));
            }
            let flagged = flags.values().any(|v| v == &Value::Bool(true));
            json!({"flagged": flagged, "categories": flags, "category_scores": scores,
                   "category_applied_input_types": applied})
        })
        .collect();
    let model = text_of(body, "model").unwrap_or("omni-moderation-latest");
    Out::Json(json!({"id": format!("modr-mock-{seq}"), "model": model, "results": results}))
}

/// `POST /rerank` (Cohere/Jina style): word overlap with the query, highest first.
pub(crate) fn rerank(body: &Map<String, Value>, seq: u64) -> Out {
    let Some(query) = text_of(body, "query").filter(|q| !q.is_empty()) else {
        return bad("Missing required parameter: 'query'.", "query");
    };
    let Some(Value::Array(documents)) = body.get("documents") else {
        return bad("Missing required parameter: 'documents'.", "documents");
    };
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let query_words = words(query);
    let mut scored: Vec<(usize, f64, String)> = documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let text = d
                .as_str()
                .or_else(|| d.get("text").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned();
            let doc_words = words(&text);
            let hits = query_words.iter().filter(|w| doc_words.contains(w)).count();
            #[allow(clippy::cast_precision_loss)]
            let score = (hits as f64 + 0.1) / (query_words.len() as f64 + 0.1) - i as f64 * 1e-4;
            (i, score.clamp(0.0, 1.0), text)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top_n = body
        .get("top_n")
        .and_then(Value::as_u64)
        .map_or(scored.len(), |n| usize::try_from(n).unwrap_or(usize::MAX));
    let with_docs = body.get("return_documents").and_then(Value::as_bool).unwrap_or(false);
    let results: Vec<Value> = scored
        .into_iter()
        .take(top_n)
        .map(|(index, score, text)| {
            let mut r = json!({"index": index, "relevance_score": score});
            if with_docs {
                r["document"] = json!({"text": text});
            }
            r
        })
        .collect();
    let tokens = estimate_tokens(query) * documents.len() as u64;
    Out::Json(json!({
        "id": format!("rerank-mock-{seq}"),
        "model": text_of(body, "model").unwrap_or("rerank-v3.5"),
        "results": results,
        "usage": {"total_tokens": tokens},
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }))
}
