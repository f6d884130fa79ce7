"""Raw aiohttp floor: POST the JSON body, json.loads the response / every SSE data line, nothing else."""

from __future__ import annotations

import json
from typing import Any, Callable

import aiohttp
from _common import MODEL, run


class Adapter:
    async def setup(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
        # limit=0: no client-side cap on connections (aiohttp's default is 100, below the 200-way workload).
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        await self.session.close()

    async def chat(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": MODEL, "messages": messages})
        async with self.session.post(self.url, data=body, headers=self.headers) as resp:
            resp.raise_for_status()
            data = json.loads(await resp.read())
        return data["choices"][0]["message"]["content"]

    async def stream(self, messages: list[dict[str, str]], on_chunk: Callable[[Any], None]) -> None:
        body = json.dumps(
            {"model": MODEL, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        )
        async with self.session.post(self.url, data=body, headers=self.headers) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                chunk = json.loads(payload)
                choices = chunk.get("choices")
                on_chunk(choices[0]["delta"].get("content") if choices else None)


if __name__ == "__main__":
    run(Adapter(), lambda: {"aiohttp": aiohttp.__version__})
