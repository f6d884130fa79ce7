"""Files and batches: uploads, paging, downloads, deletion, batch state transitions, errors."""

from __future__ import annotations

import io
import json
import os
import pathlib

import pytest
from conftest import API_KEY
from liter_llm import (
    BadRequestError,
    BatchListResponse,
    BatchObject,
    BatchRequestCounts,
    DeleteResponse,
    FileListResponse,
    FileObject,
    NotFoundError,
    RateLimitedError,
    ServerError,
)


def jsonl(*texts: str) -> bytes:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate(texts)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def file_part(request: dict) -> dict:
    (part,) = [p for p in request["form"] if p["name"] == "file"]
    return part


# ----- files -----


async def test_create_file_uploads_multipart_and_types_the_answer(client, mock_server):
    data = jsonl("hello", "bye")
    f = await client.create_file(file=data, purpose="batch")
    assert isinstance(f, FileObject)
    assert f.id.startswith("file-") and f.object == "file" and f.bytes == len(data)
    assert (f.filename, f.purpose, f.status) == ("upload.jsonl", "batch", "processed")
    assert f.created_at > 0 and f.expires_at is None and f.status_details is None
    assert f.to_dict()["filename"] == "upload.jsonl"
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/files")
    assert sent["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert [(p["name"], p["data"]) for p in sent["form"] if p["name"] != "file"] == [("purpose", b"batch")]
    part = file_part(sent)
    assert (part["filename"], part["content_type"], part["data"]) == ("upload.jsonl", "application/jsonl", data)


async def test_an_expiry_is_sent_as_form_fields_and_sets_expires_at(client, mock_server):
    f = await client.create_file(file=b"{}\n", purpose="batch", expires_after={"anchor": "created_at", "seconds": 7200})
    assert f.expires_at == f.created_at + 7200
    sent = mock_server.requests()[0]
    fields = [(p["name"], p["data"]) for p in sent["form"] if p["name"] != "file"]
    assert fields == [
        ("purpose", b"batch"),
        ("expires_after[anchor]", b"created_at"),
        ("expires_after[seconds]", b"7200"),
    ]
    with pytest.raises(BadRequestError, match="between 3600"):
        await client.create_file(file=b"{}\n", purpose="batch", expires_after={"seconds": 60})
    for bad, error in [
        ({"anchor": "created_at"}, ValueError),
        ({"seconds": None}, ValueError),
        ({"seconds": 0}, ValueError),
        ({"seconds": "1h"}, TypeError),
        ({"seconds": 7200, "unit": "s"}, ValueError),
        (7200, TypeError),
    ]:
        with pytest.raises(error, match="expires_after"):
            client.create_file(file=b"{}\n", purpose="batch", expires_after=bad)
    assert len(mock_server.requests()) == 2


async def test_create_file_names_come_from_the_argument_path_or_file_object(client, mock_server, tmp_path):
    path: pathlib.Path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl("x"))
    a = await client.create_file(file=path, purpose="fine-tune")
    b = await client.create_file(file=io.BytesIO(b"%PDF-1.7"), purpose="user_data", filename="report.pdf")
    c = await client.create_file(file=b"raw", purpose="assistants")
    assert (a.filename, b.filename, c.filename) == ("train.jsonl", "report.pdf", "upload")
    types = [file_part(r)["content_type"] for r in mock_server.requests()]
    assert types == ["application/jsonl", "application/pdf", "application/octet-stream"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
async def test_paths_that_are_not_utf8_are_read_as_the_os_names_them(client, mock_server, tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jsonl"  # Latin-1 bytes: not valid UTF-8
    with open(raw, "wb") as f:
        f.write(b"{}\n")
    by_bytes = await client.create_file(file=raw, purpose="batch")  # bytes are content, not a path
    assert by_bytes.bytes == len(raw)
    by_str = await client.create_file(file=os.fsdecode(raw), purpose="batch")  # surrogate-escaped str
    assert by_str.bytes == 3 and by_str.filename == "caf\ufffd.jsonl"
    by_pathlike = await client.create_file(file=pathlib.Path(os.fsdecode(raw)), purpose="batch")
    assert by_pathlike.bytes == 3
    assert file_part(mock_server.requests()[-1])["data"] == b"{}\n"


async def test_retrieve_content_list_and_delete(client, mock_server):
    first = await client.create_file(file=jsonl("a"), purpose="batch", filename="one.jsonl")
    second = await client.create_file(file=b"notes", purpose="assistants", filename="two.txt")
    got = await client.retrieve_file(first.id)
    assert got == first
    assert await client.file_content(second.id) == b"notes"

    page = await client.list_files()
    assert isinstance(page, FileListResponse) and page.object == "list"
    assert [f.id for f in page.data] == [second.id, first.id]
    assert (page.first_id, page.last_id, page.has_more) == (second.id, first.id, False)
    only_batch = await client.list_files(purpose="batch")
    assert [f.id for f in only_batch.data] == [first.id]
    one = await client.list_files(limit=1)
    assert [f.id for f in one.data] == [second.id] and one.has_more is True
    rest = await client.list_files(limit=1, after=one.last_id)
    assert [f.id for f in rest.data] == [first.id] and rest.has_more is False

    deleted = await client.delete_file(first.id)
    assert isinstance(deleted, DeleteResponse)
    assert (deleted.id, deleted.object, deleted.deleted) == (first.id, "file", True)
    # Code written for the dicts of the seed API keeps working.
    assert (got["id"], got["filename"], deleted["deleted"]) == (first.id, "one.jsonl", True)
    assert dict(got) == got.to_dict() and got.get("nope", 7) == 7
    assert page["data"][0]["id"] == second.id
    with pytest.raises(KeyError):
        got["nope"]
    assert [f.id for f in (await client.list_files()).data] == [second.id]

    requests = [(r["method"], r["path"], r["query"]) for r in mock_server.requests()[2:]]
    assert requests == [
        ("GET", f"/v1/files/{first.id}", None),
        ("GET", f"/v1/files/{second.id}/content", None),
        ("GET", "/v1/files", None),
        ("GET", "/v1/files", "purpose=batch"),
        ("GET", "/v1/files", "limit=1"),
        ("GET", "/v1/files", f"limit=1&after={one.last_id}"),
        ("DELETE", f"/v1/files/{first.id}", None),
        ("GET", "/v1/files", None),
    ]


async def test_a_missing_file_is_not_found(client, mock_server):
    with pytest.raises(NotFoundError, match="No such File object: file-nope") as info:
        await client.retrieve_file("file-nope")
    assert info.value.status_code == 404 and info.value.request_id
    with pytest.raises(NotFoundError):
        await client.file_content("file-nope")
    with pytest.raises(NotFoundError):
        await client.delete_file("file-nope")


async def test_ids_are_escaped_into_one_path_segment(client, mock_server):
    with pytest.raises(NotFoundError):
        await client.retrieve_file("a/b?c")
    assert mock_server.requests()[0]["path"] == "/v1/files/a%2Fb%3Fc"
    for bad in ["../batches", "..\\batches", "x/%2e%2e/y"]:
        with pytest.raises(ValueError, match="file_id"):
            await client.retrieve_file(bad)
    assert len(mock_server.requests()) == 1


async def test_file_arguments_are_checked_before_sending(client, mock_server):
    for bad in ["", ".", ".."]:
        for call in (client.retrieve_file, client.delete_file, client.file_content):
            with pytest.raises(ValueError, match="file_id"):
                call(bad)
        for call in (client.retrieve_batch, client.cancel_batch):
            with pytest.raises(ValueError, match="batch_id"):
                call(bad)
        for call in (client.retrieve_response, client.cancel_response):
            with pytest.raises(ValueError, match="response_id"):
                call(bad)
    with pytest.raises(ValueError, match="limit"):
        client.list_batches(limit=0)
    with pytest.raises(TypeError):
        client.create_file(file=b"x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="limit"):
        client.list_files(limit=0)
    with pytest.raises(ValueError, match="after must not be empty"):
        client.list_files(after="")
    with pytest.raises(ValueError, match="purpose must not be empty"):
        client.list_files(purpose="")
    with pytest.raises(ValueError, match="after must not be empty"):
        client.list_batches(after="")
    with pytest.raises(TypeError, match="file must be bytes"):
        client.create_file(file=3.5, purpose="batch")
    assert mock_server.requests() == []


async def test_the_provider_rejecting_a_purpose_is_a_bad_request(client):
    with pytest.raises(BadRequestError, match="purpose"):
        await client.create_file(file=b"x", purpose="photos")


async def test_a_failed_upload_is_resent_whole_on_retry(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=1)
    data = jsonl(*(f"question {i}" for i in range(200)))
    mock_server.push_faults([{"status": 500}])
    f = await client.create_file(file=data, purpose="batch", filename="big.jsonl")
    assert f.bytes == len(data)
    failed, succeeded = mock_server.requests()
    assert file_part(failed) == file_part(succeeded)
    assert file_part(succeeded)["data"] == data
    assert await client.file_content(f.id) == data


async def test_an_upload_that_keeps_failing_raises_the_last_error(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": 500}, {"status": 500}])
    with pytest.raises(ServerError):
        await client.create_file(file=b"x", purpose="batch")
    assert len(mock_server.requests()) == 2
    assert (await client.list_files()).data == []


# ----- batches -----


async def test_a_batch_runs_from_validating_to_completed(client, mock_server):
    source = await client.create_file(file=jsonl("first", "second"), purpose="batch")
    batch = await client.create_batch(
        input_file_id=source.id, endpoint="/v1/chat/completions", metadata={"job": "nightly"}
    )
    assert isinstance(batch, BatchObject) and batch.object == "batch"
    assert (batch.status, batch.input_file_id, batch.endpoint) == ("validating", source.id, "/v1/chat/completions")
    assert batch.completion_window == "24h" and batch.metadata == {"job": "nightly"}
    assert isinstance(batch.request_counts, BatchRequestCounts)
    assert (batch.request_counts.total, batch.request_counts.completed) == (2, 0)
    assert batch.expires_at == batch.created_at + 86400 and batch.output_file_id is None
    sent = mock_server.requests()[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/batches")
    assert sent["json"] == {
        "input_file_id": source.id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"job": "nightly"},
    }

    statuses = []
    for _ in range(3):
        batch = await client.retrieve_batch(batch.id)
        statuses.append(batch.status)
    assert statuses == ["in_progress", "finalizing", "completed"]
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    assert batch.output_file_id is not None
    lines = [json.loads(line) for line in (await client.file_content(batch.output_file_id)).splitlines()]
    assert [line["custom_id"] for line in lines] == ["req-0", "req-1"]
    answers = [line["response"]["body"]["choices"][0]["message"]["content"] for line in lines]
    assert answers == ["first", "second"]


async def test_cancel_and_list_batches(client, mock_server):
    source = await client.create_file(file=jsonl("x"), purpose="batch")
    older = await client.create_batch(input_file_id=source.id, endpoint="/v1/chat/completions")
    newer = await client.create_batch(input_file_id=source.id, endpoint="/v1/embeddings")
    cancelling = await client.cancel_batch(older.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    assert mock_server.requests()[-1]["path"] == f"/v1/batches/{older.id}/cancel"
    cancelled = await client.retrieve_batch(older.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    with pytest.raises(BadRequestError, match="Cannot cancel a batch with status 'cancelled'"):
        await client.cancel_batch(older.id)

    page = await client.list_batches()
    assert isinstance(page, BatchListResponse)
    assert [b.id for b in page.data] == [newer.id, older.id]
    second = await client.list_batches(limit=1, after=newer.id)
    assert [b.id for b in second.data] == [older.id]
    assert mock_server.requests()[-1]["query"] == f"limit=1&after={newer.id}"


async def test_batch_errors_are_mapped(client):
    with pytest.raises(NotFoundError):
        await client.retrieve_batch("batch_missing")
    with pytest.raises(BadRequestError, match="input_file_id"):
        await client.create_batch(input_file_id="file-missing", endpoint="/v1/chat/completions")
    with pytest.raises(TypeError):
        client.create_batch(endpoint="/v1/chat/completions")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="metadata must be a dict"):
        client.create_batch(input_file_id="f", endpoint="/v1/chat/completions", metadata=["x"])


# ----- rate limits -----


async def test_listings_and_uploads_spend_no_tokens_of_a_token_limit(mock_server, make_client):
    client = make_client(mock_server.base_url, max_tokens_per_minute=300, max_delay_seconds=0.5)
    for _ in range(3):
        await client.list_files()
    await client.create_file(file=bytes(4000), purpose="user_data")
    assert len(mock_server.requests()) == 4


async def test_request_limits_apply_to_file_calls(mock_server, make_client):
    client = make_client(mock_server.base_url, max_requests_per_minute=1, max_delay_seconds=0.2)
    await client.list_files()
    with pytest.raises(RateLimitedError):
        await client.list_files()
    assert len(mock_server.requests()) == 1
