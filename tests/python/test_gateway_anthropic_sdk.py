"""The official Anthropic Python SDK against Switchyard's /v1/messages: the Anthropic dialect at
the edge, routed to any provider behind it."""

import anthropic
import pytest

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture
def client(gateway_url, sim):
    return anthropic.Anthropic(base_url=gateway_url.removesuffix("/v1"), api_key="any-key", max_retries=0)


@pytest.mark.parametrize("model", ["anthropic/claude-3-5-haiku", "openai/gpt-4o-mini", "google/gemini-2.0-flash"])
def test_create(client, model):
    m = client.messages.create(model=model, max_tokens=200, system="Be brief.",
                               messages=[{"role": "user", "content": "Say hello to the team"}])
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["anthropic/claude-3-5-haiku", "openai/gpt-4o-mini"])
def test_stream_text(client, model):
    with client.messages.stream(model=model, max_tokens=200,
                                messages=[{"role": "user", "content": "Say hello to the team"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text and final.content[0].text == text
    assert final.usage.output_tokens > 0 and final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google/gemini-2.0-flash"])
def test_tool_use_round_trip_streamed(client, model):
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    with client.messages.stream(model=model, max_tokens=200, tools=TOOLS, messages=msgs) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)
    msgs += [{"role": "assistant", "content": [b.model_dump() for b in final.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}]}]
    m = client.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=msgs)
    assert "18C" in m.content[0].text


def test_errors_use_the_anthropic_classes(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="auto", max_tokens=10, messages=[])


@pytest.mark.parametrize("model", ["anthropic/claude-3-5-haiku", "openai/gpt-4o-mini"])
def test_count_tokens(client, model):
    """What Claude Code calls before compacting: both SDK entry points, a real count (the
    upstream's for Anthropic models, which the same body is then billed), never a zero."""
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    plain = client.messages.count_tokens(model=model, system="Be brief.", messages=msgs)
    tooled = client.beta.messages.count_tokens(model=model, system="Be brief.", tools=TOOLS, messages=msgs)
    assert 0 < plain.input_tokens < tooled.input_tokens
    if model.startswith("anthropic/"):
        billed = client.messages.create(model=model, max_tokens=50, system="Be brief.", messages=msgs)
        assert billed.usage.input_tokens == plain.input_tokens
