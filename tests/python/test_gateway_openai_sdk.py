"""The official OpenAI Python SDK against Switchyard, unchanged but for the base URL, with
every provider kind behind it (the simulator speaks each provider's own wire format)."""

import json

import openai
import pytest

DIRECT = [
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-haiku",
    "google/gemini-2.0-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-latest",
    "together/llama-3.3-70b",
    "groq/llama-3.1-8b-instant",
    "local/llama",
]

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


@pytest.fixture
def client(gateway_url, sim):
    return openai.OpenAI(base_url=gateway_url, api_key="any-key", max_retries=0)


@pytest.mark.parametrize("model", DIRECT)
def test_chat(client, model):
    r = client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello to the team"},
    ])
    assert r.object == "chat.completion"
    assert r.model == model
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    extra = r.usage.model_extra
    if model == "local/llama":
        assert extra["cost"] is None  # unknown price: null, never 0
    else:
        assert extra["cost"] > 0
    assert "cost_details" in extra


@pytest.mark.parametrize("model", DIRECT)
def test_stream_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say hello to the team"}])
    text, usage_chunks, finishes = "", [], []
    for chunk in stream:
        if chunk.usage is not None:
            usage_chunks.append(chunk)
            assert chunk.choices == []
            continue
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert text
    assert finishes == ["stop"]
    assert len(usage_chunks) == 1
    assert usage_chunks[0].usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "google/gemini-2.0-flash", "mistral/mistral-small-latest"])
@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(client, model, stream):
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        calls = {}
        for chunk in client.chat.completions.create(model=model, messages=msgs, tools=TOOLS, stream=True):
            for c in chunk.choices:
                for tc in c.delta.tool_calls or []:
                    cur = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    cur["id"] = tc.id or cur["id"]
                    cur["name"] += (tc.function.name or "") if tc.function else ""
                    cur["arguments"] += (tc.function.arguments or "") if tc.function else ""
        call = calls[0]
    else:
        r = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
        assert r.choices[0].finish_reason == "tool_calls"
        tc = r.choices[0].message.tool_calls[0]
        call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
    assert call["name"] == "get_weather"
    assert isinstance(json.loads(call["arguments"])["city"], str)
    msgs += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and cloudy"},
    ]
    r = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    assert "18C" in r.choices[0].message.content


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google/gemini-2.0-flash", "anthropic/claude-sonnet-4-5"])
def test_json_schema(client, model):
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "A user record"}],
        response_format={"type": "json_schema", "json_schema": {"name": "user", "schema": {
            "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"]}}})
    data = json.loads(r.choices[0].message.content)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_json_schema_on_a_model_without_it_is_refused_before_dispatch(client, sim):
    # The catalog says Claude 3.5 Haiku has no structured outputs: routing excludes it and says why.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="anthropic/claude-3-5-haiku", messages=[{"role": "user", "content": "A user record"}],
            response_format={"type": "json_schema", "json_schema": {"name": "u", "schema": {"type": "object"}}})
    assert "json_schema" in str(e.value)
    assert sim.stats()["total"] == 0


def test_logprobs(client):
    r = client.chat.completions.create(model="openai/gpt-4o-mini", logprobs=True, top_logprobs=2,
                                       messages=[{"role": "user", "content": "hi"}])
    lp = r.choices[0].logprobs.content
    assert lp and len(lp[0].top_logprobs) == 2


@pytest.mark.parametrize("model", ["openai/text-embedding-3-small", "google/text-embedding-004"])
def test_embeddings(client, model):
    r = client.embeddings.create(model=model, input=["hello world", "goodbye"])
    assert len(r.data) == 2 and len(r.data[0].embedding) > 10


def test_models(client):
    ids = {m.id for m in client.models.list()}
    assert {"openai/gpt-4o", "auto", "fast"} <= ids


def test_models_retrieve(client):
    # Ids carry a slash; the SDK's retrieve must reach the same entry the list shows.
    m = client.models.retrieve("openai/gpt-4o-mini")
    assert m.id == "openai/gpt-4o-mini" and m.object == "model"
    assert m.model_extra["pricing"]["prompt"] == "0.00000015"
    assert client.models.retrieve("auto").model_extra["switchyard"]["kind"] == "route"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("openai/gtp-4o")
    assert e.value.code == "model_not_found"


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gtp-4o", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found"


def test_bad_input_is_bad_request(client, sim):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}], temperature=9)
    assert e.value.param == "temperature"
    assert sim.stats()["total"] == 0


def test_rate_limit_raises_rate_limit_error(client, sim):
    # A one-key provider: with two keys the gateway would move the call to the other key, and
    # the key rests for 30 s, so no later test in this session may use this model.
    sim.fault("429", model="mistral-small-latest", retry_after_s=30)
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="mistral/mistral-small-latest", messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"x-switchyard-latency-budget-ms": "2000"})
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_upstream_outage_raises_server_error(client, sim):
    sim.fault("503", model="gpt-4o-mini")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"x-switchyard-latency-budget-ms": "1500"})


def test_stream_cut_after_first_byte_raises(client, sim):
    sim.fault("cut", model="gpt-4o-mini", after_chunks=3)
    stream = client.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "Say hello to the team"}])
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
