"""Multimodal content parts: the builders, and what reaches OpenAI, Anthropic and Gemini."""

from __future__ import annotations

import base64
import pathlib

import pytest
from conftest import API_KEY, MODEL
from liter_llm import LlmClient, audio_part, data_url, file_part, image_part, text_part

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)
JPEG = b"\xff\xd8\xff\xe0" + bytes(8)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(8)
MP3 = b"ID3\x03\x00" + bytes(8)
PDF = b"%PDF-1.7\n%mock\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ----- builders -----


def test_data_url_guesses_the_type_from_the_extension_or_the_bytes(tmp_path: pathlib.Path):
    photo = tmp_path / "photo.JPG"
    photo.write_bytes(PNG)  # the extension wins over the bytes
    assert data_url(photo) == f"data:image/jpeg;base64,{b64(PNG)}"
    assert data_url(str(photo), mime_type="image/png") == f"data:image/png;base64,{b64(PNG)}"
    assert data_url(PNG) == f"data:image/png;base64,{b64(PNG)}"
    assert data_url(bytearray(JPEG)).startswith("data:image/jpeg;base64,")
    assert data_url(b"RIFF\x00\x00\x00\x00WEBPVP8 ").startswith("data:image/webp;base64,")
    assert data_url(PDF).startswith("data:application/pdf;base64,")
    with pytest.raises(ValueError, match="pass mime_type="):
        data_url(b"plain bytes")
    with pytest.raises(TypeError, match="expected bytes or a path, not int"):
        data_url(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        data_url(tmp_path / "missing.png")


def test_image_part_sends_urls_as_is_and_inlines_local_data(tmp_path: pathlib.Path):
    assert image_part("https://example.com/cat.png", detail="low") == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
    }
    inline = f"data:image/png;base64,{b64(PNG)}"
    assert image_part(inline) == {"type": "image_url", "image_url": {"url": inline}}
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    assert image_part(str(path)) == image_part(PNG) == {"type": "image_url", "image_url": {"url": inline}}
    with pytest.raises(ValueError, match="detail must be"):
        image_part(PNG, detail="ultra")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        image_part("no/such/file.png")


def test_audio_part_takes_the_format_from_the_name_or_bytes(tmp_path: pathlib.Path):
    path = tmp_path / "voice.mp3"
    path.write_bytes(b"\x00\x01")
    assert audio_part(path) == {"type": "input_audio", "input_audio": {"data": b64(b"\x00\x01"), "format": "mp3"}}
    assert audio_part(WAV)["input_audio"]["format"] == "wav"
    assert audio_part(MP3)["input_audio"]["format"] == "mp3"
    assert audio_part(b"\x00", format="wav")["input_audio"] == {"data": "AA==", "format": "wav"}
    with pytest.raises(ValueError, match="cannot tell the audio format"):
        audio_part(b"\x00\x00")
    with pytest.raises(ValueError, match="format must be 'wav' or 'mp3'"):
        audio_part(WAV, format="ogg")  # type: ignore[arg-type]


def test_file_part_inlines_a_file_or_refers_to_an_upload(tmp_path: pathlib.Path):
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF)
    expected = {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{b64(PDF)}"}
    assert file_part(path) == {"type": "file", "file": expected}
    assert file_part(PDF)["file"]["filename"] == "file"
    assert file_part(PDF, filename="q3.pdf")["file"]["filename"] == "q3.pdf"
    assert file_part(file_id="file-abc") == {"type": "file", "file": {"file_id": "file-abc"}}
    with pytest.raises(ValueError, match="exactly one of file and file_id"):
        file_part()
    with pytest.raises(ValueError, match="exactly one of file and file_id"):
        file_part(PDF, file_id="file-abc")


def test_text_part():
    assert text_part("hi") == {"type": "text", "text": "hi"}
    with pytest.raises(TypeError):
        text_part(b"hi")  # type: ignore[arg-type]


# ----- on the wire -----


def parts() -> list[dict[str, object]]:
    return [text_part("Describe these."), image_part(PNG, detail="high"), image_part("https://example.com/a.jpg")]


async def test_openai_compatible_providers_get_the_parts_untouched(client, mock_server):
    content = [*parts(), audio_part(WAV), file_part(PDF, filename="r.pdf")]
    r = await client.chat(model=MODEL, messages=[{"role": "user", "content": content}])
    [req] = mock_server.requests()
    assert req["json"]["messages"] == [{"role": "user", "content": content}]
    assert r.choices[0].message.content == "Describe these."


async def test_anthropic_gets_base64_and_url_image_sources_and_a_pdf_document(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0)
    content = [*parts(), file_part(PDF, filename="r.pdf")]
    await client.chat(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": content}])
    [req] = mock_server.requests()
    assert req["path"] == "/v1/messages"
    assert req["json"]["messages"][0]["content"] == [
        {"type": "text", "text": "Describe these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)},
            "title": "r.pdf",
        },
    ]


async def test_gemini_gets_inline_data_and_file_uris(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0)
    content = [*parts(), audio_part(WAV)]
    await client.chat(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": content}])
    [req] = mock_server.requests()
    assert req["json"]["contents"][0]["parts"] == [
        {"text": "Describe these."},
        {"inlineData": {"mimeType": "image/png", "data": b64(PNG)}},
        {"fileData": {"fileUri": "https://example.com/a.jpg", "mimeType": "image/jpeg"}},
        {"inlineData": {"mimeType": "audio/wav", "data": b64(WAV)}},
    ]


@pytest.mark.parametrize(
    ("part", "error", "match"),
    [
        pytest.param(42, TypeError, r"\['content'\]\[1\] must be a dict or a str, not int", id="int"),
        pytest.param({"text": "x"}, ValueError, r"\['content'\]\[1\] has no 'type'", id="no-type"),
        pytest.param({"type": 1}, TypeError, r"\['type'\] must be a str", id="type-int"),
        pytest.param({"type": "text"}, ValueError, "needs a str 'text'", id="text-missing"),
        pytest.param({"type": "image_url", "image_url": {}}, ValueError, "needs 'image_url'", id="image-no-url"),
        pytest.param({"type": "image_url", "url": "https://x"}, ValueError, "needs 'image_url'", id="image-flat"),
        pytest.param(
            {"type": "input_audio", "input_audio": {"data": "AA=="}}, ValueError, "'format': str", id="audio-format"
        ),
        pytest.param({"type": "file", "file": {"filename": "a.pdf"}}, ValueError, "'file_id'", id="file-empty"),
    ],
)
async def test_malformed_parts_raise_before_any_request(client, mock_server, part, error, match):
    messages = [{"role": "user", "content": [text_part("hi"), part]}]
    with pytest.raises(error, match=match):
        await client.chat(model=MODEL, messages=messages)
    assert mock_server.request_count == 0


async def test_unknown_part_types_and_plain_strings_pass_through(client, mock_server):
    content = [
        "plain",
        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
        {"type": "image_url", "image_url": "https://x/a.png"},
    ]
    await client.chat(model=MODEL, messages=[{"role": "user", "content": content}])
    assert mock_server.requests()[0]["json"]["messages"][0]["content"] == content
