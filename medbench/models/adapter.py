"""The one async entry point for every LLM call: `acomplete(model, messages, ...) -> CallResult`.

Model strings are litellm's (`openai/gpt-4.1-mini`, `anthropic/...`, `hosted_vllm/...` with an
api_base, `ollama/...`). litellm is used for what it is good at: resolving a model string to a
provider, knowing which models accept a JSON schema as `response_format`, the price map, and
talking to providers that are not OpenAI-compatible.

Why two transports behind one function: at concurrency 32 against a 50 ms endpoint a plain
`litellm.acompletion` loop reaches only ~0.6x the throughput of a bare `openai.AsyncOpenAI`
loop; its per-call work (logging objects, param mapping, response re-wrapping) is CPU spent on
the event loop. So when the resolved provider speaks the OpenAI protocol at a known base URL
(`openai/` or `hosted_vllm/`, `litellm_proxy/`, `lm_studio/`, `llamafile/` with an api_base),
the request goes through one shared `openai.AsyncOpenAI` client per (event loop, base URL, key)
with keep-alive connections; every other provider goes through `litellm.acompletion`. Both paths
share the retry loop, schema-repair loop, attempt records and pricing below, so callers see one
behaviour. (`openai/` with no api_base goes through litellm, which knows OpenAI's per-model
parameter rules, e.g. reasoning models.)

Retries: 408/409/429/5xx, timeouts, dropped connections and unreadable bodies are retried with
exponential backoff and full jitter (`retry_limit` retries per request; a Retry-After header is
honoured up to the cap). Other 4xx fail at once. With `response_model`, output that is not valid
JSON for the schema is re-asked with the validation errors, at most `retry_limit` repair rounds.
Every attempt (request, raw response, error, status, latency, tokens, cost) is recorded.

litellm is imported lazily (it takes seconds) and with its local price map: fetching the map
from the network at import time would break the offline rule.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
import weakref
from functools import lru_cache
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, Field

#: Providers that speak the OpenAI chat-completions protocol at a base URL (the fast path).
OPENAI_COMPATIBLE = frozenset({"openai", "hosted_vllm", "litellm_proxy", "lm_studio", "llamafile",
                               "text-completion-openai"})
#: Self-hosted providers: the base URL must be given (--api-base) or set in this variable.
_NEEDS_BASE = {"hosted_vllm": "HOSTED_VLLM_API_BASE", "ollama": "OLLAMA_API_BASE", "ollama_chat": "OLLAMA_API_BASE"}
_EXAMPLE_BASE = {"hosted_vllm": "http://localhost:8000/v1", "ollama": "http://localhost:11434",
                 "ollama_chat": "http://localhost:11434"}
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
BACKOFF_CAP_S = 20.0


def backoff_base_s() -> float:
    """First retry delay; tests set MEDBENCH_RETRY_BASE_S small so fault runs stay fast."""
    try:
        return float(os.environ.get("MEDBENCH_RETRY_BASE_S", "0.5"))
    except ValueError:
        return 0.5


class Attempt(BaseModel):
    attempt: int
    kind: Literal["request", "repair"]
    request: dict[str, Any]  # model, params, messages
    raw_response: Any = None
    error: str | None = None
    status_code: int | None = None
    latency_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


class CallResult(BaseModel):
    ok: bool
    text: str | None = None
    parsed: dict[str, Any] | None = None
    error: str | None = None
    error_class: str | None = None  # one of ERROR_CLASSES when not ok
    attempts: list[Attempt] = Field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float = 0.0


# --------------------------------------------------------------------------- litellm helpers
_litellm = None


def _lm():
    """Import litellm once, offline (local price map), quiet."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        _litellm = litellm
    return _litellm


class Route(BaseModel):
    provider: str
    model_name: str  # the name the provider expects
    api_base: str | None
    api_key: str | None
    fast: bool  # OpenAI-compatible: send through the shared AsyncOpenAI client
    supports_schema: bool


