"""Transcription uploads: every form of `file`, the multipart wire format, each response format."""

from __future__ import annotations

import io
import pathlib
from email.parser import BytesParser
from email.policy import HTTP

import pytest
from conftest import API_KEY
from liter_llm import AuthenticationError, TranscriptionResponse, TranscriptionSegment, TranscriptionWord

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(100)


def form(request: dict) -> dict[str, dict]:
    return {part["name"]: part for part in request["form"]}


def parse_multipart(request: dict) -> list[tuple[str, str | None, str | None, bytes]]:
    """The parts of a recorded multipart body, read with the standard library's MIME parser."""
    head = f"Content-Type: {request['headers']['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request["body"])
    assert message.is_multipart()
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get("content-type"),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


async def test_transcribe_bytes_sends_multipart_with_filename_and_content_type(client, mock_server):
    r = await client.transcribe(model="whisper-1", file=WAV, language="en", prompt="Names: Ada", temperature=0.2)
    assert isinstance(r, TranscriptionResponse)
    assert r.text == f"This is a mock transcription of audio.wav ({len(WAV)} bytes)."
    assert r.usage is not None and r.usage["type"] == "tokens"
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/audio/transcriptions")
    assert sent["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["headers"]["authorization"].startswith("Bearer ")
    assert int(sent["headers"]["content-length"]) == len(sent["body"])
    parts = parse_multipart(sent)
    assert [(name, fn, ct) for name, fn, ct, _ in parts] == [
        ("model", None, None),
        ("language", None, None),
        ("prompt", None, None),
        ("temperature", None, None),
        ("file", "audio.wav", "audio/wav"),
    ]
    assert [data for *_, data in parts] == [b"whisper-1", b"en", b"Names: Ada", b"0.2", WAV]


async def test_transcribe_a_path_uses_its_name_and_extension(client, mock_server, tmp_path: pathlib.Path):
    path = tmp_path / "meeting.MP3"
    path.write_bytes(MP3)
    r1 = await client.transcribe(model="whisper-1", file=path)
    r2 = await client.transcribe(model="whisper-1", file=str(path))
    assert "meeting.MP3" in r1.text and r1 == r2
    for sent in mock_server.requests():
        file_part = form(sent)["file"]
        assert file_part["filename"] == "meeting.MP3"
        assert file_part["content_type"] == "audio/mpeg"
        assert file_part["data"] == MP3


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.mp4", "audio/mp4"),
        ("a.mpeg", "audio/mpeg"),
        ("a.mpga", "audio/mpeg"),
        ("a.m4a", "audio/mp4"),
        ("a.wav", "audio/wav"),
        ("a.webm", "audio/webm"),
        ("a.ogg", "audio/ogg"),
        ("a.flac", "audio/flac"),
        ("a.xyz", "application/octet-stream"),
    ],
)
async def test_content_type_follows_the_extension(client, mock_server, name, content_type):
    await client.transcribe(model="whisper-1", file=io.BytesIO(b"data"), filename=name)
    assert form(mock_server.requests()[0])["file"]["content_type"] == content_type


async def test_transcribe_a_binary_file_object_uses_its_basename(client, mock_server, tmp_path: pathlib.Path):
    path = tmp_path / "sub" / "voice.flac"
    path.parent.mkdir()
    path.write_bytes(b"fLaC" + bytes(50))
    with path.open("rb") as handle:
        await client.transcribe(model="whisper-1", file=handle)
    part = form(mock_server.requests()[0])["file"]
    assert (part["filename"], part["content_type"], part["data"]) == ("voice.flac", "audio/flac", path.read_bytes())


async def test_a_tuple_gives_name_and_content_type(client, mock_server):
    await client.transcribe(model="whisper-1", file=("clip.bin", b"abc", "audio/x-custom"))
    part = form(mock_server.requests()[0])["file"]
    assert (part["filename"], part["content_type"], part["data"]) == ("clip.bin", "audio/x-custom", b"abc")


