"""ours: liter_llm LlmClient(max_requests_per_minute, max_tokens_per_minute, max_concurrency) with
``await client.chat_batch(requests)`` (--mode async, default) or ``client.chat_batch_sync(requests)``
(--mode sync, no event loop). Results are ChatCompletion objects or exception objects, in input order.
A limit of 0 is passed as None (no limit)."""

from __future__ import annotations

import sys
from typing import Any

from _common import Failed, main
from liter_llm import LlmClient

MODE = "async"


def configure(args: Any) -> None:
    global MODE
    MODE = args.mode or "async"


_CLIENTS: dict[tuple[Any, ...], LlmClient] = {}


def _client(base_url: str, rpm: int, tpm: int, concurrency: int) -> LlmClient:
    """One client per configuration, reused across the batches of the RSS run (as a long-lived user would)."""
    key = (base_url, rpm, tpm, concurrency)
    if key not in _CLIENTS:
        _CLIENTS[key] = _new_client(*key)
    return _CLIENTS[key]


def _new_client(base_url: str, rpm: int, tpm: int, concurrency: int) -> LlmClient:
    return LlmClient(
        api_key="k",
        base_url=base_url,
        max_requests_per_minute=rpm or None,
        max_tokens_per_minute=tpm or None,
        max_concurrency=concurrency,
    )


def _texts(results: list[Any]) -> list[Any]:
    return [Failed(r) if isinstance(r, BaseException) else r.choices[0].message.content for r in results]


async def _async_run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    return _texts(await _client(base_url, rpm, tpm, concurrency).chat_batch(reqs))


def warmup(base_url: str, reqs: list[dict[str, Any]]) -> None:
    run(base_url, reqs, 0, 0, 16)


def run(base_url: str, reqs: list[dict[str, Any]], rpm: int, tpm: int, concurrency: int) -> list[Any]:
    if MODE == "sync":
        return _texts(_client(base_url, rpm, tpm, concurrency).chat_batch_sync(reqs))
    import asyncio

    return asyncio.run(_async_run(base_url, reqs, rpm, tpm, concurrency))


def extra_info() -> dict[str, Any]:
    import liter_llm

    return {"liter_llm": getattr(liter_llm, "__version__", None), "mode": MODE}


if __name__ == "__main__":
    main(sys.modules[__name__])
