"""Causal LMs for the NIKL tasks: loading (QLoRA / LoRA / full), answer-only fine-tuning, resume, merge.

Defaults are the 2024 대화 맥락 추론 winner's: LoRA r 16, alpha 32, dropout 0.01 on the
attention and MLP projections plus ``lm_head``; lr 2e-4, cosine schedule, 20 warm-up steps,
weight decay 0.1, batch 1 × gradient accumulation 64, gradient checkpointing, max length
1024, seed 42.

Training also runs as a script, on one GPU or several (DDP)::

    python -m helpers.llm train --task cci --train data/raw/cci/train.json --output-dir outputs/llm/cci
    accelerate launch --num_processes 2 -m helpers.llm train --task cci ...
    torchrun --nproc_per_node 2 -m helpers.llm train --task cci ...

Smoke mode builds a tiny Llama from a config (random weights) with a tokenizer trained on
the shipped text, saves it like a hub checkpoint and loads it through the same functions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Sequence

__all__ = [
    "LLMConfig",
    "tiny_model_dir",
    "compute_dtype",
    "load_model",
    "add_adapters",
    "encode_example",
    "AnswerOnlyCollator",
    "prompt_and_answer",
    "sft_examples",
    "train",
    "last_checkpoint",
    "save_adapter",
    "merge_adapter",
    "load_for_inference",
    "resolve_engine",
    "pad_multiple",
    "TokenBudgetSampler",
    "auto_token_budget",
    "lesson_cci_records",
    "ensure_trained",
]

SEVEN_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SEED_TARGETS = SEVEN_PROJECTIONS + ("lm_head",)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass
class LLMConfig:
    """Every setting of an LLM fine-tuning run (the 2024 winner's values by default).

    Default models (hub ids; each has its own licence):

    - Colab T4 (15 GB): ``MLP-KTLim/llama-3-Korean-Bllossom-8B`` with QLoRA (Llama 3 licence, not gated);
    - 24 GB card: ``beomi/Solar-Ko-Recovery-11B`` with QLoRA or LoRA (Apache-2.0, not gated), the
      winner's backbone.

    ``trust_remote_code`` stays off unless you turn it on for a model you trust.

    Engines: ``hf`` (transformers + peft + bitsandbytes, everywhere) and ``unsloth`` (CUDA
    only, an optional extra); ``auto`` picks unsloth when a GPU is present and it imports.
    Where a setting is left ``None`` the engine's default applies: the seed's
    ``lora_dropout`` 0.01 and LoRA on the seven projections plus ``lm_head`` for ``hf``;
    ``lora_dropout`` 0 and the seven projections only for ``unsloth``, because dropout > 0
    leaves unsloth's fused LoRA kernels (measured −11 % tokens/s) and an ``lm_head``
    adapter costs a 128k-vocabulary matrix product's worth of extra memory and time.

    ``max_tokens_per_batch``: ``None`` keeps the seed's fixed micro-batch
    (``per_device_batch_size``); an int or ``"auto"`` (from the GPU's memory) groups
    sequences of similar length into micro-batches of at most that many (padded) tokens,
    and gradient accumulation is set so that an optimizer step still sees
    ``per_device_batch_size × gradient_accumulation_steps`` sequences on average.
    """

    model_name: str = "beomi/Solar-Ko-Recovery-11B"
    method: str = "qlora"  # "qlora" (4-bit nf4 + LoRA) | "lora" (bf16/fp16 + LoRA) | "full"
    engine: str = "auto"  # "auto" | "hf" | "unsloth" (the fast GPU path)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float | None = None  # None: engine default (hf 0.01, unsloth 0)
    target_modules: tuple[str, ...] | None = None  # None: engine default (hf + lm_head, unsloth 7 projections)
    learning_rate: float = 2e-4
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 20
    weight_decay: float = 0.1
    epochs: float = 4.0
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 64
    gradient_checkpointing: bool = True
    max_length: int = 1024
    max_tokens_per_batch: int | str | None = None
    seed: int = 42
    prompt_style: str = "base"
    output_dir: str = "outputs/llm/cci"
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 10
    trust_remote_code: bool = False

    @classmethod
    def smoke(cls, **overrides) -> "LLMConfig":
        """The tiny local model with settings that train in seconds on two CPU cores."""
        base = dict(model_name=str(tiny_model_dir()), learning_rate=1e-3, warmup_steps=5, weight_decay=0.0,
                    lr_scheduler_type="constant_with_warmup", epochs=3.0, per_device_batch_size=8,
                    gradient_accumulation_steps=1, gradient_checkpointing=False, max_length=512,
                    save_steps=1000, logging_steps=10)
        return replace(cls(), **{**base, **overrides})

    def lora_settings(self, engine: str) -> tuple[float, tuple[str, ...]]:
        """``(dropout, target modules)`` in effect for ``engine``."""
        dropout = self.lora_dropout if self.lora_dropout is not None else (0.0 if engine == "unsloth" else 0.01)
        targets = self.target_modules or (SEVEN_PROJECTIONS if engine == "unsloth" else SEED_TARGETS)
        return dropout, tuple(targets)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "LLMConfig":
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        raw = {k: tuple(v) if k == "target_modules" and v is not None else v for k, v in raw.items() if k in known}
        return cls(**raw)


# ----------------------------------------------------------------------------- tiny model


def tiny_model_dir(path: str | Path | None = None, rebuild: bool = False, seed: int = 0) -> Path:
    """A tiny Llama (random weights) and a byte-level BPE tokenizer trained on the shipped text,
    saved like a hub checkpoint (``outputs/models/tiny-llama``) with a chat template."""
    from .runtime import outputs_dir

    path = Path(path) if path else outputs_dir("models") / "tiny-llama"
    if (path / "config.json").is_file() and not rebuild:
        return path
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from .synthetic import vocabulary_texts
    from .vocab import shipped_texts, train_bpe

    tok = train_bpe(list(shipped_texts()) + vocabulary_texts(), vocab_size=4000,
                    extra_special=("<|system|>", "<|user|>", "<|assistant|>"))
    tok.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


# ----------------------------------------------------------------------------- loading


def compute_dtype():
    """bf16 where the GPU has it, fp16 on older GPUs (Colab T4), fp32 on a CPU (where bf16
    matrix products run about 5x slower than fp32 on the machines tried)."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _device_map():
    import torch

    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", 0))}  # one full copy per DDP rank
    return "cpu"


def load_tokenizer(cfg: LLMConfig):
    """The model's tokenizer with a pad token (eos when the model has none)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.model_name, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def resolve_engine(engine: str = "auto") -> str:
    """``"unsloth"`` or ``"hf"``: auto picks unsloth where a CUDA GPU is present and it is installed."""
    import importlib.util

    import torch

    if engine not in ("auto", "hf", "unsloth"):
        raise ValueError("engine must be 'auto', 'hf' or 'unsloth'")
    if engine == "hf":
        return "hf"
    cuda = torch.cuda.is_available()
    if engine == "unsloth" and not cuda:
        raise RuntimeError("unsloth 엔진은 CUDA GPU가 필요합니다 / the unsloth engine needs a CUDA GPU")
    if engine == "unsloth" or (cuda and importlib.util.find_spec("unsloth") is not None):
        try:
            import unsloth  # noqa: F401  (best imported before transformers: helpers.runtime.setup does)
        except Exception as err:  # a broken install must not stop the lesson: fall back
            if engine == "unsloth":
                raise
            print(f"unsloth를 불러올 수 없어 hf 엔진을 씁니다 / unsloth failed to import ({err}); using hf")
            return "hf"
        return "unsloth"
    return "hf"


def _load_unsloth(cfg: LLMConfig):
    from unsloth import FastLanguageModel

    model, tok = FastLanguageModel.from_pretrained(
        model_name=cfg.model_name, max_seq_length=cfg.max_length, dtype=compute_dtype(),
        load_in_4bit=cfg.method == "qlora", full_finetuning=cfg.method == "full",
        trust_remote_code=cfg.trust_remote_code, local_files_only=Path(cfg.model_name).is_dir(),
    )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model._kit_engine = "unsloth"
    return model, tok


def load_model(cfg: LLMConfig):
    """``(model, tokenizer)`` for ``cfg.method``: 4-bit nf4 with double quantisation (qlora),
    or the compute dtype (lora, full), through the engine ``cfg.engine`` resolves to (printed).
    QLoRA/LoRA models are not yet wrapped with adapters (:func:`add_adapters`)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if cfg.method not in ("qlora", "lora", "full"):
        raise ValueError(f"알 수 없는 학습 방식 '{cfg.method}' / method must be qlora, lora or full")
    engine = resolve_engine(cfg.engine)
    print(f"engine: {engine}")
    if engine == "unsloth":
        return _load_unsloth(cfg)
    dtype = compute_dtype()
    kwargs = dict(dtype=dtype, device_map=_device_map(), trust_remote_code=cfg.trust_remote_code)
    if cfg.method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(cfg.model_name, **kwargs)
    model._kit_engine = "hf"
    return model, load_tokenizer(cfg)


def add_adapters(model, cfg: LLMConfig):
    """Wrap with LoRA (peft, or unsloth's fused LoRA) for qlora/lora; gradient checkpointing where asked."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    engine = getattr(model, "_kit_engine", "hf")
    dropout, targets = cfg.lora_settings(engine)
    if engine == "unsloth" and cfg.method != "full":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=dropout, target_modules=list(targets),
            use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False, random_state=cfg.seed,
        )
    if cfg.method == "full":
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model
    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=dropout,
                      target_modules=list(targets), task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


# ----------------------------------------------------------------------------- data


def encode_example(tokenizer, prompt: str, answer: str, max_length: int) -> dict[str, list[int]]:
    """Token ids of prompt + answer + eos, with labels -100 on the prompt (answer-only loss).

    The rendered prompt already carries the template's special tokens, so it is tokenized
    without adding more (inference does exactly the same). A prompt too long for
    ``max_length`` loses its *beginning*, so the answer and the question next to it survive.
    """
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    keep = max(max_length - len(a_ids), 1)
    p_ids = p_ids[-keep:]
    ids = p_ids + a_ids
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(p_ids) + a_ids}


@dataclass
class AnswerOnlyCollator:
    """Right-pads a batch; padding gets label -100 so only answer tokens carry loss."""

    pad_token_id: int
    pad_to_multiple_of: int | None = 8
    max_length: int | None = None  # rounding up never pads past this (the model's position limit)

    def __call__(self, features: list[dict]) -> dict:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        width = longest
        if self.pad_to_multiple_of:
            width = math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of
            if self.max_length:
                width = min(width, max(longest, self.max_length))
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            extra = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * extra)
            batch["attention_mask"].append(list(f["attention_mask"]) + [0] * extra)
            batch["labels"].append(list(f["labels"]) + [-100] * extra)
        return {k: torch.tensor(v) for k, v in batch.items()}


def task_of(record) -> str:
    """``cci``, ``dcs`` or ``sc`` from the record's type."""
    from .data import CCIRecord, DCSRecord, SCRecord

    for cls, task in ((CCIRecord, "cci"), (DCSRecord, "dcs"), (SCRecord, "sc")):
        if isinstance(record, cls):
            return task
    raise TypeError(f"no LLM task for {type(record).__name__}")


def prompt_and_answer(record, tokenizer, style: str = "base") -> tuple[str, str | None]:
    """The rendered prompt (with the generation prompt) and the target text of any task's record."""
    from . import prompts

    task = task_of(record)
    if task == "cci":
        msgs, answer = prompts.cci_messages(record, style), (prompts.cci_answer(record) if record.output else None)
    else:
        msgs, answer = (prompts.dcs_messages(record) if task == "dcs" else prompts.sc_messages(record)), record.output
    return prompts.render(tokenizer, msgs), answer


def pad_multiple(engine: str) -> int:
    """Padding granularity of training batches: 64 on the unsloth engine, whose compiled
    decoder blocks recompile for every new sequence length (few lengths, few compiles), 8 elsewhere."""
    return 64 if engine == "unsloth" else 8


def sft_examples(records: Sequence, tokenizer, cfg: LLMConfig) -> list[dict]:
    """Prompt/answer pairs of ``records`` (any mix of tasks) encoded for answer-only training."""
    out = []
    for rec in records:
        prompt, answer = prompt_and_answer(rec, tokenizer, cfg.prompt_style)
        if answer is None:
            raise ValueError(f"{rec.id}: 정답이 없는 레코드로는 학습할 수 없습니다 / cannot train on a record without an answer")
        out.append(encode_example(tokenizer, prompt, answer, cfg.max_length))
    return out


# ----------------------------------------------------------------------------- token budget


class TokenBudgetSampler:
    """Batches of example indices grouped by length under a padded-token budget; the order of
    the batches is shuffled every epoch (seeded), their content stays length-grouped."""

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int = 42, max_batch: int | None = None):
        from .inference import token_budget_batches

        self.batches = token_budget_batches(lengths, max_tokens, max_batch)
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        import random

        order = list(range(len(self.batches)))
        random.Random(self.seed + self.epoch).shuffle(order)
        self.epoch += 1
        return iter([self.batches[i] for i in order])


def auto_token_budget(cfg: LLMConfig, engine: str, gpu_gib: float | None = None, max_sequences: int = 16) -> int:
    """The largest padded-token micro-batch the memory estimate says fits in 85 % of the GPU,
    at most ``max_sequences`` full-length sequences (throughput stops growing around 16 on an
    H100 for an 8B model, and larger micro-batches only cost memory)."""
    import torch

    from .memory import estimate_memory

    if gpu_gib is None:
        if not torch.cuda.is_available():
            return 4096
        gpu_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    dropout, targets = cfg.lora_settings(engine)
    kw = dict(lora_r=cfg.lora_r, lora_on_lm_head="lm_head" in targets, gradient_checkpointing=cfg.gradient_checkpointing,
              chunked_loss=engine == "unsloth", offload_checkpoints=engine == "unsloth" and cfg.gradient_checkpointing)
    batch = 1
    while batch < max_sequences and estimate_memory(cfg.model_name, cfg.method, cfg.max_length, batch * 2, **kw)["total_gib"] <= 0.85 * gpu_gib:
        batch *= 2
    return batch * cfg.max_length


def _budget_trainer_class():
    from transformers import Trainer

    class TokenBudgetTrainer(Trainer):
        """A Trainer whose training batches come from a :class:`TokenBudgetSampler`."""

        budget_sampler: TokenBudgetSampler | None = None

        def get_train_dataloader(self):
            from torch.utils.data import DataLoader

            dl = DataLoader(self.train_dataset, batch_sampler=self.budget_sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(dl)

    return TokenBudgetTrainer


# ----------------------------------------------------------------------------- training


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder under ``output_dir`` (None when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    path = Path(output_dir)
    return get_last_checkpoint(str(path)) if path.is_dir() else None


def training_arguments(cfg: LLMConfig, **overrides):
    """``TrainingArguments`` from the config (precision from the hardware)."""
    from transformers import TrainingArguments

    from .runtime import trainer_precision

    args = dict(
        output_dir=cfg.output_dir,
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        num_train_epochs=cfg.epochs,
        seed=cfg.seed,
        **trainer_precision(),
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )
    args.update(overrides)
    return TrainingArguments(**args)


def train(cfg: LLMConfig, records: Sequence, *, resume: bool = True, model=None, tokenizer=None,
          callbacks: Sequence = (), **arg_overrides):
    """Fine-tune on ``records`` of any task (answer-only loss); save the adapter with its tokenizer and config.

    Checkpoints go to ``cfg.output_dir`` every ``cfg.save_steps`` optimizer steps; with
    ``resume`` a run restarts from the newest one (after a Colab disconnect, say). Returns
    the trained model and its tokenizer.
    """
    from transformers import Trainer

    from .runtime import seed_everything

    seed_everything(cfg.seed)
    if model is None:
        model, tokenizer = load_model(cfg)
        model = add_adapters(model, cfg)
    examples = sft_examples(records, tokenizer, cfg)
    sampler = None
    if cfg.max_tokens_per_batch is not None:
        budget = cfg.max_tokens_per_batch
        if budget == "auto":
            budget = auto_token_budget(cfg, getattr(model, "_kit_engine", "hf"))
        sampler = TokenBudgetSampler([len(e["input_ids"]) for e in examples], int(budget), cfg.seed)
        mean_batch = len(examples) / len(sampler)
        accum = max(1, round(cfg.per_device_batch_size * cfg.gradient_accumulation_steps / mean_batch))
        arg_overrides.setdefault("gradient_accumulation_steps", accum)
        print(f"token budget {budget}: {len(sampler)} micro-batches of {mean_batch:.1f} sequences on average, "
              f"gradient accumulation {arg_overrides['gradient_accumulation_steps']}")
    trainer_cls = _budget_trainer_class() if sampler else Trainer
    trainer = trainer_cls(
        model=model, args=training_arguments(cfg, **arg_overrides), train_dataset=examples,
        data_collator=AnswerOnlyCollator(tokenizer.pad_token_id, pad_multiple(getattr(model, "_kit_engine", "hf")),
                                         cfg.max_length),
        callbacks=list(callbacks),
    )
    if sampler:
        trainer.budget_sampler = sampler
    checkpoint = last_checkpoint(cfg.output_dir) if resume else None
    if checkpoint:
        print(f"이어서 학습합니다 / resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)
    if trainer.is_world_process_zero():
        save_adapter(trainer.model, tokenizer, cfg, Path(cfg.output_dir) / "final")
    model.trainer_log = trainer.state.log_history
    return trainer.model, tokenizer


def save_adapter(model, tokenizer, cfg: LLMConfig, path: str | Path) -> Path:
    """Adapter (or full model) weights + tokenizer + ``kit_llm_config.json`` in one folder."""
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "kit_llm_config.json").write_text(cfg.to_json(), encoding="utf-8")
    return path


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Merge a LoRA adapter into its base model (loaded in bf16/fp16, not 4-bit) and save it."""
    from peft import AutoPeftModelForCausalLM

    cfg = LLMConfig.from_json((Path(adapter_dir) / "kit_llm_config.json").read_text(encoding="utf-8"))
    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), dtype=compute_dtype(),
                                                     trust_remote_code=cfg.trust_remote_code)
    merged = model.merge_and_unload()
    tok = load_tokenizer(replace(cfg, model_name=str(adapter_dir)))
    merged.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (Path(out_dir) / "kit_llm_config.json").write_text(replace(cfg, method="full", model_name=str(out_dir)).to_json(),
                                                       encoding="utf-8")
    return Path(out_dir)


def load_for_inference(model_dir: str | Path, method: str | None = None, cfg: LLMConfig | None = None,
                       merge: bool | None = None):
    """A saved adapter folder or a full model folder, in eval mode.

    ``merge=None`` (auto): on a GPU where the 16-bit model fits (memory estimate, 85 % of the
    card), the base is loaded in bf16/fp16 and the adapter merged into it — faster scoring
    and generation than 4-bit + LoRA; otherwise (and on a CPU) the base is loaded as in
    training. The folder's ``kit_llm_config.json`` says how; pass ``cfg`` for a folder
    without one (a Trainer checkpoint).
    """
    import torch
    from peft import PeftModel

    model_dir = Path(model_dir)
    cfg_file = model_dir / "kit_llm_config.json"
    if cfg is None:
        cfg = (LLMConfig.from_json(cfg_file.read_text(encoding="utf-8")) if cfg_file.is_file()
               else LLMConfig(model_name=str(model_dir), method="full"))
    if method:
        cfg = replace(cfg, method=method)
    adapter = (model_dir / "adapter_config.json").is_file()
    if merge is None:
        merge = adapter and torch.cuda.is_available() and _fits_16bit(cfg)
    if adapter:
        base_cfg = replace(cfg, method="lora", engine="hf") if merge else replace(cfg, engine="hf")
        base, _ = load_model(base_cfg)
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge:
            model = model.merge_and_unload()
    else:
        model, _ = load_model(replace(cfg, model_name=str(model_dir), engine="hf"))
    tok_dir = model_dir if (model_dir / "tokenizer_config.json").is_file() else cfg.model_name
    tok = load_tokenizer(replace(cfg, model_name=str(tok_dir)))
    model.eval()
    return model, tok


def _fits_16bit(cfg: LLMConfig) -> bool:
    import torch

    from .memory import estimate_memory

    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    need = estimate_memory(cfg.model_name, "inference-16bit", cfg.max_length, 8)["total_gib"]
    return need <= 0.85 * total


# ----------------------------------------------------------------------------- lessons


def lesson_cci_records(smoke: bool, seed: int = 42) -> tuple[list, list]:
    """``(train, dev)`` 대화 맥락 추론 records for the LLM lessons: the learnable synthetic set in
    smoke mode, the refined train/dev files otherwise (rebuilt from the data if missing)."""
    from . import data
    from .refine import refined_file
    from .synthetic import synthetic_cci

    if smoke:
        return synthetic_cci(320, seed=seed), synthetic_cci(60, seed=seed + 1, split="dev")
    return data.load_cci(refined_file("cci", "train")), data.load_cci(refined_file("cci", "dev"))


def ensure_trained(cfg: LLMConfig, records: Sequence) -> Path:
    """The adapter folder ``<output_dir>/final``, training it first when it is not there
    (so a lesson that needs a trained model also runs on its own in a fresh runtime)."""
    final = Path(cfg.output_dir) / "final"
    if not (final / "adapter_config.json").is_file() and not (final / "config.json").is_file():
        print(f"{final}가 없어 먼저 학습합니다 / no trained model at {final}: training it first")
        train(cfg, records)
    return final


# ----------------------------------------------------------------------------- script


def main(argv=None) -> int:
    from . import data

    parser = argparse.ArgumentParser(prog="python -m helpers.llm", description="LLM fine-tuning (answer-only loss)")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="fine-tune on a task file; runs under accelerate launch / torchrun too")
    tr.add_argument("--task", choices=["cci", "dcs", "sc"], default="cci")
    tr.add_argument("--train", help="training file (default: the task's train data or sample)")
    tr.add_argument("--smoke", action="store_true", help="the tiny local model (default when no GPU)")
    tr.add_argument("--synthetic", type=int, default=0, help="train on N synthetic multiple-choice records instead")
    tr.add_argument("--max-steps", type=int, default=-1)
    for f in fields(LLMConfig):
        if f.name == "target_modules":
            continue
        kind = str(f.type)
        typ = float if "float" in kind else int if kind.startswith("int") and "str" not in kind else str
        tr.add_argument(f"--{f.name.replace('_', '-')}", type=typ, default=None)
    mg = sub.add_parser("merge", help="merge a LoRA adapter into its base model")
    mg.add_argument("adapter_dir")
    mg.add_argument("out_dir")
    args = parser.parse_args(argv)

    if args.command == "merge":
        print(merge_adapter(args.adapter_dir, args.out_dir))
        return 0
    import torch

    overrides = {f.name: getattr(args, f.name) for f in fields(LLMConfig) if getattr(args, f.name, None) is not None}
    for key in ("gradient_checkpointing", "trust_remote_code"):
        if key in overrides:
            overrides[key] = str(overrides[key]).lower() in ("1", "true", "yes")
    if str(overrides.get("max_tokens_per_batch", "")).isdigit():
        overrides["max_tokens_per_batch"] = int(overrides["max_tokens_per_batch"])
    smoke = args.smoke or not torch.cuda.is_available()
    cfg = LLMConfig.smoke(**overrides) if smoke else LLMConfig(**overrides)
    if args.synthetic:
        from .synthetic import synthetic_cci

        records = synthetic_cci(args.synthetic, seed=cfg.seed)
    else:
        path = args.train or data.data_file(args.task, "train")
        records = data.load(args.task, path)
    extra = {"max_steps": args.max_steps} if args.max_steps > 0 else {}
    train(cfg, records, **extra)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    print(f"rank {rank}/{world} done", flush=True)
    if rank == 0:
        print(f"saved -> {Path(cfg.output_dir) / 'final'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
