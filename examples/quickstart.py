"""Chat and stream against the built-in mock provider: no API key, no network.

Run: .venv/bin/python examples/quickstart.py
"""

import asyncio

from liter_llm import LlmClient, RateLimitedError
from liter_llm.testing import MockServer


async def main() -> None:
    with MockServer(latency_ms=20) as server:
        client = LlmClient(api_key="sk-mock", base_url=server.base_url)
        print(client)

        response = await client.chat(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Hello from liter_llm!"}],
            max_tokens=64,
        )
        print("chat:", response.choices[0].message.content, "|", response.usage)

        print("stream: ", end="")
        async with await client.chat_stream(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Streaming works chunk by chunk."}],
            stream_options={"include_usage": True},
        ) as stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="", flush=True)
                if chunk.usage:
                    print(f"\nusage: {chunk.usage.total_tokens} tokens")

        # A scripted 429 with Retry-After is retried transparently...
        server.push_faults([{"status": 429, "retry_after": 0.2}])
        again = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "retried"}])
        print("after one 429:", again.choices[0].message.content, f"({server.request_count} requests served)")

        # ...and surfaces as a typed error once retries run out.
        server.push_faults([{"status": 429, "retry_after": 0.1}] * 2)
        try:
            await client.with_options(max_retries=1).chat(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        except RateLimitedError as err:
            print(f"typed error: {type(err).__name__}: status={err.status_code} retry_after={err.retry_after}")


if __name__ == "__main__":
    asyncio.run(main())