@lru_cache(maxsize=256)
def resolve(model: str, api_base: str | None = None, api_key: str | None = None) -> Route:
    """Model string -> provider, base URL, key and capabilities (litellm's resolution)."""
    from medbench.errors import UserError

    lm = _lm()
    try:
        name, provider, dyn_key, dyn_base = lm.get_llm_provider(model, api_base=api_base, api_key=api_key)
    except Exception as e:
        raise UserError(f"model '{model}': litellm cannot resolve a provider ({str(e).splitlines()[0]}); "
                        "use litellm's form, e.g. openai/gpt-4.1-mini or hosted_vllm/NAME with --api-base") from None
    env_base = _NEEDS_BASE.get(provider)
    if env_base is not None:
        # A self-hosted server has no default address: never fall through to OpenAI's endpoint
        # (hosted_vllm) or guess localhost (ollama).
        api_base = api_base or os.environ.get(env_base) or None
        if api_base is None:
            raise UserError(f"model '{model}': a {provider} model needs the server's address: pass --api-base "
                            f"(e.g. {_EXAMPLE_BASE[provider]}) or set {env_base}")
        dyn_base = api_base
    base = api_base or dyn_base
    key = api_key or dyn_key
    fast = provider in OPENAI_COMPATIBLE and base is not None
    if fast and not key:
        env = {"openai": "OPENAI_API_KEY", "hosted_vllm": "HOSTED_VLLM_API_KEY"}.get(provider, "")
        key = os.environ.get(env) or "EMPTY"  # local servers usually accept any key
    try:
        schema = bool(lm.supports_response_schema(model=name, custom_llm_provider=provider))
    except Exception:
        schema = False
    return Route(provider=provider, model_name=name, api_base=base, api_key=key, fast=fast,
                 supports_schema=schema)


