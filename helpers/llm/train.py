"""Answer-only fine-tuning of causal LMs on any task's records, with checkpoints and resume.

The loss is on the answer tokens only (prompt labels are -100). Training goes through
transformers' ``Trainer`` — trl's ``SFTTrainer`` needs Triton and cannot train on a CPU-only
torch, and smoke mode must run the same code as a GPU.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from .. import tasks
from ..core.chat import render
from ..core.messages import KitError, msg
from .config import LLMConfig
from .engines import get_engine, gpu_room_gib

__all__ = ["TrainResult", "held_gpu_notice", "load_model", "add_adapters", "load_tokenizer", "encode_example", "prompt_and_answer",
           "sft_examples", "auto_token_budget", "last_checkpoint", "training_arguments", "train", "save_adapter",
           "merge_adapter", "load_for_inference", "CONFIG_FILE"]

CONFIG_FILE = "kit_llm_config.json"


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and tokenizer, where the adapter was saved,
    the Trainer's log history, and timings."""

    model: Any
    tokenizer: Any
    adapter_dir: Path
    log_history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "hf"
    examples: int = 0

    @property
    def losses(self) -> list[tuple[int, float]]:
        """``(step, loss)`` of every logged training step."""
        return [(r["step"], r["loss"]) for r in self.log_history if "loss" in r]


def held_gpu_notice(cfg: LLMConfig, training: bool = False) -> str | None:
    """The notice printed before loading ``cfg``'s model when the GPU already holds so much that
    the model may not fit beside it in 85 % of the card (``KIT_GPU_GIB`` counts; and no more than
    the device reports free): most often a model the notebook has not let go of. The model counts
    as the memory estimate has it: with a batch of eight at ``max_length`` for inference (as
    :func:`load_for_inference` decides on merging), or one training sequence with ``training``.
    None when it fits, when it would not fit even alone (the choice's matter), when under 0.5 GiB
    is held, without a GPU, or when the model's shape cannot be read. Lesson 07 capped to a T4's
    15 GiB ran out of memory scoring with its DPO adapter loaded while the GRPO model was most
    likely still held; the traceback said how much was allocated, not by what. In stop 29's run it
    spoke twice there, rightly: :func:`helpers.lessons.ensure_trained` had not let go of the model
    it had just trained."""
    room = gpu_room_gib()
    if room is None:
        return None
    import torch

    from ..core.hardware import gpu_info

    held = torch.cuda.memory_allocated() / 2**30
    card = gpu_info()[1]
    try:
        need = _estimated_gib(cfg, training)
    except Exception:   # a shape the estimator cannot read (a nested config…): the notice is advice, never a stop
        return None
    if held < 0.5 or need <= room or need > 0.85 * card:
        return None
    return msg(f"알림: GPU에 이미 {held:.1f} GiB가 할당되어 있어, 이 모델(약 {need:.1f} GiB)을 올리면 {card:.0f} GiB "
               "카드의 85 %를 넘을 수 있습니다. 앞서 불러온 모델이 남아 있다면 그 변수들을 `del`로 지우고 "
               "`runtime.free_memory()`를 부른 뒤 불러오세요",
               f"notice: the GPU already holds {held:.1f} GiB, so this model (about {need:.1f} GiB) may not fit "
               f"in 85 % of the {card:.0f} GiB card. If an earlier model is still loaded, `del` the variables "
               "that hold it and call `runtime.free_memory()` before loading")


def _estimated_gib(cfg: LLMConfig, training: bool = False) -> float:
    """The memory estimate of ``cfg``'s model: one training sequence of ``max_length`` with
    ``training``, else inference (4-bit for qlora, 16-bit otherwise) with a batch of eight."""
    from ..memory import estimate_memory
    from .choice import shape_for

    if training:
        mode, batch = cfg.method, 1
    else:
        mode, batch = ("inference-4bit" if cfg.method == "qlora" else "inference-16bit"), 8
    return estimate_memory(shape_for(cfg.model_name), mode, cfg.max_length, batch, lora_r=cfg.lora_r)["total_gib"]


def say_if_gpu_is_held(cfg: LLMConfig, training: bool = False) -> None:
    """Print :func:`held_gpu_notice` if there is one. The two ways the kit loads a model call
    this first: :func:`load_model` (training; ``train`` and ``preference.load_policy`` load
    through it) and :func:`load_for_inference`."""
    notice = held_gpu_notice(cfg, training)
    if notice:
        print(notice, flush=True)


def load_model(cfg: LLMConfig):
    """``(model, tokenizer)`` for ``cfg.method`` through the engine ``cfg.engine`` resolves to:
    4-bit nf4 with double quantisation (qlora) or the hardware's precision (lora, full).
    QLoRA/LoRA models get their adapters from :func:`add_adapters`."""
    if cfg.method not in ("qlora", "lora", "full"):
        raise KitError(msg(f"알 수 없는 학습 방식 '{cfg.method}' (qlora, lora, full 중 하나)",
                           f"method must be qlora, lora or full, not '{cfg.method}'"))
    say_if_gpu_is_held(cfg, training=True)
    return get_engine(cfg.engine).load(cfg)


