"""Local models: `hf:PATH` (transformers, batched generation, CPU or GPU) and `vllm:PATH`
(offline vLLM batch inference). Both load only from PATH (no hub download) and are optional:
a missing torch/transformers/vllm is a one-line UserError naming the extra to install."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from medbench.errors import UserError
from medbench.models import Generation, Model

DEFAULT_MAX_NEW_TOKENS = 256


def _plain_prompt(messages: list[dict]) -> str:
    """Fallback when the tokenizer has no chat template: 'role: content' lines, then 'assistant:'."""
    lines = [f"{m.get('role', 'user')}: {m.get('content') or ''}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


class HFModel(Model):
    kind = "local"

    def __init__(self, path: str, *, temperature: float = 0.0, seed: int | None = None,
                 max_tokens: int | None = None, batch_size: int = 8):
        p = Path(path).expanduser()
        if not p.is_dir():
            raise UserError(f"hf:{path}: not a local model folder (hf: loads only from disk)")
        try:
            import torch
            import transformers
        except ImportError as e:
            raise UserError(f"hf: models need torch and transformers ({e.name} is missing); "
                            "install them with: pip install 'medbench[train]'") from None
        self.spec, self.path = f"hf:{path}", p
        self.temperature, self.seed = temperature, seed
        self.max_new_tokens = max_tokens or DEFAULT_MAX_NEW_TOKENS
        self.batch_size = max(1, batch_size)
        self.torch = torch
        try:
            self.tok = transformers.AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError) as e:
            raise UserError(f"hf:{path}: cannot load model ({str(e).splitlines()[0]})") from None
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device).eval()
        self.tok.padding_side = "left"  # decoder-only batches must be left-padded
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token or self.tok.unk_token
        if self.tok.pad_token is None:
            raise UserError(f"hf:{path}: tokenizer has no pad, eos or unk token")

    def info(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "chat_template": _chat_template_info(self.tok)}

    def _prompt(self, messages: list[dict]) -> str:
        if getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return _plain_prompt(messages)

    def generate_batch(self, batch: list[tuple[list[dict], dict]]) -> list[Generation]:
        torch = self.torch
        t0 = time.perf_counter()
        prompts = [self._prompt(m) for m, _ in batch]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = self.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": sample,
                                  "pad_token_id": self.tok.pad_token_id}
        if sample:
            kwargs["temperature"] = self.temperature
            torch.manual_seed(self.seed or 0)  # sampled runs are reproducible for a given seed
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        dt = (time.perf_counter() - t0) / max(1, len(batch))
        gens = []
        for i in range(len(batch)):
            prompt_tokens = int(enc["attention_mask"][i].sum())
            ids = new[i]
            eos = self.tok.eos_token_id
            n = int((ids != self.tok.pad_token_id).sum()) if eos != self.tok.pad_token_id else len(ids)
            if eos is not None:
                hits = (ids == eos).nonzero()
                if len(hits):
                    n = int(hits[0]) + 1
            text = self.tok.decode(ids[:n], skip_special_tokens=True)
            gens.append(Generation(text=text, prompt_tokens=prompt_tokens, completion_tokens=n,
                                   cost_usd=0.0, latency_s=dt))
        return gens


class VLLMModel(Model):
    kind = "local"

    def __init__(self, path: str, *, temperature: float = 0.0, seed: int | None = None,
                 max_tokens: int | None = None):
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise UserError("vllm: models need the vllm extra: pip install 'medbench[vllm]' "
                            "(Linux with a CUDA GPU)") from None
        if not Path(path).expanduser().is_dir():
            raise UserError(f"vllm:{path}: not a local model folder")
        self.spec = f"vllm:{path}"
        self.llm = LLM(model=str(Path(path).expanduser()), seed=seed or 0)
        self.params = SamplingParams(temperature=temperature, seed=seed,
                                     max_tokens=max_tokens or DEFAULT_MAX_NEW_TOKENS)
        self.batch_size = 256  # vLLM schedules its own continuous batching inside a call
        try:
            self._chat = _chat_template_info(self.llm.get_tokenizer())
        except Exception:
            self._chat = None

    def info(self) -> dict[str, Any]:
        return {"chat_template": self._chat}

    def generate_batch(self, batch: list[tuple[list[dict], dict]]) -> list[Generation]:
        t0 = time.perf_counter()
        outs = self.llm.chat([m for m, _ in batch], self.params, use_tqdm=False)
        dt = (time.perf_counter() - t0) / max(1, len(batch))
        return [Generation(text=o.outputs[0].text, prompt_tokens=len(o.prompt_token_ids or []),
                           completion_tokens=len(o.outputs[0].token_ids), cost_usd=0.0, latency_s=dt)
                for o in outs]


def _chat_template_info(tok: Any) -> dict | None:
    """What the header records about the prompt format: the tokenizer's chat template (sha256),
    or None when it has none (then the plain role-prefixed prompt is used)."""
    import hashlib

    tmpl = getattr(tok, "chat_template", None)
    if not tmpl:
        return None
    text = tmpl if isinstance(tmpl, str) else json.dumps(tmpl, sort_keys=True)
    return {"used": True, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
