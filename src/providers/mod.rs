//! Native provider protocols: each module turns an OpenAI-shaped chat request into the
//! provider's wire format and the provider's answers (bodies, stream events, errors) back into
//! the OpenAI-shaped types, so every provider yields the same response, chunks and errors.

pub mod anthropic;
pub mod gemini;
pub mod registry;
pub mod route;