def price(model: str, route: Route, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """USD from litellm's price map, None when the model is not priced (never a guessed 0)."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    return _price_cached(model, route.model_name, route.provider, prompt_tokens, completion_tokens)


@lru_cache(maxsize=4096)
def _price_cached(model: str, name: str, provider: str, pt: int, ct: int) -> float | None:
    lm = _lm()
    for candidate in (model, name, f"{provider}/{name}"):
        if candidate in lm.model_cost:
            try:
                a, b = lm.cost_per_token(model=candidate, prompt_tokens=pt, completion_tokens=ct,
                                         custom_llm_provider=provider)
                return float(a) + float(b)
            except Exception:
                return None
    return None


# --------------------------------------------------------------------------- OpenAI clients
_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Clients per (event loop, base URL, key); requests take them in turn. httpcore's pool assigns
#: each request by scanning its queued requests against its connections (O(queued x open) per
#: request): at concurrency 256 on one client that scan was half the client's CPU (issue 12).
#: Eight pools of ~concurrency/8 connections each cut it about 8x... 64x per scan.
POOL_SHARDS = 8
#: Connections per shard (the total stays at most 1000, as with one pool before issue 12).
MAX_CONNECTIONS = 1000


def pool_limits(shards: int = POOL_SHARDS):
    """The connection-pool limits of each of medbench's shared clients (bench/runner.py gives its
    bare baseline client the total: one pool with MAX_CONNECTIONS)."""
    import httpx

    n = max(1, MAX_CONNECTIONS // max(1, shards))
    return httpx.Limits(max_connections=n, max_keepalive_connections=n)


class _Shards:
    __slots__ = ("clients", "next")

    def __init__(self, clients: list):
        self.clients, self.next = clients, 0

    def take(self):
        c = self.clients[self.next]
        self.next = (self.next + 1) % len(self.clients)
        return c


def _client(base: str, key: str):
    """An AsyncOpenAI client (its own connection pool) for this event loop, base URL and key: the
    next of POOL_SHARDS such clients, in turn."""
    loop = asyncio.get_running_loop()
    per_loop = _CLIENTS.get(loop)
    if per_loop is None:
        per_loop = _CLIENTS[loop] = {}
    shards = per_loop.get((base, key))
    if shards is None:
        import httpx
        import openai

        shards = per_loop[(base, key)] = _Shards([
            openai.AsyncOpenAI(
                base_url=base, api_key=key, max_retries=0,  # retries are ours, recorded per attempt
                http_client=httpx.AsyncClient(limits=pool_limits(), timeout=None))
            for _ in range(POOL_SHARDS)])
    return shards.take()


_CHAT_OPTIONS: dict | None = None


def _chat_post_args() -> tuple[Any, dict] | None:
    """(ChatCompletion, request options) for `client.post("/chat/completions", ...)`: what
    `client.chat.completions.create` sends, without its per-call walk of the request TypedDicts
    (`async_maybe_transform`, ~a third of the SDK's CPU per call; an identity for the plain
    messages and numbers sent here). None when this openai version lacks the pieces."""
    global _CHAT_OPTIONS
    if _CHAT_OPTIONS is None:
        try:
            from openai._base_client import make_request_options
            from openai.types.chat import ChatCompletion

            _CHAT_OPTIONS = {"cast_to": ChatCompletion,
                             "options": make_request_options(security={"bearer_auth": True})}
        except (ImportError, AttributeError, TypeError):  # another SDK version: the public create()
            _CHAT_OPTIONS = {}
    return (_CHAT_OPTIONS["cast_to"], _CHAT_OPTIONS["options"]) if _CHAT_OPTIONS else None


#: create()'s keyword order, so the request body's JSON is the bytes create() would send
_BODY_ORDER = ("max_tokens", "response_format", "seed", "temperature")


def chat_body(model_name: str, messages: list[dict], params: dict) -> dict:
    """The /chat/completions request body for `params` (keys a create() call would send)."""
    body: dict[str, Any] = {"messages": messages, "model": model_name}
    for k in _BODY_ORDER:
        if k in params:
            body[k] = params[k]
    for k, v in params.items():  # anything else, after (none today)
        if k not in body:
            body[k] = v
    return body


# --------------------------------------------------------------------------- errors
#: Every failed request gets one of these classes; the item's `error` reads "<class>: <message>".
ERROR_CLASSES = ("auth", "not_found", "bad_request", "context_length", "rate_limit", "server_error",
                 "timeout", "connection", "invalid_output")
#: Retrying cannot help: the same request fails the same way (a run stops early on these).
NON_RETRYABLE = frozenset({"auth", "not_found", "bad_request"})
#: Also never retried (the prompt is too long for this model), but it depends on the item.
NOT_RETRIED = NON_RETRYABLE | {"context_length"}

_CONTEXT_RE = re.compile(r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|"
                         r"input is too long|reduce the length|max_tokens.*exceed|exceeds? the (model'?s )?"
                         r"(maximum|limit)", re.IGNORECASE)
_AUTH_RE = re.compile(r"missing credentials|api[ _-]?key|unauthori[sz]ed|authenticat|permission denied|"
                      r"invalid token|forbidden", re.IGNORECASE)
_NAME_CLASS = (  # exception class names of openai / litellm / httpx, most specific first
    ("ContextWindowExceeded", "context_length"), ("Authentication", "auth"), ("PermissionDenied", "auth"),
    ("NotFound", "not_found"), ("RateLimit", "rate_limit"), ("Timeout", "timeout"),
    ("UnprocessableEntity", "bad_request"), ("BadRequest", "bad_request"),
    ("Connect", "connection"), ("RemoteProtocol", "connection"), ("ReadError", "connection"),
    ("WriteError", "connection"), ("NetworkError", "connection"), ("RemoteDisconnected", "connection"),
    ("ServiceUnavailable", "server_error"), ("InternalServer", "server_error"), ("BadGateway", "server_error"),
)


def error_class(error: str | None) -> str | None:
    """The class recorded at the start of an item's `error` (None for no error, "other" if unknown)."""
    if not error:
        return None
    m = re.match(r"[a-z_]+", error)
    return m.group(0) if m and m.group(0) in ERROR_CLASSES else "other"


