"""litellm: litellm.acompletion(model="openai/gpt-4o-mini", api_base=..., api_key=...) + asyncio.Semaphore +
aiolimiter pacing (see _pacer.py). litellm defaults kept (no retries unless num_retries is given)."""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the price map at import

import litellm  # noqa: E402
from _common import Failed, main  # noqa: E402
from _pacer import paced_gather  # noqa: E402

litellm.suppress_debug_info = True
_BASE = ""


async def warmup(base_url: str, reqs: list[dict[str, Any]]) -> None:
    await run(base_url, reqs, 0, 0, 16)


async def _one(req: dict[str, Any]) -> str:
    r = await litellm.acompletion(
        model="openai/" + req["model"],
        messages=req["messages"],
        max_tokens=req["max_tokens"],
        api_base=_BASE,
        api_key="k",
    )
    return r.choices[0].message.content


async def run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    global _BASE
    _BASE = base_url
    return await paced_gather(reqs, _one, rpm, tpm, concurrency, Failed)


def extra_info() -> dict[str, Any]:
    from importlib import metadata

    import aiolimiter

    return {"litellm": metadata.version("litellm"), "aiolimiter": aiolimiter.__version__}


if __name__ == "__main__":
    main(sys.modules[__name__])
