//! Google Gemini generateContent translation.