class _CallError(Exception):
    def __init__(self, message: str, status: int | None, retryable: bool, retry_after: float | None = None,
                 raw: Any = None, cls: str = "server_error"):
        super().__init__(message)
        self.status, self.retryable, self.retry_after, self.raw = status, retryable, retry_after, raw
        self.cls = cls


def _provider_message(e: BaseException) -> str:
    """The provider's own message: the JSON body's error.message when there is one, else str(e)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        m = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(m, str) and m.strip():
            return " ".join(m.split())[:500]
    msg = " ".join(str(e).split())
    # litellm prefixes "litellm.InternalServerError: InternalServerError: OpenAIException - "
    msg = re.sub(r"^(litellm\.\w+: )?(\w+: )?(\w+Exception - )?", "", msg)
    return msg[:500] or type(e).__name__


def _real_status(e: BaseException) -> int | None:
    """The HTTP status of a response the server actually sent; None when the status was made up
    by a client library (litellm wraps local faults such as a missing key as "500")."""
    if type(e).__module__.split(".")[0] == "litellm":
        return None
    status = getattr(e, "status_code", None)
    if status is None:
        status = getattr(getattr(e, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _classify(e: BaseException) -> _CallError:
    """Map any transport/provider exception to a class, the provider's message and retryability."""
    if isinstance(e, _CallError):
        return e
    status = _real_status(e)
    retry_after = None
    headers = getattr(getattr(e, "response", None), "headers", None)
    if headers is not None:
        try:
            retry_after = float(headers.get("retry-after"))
        except (TypeError, ValueError):
            retry_after = None
    name = type(e).__name__
    msg = _provider_message(e)
    cls = None
    if isinstance(status, int) and status >= 400:
        if status in (401, 403):
            cls = "auth"
        elif status == 404:
            cls = "not_found"
        elif status == 413:
            cls = "context_length"
        elif status == 429:
            cls = "rate_limit"
        elif status == 408:
            cls = "timeout"
        elif status in RETRY_STATUS or status >= 500:
            cls = "server_error"
        else:
            cls = "bad_request"
    if cls is None:
        names = " ".join(c.__name__ for c in type(e).__mro__)
        cls = next((c for key, c in _NAME_CLASS if key in names), None)
    if cls is None:
        if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
            cls = "timeout"
        elif isinstance(e, (json.JSONDecodeError, ValueError)) and not isinstance(e, pydantic.ValidationError):
            cls, msg = "invalid_output", f"unreadable response body ({name}): {msg}"
        elif isinstance(e, (ConnectionError, OSError)) or "Protocol" in name:
            cls = "connection"
    if cls in ("server_error", None) and status is None and _AUTH_RE.search(msg):
        cls = "auth"  # e.g. litellm's "Missing credentials" for an unset key, wrapped as a 500
    if cls == "bad_request" and _CONTEXT_RE.search(msg):
        cls = "context_length"
    if cls is None:
        # Unknown provider exception classes: litellm maps most transport faults to APIError-like
        # classes; without a status we treat it as transient once more.
        cls, msg = "server_error", f"{name}: {msg}"
    where = f" (HTTP {status})" if status is not None else ""
    return _CallError(f"{cls}{where}: {msg}", status, cls not in NOT_RETRIED, retry_after, cls=cls)


