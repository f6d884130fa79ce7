//! The OpenAI protocol (most providers and every local server): the [`Adapter`] defaults.

use super::adapter::Adapter;

/// OpenAI Chat Completions and the endpoints beside it, spoken as they are.
#[derive(Debug)]
pub struct OpenAi;

impl Adapter for OpenAi {}
