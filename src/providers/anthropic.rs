//! Anthropic Messages API translation.
