"""llm-api-client: APIClient(max_requests_per_minute, max_tokens_per_minute, max_workers).make_requests(requests).

It calls litellm.completion in a thread pool; requests use model "openai/gpt-4o-mini". Its default
sanitize=True drops ``api_base`` from a request dict (not in litellm's supported params for the model), so the
mock is reached through litellm's environment variables OPENAI_API_BASE / OPENAI_API_KEY, set before import.
Failed or rate-limiter-timed-out requests come back as None (the library's documented behaviour).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
BASE = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--base-url=")] or [
    sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--base-url"
]
os.environ["OPENAI_API_BASE"] = BASE[0]
os.environ["OPENAI_BASE_URL"] = BASE[0]
os.environ["OPENAI_API_KEY"] = "k"

import litellm  # noqa: E402
from _common import main  # noqa: E402
from llm_api_client import APIClient  # noqa: E402

litellm.suppress_debug_info = True
logging.basicConfig(level=logging.CRITICAL)  # its per-request ERROR logs would flood stderr on failures
_errors: list[str] = []


def _reqs(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "model": "openai/" + r["model"]} for r in reqs]


def _texts(resps: list[Any]) -> list[Any]:
    return [None if r is None else r.choices[0].message.content for r in resps]


def warmup(base_url: str, reqs: list[dict[str, Any]]) -> None:
    APIClient(max_requests_per_minute=None, max_tokens_per_minute=None, max_workers=16).make_requests(_reqs(reqs))


def run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    client = APIClient(max_requests_per_minute=rpm or None, max_tokens_per_minute=tpm or None, max_workers=concurrency)
    return _texts(client.make_requests(_reqs(reqs)))


def extra_info() -> dict[str, Any]:
    from importlib import metadata

    return {d: metadata.version(d) for d in ("llm-api-client", "litellm", "pyrate-limiter")}


if __name__ == "__main__":
    main(sys.modules[__name__])
