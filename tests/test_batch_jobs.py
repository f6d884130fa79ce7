"""Provider batch jobs (`LlmClient.submit_batch_job`, `BatchJob`) against the built-in mock's
OpenAI Batch and Anthropic Message Batches APIs: splitting, results in order, failed items,
resuming from the manifest with nothing sent twice, cancellation, translation and batch prices."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import API_KEY, assert_no_key, client_for, user
from liter_llm import (
    BadRequestError,
    BatchJob,
    ChatCompletionResponse,
    EndpointNotSupportedError,
    LlmTimeoutError,
    RequestCancelledError,
    completion_cost,
    model_info,
)
from liter_llm.testing import MockServer

OPENAI = "gpt-4o-mini"
ANTHROPIC = "anthropic/claude-haiku-4-5"


def asks(*texts: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"messages": user(t), "max_tokens": 20, **extra} for t in texts]


def sent(server: MockServer, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["method"] == method and r["path"] == path]


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines() if line]


async def test_openai_jobs_split_upload_and_return_results_in_order_with_failed_items(mock):
    client = client_for(mock)
    texts = [f"question {i}" for i in range(5)]
    texts[3] = "fail: please"
    job = await client.submit_batch_job(asks(*texts), model=OPENAI, max_requests_per_batch=2)
    assert isinstance(job, BatchJob) and job.provider == "openai" and job.total == 5
    assert len(job.batch_ids) == 3 and job.status == "in_progress"

    uploads = sent(mock, "POST", "/v1/files")
    assert len(uploads) == 3
    lines = []
    for upload in uploads:
        fields = {part["name"]: part for part in upload["form"]}
        assert fields["purpose"]["data"] == b"batch" and fields["file"]["filename"].endswith(".jsonl")
        lines.append(jsonl(fields["file"]["data"]))
    assert [len(part) for part in lines] == [2, 2, 1]
    first = lines[0][0]
    assert (first["method"], first["url"]) == ("POST", "/v1/chat/completions")
    assert first["body"]["model"] == OPENAI and first["body"]["messages"] == user("question 0")
    creations = sent(mock, "POST", "/v1/batches")
    assert [c["json"]["endpoint"] for c in creations] == ["/v1/chat/completions"] * 3
    assert {c["json"]["metadata"]["liter_llm_job"] for c in creations} == {job.id}

    seen: list[dict[str, Any]] = []
    await job.wait(poll_interval=0.01, progress=seen.append)
    assert job.done and job.status == "completed"
    assert seen[-1] == {"total": 5, "succeeded": 4, "failed": 1, "pending": 0, "batches": 3, "status": "completed"}
    results = await job.results()
    assert [type(r) for r in results] == [ChatCompletionResponse] * 3 + [BadRequestError, ChatCompletionResponse]
    assert [r.choices[0].message.content for r in results if isinstance(r, ChatCompletionResponse)] == [
        "question 0",
        "question 1",
        "question 2",
        "question 4",
    ]
    assert "mock failure requested" in str(results[3]) and results[3].status_code == 400


async def test_results_are_priced_at_the_batch_discount_and_recorded_once(mock):
    client = client_for(mock)
    job = await client.submit_batch_job(asks("one two three", "four five"), model=OPENAI)
    results = await job.results(poll_interval=0.01)
    assert model_info(OPENAI)["batch_price_factor"] == 0.5
    expected = [completion_cost(model=OPENAI, usage=r.usage) * 0.5 for r in results]
    assert all(e > 0 for e in expected)
    assert [r.cost for r in results] == pytest.approx(expected)
    per_model = client.usage.per_model[OPENAI]
    assert per_model["calls"] == 2 and per_model["total_cost"] == pytest.approx(sum(expected), rel=1e-6)
    await job.results()
    assert client.usage.per_model[OPENAI]["calls"] == 2


async def test_splitting_at_the_byte_limit_and_refusing_a_request_too_large(mock):
    client = client_for(mock)
    requests = asks(*(f"question {i} " + "x" * 200 for i in range(6)))
    job = await client.submit_batch_job(requests, model=OPENAI, max_bytes_per_batch=1000)
    files = [fields for u in sent(mock, "POST", "/v1/files") for fields in u["form"] if fields["name"] == "file"]
    assert all(len(f["data"]) <= 1000 for f in files)
    assert sum(len(jsonl(f["data"])) for f in files) == 6 and len(files) == len(job.batch_ids) >= 2
    # Two requests of ~330 bytes fit in 1000 bytes, three do not.
    assert [len(jsonl(f["data"])) for f in files] == [2, 2, 2]
    count = mock.request_count
    with pytest.raises(ValueError, match=r"requests\[1\]: .* more than a provider batch may hold"):
        await client.submit_batch_job(asks("short", "y" * 2000), model=OPENAI, max_bytes_per_batch=1000)
    assert mock.request_count == count


async def test_the_providers_own_limit_splits_50001_requests_into_two_batches(mock):
    client = client_for(mock)
    requests = [{"messages": user(str(i)), "max_tokens": 1} for i in range(50_001)]
    job = await client.submit_batch_job(requests, model=OPENAI)
    assert len(job.batch_ids) == 2
    sizes = [len(jsonl(f["data"])) for u in sent(mock, "POST", "/v1/files") for f in u["form"] if f["name"] == "file"]
    assert sizes == [50_000, 1]


async def test_anthropic_jobs_translate_requests_and_results(mock):
    client = client_for(mock)
    requests = [
        {"messages": [{"role": "system", "content": "Be brief."}, *user("hello there")], "max_tokens": 30},
        {"messages": user("fail: on purpose"), "max_tokens": 30},
        {"messages": user("and you"), "max_tokens": 30, "temperature": 0.5},
    ]
    job = await client.submit_batch_job(requests, model=ANTHROPIC, max_requests_per_batch=2)
    assert job.provider == "anthropic" and len(job.batch_ids) == 2
    creations = sent(mock, "POST", "/v1/messages/batches")
    assert len(creations) == 2
    assert creations[0]["headers"]["x-api-key"] == API_KEY and "anthropic-version" in creations[0]["headers"]
    items = creations[0]["json"]["requests"] + creations[1]["json"]["requests"]
    assert [i["custom_id"] for i in items] == ["r0", "r1", "r2"]
    params = items[0]["params"]
    assert params["model"] == "claude-haiku-4-5" and params["max_tokens"] == 30
    assert params["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert [m["role"] for m in params["messages"]] == ["user"]
    assert items[2]["params"]["temperature"] == 0.5

    results = await job.results(poll_interval=0.01)
    assert isinstance(results[0], ChatCompletionResponse) and isinstance(results[2], ChatCompletionResponse)
    assert results[0].choices[0].message.content == "hello there"
    assert results[0].choices[0].finish_reason == "stop"
    assert results[2].choices[0].message.content == "and you"
    assert isinstance(results[1], BadRequestError) and "mock failure requested" in str(results[1])
    expected = completion_cost(model=ANTHROPIC, usage=results[0].usage) * 0.5
    assert expected > 0 and results[0].cost == pytest.approx(expected)
    stats = client.usage.per_model[ANTHROPIC]
    assert (stats["calls"], stats["failures"]) == (3, 1)


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_a_job_resumes_from_its_manifest_mid_wait_with_nothing_sent_twice(tmp_path, model):
    with MockServer(batch_delay_ms=300) as mock:
        path = tmp_path / "job.json"
        first = client_for(mock)
        job = await first.submit_batch_job(asks("a", "b", "fail: c", "d", "e"), model=model, manifest=str(path))
        await job.refresh()
        assert job.status == "in_progress"
        saved = json.loads(path.read_text())
        assert [p["batch_id"] for p in saved["parts"]] == job.batch_ids
        assert_no_key(path.read_text())
        creations = len(mock.requests())

        # "Restart": a new client and the manifest; it waits, then collects.
        resumed = BatchJob.load(str(path), client_for(mock))
        assert (resumed.id, resumed.total, resumed.batch_ids) == (job.id, 5, job.batch_ids)
        results = await (await resumed.wait(poll_interval=0.02)).results()
        assert [isinstance(r, ChatCompletionResponse) for r in results] == [True, True, False, True, True]
        later = mock.requests()[creations:]
        assert all(r["method"] == "GET" for r in later), [(r["method"], r["path"]) for r in later]
        assert json.loads(path.read_text())["parts"][0]["state"] == "completed"


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_a_creation_whose_answer_was_lost_is_found_not_repeated(tmp_path, model):
    with MockServer(batch_delay_ms=60_000) as mock:
        path = tmp_path / "job.json"
        job = await client_for(mock).submit_batch_job(asks("a", "b"), model=model, manifest=str(path))
        # As if the process died after sending the creation, before writing down its answer.
        doc = json.loads(path.read_text())
        doc["parts"][0].update(batch_id=None, state="unsubmitted")
        path.write_text(json.dumps(doc))
        creates = "/v1/batches" if model == OPENAI else "/v1/messages/batches"
        assert len(sent(mock, "POST", creates)) == 1

        resumed = client_for(mock).load_batch_job(str(path))
        await resumed.refresh()
        assert resumed.batch_ids == job.batch_ids and resumed.status == "in_progress"
        assert len(sent(mock, "POST", creates)) == 1
        assert len(sent(mock, "POST", "/v1/files")) == (1 if model == OPENAI else 0)


async def test_a_part_never_created_needs_the_same_requests(tmp_path, mock):
    path = tmp_path / "job.json"
    requests = asks("a", "b", "c")
    await client_for(mock).submit_batch_job(requests, model=OPENAI, manifest=str(path), max_requests_per_batch=2)
    doc = json.loads(path.read_text())
    doc["parts"][1].update(batch_id=None, state="unsubmitted", submitted_at=None, input_file_id=None)
    path.write_text(json.dumps(doc))
    before = len(sent(mock, "POST", "/v1/batches"))

    with pytest.raises(ValueError, match="never submitted"):
        await BatchJob.load(str(path), client_for(mock)).refresh()
    with pytest.raises(ValueError, match="differ"):
        BatchJob.load(str(path), client_for(mock), requests=asks("a", "b", "changed"))
    job = BatchJob.load(str(path), client_for(mock), requests=requests)
    results = await job.results(poll_interval=0.01)
    assert [r.choices[0].message.content for r in results] == ["a", "b", "c"]
    assert len(sent(mock, "POST", "/v1/batches")) == before + 1


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_cancel_stops_the_job_and_its_requests_fail_as_cancelled(model):
    with MockServer(batch_delay_ms=60_000) as mock:
        job = await client_for(mock).submit_batch_job(asks("a", "b", "c"), model=model, max_requests_per_batch=2)
        assert (await job.cancel()).status == "cancelling"
        cancels = [r for r in mock.requests() if r["method"] == "POST" and r["path"].endswith("/cancel")]
        assert len(cancels) == 2
        await job.wait(poll_interval=0.01)
        assert job.status == "cancelled"
        results = await job.results()
        assert all(isinstance(r, RequestCancelledError) for r in results), results


async def test_wait_times_out_and_the_job_goes_on():
    with MockServer(batch_delay_ms=60_000) as mock:
        job = await client_for(mock).submit_batch_job(asks("a"), model=OPENAI)
        with pytest.raises(LlmTimeoutError, match="goes on at the provider"):
            await job.wait(poll_interval=0.01, timeout=0.05)
        assert job.status == "in_progress"


async def test_bad_jobs_are_refused_before_anything_is_sent(mock):
    client = client_for(mock)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"requests": []}, ValueError, "must not be empty"),
        ({"requests": asks("a", stream=True)}, ValueError, r"requests\[0\]: stream"),
        ({"requests": asks("a"), "completion_window": "1h"}, ValueError, "24h"),
        ({"requests": asks("a"), "max_requests_per_batch": 0}, ValueError, "max_requests_per_batch"),
        ({"requests": asks("a"), "max_requests_per_batch": 50_001}, ValueError, "provider's limit"),
        ({"requests": asks("a"), "max_bytes_per_batch": 300_000_000}, ValueError, "provider's limit"),
        ({"requests": [{"messages": user("a")}], "model": None}, ValueError, r"requests\[0\]: model is required"),
        ({"requests": ["text"]}, TypeError, r"requests\[0\] must be a dict"),
        (
            {"requests": [*asks("a", model=OPENAI), *asks("b", model=ANTHROPIC)]},
            ValueError,
            r"requests\[1\]: .*one provider",
        ),
        ({"requests": asks("a", model="gemini/gemini-2.5-flash")}, EndpointNotSupportedError, "batch jobs"),
    ]
    for kwargs, error, message in cases:
        kwargs.setdefault("model", OPENAI)
        requests = kwargs.pop("requests")
        with pytest.raises(error, match=message):
            await client.submit_batch_job(requests, **kwargs)
    assert mock.request_count == 0
    with pytest.raises(ValueError, match="not a batch job manifest"):
        client.load_batch_job("/nonexistent/job.json")


async def test_a_manifest_only_loads_through_a_client_that_reaches_the_same_provider(tmp_path, mock):
    path = tmp_path / "job.json"
    await client_for(mock).submit_batch_job(asks("a"), model=OPENAI, manifest=str(path))
    with MockServer() as other, pytest.raises(ValueError, match="batches live at"):
        client_for(other).load_batch_job(str(path))


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_a_creation_cut_off_mid_answer_is_not_retried_and_is_found_next_time(tmp_path, model):
    with MockServer(batch_delay_ms=60_000) as mock:
        client = client_for(mock, max_retries=3)
        path = tmp_path / "job.json"
        creates = "/v1/batches" if model == OPENAI else "/v1/messages/batches"
        # The upload (OpenAI) goes through; the creation is made, then its answer is cut off.
        mock.push_faults([{}, {"cut_after": 0}] if model == OPENAI else [{"cut_after": 0}])
        with pytest.raises(Exception) as caught:
            await client.submit_batch_job(asks("a", "b"), model=model, manifest=str(path))
        assert not isinstance(caught.value, (ValueError, TypeError))
        assert_no_key(str(caught.value))
        assert len(sent(mock, "POST", creates)) == 1, "a creation is never retried blindly"
        job = client.load_batch_job(str(path))
        await job.refresh()
        assert job.status == "in_progress" and len(job.batch_ids) == 1
        assert len(sent(mock, "POST", creates)) == 1, "the batch made is found, not made again"


async def test_a_refused_creation_surfaces_and_the_next_refresh_creates_it_once(tmp_path):
    with MockServer(batch_delay_ms=60_000) as mock:
        client = client_for(mock, max_retries=3)
        path = tmp_path / "job.json"
        mock.push_faults([{}, {"status": 500}])
        with pytest.raises(Exception, match="500"):
            await client.submit_batch_job(asks("a", "b"), model=OPENAI, manifest=str(path))
        assert len(sent(mock, "POST", "/v1/batches")) == 1
        # The input is uploaded already: the job goes on without its requests.
        job = client.load_batch_job(str(path))
        await job.refresh()
        assert job.status == "in_progress" and len(job.batch_ids) == 1
        assert len(sent(mock, "POST", "/v1/batches")) == 2
        assert len(sent(mock, "POST", "/v1/files")) == 1, "the uploaded input is reused"


async def test_load_without_a_client_reaches_the_provider_with_the_key_from_the_environment(tmp_path, monkeypatch):
    with MockServer() as mock:
        path = tmp_path / "job.json"
        await client_for(mock).submit_batch_job(asks("a", "b"), model=OPENAI, manifest=str(path))
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        job = BatchJob.load(str(path))
        results = await job.results(poll_interval=0.01)
        assert [r.choices[0].message.content for r in results] == ["a", "b"]
        assert all(r["headers"]["authorization"] == f"Bearer {API_KEY}" for r in mock.requests())


@pytest.mark.parametrize(
    "change",
    [
        {"format": 99},
        {"total": 10**12},
        {"parts": []},
    ],
)
async def test_a_manifest_that_does_not_hold_together_is_refused(tmp_path, mock, change):
    path = tmp_path / "job.json"
    await client_for(mock).submit_batch_job(asks("a"), model=OPENAI, manifest=str(path))
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(ValueError, match="not a batch job manifest"):
        client_for(mock).load_batch_job(str(path))
