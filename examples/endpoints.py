"""Every endpoint beyond chat against the built-in mock provider: no API key, no network.

Run: .venv/bin/python examples/endpoints.py
"""

import asyncio
import json

from liter_llm import LlmClient
from liter_llm.testing import MockServer


async def main() -> None:
    with MockServer() as server:
        client = LlmClient(api_key="sk-mock", base_url=server.base_url)

        models = await client.list_models()
        print("models:", [m.id for m in models.data])

        images = await client.image_generate(prompt="a lighthouse at dusk", model="dall-e-3")
        print("image:", images.data[0].url, "|", images.data[0].revised_prompt)

        audio = await client.speech(model="tts-1", input="Hello from liter_llm", voice="alloy", response_format="wav")
        text = await client.transcribe(model="whisper-1", file=("hello.wav", audio), response_format="verbose_json")
        print(f"speech: {len(audio)} bytes -> transcript: {text.text!r} ({text.duration:.2f} s)")

        verdict = await client.moderate(input="I will kill this bug")
        result = verdict.results[0]
        print("moderation: flagged =", result.flagged, "| violence =", result.categories.violence)

        ranked = await client.rerank(
            model="rerank-v3.5", query="fast rust http", documents=["slow python", "fast rust http client", "rust"]
        )
        print("rerank:", [(r.index, round(r.relevance_score, 2)) for r in ranked.results])

        line = {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions"}
        line["body"] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "batched hello"}]}
        upload = await client.create_file(file=json.dumps(line).encode() + b"\n", purpose="batch")
        batch = await client.create_batch(input_file_id=upload.id, endpoint="/v1/chat/completions")
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            batch = await client.retrieve_batch(batch.id)
            print("batch:", batch.status)
        output = await client.file_content(batch.output_file_id or "")
        print("batch output:", json.loads(output)["response"]["body"]["choices"][0]["message"]["content"])

        response = await client.create_response(model="gpt-4.1-mini", input="Responses API says hi")
        print("response:", response.output_text, "|", response.usage)


if __name__ == "__main__":
    asyncio.run(main())
