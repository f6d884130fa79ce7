"""liter_llm: a fast async LLM client with a Rust core."""

from liter_llm._liter_llm import __version__

__all__ = ["__version__"]
