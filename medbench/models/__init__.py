"""Models a run can use, behind one small interface, chosen by the model string:

- `hf:PATH`        local transformers model (medbench.models.local), batched, CPU or GPU
- `vllm:PATH`      offline vLLM batch inference (needs the `vllm` extra)
- `baseline:NAME`  reference baselines (medbench.models.baselines), fitted on train gold only
- anything else    a litellm model string, called through medbench.models.adapter.acomplete

`kind` tells the runner how to drive a model: "api" models get one `agenerate` call per item
under the concurrency limit (and the response cache); "local" and "baseline" models get
`generate_batch` calls of `batch_size` items in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medbench.errors import UserError
from medbench.registry import Registry


@dataclass
class Generation:
    """One model output for one item (what the runner turns into a submission line)."""

    text: str | None
    error: str | None = None
    error_class: str | None = None  # adapter.ERROR_CLASSES, for API models
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    cached: bool = False
    requests: int = 0  # HTTP requests made for this item (0 for local, baseline, cached)
    parsed: dict | None = None  # `acall(..., response_model=M)`: the validated output
    call: dict | None = None  # API models: the adapter's call record (attempts, usage, error)


class Model:
    spec: str = ""
    kind: str = "api"  # "api" | "local" | "baseline"
    batch_size: int = 1

    def info(self) -> dict[str, Any]:
        """Extra, deterministic facts recorded in the submission header's params (e.g. a tuned
        threshold); must not change between a run and its resume."""
        return {}

    async def agenerate(self, messages: list[dict], item: dict) -> Generation:  # kind == "api"
        raise NotImplementedError

    def generate_batch(self, batch: list[tuple[list[dict], dict]]) -> list[Generation]:  # local/baseline
        raise NotImplementedError

    async def acall(self, messages: list[dict], item: dict, *,
                    response_model: type | None = None) -> Generation:
        """One item through this model, whatever its kind (the judge's and generate-patient's
        path): API models call the adapter (with `response_model`: structured output and its
        repair loop); local and baseline models run `generate_batch` in a worker thread, and the
        text is validated against `response_model` (`parsed`, or an `invalid_output` error)."""
        import asyncio

        if self.kind == "api":
            return await self.agenerate(messages, item)
        gen = (await asyncio.to_thread(self.generate_batch, [(messages, item)]))[0]
        if response_model is not None and gen.error is None:
            from medbench.models.adapter import _validate

            gen.parsed, why = _validate(gen.text, response_model)
            if why is not None:
                gen.error, gen.error_class = f"invalid_output: {why}", "invalid_output"
        return gen


class ApiModel(Model):
    """A litellm model string, through the adapter (retries, attempts, pricing)."""

    kind = "api"

    def __init__(self, spec: str, *, api_base: str | None = None, api_key: str | None = None,
                 temperature: float = 0.0, seed: int | None = None, max_tokens: int | None = None,
                 retry_limit: int = 3, timeout_s: float = 60.0):
        from medbench.models.adapter import resolve

        if not spec.strip() or any(c.isspace() for c in spec):
            raise UserError(f"model '{spec}': not a model string (expected e.g. openai/gpt-4.1-mini)")
        resolve(spec, api_base, api_key)  # fail fast with a clear error on an unknown provider
        self.spec, self.api_base, self.api_key = spec, api_base, api_key
        self.kw = dict(temperature=temperature, seed=seed, max_tokens=max_tokens,
                       retry_limit=retry_limit, timeout_s=timeout_s)

    async def agenerate(self, messages: list[dict], item: dict) -> Generation:
        return await self.acall(messages, item, record_raw=False)  # the runner keeps no call record

    async def acall(self, messages: list[dict], item: dict, *,
                    response_model: type | None = None, record_raw: bool = True) -> Generation:
        from medbench.models.adapter import acomplete

        r = await acomplete(self.spec, messages, api_base=self.api_base, api_key=self.api_key,
                            response_model=response_model, record_raw=record_raw, **self.kw)
        return Generation(text=r.text if r.ok else None, error=None if r.ok else r.error,
                          error_class=None if r.ok else r.error_class,
                          prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                          cost_usd=r.cost_usd, latency_s=r.latency_s, requests=len(r.attempts),
                          parsed=r.parsed if response_model is not None else None,
                          call=r.model_dump(mode="json") if response_model is not None else None)


def _api_backend(spec: str, rest: str, *, api_base: str | None = None, api_key: str | None = None,
                 temperature: float = 0.0, seed: int | None = None, max_tokens: int | None = None,
                 retry_limit: int = 3, timeout_s: float = 60.0, **_: Any) -> Model:
    return ApiModel(spec, api_base=api_base, api_key=api_key, temperature=temperature, seed=seed,
                    max_tokens=max_tokens, retry_limit=retry_limit, timeout_s=timeout_s)


def _baseline_backend(spec: str, rest: str, *, task: str | None = None, release: Any = None,
                      seed: int | None = None, **_: Any) -> Model:
    from medbench.models.baselines import load_baseline

    if task is None:
        raise UserError(f"model '{spec}': baselines need a task and a release")
    return load_baseline(rest, task=task, release=release, seed=seed or 0)


def _hf_backend(spec: str, rest: str, *, temperature: float = 0.0, seed: int | None = None,
                max_tokens: int | None = None, batch_size: int = 8, **_: Any) -> Model:
    from medbench.models.local import HFModel

    return HFModel(rest, temperature=temperature, seed=seed, max_tokens=max_tokens, batch_size=batch_size)


def _vllm_backend(spec: str, rest: str, *, temperature: float = 0.0, seed: int | None = None,
                  max_tokens: int | None = None, **_: Any) -> Model:
    from medbench.models.local import VLLMModel

    return VLLMModel(rest, temperature=temperature, seed=seed, max_tokens=max_tokens)


#: model-string prefix -> backend factory(spec, rest after "prefix:", **options) -> Model. A string
#: with no registered prefix is a litellm model string (`DEFAULT_BACKEND`).
BACKENDS: Registry[Any] = Registry("model backend", display=lambda n: f"{n}:")
BACKENDS.register("baseline", _baseline_backend)
BACKENDS.register("hf", _hf_backend)
BACKENDS.register("vllm", _vllm_backend)
DEFAULT_BACKEND = _api_backend


def judge_model(spec: str, *, api_base: str | None = None, api_key: str | None = None, seed: int | None = 0,
                retry_limit: int = 3, timeout_s: float = 120.0, release: Any = None) -> Model:
    """The conversation judge (`score --judge`) as a Model from the one factory: temperature 0."""
    return load_model(spec, task="conversation", release=release, api_base=api_base, api_key=api_key,
                      temperature=0.0, seed=seed, retry_limit=retry_limit, timeout_s=timeout_s)


def backend_of(spec: str) -> tuple[str | None, str]:
    """(registered prefix or None for litellm, the rest of the string)."""
    prefix, sep, rest = spec.partition(":")
    return (prefix, rest) if sep and prefix in BACKENDS else (None, spec)


def load_model(spec: str, *, task: str | None = None, release: Any = None, api_base: str | None = None,
               api_key: str | None = None, temperature: float = 0.0, seed: int | None = None,
               max_tokens: int | None = None, retry_limit: int = 3, timeout_s: float = 60.0,
               batch_size: int = 8) -> Model:
    """Model string -> a ready Model (baselines are fitted here, on the release's train gold).
    The one backend factory: `run`, `score --judge`, `generate-patient` and `eval` all call it."""
    spec = (spec or "").strip()
    prefix, rest = backend_of(spec)
    factory = BACKENDS.get(prefix) if prefix is not None else DEFAULT_BACKEND
    return factory(spec, rest, task=task, release=release, api_base=api_base, api_key=api_key,
                   temperature=temperature, seed=seed, max_tokens=max_tokens, retry_limit=retry_limit,
                   timeout_s=timeout_s, batch_size=batch_size)
