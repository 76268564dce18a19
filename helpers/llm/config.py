"""Every setting of an LLM fine-tuning run, as one dataclass parsed by ``HfArgumentParser``.

Defaults are the 2024 대화 맥락 추론 winner's: LoRA r 16, alpha 32, dropout 0.01 on the
attention and MLP projections plus ``lm_head``; lr 2e-4, cosine schedule, 20 warm-up steps,
weight decay 0.1, batch 1 × gradient accumulation 64, gradient checkpointing, max length
1024, seed 42 — except that micro-batches are cut by a token budget (the same effective batch)
and gradient checkpointing is "auto" (off where the activations fit: faster, the same result).
The same fields are the command line's flags (``--lora-r 8``) and the keys of a JSON recipe
(``python -m helpers.llm train recipe.json``).

    >>> LLMConfig(max_tokens_per_batch="4096").max_tokens_per_batch
    4096
    >>> LLMConfig(gradient_checkpointing="false").gradient_checkpointing, LLMConfig().gradient_checkpointing
    (False, 'auto')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Optional, Union

__all__ = ["LLMConfig", "SEVEN_PROJECTIONS", "SEED_TARGETS", "SMOKE_SETTINGS"]

from .engines import SEED_TARGETS, SEVEN_PROJECTIONS

#: Settings that train the tiny local model in seconds on two CPU cores (smoke mode).
SMOKE_SETTINGS = dict(learning_rate=1e-3, warmup_steps=5, weight_decay=0.0, lr_scheduler_type="constant_with_warmup",
                      epochs=3.0, per_device_batch_size=8, gradient_accumulation_steps=1, gradient_checkpointing=False,
                      max_length=512, save_steps=1000, logging_steps=10,
                      # token budgets as on a GPU (the same code path; "auto" is 4096 tokens on a CPU)
                      max_tokens_per_batch="auto")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class LLMConfig:
    """Every setting of an LLM fine-tuning run (the 2024 winner's values by default).

    The default model is the winner's backbone, ``beomi/Solar-Ko-Recovery-11B`` (Apache-2.0, not
    gated); in full mode :func:`helpers.lessons.preset` and ``python -m helpers.llm train`` choose
    model and method for the GPU from the memory estimate (:mod:`helpers.llm.choice`: QLoRA on a
    T4 or a 24 GB card, 16-bit LoRA on 40/80 GB, a smaller model on smaller cards).

    Engines (:mod:`helpers.llm.engines`): where a LoRA setting is left ``None`` the engine's
    default applies (hf: the seed's dropout 0.01 and ``lm_head`` adapter; unsloth: dropout 0
    and the seven projections, its fused kernels' fast path).
    """

    model_name: str = field(default="beomi/Solar-Ko-Recovery-11B",
                            metadata=_help("hub id or local folder of the base model"))
    method: str = field(default="qlora", metadata={"help": "qlora (4-bit nf4 + LoRA), lora (16-bit + LoRA) or full",
                                                    "choices": ["qlora", "lora", "full"]})
    engine: str = field(default="auto", metadata={"help": "auto (unsloth on a GPU where installed), hf or unsloth",
                                                   "choices": ["auto", "hf", "unsloth"]})
    lora_r: int = field(default=16, metadata=_help("LoRA rank"))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha"))
    lora_dropout: Optional[float] = field(default=None, metadata=_help("LoRA dropout (default: the engine's)"))
    target_modules: Optional[list[str]] = field(default=None,
                                                metadata=_help("modules that get adapters (default: the engine's)"))
    learning_rate: float = field(default=2e-4, metadata=_help("peak learning rate"))
    lr_scheduler_type: str = field(default="cosine", metadata=_help("transformers scheduler name"))
    warmup_steps: int = field(default=20, metadata=_help("warm-up optimizer steps"))
    weight_decay: float = field(default=0.1, metadata=_help("AdamW weight decay"))
    epochs: float = field(default=4.0, metadata=_help("training epochs"))
    per_device_batch_size: int = field(default=1, metadata=_help("sequences per micro-batch (fixed batches)"))
    gradient_accumulation_steps: int = field(default=64, metadata=_help("micro-batches per optimizer step"))
    # typed str for HfArgumentParser (one type per flag); True and False are accepted as well
    gradient_checkpointing: str = field(default="auto", metadata=_help(
        "recompute activations to save memory: true, false or 'auto' (off where the memory estimate says a "
        "micro-batch of at least 4,096 tokens fits without it, as for the default on 80 GB; kept on for small cards)"))
    max_length: int = field(default=1024, metadata=_help("tokens per example (prompt + answer)"))
    answer_only_head: bool = field(default=True, metadata=_help(
        "apply the LM head only where an answer token is predicted (same loss, less compute; for the "
        "architectures in helpers.llm.train.PLAIN_HEAD_MODELS, the model's own loss elsewhere)"))
    max_tokens_per_batch: Union[int, str, None] = field(
        default="auto", metadata=_help("padded tokens per length-grouped micro-batch: an integer, 'auto' (the most "
                                       "the memory estimate fits on this GPU; 4096 on a CPU) or None (fixed batches "
                                       "of per_device_batch_size)"))
    min_optimizer_steps: int = field(default=30, metadata=_help(
        "with less data than this many optimizer steps need, the effective batch shrinks to fit (0: never)"))
    seed: int = field(default=42, metadata=_help("random seed"))
    prompt_style: str = field(default="base", metadata=_help("prompt style of the task"))
    output_dir: str = field(default="outputs/llm/cci", metadata=_help("checkpoints and the final adapter"))
    save_steps: int = field(default=50, metadata=_help("checkpoint every N optimizer steps"))
    save_total_limit: int = field(default=2, metadata=_help("checkpoints kept"))
    save_minutes: float = field(default=10.0, metadata=_help(
        "also checkpoint when this many minutes passed since the last one (0: off), so a Colab "
        "disconnect loses at most that much whatever save_steps is"))
    logging_steps: int = field(default=10, metadata=_help("log the loss every N optimizer steps"))
    trust_remote_code: bool = field(default=False, metadata=_help("run the model repository's code (only with --revision)"))
    revision: Optional[str] = field(default=None, metadata=_help("hub revision (commit) to load; required with "
                                                                 "trust_remote_code"))

    def __post_init__(self) -> None:
        from ..core.messages import KitError, msg

        budget = self.max_tokens_per_batch
        if isinstance(budget, str) and budget.strip().isdigit():
            self.max_tokens_per_batch = int(budget)
        elif isinstance(budget, str) and budget.strip().lower() in ("none", ""):
            self.max_tokens_per_batch = None
        elif isinstance(budget, str) and budget.strip().lower() == "auto":
            self.max_tokens_per_batch = "auto"
        elif isinstance(budget, str):
            raise KitError(msg(f"max_tokens_per_batch는 토큰 수, 'auto' 또는 'none'이어야 합니다 ({budget!r})",
                               f"max_tokens_per_batch must be a token count, 'auto' or 'none', not {budget!r}"))
        ckpt = self.gradient_checkpointing
        if isinstance(ckpt, str) and ckpt.strip().lower() != "auto":
            word = ckpt.strip().lower()
            if word not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise KitError(msg(f"gradient_checkpointing은 true, false 또는 'auto'여야 합니다 ({ckpt!r})",
                                   f"gradient_checkpointing must be true, false or 'auto', not {ckpt!r}"))
            self.gradient_checkpointing = word in ("true", "1", "yes", "on")
        elif isinstance(ckpt, str):
            self.gradient_checkpointing = "auto"
        if self.target_modules is not None:
            self.target_modules = list(self.target_modules)

    @classmethod
    def smoke(cls, **overrides) -> "LLMConfig":
        """The smoke-mode settings (:data:`SMOKE_SETTINGS`) on the tiny local model; the tiny
        model is built only when ``model_name`` is not given."""
        if "model_name" not in overrides:
            from .tiny import tiny_model_dir

            overrides["model_name"] = str(tiny_model_dir())
        return cls(**{**SMOKE_SETTINGS, **overrides})

    def lora_settings(self, engine: str) -> tuple[float, tuple[str, ...]]:
        """``(dropout, target modules)`` in effect for ``engine`` (its defaults where unset)."""
        from .engines import ENGINES

        default_dropout, default_targets = ENGINES[engine]().lora_defaults()
        dropout = self.lora_dropout if self.lora_dropout is not None else default_dropout
        return dropout, tuple(self.target_modules or default_targets)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "LLMConfig":
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})