def add_adapters(model, cfg: LLMConfig):
    """LoRA adapters (peft, or unsloth's fused LoRA) for qlora/lora; gradient checkpointing where
    asked (``"auto"``: :func:`use_checkpointing`)."""
    engine = get_engine(cfg.engine)
    return engine.add_adapters(model, with_checkpointing(cfg, engine.name))


def load_tokenizer(cfg: LLMConfig, name: str | None = None):
    """The tokenizer of ``name`` (default the model) with a pad token."""
    return get_engine(cfg.engine, load=False).load_tokenizer(name or cfg.model_name, cfg)


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


def prompt_and_answer(record, tokenizer, style: str = "base") -> tuple[str, str | None]:
    """The rendered prompt (with the generation prompt) and the target of any task's record."""
    task = tasks.task_of(record)
    style = style if style in task.prompt_styles else "base"
    return render(tokenizer, task.messages(record, style)), task.target(record)


def sft_examples(records: Sequence, tokenizer, cfg: LLMConfig) -> list[dict]:
    """Prompt/answer pairs of ``records`` (any mix of tasks) encoded for answer-only training."""
    out = []
    for rec in records:
        prompt, answer = prompt_and_answer(rec, tokenizer, cfg.prompt_style)
        if answer is None:
            raise KitError(msg(f"{rec.id}: 정답이 없는 레코드로는 학습할 수 없습니다",
                               f"{rec.id}: cannot train on a record without an answer"))
        out.append(encode_example(tokenizer, prompt, answer, cfg.max_length))
    return out


# ----------------------------------------------------------------------------- token budget


def _gpu_gib(gpu_gib: float | None) -> float | None:
    """``gpu_gib``, else the detected GPU's memory (``KIT_GPU_GIB`` honoured); None on a CPU."""
    if gpu_gib is not None:
        return gpu_gib
    from ..core.hardware import gpu_info

    info = gpu_info()
    return None if info is None else info[1]


def _fits(cfg: LLMConfig, engine: str, gpu_gib: float, checkpointing: bool, sequences: int) -> bool:
    """Whether the memory estimate of ``sequences`` full-length sequences per micro-batch fits
    in 85 % of ``gpu_gib``."""
    from ..memory import estimate_memory
    from .choice import shape_for

    _, targets = cfg.lora_settings(engine)
    need = estimate_memory(shape_for(cfg.model_name), cfg.method, cfg.max_length, sequences, lora_r=cfg.lora_r,
                           lora_on_lm_head="lm_head" in targets, gradient_checkpointing=checkpointing,
                           chunked_loss=engine == "unsloth",
                           offload_checkpoints=engine == "unsloth" and checkpointing,
                           fused_kernels=engine == "unsloth")["total_gib"]
    return need <= 0.85 * gpu_gib


def _budget_sequences(cfg: LLMConfig, engine: str, gpu_gib: float, checkpointing: bool, max_sequences: int) -> int:
    """Full-length sequences per micro-batch (a power of two, at most ``max_sequences``, at least
    one) whose memory estimate fits in 85 % of ``gpu_gib``."""
    batch = 1
    while batch < max_sequences and _fits(cfg, engine, gpu_gib, checkpointing, batch * 2):
        batch *= 2
    return batch


#: The smallest micro-batch (padded tokens) measured to train faster without checkpointing than
#: the whole checkpointed budget (16,384 tokens) does, on an H200 capped to the card's memory:
#: Solar 11B LoRA at 80 GiB +43 %, 8B QLoRA at 40 GiB +31 % (``bench/results/SUMMARY.md``, stop 25).
MIN_TOKENS_WITHOUT_CHECKPOINTING = 4096


