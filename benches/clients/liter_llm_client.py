"""liter_llm driver, used for both our package and liter-llm 1.2.2 from PyPI (same import name and seed API)."""

from __future__ import annotations

from typing import Any, Callable

import liter_llm
from _common import MODEL, run


class Adapter:
    async def setup(self, base_url: str) -> None:
        self.client = liter_llm.LlmClient(api_key="k", base_url=base_url)

    async def close(self) -> None:
        close = getattr(self.client, "close", None) or getattr(self.client, "aclose", None)
        if close is not None:
            res = close()
            if hasattr(res, "__await__"):
                await res

    async def chat(self, messages: list[dict[str, str]]) -> str:
        resp = await self.client.chat(model=MODEL, messages=messages)
        return resp.choices[0].message.content

    async def stream(self, messages: list[dict[str, str]], on_chunk: Callable[[Any], None]) -> None:
        stream = await self.client.chat_stream(model=MODEL, messages=messages, stream_options={"include_usage": True})
        async for chunk in stream:
            on_chunk(chunk.choices[0].delta.content if chunk.choices else None)


def _info() -> dict[str, Any]:
    from importlib import metadata

    try:
        dist = metadata.version("liter-llm")
    except metadata.PackageNotFoundError:
        dist = None
    import glob
    import os

    sos = glob.glob(os.path.join(os.path.dirname(liter_llm.__file__), "*.so"))
    st = os.stat(sos[0]) if sos else None
    return {
        "liter_llm.__version__": getattr(liter_llm, "__version__", None),
        "dist": dist,
        "file": liter_llm.__file__,
        "so_bytes": st.st_size if st else None,
        "so_mtime": st.st_mtime if st else None,
    }


if __name__ == "__main__":
    run(Adapter(), _info)