def explain_failure(model: str, api_base: str | None, api_key: str | None, cls: str, message: str) -> str:
    """One line naming the cause of a non-retryable failure and how to fix it (for an early stop)."""
    try:
        route = resolve(model, api_base, api_key)
    except Exception:
        route = None
    where = (route.api_base if route is not None else None) or api_base or \
        (f"{route.provider}'s default endpoint" if route is not None else "the provider's endpoint")
    detail = message.split(":", 1)[1].strip() if ":" in message else message
    if cls == "auth":
        missing: list[str] = []
        if not api_key and (route is None or not route.fast or route.api_key in (None, "EMPTY")):
            try:
                missing = list(_lm().validate_environment(model).get("missing_keys") or [])
            except Exception:
                missing = []
        if missing:
            return (f"{' / '.join(missing)} is not set: export it (or pass the key another way) and rerun "
                    f"({model}: {detail})")
        env = {"openai": "OPENAI_API_KEY", "hosted_vllm": "HOSTED_VLLM_API_KEY"}.get(
            route.provider if route is not None else "", "the provider's key variable")
        return (f"{model}: the API key was rejected at {where}: check {env} and the key's permissions "
                f"({detail})")
    if cls == "not_found":
        name = route.model_name if route is not None else model
        return (f"model {name} not found at {where}: check --model (the server's /v1/models lists what it "
                f"serves) and --api-base ({detail})")
    return (f"{model}: the requests were rejected as bad requests at {where}: check --model, --api-base "
            f"and the generation options ({detail})")


# --------------------------------------------------------------------------- one request
async def _send(route: Route, model: str, messages: list[dict], params: dict, timeout_s: float,
                record_raw: bool = True):
    """One HTTP request. Returns (text, prompt_tokens, completion_tokens, raw_response dict; None
    when not `record_raw`)."""
    if route.fast:
        client = _client(route.api_base, route.api_key)
        post = _chat_post_args()
        async with asyncio.timeout(timeout_s + 1.0):  # hard bound: httpx read timeouts are per chunk
            if post is not None:
                cast_to, options = post
                resp = await client.post("/chat/completions", cast_to=cast_to,
                                         body=chat_body(route.model_name, messages, params),
                                         options={**options, "timeout": timeout_s})
            else:
                resp = await client.chat.completions.create(model=route.model_name, messages=messages,
                                                            timeout=timeout_s, **params)
    else:
        lm = _lm()
        async with asyncio.timeout(timeout_s + 1.0):
            resp = await lm.acompletion(model=model, messages=messages, api_base=route.api_base,
                                        api_key=route.api_key, timeout=timeout_s, num_retries=0, **params)
    try:
        choice = resp.choices[0]
        text = choice.message.content
    except (AttributeError, IndexError, TypeError):
        raise _CallError("invalid_output: response has no choices[0].message", None, True,
                         raw=_dump(resp), cls="invalid_output") from None
    usage = getattr(resp, "usage", None)
    pt = getattr(usage, "prompt_tokens", None) if usage is not None else None
    ct = getattr(usage, "completion_tokens", None) if usage is not None else None
    return text, pt, ct, (_dump(resp) if record_raw else None)


def _dump(resp: Any) -> Any:
    try:
        return resp.model_dump(mode="json", exclude_none=True)
    except Exception:
        return str(resp)


# --------------------------------------------------------------------------- structured output
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(text: str | None) -> Any:
    """The JSON value in a model reply: whole text, a ```json fence, or the outermost {...}."""
    if text is None:
        raise ValueError("empty reply")
    s = text.strip()
    candidates = [s]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(s)]
    i, j = s.find("{"), s.rfind("}")
    if 0 <= i < j:
        candidates.append(s[i:j + 1])
    err: Exception | None = None
    for c in candidates:
        try:
            return json.loads(c)
        except json.JSONDecodeError as e:
            err = err or e
    raise ValueError(f"not valid JSON: {err}")


def _validate(text: str | None, response_model: type[BaseModel]) -> tuple[dict | None, str | None]:
    try:
        value = extract_json(text)
    except ValueError as e:
        return None, str(e)
    try:
        return response_model.model_validate(value).model_dump(mode="json"), None
    except pydantic.ValidationError as e:
        parts = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()[:20]]
        return None, "schema violation: " + "; ".join(parts)


def _with_json_instructions(messages: list[dict], schema: dict) -> list[dict]:
    note = ("Reply with only one JSON object (no prose, no code fence) that conforms to this JSON Schema:\n"
            + json.dumps(schema, sort_keys=True))
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{note}"
    else:
        out.insert(0, {"role": "system", "content": note})
    return out


