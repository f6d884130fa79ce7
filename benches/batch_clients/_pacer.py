"""The client-side pacing a user of a plain SDK would add: asyncio.Semaphore + aiolimiter leaky buckets.

``AsyncLimiter(rpm, 60)`` and ``AsyncLimiter(tpm, 60)`` from aiolimiter (the usual asyncio rate limiter on
PyPI): a leaky bucket of capacity ``rpm`` (``tpm``) that drains at rpm/60 (tpm/60) per second. It starts
empty, so the first minute's worth of acquisitions passes at once (a burst), after that acquisitions are paced
at the rate. Tokens per request are estimated the way the mock counts prompts (ceil(chars/4) + 4 per message)
plus ``max_tokens`` reserved for the reply; a leaky bucket cannot refund the unused part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Callable

from aiolimiter import AsyncLimiter


def estimate_tokens(req: dict[str, Any]) -> int:
    n = sum(-(-len(m["content"]) // 4) + 4 for m in req["messages"])
    return n + int(req.get("max_tokens") or 0)


async def paced_gather(
    requests: list[dict[str, Any]],
    one: Callable[[dict[str, Any]], Awaitable[Any]],
    rpm: int,
    tpm: int,
    concurrency: int,
    on_error: Callable[[BaseException], Any],
) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)
    rpm_limiter = AsyncLimiter(rpm, 60) if rpm else None
    tpm_limiter = AsyncLimiter(tpm, 60) if tpm else None

    async def task(req: dict[str, Any]) -> Any:
        async with sem:
            if rpm_limiter is not None:
                await rpm_limiter.acquire()
            if tpm_limiter is not None:
                await tpm_limiter.acquire(estimate_tokens(req))
            try:
                return await one(req)
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                return on_error(e)

    return await asyncio.gather(*(task(r) for r in requests))