async def test_verbose_json_has_segments_and_words(client, mock_server):
    r = await client.transcribe(
        model="whisper-1", file=MP3, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert r.language == "english" and r.duration is not None and r.duration > 0
    assert r.segments is not None and isinstance(r.segments[0], TranscriptionSegment)
    assert r.segments[0].end == r.duration and r.segments[0].text.strip() == r.text
    assert r.words is not None and all(isinstance(w, TranscriptionWord) for w in r.words)
    assert [w.word for w in r.words][:3] == ["This", "is", "a"]
    assert all(a.end <= b.start + 1e-9 for a, b in zip(r.words, r.words[1:]))
    fields = [(p["name"], p["data"]) for p in mock_server.requests()[0]["form"]]
    assert ("timestamp_granularities[]", b"word") in fields and ("timestamp_granularities[]", b"segment") in fields


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
async def test_plain_text_formats_land_in_text(client, fmt):
    r = await client.transcribe(model="whisper-1", file=MP3, response_format=fmt)
    assert "mock transcription of audio.mp3" in r.text
    assert r.language is None and r.segments is None and r.words is None
    if fmt == "srt":
        assert r.text.startswith("1\n00:00:00,000 --> ")
    if fmt == "vtt":
        assert r.text.startswith("WEBVTT\n\n00:00:00.000 --> ")


async def test_bad_file_arguments_fail_before_sending(client, mock_server, tmp_path: pathlib.Path):
    with pytest.raises(TypeError, match="file must be bytes"):
        client.transcribe(model="whisper-1", file=12)
    with pytest.raises(TypeError, match="binary mode"):
        client.transcribe(model="whisper-1", file=io.StringIO("text"))
    with pytest.raises(ValueError, match="file is empty"):
        client.transcribe(model="whisper-1", file=b"")
    with pytest.raises(ValueError, match="filename="):
        client.transcribe(model="whisper-1", file=b"no audio header here")
    with pytest.raises(FileNotFoundError):
        client.transcribe(model="whisper-1", file=tmp_path / "missing.wav")
    with pytest.raises(TypeError):
        client.transcribe(model="whisper-1")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="response_format"):
        client.transcribe(model="whisper-1", file=MP3, response_format="xml")  # type: ignore[arg-type]
    assert mock_server.requests() == []


async def test_an_upload_is_retried_with_the_whole_body(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=2)
    audio = bytes(range(256)) * 400
    mock_server.push_faults([{"status": 500}, {"status": 429, "retry_after_ms": 5}])
    r = await client.transcribe(model="whisper-1", file=("long.wav", audio))
    assert r.text == f"This is a mock transcription of long.wav ({len(audio)} bytes)."
    attempts = mock_server.requests()
    assert len(attempts) == 3
    parsed = [parse_multipart(a) for a in attempts]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[2][-1] == ("file", "long.wav", "audio/wav", audio)
    assert all(int(a["headers"]["content-length"]) == len(a["body"]) for a in attempts)


async def test_bytearray_and_memoryview_upload_their_exact_bytes(client, mock_server):
    await client.transcribe(model="whisper-1", file=bytearray(WAV))
    await client.transcribe(model="whisper-1", file=memoryview(MP3 + b"tail")[: len(MP3)])
    first, second = (parse_multipart(r)[-1] for r in mock_server.requests())
    assert first == ("file", "audio.wav", "audio/wav", WAV)
    assert second == ("file", "audio.mp3", "audio/mpeg", MP3)


async def test_an_upload_refused_with_an_echoed_key_never_shows_the_key(mock_server, make_client):
    client = make_client(mock_server.base_url)
    echo = {"error": {"message": f"Incorrect API key provided: {API_KEY}", "type": "invalid_request_error"}}
    mock_server.push_faults([{"status": 401, "body": echo}, {"status": 401, "body": echo}])
    for call in (
        client.transcribe(model="whisper-1", file=WAV),
        client.create_file(file=b'{"a": 1}\n', purpose="batch"),
    ):
        with pytest.raises(AuthenticationError) as info:
            await call
        assert API_KEY not in str(info.value) and API_KEY not in repr(info.value.body)
