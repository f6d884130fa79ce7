//! liter_llm core: a fast LLM client (HTTP, SSE, retries, typed responses) with no Python dependency.
//!
//! The Python bindings live in `py/` behind the `python` feature; everything else builds and
//! tests with plain `cargo test`.

pub mod api;
pub mod batch;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod config;
pub mod deployments;
pub mod embeddings;
pub mod error;
pub mod http;
pub mod mcp;
pub mod mock;
mod percentile;
pub mod pricing;
pub mod progress;
pub mod provider_batch;
pub mod providers;
pub mod ratelimit;
pub mod redact;
pub mod redis_link;
pub mod retry;
pub mod runtime;
pub mod sanitize;
pub mod server;
mod sqlite_file;
pub mod sse;
pub mod stream;
pub mod tokens;
pub mod types;
pub mod usage;

#[cfg(feature = "python")]
mod py;

#[cfg(test)]
mod proptests;

pub use client::{Client, Request};
pub use config::ClientConfig;
pub use error::{Error, Kind, Result};
