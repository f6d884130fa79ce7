//! Mock Anthropic Messages API answers.