def use_checkpointing(cfg: LLMConfig, engine: str, gpu_gib: float | None = None, max_sequences: int = 16) -> bool:
    """Whether training recomputes activations: ``cfg.gradient_checkpointing`` when it is a
    bool; for ``"auto"``, off on a CPU, and off where the memory estimate (85 % of the card)
    says that without it a micro-batch of at least 4,096 tokens of full-length sequences fits
    (:data:`MIN_TOKENS_WITHOUT_CHECKPOINTING`; the whole micro-batch where checkpointing allows
    fewer sequences, or where ``max_tokens_per_batch`` is a number); on otherwise.

    Without checkpointing the backward pass does not run the forward a second time; the memory
    it needs grows with the micro-batch instead, so the token budget is then the largest that
    fits without it (:func:`auto_token_budget`). Measured on an H200 capped to the card's memory
    (``bench/train_entry.py``, ``bench/results/SUMMARY.md``): Solar 11B LoRA at 80 GiB, 4,096
    tokens without checkpointing 10,564 tokens/s against 7,367 with it at 16,384 (+43 %, 45 GiB);
    8B QLoRA at 40 GiB, 14,301 against 10,924 (+31 %, 22 GiB); 8B QLoRA at 80 GiB, 8,192 tokens
    +44 %. Smaller micro-batches are not measured.

    >>> cfg = LLMConfig(model_name="MLP-KTLim/llama-3-Korean-Bllossom-8B")
    >>> [use_checkpointing(cfg, "unsloth", gib) for gib in (15, 24, 40, 80, 141)]  # T4, 24 GB, A100 40, H100, H200
    [True, True, False, False, False]
    >>> solar = LLMConfig(model_name="beomi/Solar-Ko-Recovery-11B", method="lora")  # the 40 and 80 GB default
    >>> [use_checkpointing(solar, "unsloth", gib) for gib in (40, 80)]
    [True, False]
    >>> use_checkpointing(solar, "hf", 80)  # without fused kernels it peaked at 71.5 of 80 GiB (stop 26)
    True
    >>> use_checkpointing(replace(cfg, max_tokens_per_batch=16384), "unsloth", 80)  # the whole budget must fit
    True
    >>> use_checkpointing(replace(cfg, gradient_checkpointing=True), "unsloth", 141)
    True
    """
    if isinstance(cfg.gradient_checkpointing, bool):
        return cfg.gradient_checkpointing
    gpu_gib = _gpu_gib(gpu_gib)
    if gpu_gib is None:
        return False
    budget = cfg.max_tokens_per_batch
    if budget == "auto":
        wanted = _budget_sequences(cfg, engine, gpu_gib, True, max_sequences)
        floor = max(1, math.ceil(MIN_TOKENS_WITHOUT_CHECKPOINTING / cfg.max_length))
        return not _fits(cfg, engine, gpu_gib, False, min(wanted, floor))
    wanted = max(1, math.ceil(budget / cfg.max_length)) if budget else cfg.per_device_batch_size
    return not _fits(cfg, engine, gpu_gib, False, wanted)


def with_checkpointing(cfg: LLMConfig, engine: str) -> LLMConfig:
    """``cfg`` with ``gradient_checkpointing`` decided (:func:`use_checkpointing`): what the
    engines are given, so the decision is made here only."""
    return replace(cfg, gradient_checkpointing=use_checkpointing(cfg, engine))


def auto_token_budget(cfg: LLMConfig, engine: str, gpu_gib: float | None = None, max_sequences: int = 16) -> int:
    """The largest padded-token micro-batch the memory estimate says fits in 85 % of the GPU,
    at most ``max_sequences`` full-length sequences (throughput stops growing around 16 on an
    H100 for an 8B model, and larger micro-batches only cost memory); 4096 on a CPU."""
    gpu_gib = _gpu_gib(gpu_gib)
    if gpu_gib is None:
        return 4096
    checkpointing = use_checkpointing(cfg, engine, gpu_gib, max_sequences)
    return _budget_sequences(cfg, engine, gpu_gib, checkpointing, max_sequences) * cfg.max_length


def _timed_checkpoints(minutes: float):
    """A Trainer callback that asks for a checkpoint once ``minutes`` have passed since the last
    one (or the start): on a small set ``save_steps`` may never come before the end, and a Colab
    runtime can disconnect any time."""
    from transformers import TrainerCallback

    class TimedCheckpoints(TrainerCallback):
        def __init__(self):
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() - self.last >= minutes * 60:
                control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):
            self.last = time.monotonic()
            return control

    return TimedCheckpoints()


#: Architectures whose logits are the LM head's output as is (no soft-capping or scaling), so
#: the loss may apply the head at the answer positions only.
PLAIN_HEAD_MODELS = ("llama", "mistral", "qwen2", "qwen3", "exaone4")


