"""A tiny causal LM built entirely locally: random init + a BPE tokenizer trained on given text.

Used by the offline tests and `medbench make-tiny-model`; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|unk|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000):
    """Byte-level BPE whose merges may cross word boundaries (no pre-split on spaces): text the
    release repeats verbatim (the SQL schema prompt) compresses to a handful of tokens, so a
    ~1,350-token prompt becomes ~15 and the tiny model trains in seconds on CPU. Digits are the
    one exception: every digit is its own token (never merged with text or other digits), so a
    number it has never seen (an unseen patient's subject_id) is spelled with the same ten tokens
    as the train ids and can be copied from the prompt digit by digit. Any text still encodes and
    decodes exactly (byte-level alphabet)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>",
                                   unk_token="<|unk|>", bos_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(texts: Iterable[str], out_dir: str | Path, seed: int = 0, vocab_size: int = 2000,
                     hidden_size: int = 64, layers: int = 2, heads: int = 4) -> Path:
    """Write a random-init Llama-style model + locally trained tokenizer to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 4,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=8192, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
