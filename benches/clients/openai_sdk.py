"""openai SDK driver: AsyncOpenAI with its defaults (httpx transport, pydantic models)."""

from __future__ import annotations

from typing import Any, Callable

import openai
from _common import MODEL, run


class Adapter:
    async def setup(self, base_url: str) -> None:
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key="k")

    async def close(self) -> None:
        await self.client.close()

    async def chat(self, messages: list[dict[str, str]]) -> str:
        resp = await self.client.chat.completions.create(model=MODEL, messages=messages)
        return resp.choices[0].message.content

    async def stream(self, messages: list[dict[str, str]], on_chunk: Callable[[Any], None]) -> None:
        stream = await self.client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            on_chunk(chunk.choices[0].delta.content if chunk.choices else None)


if __name__ == "__main__":
    run(Adapter(), lambda: {"openai": openai.__version__})
