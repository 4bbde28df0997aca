"""The model adapter against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pydantic
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer

from medbench.models.adapter import CallResult, acomplete, extract_json

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


class Answer(pydantic.BaseModel):
    a: int
    tags: list[str] = []


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setenv("MEDBENCH_RETRY_BASE_S", "0.01")


def call(model: str, srv: FakeOpenAIServer, **kw) -> CallResult:
    return asyncio.run(acomplete(model, MSGS, api_base=srv.url, **kw))


def scripted(*outputs: str):
    it = iter(outputs)
    return lambda body: next(it)


def test_429_then_success_is_retried_and_recorded():
    with FakeOpenAIServer(script=["429"], responder=scripted("fine")) as srv:
        r = call("openai/gpt-4.1-mini", srv)
        assert srv.n_requests == 2
    assert r.ok and r.text == "fine" and r.error is None
    assert [a.status_code for a in r.attempts] == [429, None]
    assert "429" in r.attempts[0].error and r.attempts[1].error is None
    assert r.attempts[1].request["messages"] == MSGS and r.attempts[1].request["params"]["temperature"] == 0.0
    assert r.attempts[1].raw_response["choices"][0]["message"]["content"] == "fine"
    assert r.prompt_tokens and r.completion_tokens
    assert r.cost_usd is not None and r.cost_usd > 0  # priced from litellm's local map


@pytest.mark.parametrize("fault", ["500", "timeout", "truncated", "invalid_json", "drop"])
def test_transient_faults_are_retried(fault):
    # hang_s well above timeout_s, and timeout_s far above a normal reply even on a loaded machine
    with FakeOpenAIServer(script=[fault], responder=scripted("ok"), hang_s=4) as srv:
        r = call("hosted_vllm/my-model", srv, timeout_s=1.5)
    assert r.ok and r.text == "ok" and len(r.attempts) == 2
    assert r.attempts[0].error
    assert r.cost_usd is None  # an unpriced model has unknown cost, never a made-up 0


def test_retry_limit_bounds_attempts():
    with FakeOpenAIServer(fault_rate=1.0, faults=("429",)) as srv:
        r = call("openai/m", srv, retry_limit=2)
        assert srv.n_requests == 3
    assert not r.ok and "429" in r.error and "after 3 attempts" in r.error and len(r.attempts) == 3


def test_client_error_is_not_retried():
    with FakeOpenAIServer() as srv:
        r = asyncio.run(acomplete("openai/m", MSGS, api_base=srv.url + "/nowhere", retry_limit=5))
    assert not r.ok and r.error.startswith("not_found (HTTP 404)") and len(r.attempts) == 1


def test_invalid_json_then_valid_goes_through_repair():
    with FakeOpenAIServer(responder=scripted("sure! here it is", '```json\n{"a": 7}\n```')) as srv:
        r = call("openai/gpt-4.1-mini", srv, response_model=Answer)
        first, repair = srv.requests
    assert r.ok and r.parsed == {"a": 7, "tags": []}
    assert [a.kind for a in r.attempts] == ["request", "repair"]
    assert "not valid JSON" in r.attempts[0].error
    # Schema-capable model: the schema travels as response_format; the repair re-asks with the error.
    assert first["response_format"]["json_schema"]["schema"]["required"] == ["a"]
    assert repair["messages"][-2] == {"role": "assistant", "content": "sure! here it is"}
    assert "not valid JSON" in repair["messages"][-1]["content"]


def test_schema_violation_after_limit_fails_with_reason():
    with FakeOpenAIServer(responder=lambda body: '{"a": "seven"}') as srv:
        r = call("hosted_vllm/m", srv, response_model=Answer, retry_limit=2)
        assert srv.n_requests == 3
        first = srv.requests[0]
    assert not r.ok and r.parsed is None
    assert "schema violation" in r.error and "a:" in r.error and "2 repair rounds" in r.error
    assert [a.kind for a in r.attempts] == ["request", "repair", "repair"]
    # No response_format support (hosted_vllm): the schema goes into the system prompt instead.
    assert "response_format" not in first
    assert first["messages"][0]["role"] == "system" and '"required": ["a"]' in first["messages"][0]["content"]


def test_seed_and_max_tokens_are_sent():
    with FakeOpenAIServer() as srv:
        call("openai/m", srv, seed=5, max_tokens=12, temperature=0.3)
        body = srv.requests[0]
    assert (body["seed"], body["max_tokens"], body["temperature"], body["model"]) == (5, 12, 0.3, "m")


def test_unknown_provider_is_user_error():
    from medbench.errors import UserError

    with pytest.raises(UserError, match="cannot resolve"):
        asyncio.run(acomplete("no-such-provider-model-xyz", MSGS))


def test_extract_json_variants():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('text ```json\n{"a": 2}\n``` more') == {"a": 2}
    assert extract_json('Answer: {"a": 3} done') == {"a": 3}
    with pytest.raises(ValueError):
        extract_json("no json here")


@pytest.mark.parametrize(("fault", "cls", "attempts"), [
    ("401", "auth", 1), ("404", "not_found", 1), ("400", "bad_request", 1), ("context", "context_length", 1),
    ("429", "rate_limit", 3), ("500", "server_error", 3), ("drop", "connection", 3),
    ("truncated", "connection", 3), ("invalid_json", "invalid_output", 3), ("timeout", "timeout", 3),
])
def test_every_failure_is_classified_with_the_provider_message(fault, cls, attempts):
    with FakeOpenAIServer(fault_rate=1.0, faults=(fault,), hang_s=3) as srv:
        r = call("hosted_vllm/m", srv, retry_limit=2, timeout_s=1.0)
        assert srv.n_requests == attempts  # auth / not found / bad request / context: never retried
    assert not r.ok and r.error_class == cls and r.error.startswith(f"{cls}")
    from medbench.models.adapter import error_class
    assert error_class(r.error) == cls
    provider_text = {"401": "Incorrect API key provided", "404": "does not exist", "400": "must be at most 2",
                     "context": "maximum context length", "429": "rate limited", "500": "internal error"}
    if fault in provider_text:
        assert provider_text[fault] in r.error
        assert f"(HTTP {400 if fault == 'context' else int(fault)})" in r.error  # the server's real status


def test_missing_api_key_is_auth_without_a_made_up_status(monkeypatch):
    # litellm wraps the OpenAI client's "Missing credentials" as an InternalServerError "500"; no
    # request ever left the machine, so the item must say auth and carry no HTTP status.
    for var in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    r = asyncio.run(acomplete("openai/gpt-4.1-mini", MSGS, retry_limit=3))
    assert not r.ok and r.error_class == "auth" and len(r.attempts) == 1
    assert "HTTP" not in r.error and "500" not in r.error and "Missing credentials" in r.error
    from medbench.models.adapter import explain_failure
    line = explain_failure("openai/gpt-4.1-mini", None, None, "auth", r.error)
    assert line.startswith("OPENAI_API_KEY is not set") and "\n" not in line


@pytest.mark.parametrize(("model", "var"), [("hosted_vllm/my-model", "HOSTED_VLLM_API_BASE"),
                                            ("ollama/llama3", "OLLAMA_API_BASE")])
def test_self_hosted_model_without_api_base_is_a_user_error(model, var, monkeypatch):
    from medbench.errors import UserError
    from medbench.models import load_model
    from medbench.models.adapter import resolve

    monkeypatch.delenv(var, raising=False)
    resolve.cache_clear()
    with pytest.raises(UserError) as e:
        load_model(model)
    assert "--api-base" in str(e.value) and var in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv(var, "http://127.0.0.1:9/v1")
    resolve.cache_clear()
    assert resolve(model).api_base == "http://127.0.0.1:9/v1" and resolve(model).fast == (model[:6] != "ollama")
    resolve.cache_clear()


@pytest.mark.parametrize("params", [{"temperature": 0.0},
                                    {"temperature": 0.7, "seed": 3, "max_tokens": 64,
                                     "response_format": {"type": "json_schema", "json_schema": {
                                         "name": "A", "schema": Answer.model_json_schema(), "strict": False}}}])
def test_fast_path_sends_the_bytes_create_sends(params):
    """The adapter posts /chat/completions itself (skipping create()'s per-call TypedDict walk,
    issue 12): same URL, headers (bearer key included) and body bytes as create()."""
    import httpx
    import openai

    from medbench.models.adapter import _chat_post_args, chat_body

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": "ok"}}]})

    async def both():
        client = openai.AsyncOpenAI(base_url="http://h.invalid/v1", api_key="sk-test", max_retries=0,
                                    http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        a = await client.chat.completions.create(model="m", messages=MSGS, timeout=5.0, **params)
        cast_to, options = _chat_post_args()
        b = await client.post("/chat/completions", cast_to=cast_to, body=chat_body("m", MSGS, params),
                              options={**options, "timeout": 5.0})
        await client.close()
        return a, b

    a, b = asyncio.run(both())
    assert a.model_dump() == b.model_dump() and type(a) is type(b)
    first, second = seen
    assert first.url == second.url and first.method == second.method == "POST"
    assert first.content == second.content
    assert second.headers["authorization"] == "Bearer sk-test"
    assert dict(first.headers) == dict(second.headers)


def test_record_raw_false_keeps_text_and_usage_only():
    with FakeOpenAIServer(responder=scripted("fine")) as srv:
        r = call("openai/gpt-4.1-mini", srv, record_raw=False)
    assert r.ok and r.text == "fine" and r.prompt_tokens and len(r.attempts) == 1
    assert r.attempts[0].raw_response is None


def test_openai_clients_are_sharded_and_taken_in_turn():
    from medbench.models import adapter

    async def take():
        return [adapter._client("http://h.invalid/v1", "k") for _ in range(2 * adapter.POOL_SHARDS)]

    got = asyncio.run(take())
    first = got[:adapter.POOL_SHARDS]
    assert len({id(c) for c in first}) == adapter.POOL_SHARDS > 1
    assert got[adapter.POOL_SHARDS:] == first  # the same clients again, in the same turn
