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
        from medbench.models.adapter import acomplete

        r = await acomplete(self.spec, messages, api_base=self.api_base, api_key=self.api_key, **self.kw)
        return Generation(text=r.text if r.ok else None, error=None if r.ok else r.error,
                          error_class=None if r.ok else r.error_class,
                          prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                          cost_usd=r.cost_usd, latency_s=r.latency_s, requests=len(r.attempts))


def load_model(spec: str, *, task: str | None = None, release: Any = None, api_base: str | None = None,
               api_key: str | None = None, temperature: float = 0.0, seed: int | None = None,
               max_tokens: int | None = None, retry_limit: int = 3, timeout_s: float = 60.0,
               batch_size: int = 8) -> Model:
    """Model string -> a ready Model (baselines are fitted here, on the release's train gold)."""
    spec = (spec or "").strip()
    if spec.startswith("baseline:"):
        from medbench.models.baselines import load_baseline

        if task is None or release is None:
            raise UserError(f"model '{spec}': baselines need a task and a release")
        return load_baseline(spec.split(":", 1)[1], task=task, release=release, seed=seed or 0)
    if spec.startswith("hf:"):
        from medbench.models.local import HFModel

        return HFModel(spec.split(":", 1)[1], temperature=temperature, seed=seed, max_tokens=max_tokens,
                       batch_size=batch_size)
    if spec.startswith("vllm:"):
        from medbench.models.local import VLLMModel

        return VLLMModel(spec.split(":", 1)[1], temperature=temperature, seed=seed, max_tokens=max_tokens)
    return ApiModel(spec, api_base=api_base, api_key=api_key, temperature=temperature, seed=seed,
                    max_tokens=max_tokens, retry_limit=retry_limit, timeout_s=timeout_s)
