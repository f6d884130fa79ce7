"""openai SDK: AsyncOpenAI + asyncio.Semaphore + aiolimiter pacing (see _pacer.py). SDK defaults kept
(max_retries=2 with its own backoff)."""

from __future__ import annotations

import sys
from typing import Any

from _common import Failed, main
from _pacer import paced_gather
from openai import AsyncOpenAI


async def warmup(base_url: str, reqs: list[dict[str, Any]]) -> None:
    await run(base_url, reqs, 0, 0, 16)


async def run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    client = AsyncOpenAI(api_key="k", base_url=base_url)

    async def one(req: dict[str, Any]) -> str:
        r = await client.chat.completions.create(**req)
        return r.choices[0].message.content

    try:
        return await paced_gather(reqs, one, rpm, tpm, concurrency, Failed)
    finally:
        await client.close()


def extra_info() -> dict[str, Any]:
    import aiolimiter
    import openai

    return {"openai": openai.__version__, "aiolimiter": aiolimiter.__version__}


if __name__ == "__main__":
    main(sys.modules[__name__])
