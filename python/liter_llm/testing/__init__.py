"""Offline testing helpers: an OpenAI-compatible mock LLM server running inside the process.

Example::

    from liter_llm.testing import MockServer

    with MockServer(reply="Hi!") as server:
        server.push_faults([{"status": 429, "retry_after": 1}])
        ...  # point any OpenAI-compatible client at server.base_url

Run one from the command line with ``python -m liter_llm.testing serve --port 8000``.
"""

from liter_llm._liter_llm import MockServer
from liter_llm._liter_llm import serve_mock as serve

__all__ = ["MockServer", "serve"]
