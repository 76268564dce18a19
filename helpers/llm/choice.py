"""Which model and method a full run uses, chosen for the GPU by the memory estimate.

The ladder lists (model, method) pairs from the strongest down; a run takes the first one
whose estimated peak at the run's length (one full-length sequence; the token budget then
grows the micro-batch while the estimate fits) fits in 85 % of the card. So an 80 GB or 40 GB card trains the 2024 winner's
backbone with 16-bit LoRA, a 24 GB card and a Colab T4 (15 GB, fp16) with QLoRA, and a
smaller card a smaller model. Overrides: ``KIT_LLM_MODEL`` (a hub id or a local folder,
which works exactly like a hub id offline), ``KIT_LLM_METHOD``, and ``KIT_GPU_GIB`` (the
card's memory, so a capped run chooses as a smaller card would).

Shapes come from the model's own config when it is a local folder or in the hub cache;
otherwise from :data:`KNOWN_SHAPES` (so the choice is printed before any download).

    >>> choose(gpu_gib=24.0, max_length=1024).method
    'qlora'
    >>> choose(gpu_gib=80.0, max_length=1024).method
    'lora'
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core.messages import KitError, msg

__all__ = ["Candidate", "LADDER", "KNOWN_SHAPES", "Choice", "choose", "shape_for"]

#: Architecture sizes of the ladder's models (from their published configs; the vocabulary of
#: Solar-Ko-Recovery is its extended Korean one). Used only when the config cannot be read.
KNOWN_SHAPES = {
    "beomi/Solar-Ko-Recovery-11B": dict(vocab_size=46592, hidden_size=4096, intermediate_size=14336,
                                        num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=8),
    "MLP-KTLim/llama-3-Korean-Bllossom-8B": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8),
    "Qwen/Qwen2.5-3B-Instruct": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008,
                                     num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                                     tie_word_embeddings=True),
}


@dataclass(frozen=True)
class Candidate:
    model: str
    method: str
    note: str = ""


#: Strongest first. Licences: Solar-Ko-Recovery Apache-2.0; Bllossom Llama 3 licence; Qwen2.5
#: Apache-2.0 (Qwen licence for 3B: research use — check before competing). None is gated.
LADDER = (
    Candidate("beomi/Solar-Ko-Recovery-11B", "lora", "2024 winner's backbone, 16-bit LoRA"),
    Candidate("beomi/Solar-Ko-Recovery-11B", "qlora", "2024 winner's backbone, 4-bit QLoRA"),
    Candidate("MLP-KTLim/llama-3-Korean-Bllossom-8B", "qlora", "Korean Llama 3 8B, 4-bit QLoRA"),
    Candidate("Qwen/Qwen2.5-3B-Instruct", "qlora", "small multilingual model, 4-bit QLoRA"),
)


def shape_for(model: str):
    """A config (or config dict) of ``model`` for the estimator: its own when readable offline."""
    from ..memory import shape_of

    try:
        if os.path.isdir(model):
            return shape_of(model)
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model, local_files_only=True)  # the hub cache, never the network
    except Exception:
        if model in KNOWN_SHAPES:
            return KNOWN_SHAPES[model]
        raise KitError(msg(f"{model}의 config.json을 읽을 수 없어 메모리를 추정할 수 없습니다 (로컬 폴더나 캐시가 필요)",
                           f"cannot read the config of {model} to estimate its memory (a local folder or the hub "
                           "cache is needed)")) from None


@dataclass(frozen=True)
class Choice:
    model: str
    method: str
    need_gib: float
    gpu_gib: float
    note: str = ""

    def summary(self, precision: str = "") -> str:
        return msg(f"GPU {self.gpu_gib:.0f} GiB{' (' + precision + ')' if precision else ''} → {self.model} "
                   f"({self.method}): 예상 {self.need_gib:.1f} GiB ≤ {0.85 * self.gpu_gib:.1f} GiB (85%)",
                   f"GPU {self.gpu_gib:.0f} GiB{' (' + precision + ')' if precision else ''} → {self.model} "
                   f"({self.method}): estimated {self.need_gib:.1f} GiB ≤ {0.85 * self.gpu_gib:.1f} GiB (85 %)")


def _need(c: Candidate, max_length: int, min_batch: int, engine: str, lora_r: int) -> float:
    from ..memory import estimate_memory
    from .config import LLMConfig

    _, targets = LLMConfig(method=c.method).lora_settings(engine)
    return estimate_memory(shape_for(c.model), c.method, max_length, min_batch, lora_r=lora_r,
                           lora_on_lm_head="lm_head" in targets, gradient_checkpointing=True,
                           chunked_loss=engine == "unsloth", offload_checkpoints=engine == "unsloth")["total_gib"]


def choose(gpu_gib: float, max_length: int = 1024, *, min_batch: int = 1, engine: str = "hf",
           lora_r: int = 16, ladder=LADDER) -> Choice:
    """The first ladder entry that fits in 85 % of ``gpu_gib`` (environment overrides first)."""
    model, method = os.environ.get("KIT_LLM_MODEL"), os.environ.get("KIT_LLM_METHOD")
    if model:
        ladder = tuple(Candidate(model, m, "KIT_LLM_MODEL") for m in ("lora", "qlora"))
    if method:
        ladder = tuple(c for c in ladder if c.method == method) or tuple(Candidate(c.model, method) for c in ladder[:1])
    for c in ladder:
        need = _need(c, max_length, min_batch, engine, lora_r)
        if need <= 0.85 * gpu_gib:
            return Choice(c.model, c.method, need, gpu_gib, c.note)
    last = ladder[-1]
    raise KitError(msg(f"이 GPU({gpu_gib:.0f} GiB)에는 맞는 설정이 없습니다: 가장 작은 {last.model} ({last.method})도 "
                       f"{_need(last, max_length, min_batch, engine, lora_r):.1f} GiB가 필요합니다. max_length를 줄이세요",
                       f"nothing fits this {gpu_gib:.0f} GiB GPU: even {last.model} ({last.method}) needs "
                       f"{_need(last, max_length, min_batch, engine, lora_r):.1f} GiB; lower max_length"))