# --------------------------------------------------------------------------- the API
async def acomplete(model: str, messages: list[dict], *, api_base: str | None = None,
                    api_key: str | None = None, temperature: float = 0.0, seed: int | None = None,
                    max_tokens: int | None = None, response_model: type[BaseModel] | None = None,
                    retry_limit: int = 3, timeout_s: float = 60.0, record_raw: bool = True) -> CallResult:
    """Call `model` with chat `messages`; never raises for provider/model faults (see CallResult).
    `record_raw=False` leaves a successful attempt's `raw_response` None (the runner's path: it
    keeps only the text and usage, and dumping every response object cost CPU per request)."""
    started = time.perf_counter()
    route = resolve(model, api_base, api_key)
    params: dict[str, Any] = {"temperature": temperature}
    if seed is not None:
        params["seed"] = seed
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    msgs = list(messages)
    if response_model is not None:
        schema = response_model.model_json_schema()
        if route.supports_schema:
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": re.sub(r"[^A-Za-z0-9_-]", "_", response_model.__name__)[:64],
                "schema": schema, "strict": False}}
        else:
            msgs = _with_json_instructions(msgs, schema)

    result = CallResult.model_construct(ok=False)  # built here from known types: no validation pass
    retry_limit = max(0, int(retry_limit))
    kind: Literal["request", "repair"] = "request"
    repairs = 0
    n = 0
    while True:
        # One logical request, retried on transient faults.
        text = None
        for retry in range(retry_limit + 1):
            n += 1
            t0 = time.perf_counter()
            att = Attempt.model_construct(attempt=n, kind=kind,
                                          request={"model": model, "params": params, "messages": msgs})
            try:
                text, pt, ct, raw = await _send(route, model, msgs, params, timeout_s, record_raw)
                att.raw_response, att.prompt_tokens, att.completion_tokens = raw, pt, ct
                att.cost_usd = price(model, route, pt, ct)
                att.latency_s = time.perf_counter() - t0
                result.attempts.append(att)
                _add_usage(result, att)
                break
            except Exception as exc:  # every fault becomes a recorded attempt
                err = _classify(exc)
                att.error, att.status_code, att.raw_response = str(err), err.status, err.raw
                att.latency_s = time.perf_counter() - t0
                result.attempts.append(att)
                if not err.retryable or retry == retry_limit:
                    why = "" if not err.retryable else f" after {retry + 1} attempts"
                    result.error, result.error_class = f"{err}{why}", err.cls
                    result.latency_s = time.perf_counter() - started
                    return result
                delay = min(BACKOFF_CAP_S, backoff_base_s() * (2 ** retry))
                delay = random.uniform(0, delay)  # full jitter: spread synchronized retries
                if err.retry_after is not None:
                    delay = max(delay, min(err.retry_after, BACKOFF_CAP_S))
                await asyncio.sleep(delay)
        result.text = text
        if response_model is None:
            result.ok = True
            break
        parsed, problem = _validate(text, response_model)
        if problem is None:
            result.ok, result.parsed = True, parsed
            break
        att.error = problem
        if repairs >= retry_limit:
            result.error = f"invalid_output: failed validation after {repairs} repair rounds: {problem}"
            result.error_class = "invalid_output"
            break
        repairs += 1
        kind = "repair"
        msgs = [*msgs, {"role": "assistant", "content": text or ""},
                {"role": "user", "content": "Your previous reply was not valid for the required JSON "
                 f"schema: {problem}. Reply again with only the corrected JSON object."}]
    result.latency_s = time.perf_counter() - started
    return result


def _add_usage(result: CallResult, att: Attempt) -> None:
    if att.prompt_tokens is not None:
        result.prompt_tokens = (result.prompt_tokens or 0) + att.prompt_tokens
    if att.completion_tokens is not None:
        result.completion_tokens = (result.completion_tokens or 0) + att.completion_tokens
    if att.cost_usd is not None:
        result.cost_usd = (result.cost_usd or 0.0) + att.cost_usd