def answer_only_head_supported(model) -> bool:
    """Whether :func:`answer_only_loss` computes exactly the model's own loss for ``model``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return (getattr(config, "model_type", None) in PLAIN_HEAD_MODELS and hasattr(base, "get_decoder")
            and not any(getattr(config, k, None) for k in ("final_logit_softcapping", "logit_scale", "logits_scaling")))


def answer_only_loss(model, inputs: dict):
    """The summed cross-entropy of the answer tokens, with the LM head applied at the positions
    that predict them only.

    Under answer-only loss all but a few labels are -100, yet a causal LM's forward multiplies
    every position's hidden state by the vocabulary matrix (or, in unsloth, runs its fused loss
    over every position): for a 450-token 대화 맥락 추론 prompt with a one-token answer that
    is 450 head products where one is needed. This runs the decoder, picks the hidden states
    whose next label is kept, and applies the head to those only. The sum equals the model's own
    loss times the number of answer tokens (``tests/test_llm.py`` checks the loss and the LoRA
    gradients against the model's).
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder, head = base.get_decoder(), base.get_output_embeddings()
    decoder._has_no_labels = False  # unsloth's decoder reads this (set by its own causal-LM forward)
    hidden = decoder(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                     use_cache=False).last_hidden_state
    targets = inputs["labels"][:, 1:].to(hidden.device)
    rows, cols = (targets != -100).nonzero(as_tuple=True)
    logits = head(hidden[rows, cols]).float()
    return torch.nn.functional.cross_entropy(logits, targets[rows, cols], reduction="sum")


def _kit_trainer_class():
    from transformers import Trainer

    class KitTrainer(Trainer):
        """transformers' Trainer with two changes: training batches may come from a
        :class:`~helpers.batching.TokenBudgetSampler`, and LoRA checkpoints hold the adapter
        only. peft otherwise also saves a full copy of ``lm_head`` whenever it carries an
        adapter (the seed's setting) — about 1 GB per checkpoint for a 128k-vocabulary 8B
        model — though the base weights never change."""

        budget_sampler = None
        answer_only_head = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not (self.answer_only_head and not return_outputs and self.accelerator.num_processes == 1
                    and self.args.n_gpu <= 1 and self.label_smoother is None and self.compute_loss_func is None):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            with self.accelerator.autocast():  # mixed precision as the model's own forward gets it
                loss = answer_only_loss(model, inputs)
            if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
                return loss / num_items_in_batch  # the Trainer's own normalisation under accumulation
            return loss / (inputs["labels"][:, 1:] != -100).sum().clamp(min=1)

        def get_train_dataloader(self):
            if self.budget_sampler is None:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            dl = DataLoader(self.train_dataset, batch_sampler=self.budget_sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(dl)

        def _save(self, output_dir=None, state_dict=None):
            model = self.model
            if not hasattr(model, "peft_config"):
                return super()._save(output_dir, state_dict)
            import functools

            model.save_pretrained = functools.partial(type(model).save_pretrained, model, save_embedding_layers=False)
            try:
                return super()._save(output_dir, state_dict)
            finally:
                del model.save_pretrained

    return KitTrainer


# ----------------------------------------------------------------------------- training


RUN_FILE = "kit_run.json"
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin")


def _complete(checkpoint: Path) -> bool:
    """A checkpoint the Trainer can resume from: its state, optimizer and weights are all there."""
    return ((checkpoint / "trainer_state.json").is_file() and (checkpoint / "optimizer.pt").is_file()
            and any((checkpoint / name).is_file() for name in _WEIGHTS))


def _batching_plan(cfg: LLMConfig, examples: list[dict], engine, has_max_steps: bool, auto_off: bool = False):
    """``(sampler or None, TrainingArguments overrides)``: micro-batches, gradient accumulation,
    and — when the data would give fewer than ``cfg.min_optimizer_steps`` optimizer steps (the
    shipped samples on a GPU, say) — a smaller effective batch, warm-up and logging interval that
    fit, said out loud. A run that cannot learn or logs nothing is never silent."""
    import math

    from ..batching import TokenBudgetSampler

    n, epochs = len(examples), max(cfg.epochs, 1e-9)
    effective = cfg.per_device_batch_size * cfg.gradient_accumulation_steps
    if cfg.min_optimizer_steps and not has_max_steps and math.ceil(n / effective) * epochs < cfg.min_optimizer_steps:
        smaller = max(1, int(n * epochs // cfg.min_optimizer_steps))
        if smaller < effective:
            print(msg(f"알림: 학습 데이터가 {n}개뿐이라 유효 배치를 {effective}에서 {smaller}로 줄여 최적화 단계를 "
                      f"{cfg.min_optimizer_steps}번 이상 밟게 합니다. 샘플로 보여 주는 시연일 뿐이니, 실제 데이터는 "
                      "data/README.md를 보고 받으세요",
                      f"notice: only {n} training records, so the effective batch shrinks from {effective} to "
                      f"{smaller} for at least {cfg.min_optimizer_steps} optimizer steps. This is a demonstration on "
                      "the samples; data/README.md says where the real data comes from"))
            effective = smaller
    plan: dict = {}
    if cfg.max_tokens_per_batch is not None:
        budget = cfg.max_tokens_per_batch
        if budget == "auto":
            budget = auto_token_budget(cfg, engine.name)
        sampler = TokenBudgetSampler([len(e["input_ids"]) for e in examples], int(budget), cfg.seed,
                                     max_batch=effective, pad_multiple=engine.pad_multiple)
        accum = max(1, round(effective / sampler.mean_batch))
        micro_batches = len(sampler)
        plan.update(gradient_accumulation_steps=accum)
        print(msg(f"토큰 예산 {budget}: 마이크로배치 {len(sampler)}개 (평균 {sampler.mean_batch:.1f}문장), "
                  f"그래디언트 누적 {accum}" + (" (활성값이 메모리에 들어가 gradient checkpointing 끔)" if auto_off else ""),
                  f"token budget {budget}: {len(sampler)} micro-batches of {sampler.mean_batch:.1f} sequences on "
                  f"average, gradient accumulation {accum}"
                  + (" (gradient checkpointing off: the activations fit)" if auto_off else "")))
    else:
        sampler = None
        per_device = min(cfg.per_device_batch_size, effective)
        accum = max(1, effective // per_device)
        micro_batches = math.ceil(n / per_device)
        plan.update(per_device_train_batch_size=per_device, gradient_accumulation_steps=accum)
    steps = max(1, math.ceil(micro_batches / accum) * epochs)
    plan["warmup_steps"] = min(cfg.warmup_steps, max(1, int(steps // 10)))
    plan["logging_steps"] = min(cfg.logging_steps, max(1, int(steps // 10)))
    return sampler, plan


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest *complete* ``checkpoint-N`` folder under ``output_dir`` (None when there is
    none); a torn one (a kill while saving) is skipped, saying so."""
    path = Path(output_dir)
    if not path.is_dir():
        return None
    found = [p for p in path.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()]
    for ckpt in sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True):
        if _complete(ckpt):
            return str(ckpt)
        print(msg(f"알림: {ckpt}는 저장이 끝나지 않은 체크포인트라 건너뜁니다", f"notice: skipping the incomplete {ckpt}"),
              file=sys.stderr)
    return None


def run_fingerprint(cfg: LLMConfig, records: Sequence, engine: str) -> dict:
    """What must not change when a run resumes: model, method, adapter settings, data."""
    from ..tasks.base import records_hash

    dropout, targets = cfg.lora_settings(engine)
    return {"model_name": cfg.model_name, "method": cfg.method, "lora_r": cfg.lora_r, "lora_alpha": cfg.lora_alpha,
            "lora_dropout": dropout, "target_modules": sorted(targets), "max_length": cfg.max_length,
            "prompt_style": cfg.prompt_style, "records": records_hash(records), "examples": len(records)}


def _check_resume(output_dir: Path, fingerprint: dict, force: bool) -> None:
    run_file = output_dir / RUN_FILE
    if not run_file.is_file():
        return
    try:
        before = json.loads(run_file.read_text(encoding="utf-8"))
    except ValueError:
        before = {}
    changed = sorted(k for k in fingerprint if before.get(k) != fingerprint[k])
    if changed and not force:
        raise KitError(msg(f"{output_dir}의 체크포인트는 다른 설정·데이터로 학습했습니다 (바뀐 것: {', '.join(changed)}). "
                           "새 output_dir을 쓰거나, 그래도 이어서 학습하려면 force_resume=True (--force-resume)",
                           f"the checkpoints in {output_dir} were trained with other settings or data (changed: "
                           f"{', '.join(changed)}); use a new output_dir, or force_resume=True (--force-resume) "
                           "to continue anyway"))
    if changed:
        print(msg(f"주의: 바뀐 설정({', '.join(changed)})으로 이어서 학습합니다", f"warning: resuming with changed "
                  f"{', '.join(changed)}"), file=sys.stderr)


def training_arguments(cfg: LLMConfig, **overrides):
    """``TrainingArguments`` from the config (precision from :mod:`helpers.core.hardware`)."""
    from transformers import TrainingArguments

    from ..core.hardware import trainer_precision

    args = dict(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        num_train_epochs=cfg.epochs, seed=cfg.seed, **trainer_precision(), logging_steps=cfg.logging_steps,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, ddp_find_unused_parameters=False,
    )
    args.update(overrides)
    return TrainingArguments(**args)


def train(cfg: LLMConfig, records: Sequence, *, resume: bool = True, force_resume: bool = False, model=None,
          tokenizer=None, callbacks: Sequence = (), **arg_overrides) -> TrainResult:
    """Fine-tune on ``records`` of any task (answer-only loss); save the adapter with its
    tokenizer and config to ``<output_dir>/final``.

    Checkpoints go to ``cfg.output_dir`` every ``cfg.save_steps`` optimizer steps; with
    ``resume`` a run restarts from the newest complete one (after a Colab disconnect, say) —
    and refuses when the data or the adapter settings changed since (``force_resume`` overrides).
    """
    from ..batching import AnswerOnlyCollator
    from ..core.hardware import seed_everything

    engine = get_engine(cfg.engine)
    seed_everything(cfg.seed)
    if not records:
        raise KitError(msg("학습할 레코드가 없습니다", "no records to train on"))
    fingerprint = run_fingerprint(cfg, records, engine.name)
    checkpoint = last_checkpoint(cfg.output_dir) if resume else None
    if checkpoint:
        _check_resume(Path(cfg.output_dir), fingerprint, force_resume)
    decided = with_checkpointing(cfg, engine.name)  # once: the budget and the engine follow it
    auto_off = cfg.gradient_checkpointing == "auto" and not decided.gradient_checkpointing and _gpu_gib(None) is not None
    if model is None:
        model, tokenizer = load_model(cfg)
        model = engine.add_adapters(model, decided)
    examples = sft_examples(records, tokenizer, cfg)

    def build(run_cfg: LLMConfig):
        sampler, plan = _batching_plan(run_cfg, examples, engine, "max_steps" in arg_overrides, auto_off)
        trainer = _kit_trainer_class()(
            model=model, args=training_arguments(cfg, **{**plan, **arg_overrides}), train_dataset=examples,
            data_collator=AnswerOnlyCollator(tokenizer.pad_token_id, engine.pad_multiple, cfg.max_length),
            callbacks=list(callbacks) + ([_timed_checkpoints(cfg.save_minutes)] if cfg.save_minutes > 0 else []),
        )
        if sampler:
            trainer.budget_sampler = sampler
        trainer.answer_only_head = cfg.answer_only_head and answer_only_head_supported(model)
        return trainer, sampler

    trainer, sampler = build(decided)
    if checkpoint:
        print(msg(f"{checkpoint}에서 이어서 학습합니다", f"resuming from {checkpoint}"))
    if trainer.is_world_process_zero():
        from ..core.io import write_text

        write_text(json.dumps(fingerprint, ensure_ascii=False, indent=2) + "\n", Path(cfg.output_dir) / RUN_FILE)
    t0 = time.perf_counter()
    while True:
        try:
            trainer.train(resume_from_checkpoint=checkpoint)
            break
        except Exception as err:
            if not _out_of_memory(err):
                raise
            smaller = _smaller_budget(trainer, sampler, cfg, err)
            del trainer
            model.zero_grad(set_to_none=True)
            from ..core.hardware import free_memory

            free_memory()
            trainer, sampler = build(replace(decided, max_tokens_per_batch=smaller))
    seconds = time.perf_counter() - t0
    history = list(trainer.state.log_history)
    if not any("loss" in r for r in history):
        print(msg(f"주의: 학습 {trainer.state.global_step}걸음 동안 손실이 한 번도 기록되지 않았습니다 "
                  f"(logging_steps={trainer.args.logging_steps}). logging_steps를 줄이세요",
                  f"warning: no loss was logged in {trainer.state.global_step} steps "
                  f"(logging_steps={trainer.args.logging_steps}); lower logging_steps"))
    final = Path(cfg.output_dir) / "final"
    if trainer.is_world_process_zero():
        save_adapter(trainer.model, tokenizer, cfg, final)
    return TrainResult(trainer.model, tokenizer, final, history, seconds, engine.name, len(examples))


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is the accelerator running out of memory (torch's error, or the CUDA
    message it sometimes arrives as)."""
    try:
        import torch

        if isinstance(err, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return "out of memory" in str(err).lower() and "cuda" in str(err).lower()


def _smaller_budget(trainer, sampler, cfg: LLMConfig, err: BaseException) -> int:
    """Half the token budget of a run that ran out of memory at its first batch (the sampler puts
    the heaviest batch first, so nothing was learned yet), said out loud; otherwise a
    :class:`KitError` that says what to lower (a later batch, or no budget to halve)."""
    step = trainer.state.global_step
    if sampler is None or step > 0 or sampler.max_tokens // 2 < cfg.max_length:
        where = msg(f"{step}번째 최적화 단계 뒤", f"after {step} optimizer steps") if step else \
            msg("첫 배치에서", "at the first batch")
        raise KitError(msg(
            f"GPU 메모리가 모자랍니다 ({where}). max_tokens_per_batch(지금 {cfg.max_tokens_per_batch})나 "
            f"max_length({cfg.max_length})를 줄이거나, gradient_checkpointing을 켜고 다시 실행하세요"
            " (체크포인트가 있으면 거기서 이어서 학습합니다)",
            f"out of GPU memory ({where}). Lower max_tokens_per_batch (now {cfg.max_tokens_per_batch}) or "
            f"max_length ({cfg.max_length}), or turn gradient_checkpointing on, and run again (it resumes from a "
            "checkpoint if there is one)")) from err
    smaller = sampler.max_tokens // 2
    print(msg(f"알림: 토큰 예산 {sampler.max_tokens}으로는 GPU 메모리가 모자라 (첫 배치, 아직 학습 전) "
              f"{smaller}로 줄여 다시 시작합니다",
              f"notice: token budget {sampler.max_tokens} ran out of GPU memory at the first batch (nothing learned "
              f"yet): restarting with {smaller}"))
    return smaller


def save_adapter(model, tokenizer, cfg: LLMConfig, path: str | Path) -> Path:
    """Adapter (or full model) weights + tokenizer + ``kit_llm_config.json`` in one folder."""
    from ..core.io import write_text

    path = Path(path)
    if hasattr(model, "peft_config"):
        model.save_pretrained(path, save_embedding_layers=False)  # the adapter only (see KitTrainer)
    else:
        model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_text(cfg.to_json(), path / CONFIG_FILE)
    return path


def _config_of(model_dir: Path) -> LLMConfig:
    cfg_file = model_dir / CONFIG_FILE
    if cfg_file.is_file():
        return LLMConfig.from_json(cfg_file.read_text(encoding="utf-8"))
    return LLMConfig(model_name=str(model_dir), method="full")


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, how: str = "auto") -> Path:
    """Merge a LoRA adapter into its 16-bit base model and save the result (with the tokenizer
    and a config that loads it as a full model) in ``out_dir``, which must be new or empty.

    ``how``: ``"gpu"`` loads the base on the GPU and merges there with peft; ``"shards"``
    merges one safetensors shard at a time on the CPU (:func:`merge_lora_shards`: about two
    shards of RAM — measured 0.97 GiB for 500-MB shards, ``bench/merge_check.py`` — where peft
    loads the whole base: 16 GB for 8B in 16 bits, more than a free Colab's RAM);
    ``"cpu"`` loads the whole base on the CPU with peft; ``"auto"`` takes the GPU where the
    16-bit model fits in its *free* memory, the shards otherwise.

    The base is the 16-bit model that ``kit_llm_config.json`` names (on a GPU unsloth may have
    trained on its pre-quantized 4-bit copy); an adapter folder without that file names its
    base in peft's ``adapter_config.json``.
    """
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise KitError(msg(f"LoRA 어댑터 폴더가 아닙니다 (adapter_config.json 없음): {adapter_dir}",
                           f"not a LoRA adapter folder (no adapter_config.json): {adapter_dir}"))
    cfg = _config_of(adapter_dir)
    if not (adapter_dir / CONFIG_FILE).is_file():
        peft_conf = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        cfg = replace(cfg, model_name=peft_conf["base_model_name_or_path"], method="lora")
    inputs = [adapter_dir.resolve()] + ([Path(cfg.model_name).resolve()] if os.path.isdir(cfg.model_name) else [])
    target = out_dir.resolve()
    if any(target == p or target in p.parents for p in inputs) or (out_dir.is_dir() and any(out_dir.iterdir())):
        raise KitError(msg(f"병합 결과 폴더 {out_dir}는 비어 있지 않거나 입력을 담고 있습니다. 새 폴더를 주세요",
                           f"the merge's output folder {out_dir} is not empty or holds an input; give a new folder"))
    if how == "auto":
        how = "gpu" if _fits_16bit(cfg, free=True) else "shards"
    if how == "shards":
        merge_lora_shards(adapter_dir, cfg.model_name, out_dir, revision=cfg.revision)
    elif how in ("gpu", "cpu"):
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from ..core.hardware import free_memory, torch_dtype
        from .engines import _remote_code_kwargs

        base = AutoModelForCausalLM.from_pretrained(cfg.model_name, dtype=torch_dtype(), **_remote_code_kwargs(cfg),
                                                    **({"device_map": {"": 0}} if how == "gpu" else {}))
        PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().save_pretrained(out_dir)
        del base
        free_memory()  # give the GPU back (a server may start next in this process)
    else:
        raise ValueError(f"how must be auto, gpu, cpu or shards, not {how!r}")
    tok_source = adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else cfg.model_name
    load_tokenizer(cfg, str(tok_source)).save_pretrained(out_dir)
    from ..core.io import write_text

    write_text(replace(cfg, method="full", model_name=str(out_dir)).to_json(), out_dir / CONFIG_FILE)
    return out_dir


#: peft LoRA settings a plain ``W + scale·B·A`` per weight cannot merge.
_UNMERGEABLE = ("use_dora", "rank_pattern", "alpha_pattern", "modules_to_save", "fan_in_fan_out", "lora_bias",
                "trainable_token_indices", "target_parameters", "layer_replication")


def _lora_deltas(adapter_dir: Path) -> tuple[dict, float]:
    """``({base weight name: (A, B)}, scale)`` of a saved peft LoRA adapter; a :class:`KitError`
    for anything a plain ``W + scale·B·A`` does not merge (DoRA, per-module ranks, biases,
    embedding adapters, extra modules or tensors — saved copies of base layers included, which
    the kit never writes: ``save_adapter`` passes ``save_embedding_layers=False``)."""
    from safetensors.torch import load_file

    conf = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    weights = adapter_dir / "adapter_model.safetensors"
    tensors = load_file(str(weights)) if weights.is_file() else {}
    pattern = re.compile(r"^base_model\.model\.(.+)\.lora_([AB])\.weight$")
    unsupported = [k for k in _UNMERGEABLE if conf.get(k)] + sorted(k for k in tensors if not pattern.match(k))[:3]
    if conf.get("peft_type") != "LORA" or unsupported or not tensors:
        raise KitError(msg(f"{adapter_dir}: 조각별 병합은 평범한 LoRA 어댑터(safetensors)만 됩니다 ({unsupported}). "
                           "how='cpu'나 'gpu'를 쓰세요",
                           f"{adapter_dir}: shard-by-shard merging handles plain LoRA adapters in safetensors only "
                           f"({unsupported or conf.get('peft_type')}); use how='cpu' or 'gpu'"))
    r = conf["r"]
    scale = conf["lora_alpha"] / (math.sqrt(r) if conf.get("use_rslora") else r)
    pairs: dict[str, dict] = {}
    for key, tensor in tensors.items():
        module, part = pattern.match(key).groups()  # type: ignore[union-attr]
        pairs.setdefault(f"{module}.weight", {})[part] = tensor
    incomplete = sorted(k for k, v in pairs.items() if set(v) != {"A", "B"})
    if incomplete:
        raise KitError(msg(f"{adapter_dir}: LoRA 행렬 한 쪽이 없습니다: {incomplete[:3]}",
                           f"{adapter_dir}: LoRA matrices without their pair: {incomplete[:3]}"))
    return {k: (v["A"], v["B"]) for k, v in pairs.items()}, scale


def _merge_shard(src: Path, dst: Path, deltas: dict, scale: float) -> set[str]:
    """Write ``src`` with the LoRA deltas added to ``dst``; the names merged. A function of its
    own so that the shard's tensors are freed when it returns (memory: one shard at a time)."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(src))
    merged = sorted(set(tensors) & set(deltas))
    for name in merged:
        a, b = deltas[name]
        tensors[name] = (tensors[name].float() + scale * (b.float() @ a.float())).to(tensors[name].dtype)
    save_file(tensors, str(dst), metadata={"format": "pt"})
    return set(merged)


def merge_lora_shards(adapter_dir: str | Path, base: str, out_dir: str | Path, revision: str | None = None) -> Path:
    """Merge a LoRA adapter into a 16-bit safetensors checkpoint one shard at a time:
    ``W + scale·B·A`` (computed in fp32, stored in the shard's dtype), every other tensor, file
    and the shard layout unchanged, so memory stays at about two shards. Written by hand because
    peft merges only a model it has loaded whole. ``base``: a local folder or a hub id (its
    cached or downloaded files). Everything is checked before anything is written: a quantized
    base, an adapter module the base has no weight for, and an ``lm_head`` adapter on a head tied
    to the embeddings (transformers would re-tie it on loading and drop the change) are refused."""
    import shutil

    from safetensors import safe_open

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    deltas, scale = _lora_deltas(adapter_dir)
    base_dir = Path(base) if os.path.isdir(base) else Path(__import__("huggingface_hub").snapshot_download(
        base, revision=revision, allow_patterns=["*.json", "*.safetensors", "*.py"]))
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("quantization_config"):
        raise KitError(msg(f"{base}는 양자화된 체크포인트라 병합할 수 없습니다. 16비트 원본 모델이 필요합니다",
                           f"{base} is a quantized checkpoint; merging needs the 16-bit base model"))
    index = base_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    elif (base_dir / "model.safetensors").is_file():
        with safe_open(str(base_dir / "model.safetensors"), "pt") as f:
            weight_map = {k: "model.safetensors" for k in f.keys()}
    else:
        raise KitError(msg(f"{base_dir}에 safetensors 가중치가 없습니다. how='cpu'를 쓰세요",
                           f"no safetensors weights in {base_dir}; use how='cpu'"))
    tied = config.get("tie_word_embeddings", False) and "lm_head.weight" in deltas
    missing = sorted(set(deltas) - set(weight_map)) or (["lm_head.weight"] if tied else [])
    if missing:
        raise KitError(msg(f"어댑터의 {missing[:3]}를 {base}의 가중치에 병합할 수 없습니다 "
                           "(lm_head가 임베딩과 묶인 모델이면 lm_head 어댑터는 병합할 수 없습니다). 아무것도 쓰지 않았습니다",
                           f"the adapter's {missing[:3]} cannot be merged into a weight of the base {base} (an lm_head "
                           "adapter on a model whose head is tied to its embeddings cannot be merged); nothing was "
                           "written"))
    out_dir.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    shards = sorted(set(weight_map.values()))
    for shard in tqdm(shards, desc="merging", disable=len(shards) < 2):
        _merge_shard(base_dir / shard, out_dir / shard, deltas, scale)
    for path in sorted(base_dir.iterdir()):  # config, generation config, index, remote code: as they are
        if path.is_file() and path.suffix in (".json", ".py") and not (out_dir / path.name).exists():
            shutil.copyfile(path, out_dir / path.name)
    return out_dir


def load_for_inference(model_dir: str | Path, method: str | None = None, cfg: LLMConfig | None = None,
                       merge: bool | None = None):
    """A saved adapter folder or a full model folder, in eval mode: ``(model, tokenizer)``.

    ``merge=None`` (auto): on a GPU where the 16-bit model fits (memory estimate, 85 % of the
    card), the base is loaded in bf16/fp16 and the adapter merged into it — faster scoring
    and generation than 4-bit + LoRA; otherwise (and on a CPU) the base is loaded as in
    training. The folder's ``kit_llm_config.json`` says how; pass ``cfg`` for a folder
    without one (a Trainer checkpoint).
    """
    from peft import PeftModel

    from ..core.hardware import cuda_available

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise KitError(msg(f"모델 폴더가 없습니다: {model_dir}", f"no model folder at {model_dir}"))
    cfg = cfg or _config_of(model_dir)
    if method:
        cfg = replace(cfg, method=method)
    adapter = (model_dir / "adapter_config.json").is_file()
    if merge is None:
        merge = adapter and cuda_available() and _fits_16bit(cfg)
    hf = get_engine("hf", load=False)
    say_if_gpu_is_held(replace(cfg, method="lora") if merge else cfg)
    if adapter:
        base, _ = hf.load(replace(cfg, method="lora") if merge else cfg)
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge:
            model = model.merge_and_unload()
    else:
        model, _ = hf.load(replace(cfg, model_name=str(model_dir)))
    tok_dir = model_dir if (model_dir / "tokenizer_config.json").is_file() else cfg.model_name
    tok = hf.load_tokenizer(str(tok_dir), cfg)
    model.eval()
    return model, tok


def _fits_16bit(cfg: LLMConfig, free: bool = False) -> bool:
    """Whether the 16-bit model (and a batch of eight) fits in 85 % of the GPU — of its free
    memory with ``free`` (a notebook may still hold a model); False without a GPU."""
    from ..core.hardware import cuda_available, gpu_info

    info = gpu_info()
    if info is None or not cuda_available():
        return False
    gib = info[1]
    if free:
        import torch

        gib = min(gib, torch.cuda.mem_get_info()[0] / 2**30)
    return _estimated_gib(replace(cfg, method="lora")) <= 0.85 * gib
