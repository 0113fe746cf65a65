"""The official google-genai SDK against switchyard-sim's Gemini wire."""

import pytest
from google import genai
from google.genai import errors, types

MODEL = "gemini-2.0-flash"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")},
                            required=["city"]))])


def make_client(url, key="test-key"):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))


@pytest.fixture
def client(sim_url, sim):
    return make_client(sim_url)


def test_generate_content_usage(client):
    r = client.models.generate_content(model=MODEL, contents="describe a signal box",
                                       config=types.GenerateContentConfig(system_instruction="Be brief."))
    assert r.text.startswith("[gemini-2.0-flash]")
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    # "Be brief." 9 chars -> 3+4; "describe a signal box" 21 chars -> 6+4
    assert r.usage_metadata.prompt_token_count == 17
    assert r.usage_metadata.candidates_token_count == 16
    assert r.usage_metadata.total_token_count == 33


def test_stream_matches_generate(client):
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="stream some words"))
    assert len(chunks) > 2
    text = "".join(c.text or "" for c in chunks)
    ref = client.models.generate_content(model=MODEL, contents="stream some words")
    assert text == ref.text
    assert chunks[-1].usage_metadata.candidates_token_count == ref.usage_metadata.candidates_token_count
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_max_tokens_and_logprobs(client):
    r = client.models.generate_content(model=MODEL, contents="a b c", config=types.GenerateContentConfig(
        max_output_tokens=3, response_logprobs=True, logprobs=2))
    c = r.candidates[0]
    assert c.finish_reason == types.FinishReason.MAX_TOKENS
    assert len(c.logprobs_result.chosen_candidates) == 3
    assert len(c.logprobs_result.top_candidates[0].candidates) == 2


def test_function_call_round_trip(client):
    cfg = types.GenerateContentConfig(tools=[WEATHER])
    first = client.models.generate_content(model=MODEL, contents="Weather in Rome?", config=cfg)
    call = first.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "example"}
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Rome?")]),
        first.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(
            name="get_weather", response={"output": "sunny and 25C"})]),
    ]
    second = client.models.generate_content(model=MODEL, contents=contents, config=cfg)
    assert "sunny" in second.text


def test_embeddings(client):
    r = client.models.embed_content(model="text-embedding-004", contents=["reset my password", "pizza"],
                                    config=types.EmbedContentConfig(output_dimensionality=32))
    assert len(r.embeddings) == 2 and len(r.embeddings[0].values) == 32


def test_bad_key_is_client_error(sim_url, sim):
    sim.fault("bad-key", model=MODEL)
    c = make_client(sim_url)  # kept alive: a collected client closes its transport
    with pytest.raises(errors.ClientError) as e:
        c.models.generate_content(model=MODEL, contents="hi")
    assert e.value.code == 400
    assert e.value.status == "INVALID_ARGUMENT"
    assert "API key not valid" in e.value.message


def test_faults_raise_sdk_errors(client, sim):
    sim.fault("429", model=MODEL, retry_after_s=5)
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model=MODEL, contents="hi")
    assert e.value.code == 429 and e.value.status == "RESOURCE_EXHAUSTED"
    delays = [d.get("retryDelay") for d in e.value.details["error"]["details"]]
    assert "5s" in delays
    sim.clear_faults()
    sim.fault("503", model=MODEL)
    with pytest.raises(errors.ServerError) as e:
        client.models.generate_content(model=MODEL, contents="hi")
    assert e.value.code == 503


def test_unknown_model_is_not_found(client):
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="gemini-nope", contents="hi")
    assert e.value.code == 404
