"""Callbacks fire once per request of a batch (chat_batch, chat_batch_sync, chat_as_completed),
with each request's own metadata, attempts and timing."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import MODEL, user
from liter_llm import LlmClient
from liter_llm.testing import MockServer


class Recorder:
    def __init__(self) -> None:
        self.success: list[Any] = []
        self.failure: list[Any] = []

    def on_success(self, event: Any) -> None:
        self.success.append(event)

    def on_failure(self, event: Any) -> None:
        self.failure.append(event)


def requests(n: int) -> list[dict[str, Any]]:
    return [{"model": MODEL, "messages": user(f"hi {i}"), "metadata": {"row": str(i)}} for i in range(n)]


def test_chat_batch_reports_every_request_with_its_metadata() -> None:
    recorder = Recorder()
    with MockServer() as server:
        server.push_faults([{"status": 400}])
        client = LlmClient(api_key="sk-test", base_url=server.base_url, max_retries=0, callbacks=[recorder])
        results = asyncio.run(client.chat_batch(requests(20), max_concurrency=1))
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert len(recorder.success) == 19 and len(recorder.failure) == 1
    rows = sorted(int(e.metadata["row"]) for e in recorder.success + recorder.failure)
    assert rows == list(range(20))
    failed = recorder.failure[0]
    assert failed.metadata == {"row": "0"}
    assert type(failed.error) is type(results[0])
    assert [a.error is not None for a in failed.attempts] == [True]
    for event in recorder.success:
        # Time runs from the request's own first attempt, not from the start of the batch.
        assert event.start_time == event.attempts[0].start_time
        assert event.prompt_tokens and event.response is not None


def test_chat_as_completed_and_sync_batches_report_each_result_once() -> None:
    recorder = Recorder()
    with MockServer() as server:
        client = LlmClient(api_key="sk-test", base_url=server.base_url, callbacks=[recorder])

        async def drain() -> int:
            seen = 0
            async for _ in client.chat_as_completed(requests(12)):
                seen += 1
            return seen

        assert asyncio.run(drain()) == 12
        assert len(recorder.success) == 12
        client.chat_batch_sync(requests(5))
    assert len(recorder.success) == 17
    assert not recorder.failure
