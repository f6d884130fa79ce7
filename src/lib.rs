//! liter_llm core: a fast LLM client (HTTP, SSE, retries, typed responses) with no Python dependency.
//!
//! The Python bindings live in `py/` behind the `python` feature; everything else builds and
//! tests with plain `cargo test`.

pub mod client;
pub mod config;
pub mod error;
pub mod http;
pub mod mock;
pub mod retry;
pub mod runtime;
pub mod sse;
pub mod stream;
pub mod types;

#[cfg(feature = "python")]
mod py;

pub use client::{Client, Request};
pub use config::ClientConfig;
pub use error::{Error, Kind, Result};
