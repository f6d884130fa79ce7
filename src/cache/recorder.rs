//! Records a stream as it is read, so a finished stream is stored with its chunk boundaries
//! and handed to the callers waiting on it. A stream that ends before its end marker, or is
//! dropped, is never stored.

use std::sync::Arc;

use super::flight::Lead;
use super::payload::Payload;
use super::store::Key;
use super::{Cache, Control, MAX_ENTRY_BYTES};
use crate::error::Error;
use crate::types::json::Heap;
use crate::types::ChatCompletionChunk;

/// A stream's chunks on their way into the cache.
#[derive(Debug)]
pub struct Recorder {
    cache: Arc<Cache>,
    key: Key,
    control: Control,
    lead: Option<Lead>,
    chunks: Vec<ChatCompletionChunk>,
    bytes: usize,
    /// Past [`MAX_ENTRY_BYTES`]: the stream is too large to keep.
    overflow: bool,
}

impl Recorder {
    /// Records into `cache` under `key`; `lead` is the flight the stream answers.
    pub fn new(cache: Arc<Cache>, key: Key, control: Control, lead: Option<Lead>) -> Self {
        Recorder {
            cache,
            key,
            control,
            lead,
            chunks: Vec::new(),
            bytes: 0,
            overflow: false,
        }
    }

    /// Adds chunks as they were delivered.
    pub fn push<'a>(&mut self, chunks: impl Iterator<Item = &'a ChatCompletionChunk>) {
        if self.overflow {
            return;
        }
        for chunk in chunks {
            self.bytes += std::mem::size_of::<ChatCompletionChunk>() + chunk.heap();
            if self.bytes > MAX_ENTRY_BYTES {
                self.overflow = true;
                self.chunks = Vec::new();
                return;
            }
            self.chunks.push(chunk.clone());
        }
    }

    /// The stream ended cleanly: stores it and answers the waiting callers (a stream too
    /// large to keep releases them to call on their own).
    pub fn finish(self, cost: Option<f64>) {
        if self.overflow {
            return;
        }
        let payload = Arc::new(Payload::Stream(self.chunks, cost));
        if let Some(lead) = &self.lead {
            lead.land(Ok(Arc::clone(&payload)));
        }
        self.cache
            .store_in_background(self.key, payload, self.control, self.lead);
    }

    /// The stream failed: the waiting callers get its error.
    pub fn fail(self, err: &Error) {
        if let Some(lead) = &self.lead {
            lead.land(Err(err.clone()));
        }
    }
}
