//! Mock Google Gemini answers.
