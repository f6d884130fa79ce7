"""Builders for multimodal message content parts (Chat Completions shapes).

```python
from liter_llm import image_part, text_part

messages = [{"role": "user", "content": [text_part("What is in this picture?"), image_part("cat.png")]}]
```

The parts are plain dicts, sent as given to OpenAI-compatible providers and translated for
Anthropic and Gemini. Local data (bytes or a path) is inlined as a base64 ``data:`` URL.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from typing import Any, Literal, Union

__all__ = ["audio_part", "data_url", "file_part", "image_part", "text_part"]

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]
"""Raw bytes, or the path of a file to read."""

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"WAVE", 8, "audio/wav"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf3", 0, "audio/mpeg"),
    (b"\xff\xf2", 0, "audio/mpeg"),
)
_EXTRA_TYPES = {".webp": "image/webp", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".md": "text/markdown"}
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}


def _sniff(data: bytes) -> str | None:
    for magic, offset, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


def _guess(path: str) -> str | None:
    ext = os.path.splitext(path)[1].lower()
    return _EXTRA_TYPES.get(ext) or mimetypes.guess_type(path, strict=False)[0]


def _read(source: Source) -> tuple[bytes, str | None]:
    """The bytes of ``source`` and, for a path, its file name."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            return f.read(), path
    raise TypeError(f"expected bytes or a path, not {type(source).__name__}")


def _mime_of(data: bytes, path: str | None, mime_type: str | None) -> str:
    mime = mime_type or (path and _guess(path)) or _sniff(data)
    if not mime:
        raise ValueError("cannot tell the media type of the data; pass mime_type=")
    return mime


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "data:", "gs://"))


def data_url(source: Source, mime_type: str | None = None) -> str:
    """A base64 ``data:`` URL of bytes or a file.

    Args:
        source: the bytes, or the path of a file to read.
        mime_type: media type; by default guessed from the path's extension, else from the
            leading bytes (PNG, JPEG, GIF, WebP, PDF, WAV, MP3).

    Raises:
        TypeError: for a source that is neither bytes nor a path.
        ValueError: when the media type cannot be told.
        OSError: when the file cannot be read.
    """
    data, path = _read(source)
    mime = _mime_of(data, path, mime_type)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def text_part(text: str) -> dict[str, Any]:
    """A text content part."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return {"type": "text", "text": text}


def image_part(
    image: Source,
    *,
    detail: Literal["auto", "low", "high"] | None = None,
    mime_type: str | None = None,
) -> dict[str, Any]:
    """An ``image_url`` content part.

    Args:
        image: an ``http(s)://``, ``gs://`` or ``data:`` URL (sent as is), a file path, or the
            image bytes (inlined as a data URL).
        detail: OpenAI's image detail level.
        mime_type: media type of a path or bytes, when it cannot be guessed.

    Raises:
        TypeError, ValueError, OSError: as `data_url`; ValueError for an unknown ``detail``.
    """
    if isinstance(image, str) and _is_url(image):
        url = image
    else:
        url = data_url(image, mime_type)
    image_url: dict[str, Any] = {"url": url}
    if detail is not None:
        if detail not in ("auto", "low", "high"):
            raise ValueError(f"detail must be 'auto', 'low' or 'high', not {detail!r}")
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def audio_part(audio: Source, *, format: Literal["wav", "mp3"] | None = None) -> dict[str, Any]:
    """An ``input_audio`` content part (base64 data, as OpenAI expects).

    Args:
        audio: the audio bytes, or the path of a file to read.
        format: ``"wav"`` or ``"mp3"``; by default from the path's extension or the bytes.

    Raises:
        TypeError, OSError: as `data_url`; ValueError when the format is unknown.
    """
    data, path = _read(audio)
    fmt: str | None = format
    if fmt is None:
        fmt = _AUDIO_FORMATS.get((path and _guess(path)) or _sniff(data) or "")
        if fmt is None:
            raise ValueError("cannot tell the audio format; pass format='wav' or format='mp3'")
    elif fmt not in ("wav", "mp3"):
        raise ValueError(f"format must be 'wav' or 'mp3', not {fmt!r}")
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": fmt}}


def file_part(
    file: Source | None = None,
    *,
    file_id: str | None = None,
    filename: str | None = None,
    mime_type: str | None = None,
) -> dict[str, Any]:
    """A ``file`` content part (e.g. a PDF): inline data, or the id of an uploaded file.

    Args:
        file: the file bytes, or its path (inlined as a data URL in ``file_data``).
        file_id: id of a file uploaded with the Files API, instead of ``file``.
        filename: the name shown to the model; defaults to the path's base name
            (``"file"`` for bytes).
        mime_type: media type, when it cannot be guessed.

    Raises:
        TypeError, ValueError, OSError: as `data_url`; ValueError unless exactly one of
        ``file`` and ``file_id`` is given.
    """
    if (file is None) == (file_id is None):
        raise ValueError("pass exactly one of file and file_id")
    if file_id is not None:
        return {"type": "file", "file": {"file_id": file_id}}
    assert file is not None
    data, path = _read(file)
    mime = _mime_of(data, path, mime_type)
    name = filename or (os.path.basename(path) if path else "file")
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "file", "file": {"filename": name, "file_data": f"data:{mime};base64,{encoded}"}}
