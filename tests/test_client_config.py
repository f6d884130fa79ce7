"""LlmClient construction: keyword-only settings, read-only attributes, repr, with_options."""

from __future__ import annotations

import pytest
from conftest import API_KEY, MODEL, user
from liter_llm import InvalidHeaderError, LlmClient


def test_defaults():
    client = LlmClient(api_key=API_KEY)
    assert client.base_url == "https://api.openai.com/v1"
    assert client.model_hint is None
    assert client.max_retries == 3
    assert client.timeout == 60


def test_settings_are_readable():
    client = LlmClient(
        api_key=API_KEY, base_url="http://127.0.0.1:9/v1", model_hint="gpt-4o", max_retries=5, timeout=2.5
    )
    assert client.base_url == "http://127.0.0.1:9/v1"
    assert client.model_hint == "gpt-4o"
    assert client.max_retries == 5
    assert client.timeout == 2.5


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        LlmClient(API_KEY)  # type: ignore[misc]
    with pytest.raises(TypeError):
        LlmClient(API_KEY, "http://127.0.0.1:9/v1")  # type: ignore[misc]


def test_api_key_is_optional_but_must_be_a_string():
    # Without one, keys come from each provider's environment variable (see test_providers).
    assert LlmClient().base_url == "https://api.openai.com/v1"
    with pytest.raises(TypeError):
        LlmClient(api_key=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["base_url", "model_hint", "max_retries", "timeout", "api_key", "brand_new"])
def test_client_is_frozen(name):
    client = LlmClient(api_key=API_KEY, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(AttributeError):
        setattr(client, name, "changed")
    assert client.base_url == "http://127.0.0.1:9/v1"


def test_attributes_cannot_be_deleted():
    client = LlmClient(api_key=API_KEY)
    with pytest.raises(AttributeError):
        del client.base_url
    assert client.base_url == "https://api.openai.com/v1"


def test_repr_shows_settings_but_not_the_key():
    client = LlmClient(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", model_hint="gpt-4o", max_retries=5)
    text = repr(client)
    assert "LlmClient" in text
    assert "http://127.0.0.1:9/v1" in text
    assert "max_retries=5" in text.replace(" ", "")
    assert API_KEY not in text
    assert "SECRET123" not in text
    assert API_KEY not in str(client)


@pytest.mark.parametrize(
    "headers",
    [
        {"Bad Header": "x"},
        {"": "x"},
        {"X-Ok": "line\nbreak"},
        {"X-Ok": "line\r\nX-Injected: 1"},
    ],
)
def test_invalid_extra_headers_are_rejected_at_construction(headers):
    with pytest.raises(InvalidHeaderError):
        LlmClient(api_key=API_KEY, extra_headers=headers)


@pytest.mark.parametrize("bad", [{"timeout": "slow"}, {"max_retries": "3"}, {"base_url": 5}, {"api_key": 5}])
def test_wrong_types_are_rejected_at_construction(bad):
    kwargs = {"api_key": API_KEY, **bad}
    with pytest.raises(TypeError):
        LlmClient(**kwargs)


@pytest.mark.parametrize("bad", [{"max_retries": -1}, {"timeout": -1}, {"timeout": float("nan")}])
def test_impossible_settings_are_rejected_with_an_exception_not_a_panic(bad):
    with pytest.raises((ValueError, OverflowError)):
        LlmClient(api_key=API_KEY, **bad)


def test_with_options_returns_a_new_client_and_leaves_the_original_alone():
    client = LlmClient(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=5)
    other = client.with_options(max_retries=7, timeout=1.5, model_hint="o3")

    assert other is not client
    assert isinstance(other, LlmClient)
    assert (other.max_retries, other.timeout, other.model_hint) == (7, 1.5, "o3")
    assert other.base_url == "http://127.0.0.1:9/v1"
    assert (client.max_retries, client.timeout, client.model_hint) == (1, 5, None)


def test_with_options_rejects_what_the_constructor_rejects():
    client = LlmClient(api_key=API_KEY)
    with pytest.raises(TypeError):
        client.with_options(unknown_setting=1)
    with pytest.raises(InvalidHeaderError):
        client.with_options(extra_headers={"Bad Header": "x"})


async def test_with_options_keeps_the_key_and_headers_unless_overridden(mock_server):
    client = LlmClient(
        api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, extra_headers={"X-Team": "search"}
    )
    same_key = client.with_options(timeout=10)
    new_key = client.with_options(api_key="sk-other-key")

    await same_key.chat(model=MODEL, messages=user("a"))
    await new_key.chat(model=MODEL, messages=user("b"))
    await client.chat(model=MODEL, messages=user("c"))

    first, second, third = mock_server.requests()
    assert first["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert first["headers"]["x-team"] == "search"
    assert second["headers"]["authorization"] == "Bearer sk-other-key"
    assert third["headers"]["authorization"] == f"Bearer {API_KEY}"


async def test_with_options_base_url_points_the_new_client_elsewhere(mock_server, scenario):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0)
    moved = client.with_options(base_url=scenario.base_url)
    await moved.chat(model=MODEL, messages=user("moved"))
    await client.chat(model=MODEL, messages=user("stayed"))
    assert scenario.request_count == 1
    assert mock_server.request_count == 1
