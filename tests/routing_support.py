"""Builders for the routing tests: LiteLLM-style deployments that point at scenario servers.

Each deployment of a test gets its own ``ScenarioServer`` (the ``servers`` fixture), so the
server-side request counts say which deployment a call went to, and arrival times say in which
order deployments were tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import scenario_server as ss
from conftest import API_KEY, user
from liter_llm import LlmClient
from scenario_server import ScenarioServer

# What every deployment serves unless a test says otherwise: the OpenAI provider at the
# deployment's own api_base.
ROUTED_MODEL = "openai/gpt-4o-mini"
GROUP = "smart"


def deployment(
    server: ScenarioServer,
    *,
    group: str = GROUP,
    id: str | None = None,
    key: str = API_KEY,
    model: str = ROUTED_MODEL,
    **params: Any,
) -> dict[str, Any]:
    """One ``model_list`` entry for ``group`` served by ``server`` (``params`` go to litellm_params)."""
    entry: dict[str, Any] = {
        "model_name": group,
        "litellm_params": {"model": model, "api_key": key, "api_base": server.base_url, **params},
    }
    if id is not None:
        entry["model_info"] = {"id": id}
    return entry


def router(model_list: list[dict[str, Any]], *, client: dict[str, Any] | None = None, **settings: Any) -> LlmClient:
    """A client routing ``model_list`` with ``settings`` as router_settings; 20 s timeout."""
    kwargs: dict[str, Any] = {"timeout": 20}
    kwargs.update(client or {})
    return LlmClient(model_list=model_list, router_settings=settings, **kwargs)


def counts(servers: Sequence[ScenarioServer]) -> list[int]:
    return [s.request_count for s in servers]


def hit_order(named: dict[str, ScenarioServer]) -> list[str]:
    """The names of the servers in the order their requests arrived (one name per request)."""
    hits = [(rec.arrived, name) for name, server in named.items() for rec in server.requests]
    return [name for _, name in sorted(hits)]


def failing(status: int = 500, **headers: str) -> ss.Handler:
    kind = "server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error"
    return ss.error_response(status, f"deployment answers {status}", type=kind, headers=headers or None)


def rate_limited(retry_after: str | None = None) -> ss.Handler:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return ss.error_response(429, "Rate limit reached", type="requests", code="rate_limit_exceeded", headers=headers)


EMBEDDING_BODY = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}


async def chat_many(client: LlmClient, n: int, *, model: str = GROUP, concurrency: int = 1, **kwargs: Any) -> list[Any]:
    """``n`` chats of ``model`` (echoing ``ask i``), at most ``concurrency`` at once, in call order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with gate:
            return await client.chat(model=model, messages=user(f"ask {i}"), **kwargs)

    if concurrency == 1:
        return [await one(i) for i in range(n)]
    return list(await asyncio.gather(*(one(i) for i in range(n))))


def text(response: Any) -> str:
    return response.choices[0].message.content


def stream_text(chunks: Sequence[Any]) -> str:
    return "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
