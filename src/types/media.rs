//! Image generation and transcription models.

use serde_json::Value;

use super::json::model;

model! {
    /// One generated image: a URL or base64 data, depending on `response_format`.
    pub struct Image {
        /// Where to download the image (expires after an hour at OpenAI).
        url: Option<String> = "url",
        /// The image, base64-encoded.
        b64_json: Option<String> = "b64_json",
        /// The prompt the model actually used, when it rewrote yours.
        revised_prompt: Option<String> = "revised_prompt",
    }
}

model! {
    /// An image generation response.
    pub struct ImagesResponse {
        /// Unix time of creation.
        created: i64 = "created",
        /// The images.
        data: Vec<Image> = "data",
        /// Token usage (image models that bill by token), as sent.
        usage: Option<Value> = "usage",
    }
}

model! {
    /// One segment of a `verbose_json` transcription.
    pub struct TranscriptionSegment {
        /// Segment number.
        id: i64 = "id",
        /// Seek offset of the segment.
        seek: i64 = "seek",
        /// Start time in seconds.
        start: f64 = "start",
        /// End time in seconds.
        end: f64 = "end",
        /// The segment's text.
        text: String = "text",
        /// Token ids of the text.
        tokens: Vec<i64> = "tokens",
        /// Sampling temperature used.
        temperature: f64 = "temperature",
        /// Average log probability of the tokens.
        avg_logprob: f64 = "avg_logprob",
        /// Compression ratio (high values hint at repetition).
        compression_ratio: f64 = "compression_ratio",
        /// Probability that the segment is silence.
        no_speech_prob: f64 = "no_speech_prob",
    }
}

model! {
    /// One word of a `verbose_json` transcription with word timestamps.
    pub struct TranscriptionWord {
        /// The word.
        word: String = "word",
        /// Start time in seconds.
        start: f64 = "start",
        /// End time in seconds.
        end: f64 = "end",
    }
}

model! {
    /// A transcription. With `response_format` `text`, `srt` or `vtt` the provider's plain text
    /// answer is in `text` and the other fields are `None`.
    pub struct TranscriptionResponse {
        /// The transcribed text.
        text: String = "text",
        /// Detected language (`verbose_json`).
        language: Option<String> = "language",
        /// Audio duration in seconds (`verbose_json`).
        duration: Option<f64> = "duration",
        /// Timed segments (`verbose_json`).
        segments: Option<Vec<TranscriptionSegment>> = "segments",
        /// Timed words (`verbose_json` with word timestamps).
        words: Option<Vec<TranscriptionWord>> = "words",
        /// Usage, as sent.
        usage: Option<Value> = "usage",
    }
}
