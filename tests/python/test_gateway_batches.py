"""The OpenAI Batch API through Switchyard with the official SDK: upload a JSONL file, create a
batch, wait for it, read the output and error files. The gateway runs the lines itself through
its engine (against the session's simulator), so every line is routed, priced and logged."""

import io
import json
import time

import openai
import pytest

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "google/gemini-2.0-flash"]


@pytest.fixture
def client(gateway_url, sim):
    return openai.OpenAI(base_url=gateway_url, api_key="batch-tenant", max_retries=0)


def upload(client, lines):
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch")


def chat_line(custom_id, model, text):
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}]}}


def wait(client, batch_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        b = client.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} still {b.status} after {timeout}s")


def read_jsonl(client, file_id):
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_a_chat_batch_runs_every_line_and_files_its_answers(client, sim):
    lines = [chat_line(f"req-{i}", MODELS[i % 3], f"Batch question number {i}: say hi") for i in range(6)]
    lines.append(chat_line("bad", "openai/gpt-4o-mini", "x") | {"body": {"model": "openai/gpt-4o-mini", "messages": []}})
    f = upload(client, lines)
    assert f.purpose == "batch" and f.bytes > 0 and f.filename == "input.jsonl"
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                              completion_window="24h", metadata={"job": "nightly"})
    assert b.status == "validating" and b.metadata == {"job": "nightly"}
    b = wait(client, b.id)
    assert b.status == "completed", b
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (7, 6, 1)
    out = {line["custom_id"]: line for line in read_jsonl(client, b.output_file_id)}
    assert set(out) == {f"req-{i}" for i in range(6)}
    cost = 0.0
    prompt = completion = 0
    for i in range(6):
        resp = out[f"req-{i}"]["response"]
        assert resp["status_code"] == 200 and resp["request_id"].startswith("req_")
        body = resp["body"]
        assert body["model"] == MODELS[i % 3] and body["choices"][0]["message"]["content"]
        cost += body["usage"]["cost"]
        prompt += body["usage"]["prompt_tokens"]
        completion += body["usage"]["completion_tokens"]
    # The SDK's Batch.usage: the answered lines' token totals.
    assert (b.usage.input_tokens, b.usage.output_tokens) == (prompt, completion)
    assert b.usage.total_tokens == prompt + completion and prompt > 0 and completion > 0
    # The batch's exact total matches the per-line costs (they are floats in JSON).
    assert float(b.model_extra["switchyard"]["cost"]) == pytest.approx(cost, rel=1e-9)
    errors = read_jsonl(client, b.error_file_id)
    assert [e["custom_id"] for e in errors] == ["bad"]
    assert errors[0]["response"]["status_code"] == 400
    assert "messages" in errors[0]["response"]["body"]["error"]["message"]
    # The bad line never reached a provider; each good line made exactly one call.
    assert sim.stats()["total"] == 6
    # The output is a file like any other: listed, retrievable, deletable.
    ids = {x.id for x in client.files.list(purpose="batch_output")}
    assert {b.output_file_id, b.error_file_id} <= ids
    assert client.files.retrieve(b.output_file_id).purpose == "batch_output"
    assert b.id in {x.id for x in client.batches.list(limit=100)}


def test_an_embeddings_batch(client):
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "openai/text-embedding-3-small", "input": [f"text {i}"]}} for i in range(3)]
    b = client.batches.create(input_file_id=upload(client, lines).id, endpoint="/v1/embeddings",
                              completion_window="24h")
    b = wait(client, b.id)
    assert b.status == "completed" and b.request_counts.completed == 3 and b.error_file_id is None
    for line in read_jsonl(client, b.output_file_id):
        assert len(line["response"]["body"]["data"][0]["embedding"]) > 10


def test_a_bad_input_file_fails_the_batch_with_line_numbers(client, sim):
    lines = [chat_line("a", "openai/gpt-4o-mini", "hi"),
             chat_line("b", "openai/gpt-4o-mini", "hi") | {"url": "/v1/embeddings"},
             chat_line("a", "openai/gpt-4o-mini", "again")]
    b = client.batches.create(input_file_id=upload(client, lines).id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    b = wait(client, b.id)
    assert b.status == "failed" and b.output_file_id is None
    assert [(e.code, e.line) for e in b.errors.data] == [("mismatched_url", 2), ("duplicate_custom_id", 3)]
    assert sim.stats()["total"] == 0


def test_cancel_stops_what_has_not_started(client, sim):
    # Enough lines that the cancel lands long before the last one could start (4 run at once).
    lines = [chat_line(f"c{i}", "anthropic/claude-3-5-haiku", f"question {i}") for i in range(500)]
    b = client.batches.create(input_file_id=upload(client, lines).id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    c = client.batches.cancel(b.id)
    assert c.status == "cancelling"
    b = wait(client, b.id)
    assert b.status == "cancelled"
    n = b.request_counts
    assert n.total == 500 and n.completed + n.failed == 500 and n.failed > 0
    skipped = [e for e in read_jsonl(client, b.error_file_id) if e["error"]]
    assert len(skipped) == n.failed and skipped[0]["error"]["code"] == "batch_cancelled"
    assert sim.stats()["total"] == n.completed
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(b.id)


def test_requests_are_refused_with_sdk_exceptions(client, gateway_url):
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions",
                              completion_window="24h")
    f = upload(client, [chat_line("a", "openai/gpt-4o-mini", "hi")])
    with pytest.raises(openai.BadRequestError) as e:
        client.batches.create(input_file_id=f.id, endpoint="/v1/completions", completion_window="24h")
    assert "endpoint" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    # Another gateway key is another tenant: it sees none of this tenant's files.
    other = openai.OpenAI(base_url=gateway_url, api_key="someone-else", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(f.id)
    assert f.id not in {x.id for x in other.files.list()}
    assert client.files.delete(f.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)
