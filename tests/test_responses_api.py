"""The Responses API: create, retrieve and cancel, typed output items, usage and output_text."""

from __future__ import annotations

import pytest
from liter_llm import (
    BadRequestError,
    InputTokensDetails,
    NotFoundError,
    OutputTokensDetails,
    ResponseContent,
    ResponseObject,
    ResponseOutputItem,
    ResponseUsage,
    model_info,
)


async def test_create_response_sends_the_body_and_types_the_message(client, mock_server):
    r = await client.create_response(
        model="gpt-4.1-mini",
        input="Tell me a joke",
        instructions="Be brief",
        max_output_tokens=200,
        temperature=0.5,
        top_p=0.9,
        metadata={"k": "v"},
    )
    assert isinstance(r, ResponseObject)
    assert (r.object, r.status, r.model) == ("response", "completed", "gpt-4.1-mini")
    assert r.id.startswith("resp_") and r.created_at > 0 and r.error is None and r.incomplete_details is None
    (item,) = r.output
    assert isinstance(item, ResponseOutputItem)
    assert (item.type, item.role, item.status) == ("message", "assistant", "completed")
    assert item.content is not None
    (part,) = item.content
    assert isinstance(part, ResponseContent) and (part.type, part.text, part.annotations) == (
        "output_text",
        "Tell me a joke",
        [],
    )
    assert r.output_text == "Tell me a joke"
    assert isinstance(r.usage, ResponseUsage)
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert isinstance(r.usage.input_tokens_details, InputTokensDetails)
    assert isinstance(r.usage.output_tokens_details, OutputTokensDetails)
    assert r.to_dict()["metadata"] == {"k": "v"}
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/responses")
    assert sent["json"] == {
        "model": "gpt-4.1-mini",
        "input": "Tell me a joke",
        "instructions": "Be brief",
        "max_output_tokens": 200,
        "temperature": 0.5,
        "top_p": 0.9,
        "metadata": {"k": "v"},
    }


async def test_reasoning_and_function_call_items(client):
    r = await client.create_response(
        model="o4-mini",
        input=[{"role": "user", "content": "What is the weather in Paris?"}],
        reasoning={"effort": "low", "summary": "auto"},
        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    )
    reasoning, call = r.output
    assert reasoning.type == "reasoning" and reasoning.summary == [
        {"type": "summary_text", "text": "The user wants a short answer."}
    ]
    assert (call.type, call.name, call.arguments) == ("function_call", "get_weather", "{}")
    assert call.call_id and call.content is None
    assert r.output_text == ""
    assert r.usage is not None and r.usage.output_tokens_details.reasoning_tokens > 0


async def test_output_text_joins_every_text_part_like_the_openai_sdk(client, mock_server):
    body = {
        "id": "resp_x",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "m",
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello, "}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "no"}, {"type": "output_text", "text": "world"}],
            },
        ],
        "usage": None,
    }
    mock_server.push_faults([{"status": 200, "body": body}])
    r = await client.create_response(model="m", input="hi")
    assert r.output_text == "Hello, world"
    assert r.output[1].type == "web_search_call" and r.output[1].to_dict()["status"] == "completed"
    assert r.output[2].content is not None and r.output[2].content[0].refusal == "no"
    assert r.usage is None


async def test_max_output_tokens_marks_the_response_incomplete(client):
    r = await client.create_response(
        model="gpt-4.1-mini", input="one two three four five six seven", max_output_tokens=2
    )
    assert r.status == "incomplete" and r.incomplete_details == {"reason": "max_output_tokens"}
    assert r.usage is not None and r.usage.output_tokens == 2


async def test_retrieve_and_cancel(client, mock_server):
    stored = await client.create_response(model="gpt-4.1-mini", input="hello")
    again = await client.retrieve_response(stored.id)
    assert again == stored
    assert mock_server.requests()[-1]["method"] == "GET"
    assert mock_server.requests()[-1]["path"] == f"/v1/responses/{stored.id}"

    background = await client.create_response(model="gpt-4.1-mini", input="later", background=True)
    assert background.status == "queued" and background.output == []
    cancelled = await client.cancel_response(background.id)
    assert cancelled.status == "cancelled"
    assert mock_server.requests()[-1]["path"] == f"/v1/responses/{background.id}/cancel"
    assert (await client.retrieve_response(background.id)).status == "cancelled"

    with pytest.raises(BadRequestError, match="synchronous"):
        await client.cancel_response(stored.id)


async def test_a_background_response_completes_on_later_retrievals(client):
    r = await client.create_response(model="gpt-4.1-mini", input="slow one", background=True)
    assert (await client.retrieve_response(r.id)).status == "in_progress"
    done = await client.retrieve_response(r.id)
    assert done.status == "completed" and done.output_text == "slow one"


async def test_unknown_or_unstored_responses_are_not_found(client):
    unstored = await client.create_response(model="gpt-4.1-mini", input="x", store=False)
    with pytest.raises(NotFoundError):
        await client.retrieve_response(unstored.id)
    with pytest.raises(NotFoundError):
        await client.cancel_response("resp_missing")


async def test_arguments_are_checked_before_sending(client, mock_server):
    with pytest.raises(ValueError, match="input is required"):
        client.create_response(model="gpt-4.1-mini")
    with pytest.raises(TypeError, match="temperature must be a number"):
        client.create_response(model="m", input="x", temperature="hot")
    with pytest.raises(ValueError, match="max_output_tokens"):
        client.create_response(model="m", input="x", max_output_tokens=0)
    with pytest.raises(ValueError, match="response_id"):
        client.retrieve_response("")
    assert mock_server.requests() == []
    # A stored prompt template needs no input.
    await client.create_response(model="m", prompt={"id": "pmpt_1"})
    assert mock_server.requests()[0]["json"] == {"model": "m", "prompt": {"id": "pmpt_1"}}


async def test_created_responses_add_their_tokens_and_cost_to_client_usage(client):
    r = await client.create_response(model="o4-mini", input="Why is the sky blue?", reasoning={"effort": "low"})
    assert r.usage is not None and r.usage.output_tokens_details.reasoning_tokens > 0
    await client.retrieve_response(r.id)  # a stored response is not counted twice
    background = await client.create_response(model="gpt-4.1-mini", input="later", background=True)
    assert background.usage is None

    usage = client.usage
    assert usage.calls == 3
    assert (usage.prompt_tokens, usage.completion_tokens) == (r.usage.input_tokens, r.usage.output_tokens)
    assert usage.reasoning_tokens == r.usage.output_tokens_details.reasoning_tokens
    per = usage.per_model
    assert per["o4-mini"]["prompt_tokens"] == r.usage.input_tokens
    assert (per["gpt-4.1-mini"]["calls"], per["gpt-4.1-mini"]["prompt_tokens"]) == (1, 0)
    price = model_info("o4-mini")
    assert price is not None
    tokens = r.usage.input_tokens, r.usage.output_tokens
    expected = (tokens[0] * price["input_cost_per_million"] + tokens[1] * price["output_cost_per_million"]) / 1e6
    assert usage.total_cost == pytest.approx(expected) and expected > 0
