"""The official Anthropic SDK against switchyard-sim's Anthropic wire."""

import anthropic
import pytest

MODEL = "claude-3-5-haiku"
TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}]


@pytest.fixture
def client(sim_url, sim):
    return anthropic.Anthropic(base_url=sim_url, api_key="test-key", max_retries=0)


def test_create_message_usage(client):
    msg = client.messages.create(model=MODEL, max_tokens=100, system="Be brief.",
                                 messages=[{"role": "user", "content": "tell me about trains"}])
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text"
    assert msg.content[0].text.startswith("[claude-3-5-haiku]")
    # "Be brief." 9 chars -> 3+4; "tell me about trains" 20 chars -> 5+4
    assert msg.usage.input_tokens == 16
    assert msg.usage.output_tokens == 16


def test_stream_every_event_and_final_message(client):
    kinds = []
    with client.messages.stream(model=MODEL, max_tokens=100,
                                messages=[{"role": "user", "content": "stream please"}]) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_message()
        text = "".join(b.text for b in final.content if b.type == "text")
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds
    ref = client.messages.create(model=MODEL, max_tokens=100,
                                 messages=[{"role": "user", "content": "stream please"}])
    assert text == ref.content[0].text
    assert final.usage.output_tokens == ref.usage.output_tokens
    assert final.usage.input_tokens == ref.usage.input_tokens


def test_tool_use_round_trip_streamed(client):
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    with client.messages.stream(model=MODEL, max_tokens=200, tools=TOOLS, messages=messages) as s:
        for _ in s:
            pass
        first = s.get_final_message()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "example"}
    messages += [{"role": "assistant", "content": first.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "minus three and snowing"}]}]
    second = client.messages.create(model=MODEL, max_tokens=200, tools=TOOLS, messages=messages)
    assert second.stop_reason == "end_turn"
    assert "snowing" in second.content[0].text


def test_missing_max_tokens_is_bad_request(client):
    # The SDK refuses to build this request, so send the raw body through its transport.
    with pytest.raises(anthropic.BadRequestError) as e:
        client.post("/v1/messages", cast_to=object,
                    body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert e.value.status_code == 400
    assert e.value.body["error"]["message"] == "max_tokens: Field required"


def test_invalid_histories_are_bad_requests(client):
    bad = [
        [{"role": "user", "content": [{"type": "text", "text": ""}]}],
        [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}],
    ]
    for messages in bad:
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model=MODEL, max_tokens=10, messages=messages)


def test_injected_faults_raise_sdk_errors(client, sim):
    sim.fault("429", model=MODEL, retry_after_s=3)
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.response.headers["retry-after"] == "3"
    sim.clear_faults()
    sim.fault("529", model=MODEL)
    with pytest.raises(anthropic.InternalServerError) as e:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 529
    assert e.value.body["error"]["type"] == "overloaded_error"
    sim.clear_faults()
    sim.fault("bad-key", model=MODEL)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    stats = sim.stats()["models"][MODEL]["outcomes"]
    assert stats == {"429": 1, "529": 1, "bad-key": 1}


def test_cut_stream_is_an_error_not_a_clean_end(client, sim):
    sim.fault("cut", model=MODEL, after_chunks=4)
    seen = []
    # The SDK surfaces a body cut mid-stream as the transport's protocol error (not wrapped).
    with pytest.raises(Exception) as e:
        with client.messages.stream(model=MODEL, max_tokens=100,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
            for event in s:
                seen.append(event.type)
    assert isinstance(e.value, anthropic.APIError) or "RemoteProtocolError" in type(e.value).__name__
    assert "message_start" in seen and "message_stop" not in seen
