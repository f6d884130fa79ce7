"""lm-deluge: LLMClient(model, max_requests_per_minute, max_tokens_per_minute, max_concurrent_requests)
.process_prompts_async(prompts).

lm-deluge only talks to models in its registry, each with a fixed api_base, so the mock is registered as its own
model with ``lm_deluge.models.register_model(id="mock-gpt-4o-mini", name="gpt-4o-mini",
api_base=<mock>, api_key_env_var="MOCK_LLM_KEY", api_spec="openai")``. The prompt is the user message (a str);
``max_new_tokens`` = 32 (sent as max_completion_tokens). Library defaults kept otherwise (max_attempts=5,
request_timeout=30, temperature 0.75); progress display off.
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ["MOCK_LLM_KEY"] = "k"

from _common import MAX_TOKENS, Failed, main  # noqa: E402
from lm_deluge import LLMClient  # noqa: E402
from lm_deluge.models import register_model, registry  # noqa: E402

MODEL_ID = "mock-gpt-4o-mini"


def _register(base_url: str) -> None:
    if MODEL_ID not in registry:
        register_model(
            id=MODEL_ID, name="gpt-4o-mini", api_base=base_url, api_key_env_var="MOCK_LLM_KEY", api_spec="openai"
        )


async def warmup(base_url: str, reqs: list[dict[str, Any]]) -> None:
    await run(base_url, reqs, 0, 0, 16)


async def run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    _register(base_url)
    client = LLMClient(
        MODEL_ID,
        max_requests_per_minute=rpm or 10**9,
        max_tokens_per_minute=tpm or 10**12,
        max_concurrent_requests=concurrency,
        max_new_tokens=MAX_TOKENS,
        progress="manual",
    )
    prompts = [r["messages"][-1]["content"] for r in reqs]
    resps = await client.process_prompts_async(prompts, show_progress=False)
    out: list[Any] = []
    for r in resps:
        if r is None:
            out.append(None)
        elif r.is_error:
            out.append(Failed(f"status {r.status_code}: {r.error_message}"))
        else:
            out.append(r.completion)
    return out


def extra_info() -> dict[str, Any]:
    from importlib import metadata

    return {"lm-deluge": metadata.version("lm-deluge"), "aiohttp": metadata.version("aiohttp")}


if __name__ == "__main__":
    main(sys.modules[__name__])
