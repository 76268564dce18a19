"""Preference tuning (DPO) and reinforcement learning with verifiable rewards (GRPO) after
answer-only fine-tuning, on transformers' ``Trainer``: the same code on a CPU (smoke mode) and a GPU.

Why not trl's trainers: trl 1.15's ``DPOTrainer`` and ``GRPOTrainer`` compute log-probabilities
through a fused LM head written in Triton (``model(..., fused_lm_head=True)``). The CPU build
of torch has no Triton, so trl leaves that kernel ``None`` and the first step fails with
"'NoneType' object has no attribute 'apply'" — for ``GRPOTrainer`` checked here with the tiny
Llama + LoRA: its sampling runs, its loss fails. Smoke mode exists to run the GPU's code path,
so only the two losses are written by hand (:func:`dpo_loss`, :func:`grpo_loss`, with
:func:`group_advantages`); everything else is the kit's ``Trainer`` subclass, checkpoints and
resume. ``bench/preference_parity.py`` checks both losses against trl's trainers on a GPU.

- **Pairs** (:func:`preference_pairs`): a ``datasets.Dataset`` with ``prompt`` / ``chosen`` /
  ``rejected`` (trl's format), prompts rendered with the model's chat template. A choice record
  (대화 맥락 추론) prefers the right option's letter to a wrong one: with a model given, the
  wrong letter the model finds most likely (a *hard negative*), else a random one. A generation
  record (일상 대화 요약) prefers the gold text to the model's own generation.
- **DPO** (:func:`dpo`): −log σ(β[(π_c − ref_c) − (π_r − ref_r)]) on the summed log-probabilities
  of the answer tokens. The reference is the *same* model with its trainable LoRA adapter
  switched off (``model.disable_adapter()``): no second model in memory. When training
  continues from a saved adapter (lesson 04's), the reference must be that adapter, not the bare
  base, so a frozen copy of it is loaded under the name ``ref`` (a few MB) and the reference pass
  switches to it — what trl does for the same case.
- **GRPO** (:func:`grpo`): for each prompt, ``num_generations`` sampled answers; rewards that a
  program can check (:func:`rewards`: the exact answer, and apart from it the answer's form);
  advantages normalised within each prompt's group; the clipped ratio objective; optionally a KL
  term to the same reference as DPO.

Both save an adapter with :func:`helpers.llm.train.save_adapter`, so lessons 05/06 load it
with ``llm.load_for_inference`` and score or ensemble it like any other.

    >>> import torch
    >>> loss = dpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.5]), torch.tensor([-1.5]), 0.1)
    >>> round(float(loss[0]), 4)  # −log σ(0.1 · ((−1 + 1.5) − (−2 + 1.5))) = −log σ(0.1)
    0.6444
    >>> [round(a, 3) for a in group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), 2).tolist()]  # groups (1, 0), (1, 1)
    [0.707, -0.707, 0.0, 0.0]
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from . import tasks
from .core.messages import KitError, msg
from .llm.config import LLMConfig

__all__ = ["REF_ADAPTER", "SETTINGS", "BETA", "settings", "load_policy", "reference", "preference_pairs", "choice_pairs",
           "generation_pairs", "encode_pair", "PairCollator", "completion_logps", "dpo_loss", "dpo",
           "preference_metrics", "answer_value", "accuracy_reward", "format_reward", "rewards", "verifiable",
           "group_advantages", "grpo_loss", "grpo", "sample_completions", "reward_report", "curve", "main"]

#: The name of the frozen copy of a starting adapter that serves as the reference.
REF_ADAPTER = "ref"

#: Training settings per method and run mode (on top of the model settings of the run). Smoke:
#: what makes the tiny model's rewards rise within seconds (measured, tests/test_preference.py).
#: Full: common starting points for LoRA (DPO β 0.1 as in the DPO paper and trl; GRPO without a
#: KL term, trl's default) — not tuned on a GPU here.
SETTINGS: dict[str, dict[str, dict]] = {
    "dpo": {
        "smoke": dict(learning_rate=2e-3, lr_scheduler_type="constant_with_warmup", warmup_steps=2, weight_decay=0.0,
                      epochs=2.0, per_device_batch_size=8, gradient_accumulation_steps=1,
                      gradient_checkpointing=False, max_length=512, save_steps=1000, logging_steps=5),
        "full": dict(learning_rate=5e-6, lr_scheduler_type="cosine", warmup_steps=10, weight_decay=0.0, epochs=1.0,
                     per_device_batch_size=2, gradient_accumulation_steps=16, save_steps=50, logging_steps=5),
    },
    "grpo": {
        "smoke": dict(learning_rate=2e-3, lr_scheduler_type="constant_with_warmup", warmup_steps=2, weight_decay=0.0,
                      epochs=1.0, per_device_batch_size=8, gradient_accumulation_steps=1,
                      gradient_checkpointing=False, max_length=512, save_steps=1000, logging_steps=5),
        "full": dict(learning_rate=1e-5, lr_scheduler_type="constant_with_warmup", warmup_steps=10, weight_decay=0.0,
                     epochs=1.0, per_device_batch_size=4, gradient_accumulation_steps=4, save_steps=50,
                     logging_steps=5),
    },
}

#: DPO's β per run mode: 0.1 as in the DPO paper and trl; 0.5 in smoke mode, where the tiny
#: model's preference accuracy on held-back pairs reached 96.67-100 % on seeds 0-10 in 40 steps
#: (β 0.1: 63.33-100 %).
BETA = {"smoke": 0.5, "full": 0.1}


def settings(cfg: LLMConfig, method: str, smoke: bool, **overrides) -> LLMConfig:
    """``cfg`` with the training settings of ``method`` (``dpo`` or ``grpo``) for the run mode
    (:data:`SETTINGS`); the model settings (model, method, LoRA, prompt style) stay.

    >>> settings(LLMConfig(), "dpo", smoke=False).learning_rate
    5e-06
    """
    if method not in SETTINGS:
        raise KitError(msg(f"알 수 없는 방법 '{method}' (dpo, grpo 중 하나)", f"method must be dpo or grpo, not '{method}'"))
    return replace(cfg, **{**SETTINGS[method]["smoke" if smoke else "full"], **overrides})


# ----------------------------------------------------------------------------- the policy and its reference


def _adapter_config(cfg: LLMConfig, adapter: str | Path) -> LLMConfig:
    """``cfg`` with the base model and adapter settings of a saved adapter (its
    ``kit_llm_config.json``), so what is saved and fingerprinted is what is trained."""
    from .llm.train import _config_of

    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise KitError(msg(f"LoRA 어댑터 폴더가 아닙니다 (adapter_config.json 없음): {path}",
                           f"not a LoRA adapter folder (no adapter_config.json): {path}"))
    saved = _config_of(path)
    keep = ("model_name", "method", "engine", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
            "trust_remote_code", "revision", "prompt_style")
    return replace(cfg, **{k: getattr(saved, k) for k in keep})


def load_policy(cfg: LLMConfig, adapter: str | Path | None = None):
    """``(model, tokenizer)`` to train: the base model of ``cfg`` with a new LoRA adapter, or —
    with ``adapter`` — with that saved adapter (trainable) and a frozen copy of it named
    :data:`REF_ADAPTER` (the reference; see :func:`reference`). With an adapter, the base model
    and LoRA settings come from the adapter's ``kit_llm_config.json``."""
    from .llm.engines import get_engine
    from .llm.train import load_model

    if adapter is None:
        engine = get_engine(cfg.engine)
        model, tok = load_model(cfg)
        return engine.add_adapters(model, cfg), tok
    from peft import PeftModel

    cfg = _adapter_config(cfg, adapter)
    engine = get_engine(cfg.engine)
    model, _ = load_model(cfg)
    model = engine.prepare_for_training(model, cfg)
    model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    model.load_adapter(str(adapter), adapter_name=REF_ADAPTER, is_trainable=False)
    model.set_adapter("default")
    tok = engine.load_tokenizer(str(adapter), cfg)
    return model, tok


def _unwrap(model):
    while hasattr(model, "module") and not hasattr(model, "peft_config"):  # DDP and friends
        model = model.module
    return model


@contextlib.contextmanager
def reference(model):
    """Run ``model`` as the reference: the frozen starting adapter (:data:`REF_ADAPTER`) where
    there is one, else the base model (``model.disable_adapter()``)."""
    model = _unwrap(model)
    peft = getattr(model, "peft_config", None)
    if not peft:
        raise KitError(msg("참조 모델이 없습니다: LoRA 어댑터가 붙은 모델이어야 합니다 (method가 full이면 안 됩니다)",
                           "no reference: the model needs a LoRA adapter (method 'full' has none)"))
    if REF_ADAPTER not in peft:
        with model.disable_adapter():
            yield model
        return
    active = model.active_adapter
    model.set_adapter(REF_ADAPTER, inference_mode=True)
    try:
        yield model
    finally:
        model.set_adapter(active)


@contextlib.contextmanager
def _policy_saved_only(model):
    """While active, ``model.save_pretrained`` writes the trained adapter only (not the frozen
    reference copy) and no full ``lm_head`` copy (see :class:`helpers.llm.train` KitTrainer)."""
    model = _unwrap(model)
    names = [n for n in getattr(model, "peft_config", {}) if n != REF_ADAPTER]
    if REF_ADAPTER not in getattr(model, "peft_config", {}):
        yield
        return
    model.save_pretrained = functools.partial(type(model).save_pretrained, model, save_embedding_layers=False,
                                              selected_adapters=names)
    try:
        yield
    finally:
        del model.save_pretrained


# ----------------------------------------------------------------------------- pairs


def _prompt(record, tokenizer, style: str) -> str:
    from .llm.train import prompt_and_answer

    return prompt_and_answer(record, tokenizer, style)[0]


def choice_pairs(records: Sequence, tokenizer, model=None, *, style: str = "base", seed: int = 0,
                 engine: str = "hf", progress: bool = False) -> list[dict]:
    """Pairs of choice records (any task whose records are answered by a letter): the right
    letter chosen; rejected, the wrong letter ``model`` gives the highest probability
    (:func:`helpers.inference.predict`), or without a model a random wrong letter (seeded)."""
    import random

    rng = random.Random(seed)
    records = [r for r in records if tasks.task_of(r).gold(r) is not None]
    probs = None
    if model is not None and records:
        from .inference import predict

        probs = [p["probs"] for p in predict(model, tokenizer, records, style, engine=engine, progress=progress)]
    out = []
    for i, rec in enumerate(records):
        task = tasks.task_of(rec)
        letters, labels = task.letters(rec), task.labels(rec)
        right = task.target(rec)
        wrong = [k for k, letter in enumerate(letters) if letter != right]
        if probs is None:
            pick = rng.choice(wrong)
        else:
            pick = max(wrong, key=lambda k: probs[i][labels[k]])
        out.append({"prompt": _prompt(rec, tokenizer, style), "chosen": right, "rejected": letters[pick]})
    return out


def generation_pairs(records: Sequence, tokenizer, model, *, style: str = "base", generation=None,
                     engine: str = "hf", progress: bool = False) -> list[dict]:
    """Pairs of generation records (일상 대화 요약): the gold text chosen, the model's own
    generation (the task's decoding, :class:`helpers.inference.GenerationConfig`) rejected. A
    record the model already answers exactly gives no pair."""
    from .inference import clean_generation, predict

    records = [r for r in records if tasks.task_of(r).gold(r) is not None]
    if not records:
        return []
    if model is None:
        raise KitError(msg("생성 과제의 쌍에는 모델이 필요합니다 (거절할 답 = 모델이 쓴 답)",
                           "pairs of a generation task need a model (the rejected answer is the model's own)"))
    preds = predict(model, tokenizer, records, style, generation=generation, engine=engine, progress=progress)
    out = []
    for rec, pred in zip(records, preds):
        gold = tasks.task_of(rec).target(rec)
        if clean_generation(pred["output"]) == clean_generation(gold):
            continue
        out.append({"prompt": _prompt(rec, tokenizer, style), "chosen": gold, "rejected": pred["output"]})
    return out


def preference_pairs(records: Sequence, tokenizer, model=None, *, style: str = "base", seed: int = 0,
                     generation=None, engine: str = "hf", progress: bool = False):
    """A ``datasets.Dataset`` with ``prompt`` / ``chosen`` / ``rejected`` (trl's format) from
    records of any mix of tasks: choice records through :func:`choice_pairs`, generation
    records through :func:`generation_pairs` (they need ``model``). Records without an answer
    are left out. Prints how many pairs and hard negatives it made."""
    from datasets import Dataset

    choice = [r for r in records if tasks.task_of(r).mode(r) == "choice"]
    other = [r for r in records if tasks.task_of(r).mode(r) == "generation"]
    rows = choice_pairs(choice, tokenizer, model, style=style, seed=seed, engine=engine, progress=progress)
    if other:
        rows += generation_pairs(other, tokenizer, model, style=style, generation=generation, engine=engine,
                                 progress=progress)
    if not rows:
        raise KitError(msg("쌍을 만들 레코드가 없습니다 (정답이 있는 선택형·생성형 레코드가 필요합니다)",
                           "no pairs: the records need answers (choice or generation records)"))
    kind = msg("모델이 가장 그럴듯하게 본 오답", "the model's own most likely wrong answer") if model is not None \
        else msg("무작위 오답", "a random wrong answer")
    parts = []
    if choice:
        parts.append(msg(f"선택형 {len(choice)}개: 거절 = {kind}", f"{len(choice)} choice: rejected = {kind}"))
    if other:
        made = len(rows) - len(choice)
        parts.append(msg(f"생성형 {made}개: 거절 = 모델이 쓴 답 (정답과 같게 쓴 {len(other) - made}개는 뺌)",
                         f"{made} generation: rejected = the model's own answer ({len(other) - made} answered "
                         "exactly right left out)"))
    print(msg(f"선호 쌍 {len(rows)}개 ({'; '.join(parts)})", f"{len(rows)} preference pairs ({'; '.join(parts)})"))
    return Dataset.from_list(rows)


def encode_pair(tokenizer, prompt: str, chosen: str, rejected: str, max_length: int) -> dict[str, list[int]]:
    """Token ids of a pair as training encodes an example (:func:`helpers.llm.train.encode_example`):
    the rendered prompt without added special tokens, each answer followed by eos; a prompt too
    long loses its beginning, so both answers fit in ``max_length`` with the prompt.

    >>> class Tok:  # one id per character; eos 0
    ...     eos_token_id = 0
    ...     def __call__(self, text, add_special_tokens=False):
    ...         return {"input_ids": [ord(c) for c in text]}
    >>> encode_pair(Tok(), "abcdef", "B", "CC", max_length=6)
    {'prompt_ids': [100, 101, 102], 'chosen_ids': [66, 0], 'rejected_ids': [67, 67, 0]}
    """
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(chosen, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    r_ids = tokenizer(rejected, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    room = max(max_length - 1, 1)
    c_ids, r_ids = c_ids[:room], r_ids[:room]
    keep = max(max_length - max(len(c_ids), len(r_ids)), 1)
    return {"prompt_ids": p_ids[-keep:], "chosen_ids": c_ids, "rejected_ids": r_ids}


@dataclass
class PairCollator:
    """A batch of encoded pairs as one right-padded batch: the chosen sequences, then the
    rejected ones (trl's layout), with ``completion_mask`` on the answer tokens.

    >>> b = PairCollator(pad_token_id=9, pad_to_multiple_of=None)([{"prompt_ids": [1, 2], "chosen_ids": [3, 0],
    ...                                                              "rejected_ids": [4, 5, 0]}])
    >>> b["input_ids"].tolist(), b["completion_mask"].tolist()
    ([[1, 2, 3, 0, 9], [1, 2, 4, 5, 0]], [[0, 0, 1, 1, 0], [0, 0, 1, 1, 1]])
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: list[dict]) -> dict:
        import torch

        seqs, comp = [], []
        for key in ("chosen_ids", "rejected_ids"):
            for f in features:
                seqs.append(list(f["prompt_ids"]) + list(f[key]))
                comp.append([0] * len(f["prompt_ids"]) + [1] * len(f[key]))
        width = max(len(s) for s in seqs)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = [s + [self.pad_token_id] * (width - len(s)) for s in seqs]
        att = [[1] * len(s) + [0] * (width - len(s)) for s in seqs]
        comp = [c + [0] * (width - len(c)) for c in comp]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(att),
                "completion_mask": torch.tensor(comp)}


def _pairs_hash(pairs) -> str:
    h = hashlib.sha256()
    for row in pairs:
        h.update(json.dumps([row["prompt"], row["chosen"], row["rejected"]], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- log-probabilities


def completion_logps(model, input_ids, attention_mask, completion_mask, temperature: float = 1.0):
    """Log-probability of each completion token given everything before it, shape
    ``(batch, width - 1)``, zero outside ``completion_mask`` (``.sum(-1)`` is the sequence's).

    Only the positions from the first completion token on reach the LM head
    (``logits_to_keep``), and the log-softmax (float32) runs on the completion tokens' logits
    only: the ``(batch, width, vocabulary)`` float32 tensor of all logits is never built.
    """
    import torch

    width = input_ids.shape[1]
    has = completion_mask[:, 1:].any(dim=0).nonzero()
    first = int(has[0]) + 1 if len(has) else width - 1  # the first column with a completion token (≥ 1)
    keep = width - first + 1
    logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False).logits
    mask = completion_mask[:, first:].bool()
    picked = logits[:, :-1][mask].float()  # (completion tokens, vocabulary)
    if temperature != 1.0:
        picked = picked / temperature
    labels = input_ids[:, first:][mask]
    token_logps = picked.gather(-1, labels.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(picked, dim=-1)
    out = torch.zeros(input_ids.shape[0], width - 1, dtype=token_logps.dtype, device=token_logps.device)
    tail = torch.zeros(mask.shape, dtype=token_logps.dtype, device=token_logps.device).masked_scatter(mask, token_logps)
    out = torch.cat([out[:, : first - 1], tail], dim=1)
    return out


# ----------------------------------------------------------------------------- DPO


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float = 0.1):
    """The DPO loss of each pair: −log σ(β[(π_c − ref_c) − (π_r − ref_r)]), from sequence
    log-probabilities (sums over the answer tokens) of the policy and the reference.

    >>> import torch
    >>> dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.1).tolist()  # log 2
    [0.6931471824645996, 0.6931471824645996]
    """
    import torch.nn.functional as F

    logits = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * logits)


def _kit_trainer():
    from .llm.train import _kit_trainer_class

    return _kit_trainer_class()


class _MetricsMixin:
    """Averages of per-step statistics, added to the Trainer's log records."""

    def _record(self, **values) -> None:
        if not hasattr(self, "_stats"):
            self._stats = defaultdict(list)
        for key, value in values.items():
            self._stats[key].append(float(value))

    def log(self, logs, start_time=None):
        stats = getattr(self, "_stats", None)
        if stats and "loss" in logs:
            logs.update({k: round(sum(v) / len(v), 6) for k, v in stats.items()})
            stats.clear()
        return super().log(logs, start_time)

    def _save(self, output_dir=None, state_dict=None):
        with _policy_saved_only(self.model):
            if REF_ADAPTER in getattr(_unwrap(self.model), "peft_config", {}):
                from transformers import Trainer

                return Trainer._save(self, output_dir, state_dict)  # the patched save_pretrained, not KitTrainer's
            return super()._save(output_dir, state_dict)


def _dpo_trainer_class():
    import torch

    class DPOKitTrainer(_MetricsMixin, _kit_trainer()):
        """The kit's Trainer with the DPO loss (:func:`dpo_loss`); logs trl's statistics:
        ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``
        (β-scaled log-ratios to the reference), ``logps/chosen``, ``logps/rejected``."""

        beta = 0.1

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            ids, att, comp = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]
            logps = completion_logps(model, ids, att, comp).sum(-1)
            with torch.no_grad(), reference(model) as ref_model:
                ref = completion_logps(ref_model, ids, att, comp).sum(-1)
            pc, pr = logps.chunk(2)
            rc, rr = ref.chunk(2)
            losses = dpo_loss(pc, pr, rc, rr, self.beta)
            chosen_r, rejected_r = self.beta * (pc - rc).detach(), self.beta * (pr - rr).detach()
            self._record(**{"rewards/chosen": chosen_r.mean(), "rewards/rejected": rejected_r.mean(),
                            "rewards/margins": (chosen_r - rejected_r).mean(),
                            "rewards/accuracies": (chosen_r > rejected_r).float().mean(),
                            "logps/chosen": pc.detach().mean(), "logps/rejected": pr.detach().mean()})
            loss = losses.mean()
            return (loss, {"chosen": pc, "rejected": pr}) if return_outputs else loss

    return DPOKitTrainer


def _fingerprint(cfg: LLMConfig, method: str, data_hash: str, examples: int, adapter, **extra) -> dict:
    from .llm.engines import get_engine

    dropout, targets = cfg.lora_settings(get_engine(cfg.engine, load=False).name)
    return {"method": method, "model_name": cfg.model_name, "train_method": cfg.method, "lora_r": cfg.lora_r,
            "lora_alpha": cfg.lora_alpha, "lora_dropout": dropout, "target_modules": sorted(targets),
            "max_length": cfg.max_length, "prompt_style": cfg.prompt_style, "data": data_hash, "examples": examples,
            "start_adapter": str(adapter) if adapter else None, **extra}


def _run(trainer, cfg: LLMConfig, tokenizer, fingerprint: dict, resume: bool, force_resume: bool, examples: int):
    """Resume check, the run file, training, and the final adapter: as :func:`helpers.llm.train.train`."""
    from .core.io import write_text
    from .llm.train import RUN_FILE, TrainResult, _check_resume, last_checkpoint, save_adapter

    checkpoint = last_checkpoint(cfg.output_dir) if resume else None
    if checkpoint:
        _check_resume(Path(cfg.output_dir), fingerprint, force_resume)
        print(msg(f"{checkpoint}에서 이어서 학습합니다", f"resuming from {checkpoint}"))
    if trainer.is_world_process_zero():
        write_text(json.dumps(fingerprint, ensure_ascii=False, indent=2) + "\n", Path(cfg.output_dir) / RUN_FILE)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - t0
    final = Path(cfg.output_dir) / "final"
    if trainer.is_world_process_zero():
        with _policy_saved_only(trainer.model):
            save_adapter(_unwrap(trainer.model), tokenizer, cfg, final)
    from .llm.engines import get_engine

    return TrainResult(trainer.model, tokenizer, final, list(trainer.state.log_history), seconds,
                       get_engine(cfg.engine, load=False).name, examples)


def dpo(cfg: LLMConfig, pairs, *, beta: float = 0.1, adapter: str | Path | None = None, model=None, tokenizer=None,
        resume: bool = True, force_resume: bool = False, callbacks: Sequence = (), **arg_overrides):
    """Train with the DPO loss on ``pairs`` (a Dataset or a list of ``prompt``/``chosen``/``rejected``
    rows) and save the adapter to ``<output_dir>/final``; returns a
    :class:`~helpers.llm.train.TrainResult` whose log history has the reward statistics.

    ``model``/``tokenizer`` from :func:`load_policy` (otherwise loaded here: a new adapter on
    ``cfg``'s model, or ``adapter`` to continue from, which is then also the reference).
    Checkpoints every ``cfg.save_steps`` steps in ``cfg.output_dir``; with ``resume`` a run restarts
    from the newest complete one and refuses one made with other data or settings.
    """
    from .core.hardware import seed_everything
    from .llm.engines import get_engine

    if adapter is not None:
        cfg = _adapter_config(cfg, adapter)
    seed_everything(cfg.seed)
    rows = list(pairs)
    if not rows:
        raise KitError(msg("학습할 선호 쌍이 없습니다", "no preference pairs to train on"))
    if model is None:
        model, tokenizer = load_policy(cfg, adapter)
    examples = [encode_pair(tokenizer, r["prompt"], r["chosen"], r["rejected"], cfg.max_length) for r in rows]
    engine = get_engine(cfg.engine, load=False)
    args = _training_arguments(cfg, **_schedule(cfg, len(examples), arg_overrides))
    trainer = _dpo_trainer_class()(
        model=model, args=args, train_dataset=examples,
        data_collator=PairCollator(tokenizer.pad_token_id, engine.pad_multiple), callbacks=list(callbacks))
    trainer.beta = beta
    fp = _fingerprint(cfg, "dpo", _pairs_hash(rows), len(rows), adapter, beta=beta)
    return _run(trainer, cfg, tokenizer, fp, resume, force_resume, len(rows))


def _schedule(cfg: LLMConfig, examples: int, arg_overrides: dict, repeat: int = 1) -> dict:
    """``TrainingArguments`` overrides for ``examples`` pairs (DPO) or prompts (GRPO, each batch
    used for ``repeat`` optimizer steps): the schedule of :func:`helpers.llm.train.train` for few
    records. Where they would give fewer than ``cfg.min_optimizer_steps`` optimizer steps (lesson
    07 in full mode on the samples: 30 pairs at 2 × 16 made one step and logged nothing), the
    effective batch shrinks and warm-up and logging fit the steps, said out loud. A caller who
    sets the steps or the batch (``max_steps``, ``per_device_train_batch_size``,
    ``gradient_accumulation_steps``) keeps them; the caller's overrides win."""
    from .llm.train import _batching_plan

    chosen = {"max_steps", "per_device_train_batch_size", "gradient_accumulation_steps"} & set(arg_overrides)
    epochs = arg_overrides.get("num_train_epochs", cfg.epochs) * repeat
    # without a token budget the plan reads only how many examples there are, not their tokens
    _, plan = _batching_plan(replace(cfg, max_tokens_per_batch=None, epochs=epochs), [None] * examples, None,
                             bool(chosen))
    return {**plan, **arg_overrides}


def _training_arguments(cfg: LLMConfig, **overrides):
    from .llm.train import training_arguments

    return training_arguments(cfg, **overrides)


def preference_metrics(model, tokenizer, pairs, beta: float = 0.1, max_length: int = 1024,
                       batch_size: int = 16) -> dict[str, float]:
    """How ``model`` ranks ``pairs`` (percentages, two decimals):

    - ``preference_accuracy``: the policy gives the chosen answer the higher log-probability;
    - ``reward_accuracy``, ``reward_ties`` and ``reward_margin``: trl's implicit rewards
      β(π − ref): the share of pairs whose chosen reward is higher (trl's ``rewards/accuracies``),
      the share of ties (a margin within 1e-6 of 0), and the mean margin. Before any training the
      policy *is* the reference, so every pair is a tie: ``reward_accuracy`` 0, ``reward_ties``
      100 (a tie scored as half right, the ranking is 50 % accurate, a coin's).
    """
    import torch

    rows = list(pairs)
    examples = [encode_pair(tokenizer, r["prompt"], r["chosen"], r["rejected"], max_length) for r in rows]
    collate = PairCollator(tokenizer.pad_token_id, None)
    device = next(_unwrap(model).parameters()).device
    was_training = _unwrap(model).training
    _unwrap(model).eval()
    pcs, prs, rcs, rrs = [], [], [], []
    try:
        with torch.no_grad():
            for lo in range(0, len(examples), batch_size):
                b = {k: v.to(device) for k, v in collate(examples[lo: lo + batch_size]).items()}
                pc, pr = completion_logps(model, b["input_ids"], b["attention_mask"], b["completion_mask"]).sum(-1).chunk(2)
                with reference(model) as ref_model:
                    rc, rr = completion_logps(ref_model, b["input_ids"], b["attention_mask"],
                                              b["completion_mask"]).sum(-1).chunk(2)
                pcs.append(pc), prs.append(pr), rcs.append(rc), rrs.append(rr)
    finally:
        _unwrap(model).train(was_training)
    pc, pr, rc, rr = (torch.cat(x).float() for x in (pcs, prs, rcs, rrs))
    margin = beta * ((pc - rc) - (pr - rr))
    return {"preference_accuracy": round(100 * float((pc > pr).float().mean()), 2),
            "reward_accuracy": round(100 * float((margin > 1e-6).float().mean()), 2),
            "reward_ties": round(100 * float((margin.abs() <= 1e-6).float().mean()), 2),
            "reward_margin": round(float(margin.mean()), 4), "pairs": len(rows)}


# ----------------------------------------------------------------------------- verifiable rewards

_LETTER = re.compile(r"\s*([A-Z])(?![A-Za-z])")


def answer_value(record, text: str) -> str | None:
    """The answer a generated ``text`` gives for ``record``, as the file writes answers: the
    task's own reading where it has one (``answer_value``, 한국문화 질의응답), else for a choice
    record the label of the option letter the text starts with (None when it starts with none),
    else the text on one line.

    >>> from helpers.tasks.cci import CCIRecord
    >>> from helpers.tasks.base import Utterance
    >>> r = CCIRecord("x", [Utterance(1, "배고파", "d.1.1")], ["d.1.1"], "원인", "a", "b", "c", "inference_2")
    >>> answer_value(r, " B"), answer_value(r, "B. b"), answer_value(r, "정답은 B")
    ('inference_2', 'inference_2', None)
    """
    from .inference import clean_generation

    task = tasks.task_of(record)
    own = getattr(task, "answer_value", None)
    if own is not None:
        return own(record, text)
    if task.mode(record) == "choice":
        m = _LETTER.match(text)
        letters = task.letters(record)
        return task.labels(record)[letters.index(m.group(1))] if m and m.group(1) in letters else None
    return clean_generation(text)


def accuracy_reward(record, text: str) -> float:
    """1.0 when ``text`` gives the gold answer (choice: the right option; otherwise the task's
    exact match where it scores one, such as 한국문화 질의응답 단답형), else 0.0."""
    task = tasks.task_of(record)
    value = answer_value(record, text)
    gold = task.gold(record)
    if value is None or gold is None:
        return 0.0
    if task.mode(record) == "choice":
        return float(value == gold)
    scores = task.score({record.id: value}, [record])
    if "exact_match" in scores:
        return float(scores["exact_match"]) / 100
    return float(value == gold)


def format_reward(record, text: str) -> float:
    """1.0 when ``text`` has the required form, whatever its content: a choice record's answer
    is exactly one option letter; another answer is one non-empty line the task accepts.

    >>> from helpers.tasks.cci import CCIRecord
    >>> from helpers.tasks.base import Utterance
    >>> r = CCIRecord("x", [Utterance(1, "배고파", "d.1.1")], ["d.1.1"], "원인", "a", "b", "c", "inference_2")
    >>> format_reward(r, "A"), format_reward(r, " C\\n"), format_reward(r, "A. a"), format_reward(r, "D")
    (1.0, 1.0, 0.0, 0.0)
    """
    task = tasks.task_of(record)
    stripped = text.strip()
    if task.mode(record) == "choice":
        return float(stripped in task.letters(record))
    return float(bool(stripped) and "\n" not in stripped and task.check_output(record, stripped) is None)


def rewards(records: Sequence, texts: Sequence[str], format_weight: float = 0.5) -> dict[str, list[float]]:
    """``accuracy`` and ``format`` rewards of each text, and their sum ``total`` (accuracy +
    ``format_weight`` × format: the one GRPO maximises). They are kept apart because a model can
    learn the form alone — always answering "A" earns every format reward (reward hacking)."""
    acc = [accuracy_reward(r, t) for r, t in zip(records, texts)]
    form = [format_reward(r, t) for r, t in zip(records, texts)]
    return {"accuracy": acc, "format": form, "total": [a + format_weight * f for a, f in zip(acc, form)]}


def verifiable(record) -> bool:
    """Whether a program can check an answer to ``record``: a choice record with its answer,
    or a record whose task scores an exact match (한국문화 질의응답 단답형). Summaries are not."""
    task = tasks.task_of(record)
    if task.gold(record) is None:
        return False
    if task.mode(record) == "choice":
        return True
    if getattr(task, "answer_value", None) is None:
        return False
    return "exact_match" in task.score({record.id: task.target(record)}, [record])


# ----------------------------------------------------------------------------- GRPO


def group_advantages(rewards, group_size: int, scale: bool = True, eps: float = 1e-4):
    """Each reward minus its group's mean, divided by the group's standard deviation (+ ``eps``)
    when ``scale``: the group is the ``group_size`` answers sampled for one prompt, consecutive
    in ``rewards``. The standard deviation is the unbiased one, as in trl.

    >>> import torch
    >>> [round(a, 4) for a in group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0]), 4).tolist()]
    [1.4997, -0.4999, -0.4999, -0.4999]
    """
    grouped = rewards.view(-1, group_size)
    adv = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        adv = adv / (grouped.std(dim=1, keepdim=True) + eps)
    return adv.reshape(-1)


def grpo_loss(logps, old_logps, advantages, mask, *, epsilon: float = 0.2, beta: float = 0.0, ref_logps=None):
    """The GRPO objective as a loss, averaged over every completion token of the batch:
    −min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A) + β·KL, with ρ = exp(logp − old logp) per token, A the
    answer's advantage, and KL the k3 estimate exp(ref − logp) − (ref − logp) − 1 of the
    divergence from the reference (only when ``beta`` > 0).

    The token average over the whole batch is trl's ``bnpo`` (and its default ``dapo`` with one
    process and no accumulation). With one update per sample batch ρ = 1 and the clip is idle;
    it acts from the second update on the same samples (``num_iterations`` > 1).

    >>> import torch
    >>> lp = torch.log(torch.tensor([[0.5, 0.5]]))
    >>> round(float(grpo_loss(lp, lp, torch.tensor([2.0]), torch.ones(1, 2))), 4)  # −A
    -2.0
    >>> old = torch.log(torch.tensor([[0.25, 0.5]]))  # ρ = 2 on the first token: clipped at 1.2
    >>> round(float(grpo_loss(lp, old, torch.tensor([2.0]), torch.ones(1, 2))), 4)  # −(1.2·2 + 1·2) / 2
    -2.2
    """
    import torch

    ratio = torch.exp(logps - old_logps)
    adv = advantages.unsqueeze(-1)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    if beta:
        if ref_logps is None:
            raise ValueError("beta > 0 needs ref_logps")
        delta = ref_logps - logps
        per_token = per_token + beta * (torch.exp(delta) - delta - 1)
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


def sample_completions(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, temperature: float = 1.0):
    """Sample one completion per prompt (pure sampling: no top-k or top-p cut, as GRPO's
    objective assumes): ``(prompt_ids, prompt_mask, completion_ids, completion_mask, texts)``,
    prompts left-padded, completions right-padded and cut after their first eos (kept), texts
    decoded without special tokens. The model is sampled in eval mode, then restored."""
    import torch

    from .batching import encode_left_padded, pad_id

    unwrapped = _unwrap(model)
    device = next(unwrapped.parameters()).device
    ids, mask = encode_left_padded(tokenizer, prompts, device)
    pad = pad_id(tokenizer)
    from .llm.engines import generation_mode

    with torch.no_grad(), generation_mode(unwrapped):
        out = unwrapped.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=temperature,
                                 top_k=0, top_p=1.0, max_new_tokens=max_new_tokens, pad_token_id=pad,
                                 eos_token_id=tokenizer.eos_token_id, use_cache=True)
    completion = out[:, ids.shape[1]:]
    is_eos = completion == tokenizer.eos_token_id
    after = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0  # strictly after the first eos
    comp_mask = (~after).long()
    completion = completion.masked_fill(after, pad)
    texts = [tokenizer.decode(row[m.bool()], skip_special_tokens=True) for row, m in zip(completion, comp_mask)]
    return ids, mask, completion, comp_mask, texts


@dataclass
class _Rollout:
    input_ids: Any
    attention_mask: Any
    completion_mask: Any  # full width
    advantages: Any
    old_logps: Any
    ref_logps: Any
    uses: int = 0


class _RepeatBatches:
    """Batches of prompt indices, shuffled each epoch (seeded), each yielded ``repeat`` times in a
    row: the same samples serve ``repeat`` optimizer steps (GRPO's μ)."""

    def __init__(self, n: int, batch_size: int, repeat: int, seed: int):
        self.n, self.batch_size, self.repeat, self.seed, self.epoch = n, batch_size, repeat, seed, 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size) * self.repeat

    def __iter__(self):
        import random

        order = list(range(self.n))
        random.Random(self.seed + self.epoch).shuffle(order)
        self.epoch += 1
        out = []
        for lo in range(0, self.n, self.batch_size):
            out += [order[lo: lo + self.batch_size]] * self.repeat
        return iter(out)


def _grpo_trainer_class():
    import torch

    class GRPOKitTrainer(_MetricsMixin, _kit_trainer()):
        """The kit's Trainer with GRPO: each micro-batch of prompt indices is sampled
        ``num_generations`` times, scored (:func:`rewards`), and trained on with :func:`grpo_loss`.
        Logs ``reward``, ``reward/accuracy``, ``reward/format``, ``completion_length``,
        ``clip_ratio`` and (β > 0) ``kl``."""

        prompts: list = []
        records: list = []
        tok = None
        num_generations = 4
        max_new_tokens = 4
        temperature = 1.0
        epsilon = 0.2
        beta = 0.0
        num_iterations = 1
        format_weight = 0.5
        scale_rewards = True
        _rollout: _Rollout | None = None
        _rollout_key: tuple | None = None

        def _sample(self, model, idx: list[int]) -> _Rollout:
            tok, g = self.tok, self.num_generations
            prompts = [self.prompts[i] for i in idx for _ in range(g)]
            ids, mask, completion, comp_mask, texts = sample_completions(
                model, tok, prompts, self.max_new_tokens, self.temperature)
            device = ids.device
            recs = [self.records[i] for i in idx for _ in range(g)]
            r = rewards(recs, texts, self.format_weight)
            total = torch.tensor(r["total"], dtype=torch.float32, device=device)
            adv = group_advantages(total, g, scale=self.scale_rewards)
            input_ids = torch.cat([ids, completion], dim=1)
            attention = torch.cat([mask, comp_mask], dim=1)
            full_mask = torch.cat([torch.zeros_like(mask), comp_mask], dim=1)
            old = ref = None
            with torch.no_grad():
                if self.num_iterations > 1:
                    old = completion_logps(model, input_ids, attention, full_mask, self.temperature)
                if self.beta:
                    with reference(model) as ref_model:
                        ref = completion_logps(ref_model, input_ids, attention, full_mask, self.temperature)
            n = len(texts)
            self._record(**{"reward": sum(r["total"]) / n, "reward/accuracy": sum(r["accuracy"]) / n,
                            "reward/format": sum(r["format"]) / n,
                            "completion_length": float(comp_mask.sum()) / n,
                            "reward_std_zero": float((total.view(-1, g).std(dim=1) == 0).float().mean())})
            return _Rollout(input_ids, attention, full_mask, adv, old, ref)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            idx = inputs["index"].tolist()
            key = tuple(idx)
            if self._rollout is None or self._rollout_key != key or self._rollout.uses >= self.num_iterations:
                self._rollout, self._rollout_key = self._sample(model, idx), key
            ro = self._rollout
            ro.uses += 1
            logps = completion_logps(model, ro.input_ids, ro.attention_mask, ro.completion_mask, self.temperature)
            old = ro.old_logps if ro.old_logps is not None else logps.detach()
            mask = ro.completion_mask[:, 1:]
            loss = grpo_loss(logps, old, ro.advantages, mask, epsilon=self.epsilon, beta=self.beta,
                             ref_logps=ro.ref_logps)
            with torch.no_grad():
                ratio = torch.exp(logps - old)
                clipped = ((ratio < 1 - self.epsilon) | (ratio > 1 + self.epsilon)).float()
                stats = {"clip_ratio": float((clipped * mask).sum() / mask.sum().clamp(min=1))}
                if self.beta:
                    delta = ro.ref_logps - logps
                    kl = torch.exp(delta) - delta - 1
                    stats["kl"] = float((kl * mask).sum() / mask.sum().clamp(min=1))
            self._record(**stats)
            return (loss, {}) if return_outputs else loss

    return GRPOKitTrainer


def _index_collate(features: list[dict]) -> dict:
    import torch

    return {"index": torch.tensor([f["index"] for f in features])}


def grpo(cfg: LLMConfig, records: Sequence, *, num_generations: int = 4, max_new_tokens: int = 4,
         temperature: float = 1.0, epsilon: float = 0.2, beta: float = 0.0, num_iterations: int = 1,
         format_weight: float = 0.5, scale_rewards: bool = True, adapter: str | Path | None = None, model=None,
         tokenizer=None, resume: bool = True, force_resume: bool = False, callbacks: Sequence = (), **arg_overrides):
    """Train with GRPO on the verifiable ``records`` (:func:`verifiable`; the others are left
    out) and save the adapter to ``<output_dir>/final``; returns a
    :class:`~helpers.llm.train.TrainResult` whose log history has the mean rewards.

    Each optimizer step takes ``cfg.per_device_batch_size`` prompts, samples ``num_generations``
    answers of at most ``max_new_tokens`` tokens for each (``temperature``), rewards them
    (:func:`rewards`: accuracy + ``format_weight`` × format) and normalises the rewards within
    each prompt's group (:func:`group_advantages`). ``num_iterations`` > 1 reuses the samples for
    that many steps (the clipped ratio then matters); ``beta`` > 0 adds the KL term to the
    reference (:func:`reference`). Model loading, checkpoints and resume as in :func:`dpo`; after
    an interruption the samples of the current step are drawn again.
    """
    from .core.hardware import seed_everything

    if adapter is not None:
        cfg = _adapter_config(cfg, adapter)
    seed_everything(cfg.seed)
    usable = [r for r in records if verifiable(r)]
    if not usable:
        raise KitError(msg("정답을 프로그램으로 확인할 수 있는 레코드가 없습니다 (선택형, 또는 정확히 일치하는 단답형)",
                           "no records with an answer a program can check (choice, or exact-match short answers)"))
    if num_generations < 2:
        raise KitError(msg("num_generations는 2 이상이어야 합니다 (그룹 안에서 보상을 비교합니다)",
                           "num_generations must be at least 2 (rewards are compared within a group)"))
    if model is None:
        model, tokenizer = load_policy(cfg, adapter)
    if beta and not getattr(_unwrap(model), "peft_config", None):
        raise KitError(msg("beta > 0에는 LoRA 어댑터가 필요합니다 (참조 = 어댑터를 끈 같은 모델)",
                           "beta > 0 needs a LoRA adapter (the reference is the same model with it off)"))
    prompts = [_prompt(r, tokenizer, cfg.prompt_style) for r in usable]
    arg_overrides = _schedule(cfg, len(usable), arg_overrides, repeat=num_iterations)
    if num_iterations > 1 and arg_overrides.get("gradient_accumulation_steps", cfg.gradient_accumulation_steps) > 1:
        raise KitError(msg("num_iterations > 1은 gradient_accumulation_steps 1과만 씁니다 (같은 표본을 옵티마이저 걸음마다 다시 씀)",
                           "num_iterations > 1 needs gradient_accumulation_steps 1 (samples are reused per optimizer step)"))
    trainer = _grpo_trainer_class()(
        model=model, args=_training_arguments(cfg, **arg_overrides), train_dataset=[{"index": i} for i in
                                                                                   range(len(usable))],
        data_collator=_index_collate, callbacks=list(callbacks))
    trainer.prompts, trainer.records, trainer.tok = prompts, usable, tokenizer
    trainer.num_generations, trainer.max_new_tokens, trainer.temperature = num_generations, max_new_tokens, temperature
    trainer.epsilon, trainer.beta, trainer.num_iterations = epsilon, beta, num_iterations
    trainer.format_weight, trainer.scale_rewards = format_weight, scale_rewards
    if num_iterations > 1:
        trainer.budget_sampler = _RepeatBatches(len(usable), arg_overrides.get("per_device_train_batch_size",
                                                                               cfg.per_device_batch_size),
                                                num_iterations, cfg.seed)
    from .tasks.base import records_hash

    fp = _fingerprint(cfg, "grpo", records_hash(usable), len(usable), adapter, num_generations=num_generations,
                      max_new_tokens=max_new_tokens, temperature=temperature, epsilon=epsilon, beta=beta,
                      num_iterations=num_iterations, format_weight=format_weight, scale_rewards=scale_rewards)
    result = _run(trainer, cfg, tokenizer, fp, resume, force_resume, len(usable))
    notice = uniform_groups_notice(result.log_history)
    if notice:
        print(notice)
    return result


def uniform_groups_notice(log_history: Sequence[dict]) -> str | None:
    """The notice for a GRPO run in which every sampled group's answers all got the same reward
    (``reward_std_zero`` 1 at every logged step): every advantage was 0, so the policy learned
    nothing from the rewards (and the KL term alone keeps it at the reference). None otherwise,
    or when no step was logged.

    >>> uniform_groups_notice([{"reward_std_zero": 1.0}, {"reward_std_zero": 0.75}]) is None
    True
    >>> "num_generations" in uniform_groups_notice([{"reward_std_zero": 1.0, "step": 5}, {"train_runtime": 3.0}])
    True
    """
    fractions = [h["reward_std_zero"] for h in log_history if "reward_std_zero" in h]
    if not fractions or min(fractions) < 1.0:
        return None
    return msg("알림: GRPO가 보상에서 아무것도 배우지 못했습니다. 모든 그룹에서 답들의 보상이 같아(다 틀리거나 다 맞음) "
               "이점(advantage)이 전부 0이었습니다. num_generations나 temperature를 올리거나, 모델이 가끔은 맞히는 "
               "프롬프트로 학습하세요(먼저 SFT로 답의 형식을 익히게 하는 것도 도움이 됩니다).",
               "notice: GRPO learned nothing from the rewards: in every group all answers got the same reward "
               "(all wrong or all right), so every advantage was 0. Raise num_generations or temperature, or train "
               "on prompts the model sometimes gets right (training with SFT first, so that it learns the answer "
               "format, also helps).")


def _sampling_batches(model, tokenizer, prompts: Sequence[str], samples: int, max_new_tokens: int,
                      batch_size: int) -> list[list[int]]:
    """Prompt indices per sampling call, ``samples`` sequences each: ``batch_size`` prompts at a
    time, in order; on a GPU within the memory left instead
    (:func:`helpers.llm.engines.generation_batches`). Lesson 07's report of 8 samples of 16
    prompts at once (128 sequences) ran out of a T4's 15 GiB in the prefill."""
    from .batching import prompt_token_ids
    from .llm.engines import generation_batches

    lengths = [len(ids) for ids in prompt_token_ids(tokenizer, prompts)]
    return generation_batches(_unwrap(model), lengths, max_new_tokens, batch_size, rows_per_prompt=samples) \
        or [list(range(lo, min(lo + batch_size, len(prompts)))) for lo in range(0, len(prompts), batch_size)]


def reward_report(model, tokenizer, records: Sequence, style: str = "base", max_new_tokens: int = 4,
                  samples: int = 0, temperature: float = 1.0, batch_size: int = 16, seed: int = 0) -> dict[str, float]:
    """Mean accuracy and format rewards (0–1) on the verifiable ``records``, measured apart:
    of the greedy answers (``samples=0``, deterministic), or of ``samples`` sampled answers per
    record at ``temperature`` — the policy's expected reward, what GRPO maximises (seeded)."""
    from .inference import GenerationConfig, generate_texts, prompts_of

    usable = [r for r in records if verifiable(r)]
    if not usable:
        raise KitError(msg("확인할 수 있는 레코드가 없습니다", "no verifiable records"))
    prompts = prompts_of(usable, tokenizer, style)
    if samples:
        import torch

        device = next(_unwrap(model).parameters()).device
        texts, recs = [], []
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the caller's RNG stays
            torch.manual_seed(seed)
            for batch in _sampling_batches(model, tokenizer, prompts, samples, max_new_tokens, batch_size):
                chunk = [prompts[i] for i in batch for _ in range(samples)]
                texts += sample_completions(model, tokenizer, chunk, max_new_tokens, temperature)[4]
                recs += [usable[i] for i in batch for _ in range(samples)]
    else:
        was_training = _unwrap(model).training
        _unwrap(model).eval()
        try:
            texts = generate_texts(model, tokenizer, prompts, GenerationConfig(max_new_tokens=max_new_tokens,
                                   batch_size=batch_size), clean=False, progress=False)
        finally:
            _unwrap(model).train(was_training)
        recs = usable
    r = rewards(recs, texts)
    n = len(recs)
    return {"accuracy": round(sum(r["accuracy"]) / n, 4), "format": round(sum(r["format"]) / n, 4),
            "records": len(usable), "answers": n}


def curve(result, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of a logged statistic (``rewards/margins``, ``reward/accuracy``, …) of a
    :class:`~helpers.llm.train.TrainResult`, for :func:`helpers.eda.plot_curves`.

    >>> from types import SimpleNamespace
    >>> curve(SimpleNamespace(log_history=[{"step": 5, "loss": 1.0, "reward": 0.5}, {"step": 9}]), "reward")
    [(5, 0.5)]
    """
    return [(r["step"], r[key]) for r in result.log_history if key in r]


# ----------------------------------------------------------------------------- command line


@dataclass
class PairsArgs:
    """``python -m helpers.preference pairs``: which records, which model, where to write."""

    task: str = field(default="cci", metadata={"help": "task name (cci, dcs, kcqa, …)"})
    data: Optional[str] = field(default=None, metadata={"help": "records file (default: the task's train data or sample)"})
    synthetic: int = field(default=0, metadata={"help": "use N synthetic records of the task instead"})
    adapter: Optional[str] = field(default=None, metadata={"help": "SFT adapter folder: hard negatives / own generations"})
    out: str = field(default="outputs/preference/pairs.jsonl", metadata={"help": "pairs file to write (JSON lines)"})
    smoke: bool = field(default=False, metadata={"help": "the tiny local model (default when there is no GPU)"})


@dataclass
class DPOArgs:
    """``python -m helpers.preference dpo``: the pairs, the starting adapter, β."""

    pairs: str = field(default="outputs/preference/pairs.jsonl", metadata={"help": "pairs file (prompt/chosen/rejected)"})
    adapter: Optional[str] = field(default=None, metadata={"help": "adapter to continue from (also the reference)"})
    beta: Optional[float] = field(default=None, metadata={"help": "DPO β: how far from the reference the policy may "
                                                                  "move (default: 0.5 in smoke mode, 0.1 in full)"})
    smoke: bool = field(default=False, metadata={"help": "the tiny local model (default when there is no GPU)"})
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimizer steps"})
    resume: bool = field(default=True, metadata={"help": "continue from the newest checkpoint in output_dir"})
    force_resume: bool = field(default=False, metadata={"help": "resume even if the data or settings changed"})


@dataclass
class GRPOArgs:
    """``python -m helpers.preference grpo``: the prompts, the sampling, the objective."""

    task: str = field(default="cci", metadata={"help": "task name (records with checkable answers: cci, kcqa)"})
    data: Optional[str] = field(default=None, metadata={"help": "records file (default: the task's train data or sample)"})
    synthetic: int = field(default=0, metadata={"help": "use N synthetic records of the task instead"})
    adapter: Optional[str] = field(default=None, metadata={"help": "adapter to continue from (also the reference)"})
    num_generations: int = field(default=4, metadata={"help": "answers sampled per prompt (the group)"})
    max_new_tokens: int = field(default=4, metadata={"help": "longest sampled answer, in tokens"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    epsilon: float = field(default=0.2, metadata={"help": "clip range of the probability ratio"})
    beta: float = field(default=0.0, metadata={"help": "weight of the KL term to the reference (0: none)"})
    num_iterations: int = field(default=1, metadata={"help": "optimizer steps per sample batch (μ)"})
    format_weight: float = field(default=0.5, metadata={"help": "weight of the format reward next to accuracy"})
    smoke: bool = field(default=False, metadata={"help": "the tiny local model (default when there is no GPU)"})
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimizer steps"})
    resume: bool = field(default=True, metadata={"help": "continue from the newest checkpoint in output_dir"})
    force_resume: bool = field(default=False, metadata={"help": "resume even if the data or settings changed"})


def _config(command: str, argv: list[str], args_cls):
    """``(cfg, args)`` from the command line: the fields of :class:`LLMConfig` and ``args_cls``.
    In smoke mode the tiny model where no model was given; the method's training settings
    (:data:`SETTINGS`) where the command line did not set them."""
    from transformers import HfArgumentParser

    from .core.hardware import cuda_available

    parser = HfArgumentParser((LLMConfig, args_cls), prog=f"python -m helpers.preference {command}")
    cfg, args = parser.parse_args_into_dataclasses(argv)
    given = {a.lstrip("-").split("=")[0].replace("-", "_") for a in argv if a.startswith("--")}
    smoke = args.smoke or not cuda_available()
    if smoke and "model_name" not in given and not getattr(args, "adapter", None):
        from .llm.tiny import tiny_model_dir

        cfg.model_name = str(tiny_model_dir())
    if command in SETTINGS:
        for key, value in SETTINGS[command]["smoke" if smoke else "full"].items():
            if key not in given:
                setattr(cfg, key, value)
    return cfg, args


def _records(args) -> list:
    from . import data

    task = tasks.get(args.task)
    if args.synthetic:
        return task.synthetic(args.synthetic, seed=42)
    return task.load(args.data or data.data_file(task.name, "train"))


def _pairs_command(argv: list[str]) -> int:
    from .core.io import write_json

    cfg, args = _config("pairs", argv, PairsArgs)
    records = _records(args)
    if args.adapter:
        from .llm.train import load_for_inference

        model, tok = load_for_inference(args.adapter)
        style = _adapter_config(cfg, args.adapter).prompt_style
    else:
        from .llm.engines import get_engine

        model, tok = None, get_engine(cfg.engine, load=False).load_tokenizer(cfg.model_name, cfg)
        style = cfg.prompt_style
    pairs = preference_pairs(records, tok, model, style=style, seed=cfg.seed, progress=True)
    write_json(pairs.to_list(), args.out, jsonl=True, inputs=[args.data] if args.data else [])
    print(f"saved -> {args.out}")
    return 0


def _read_pairs(path: str) -> list[dict]:
    from .core.io import file_error, read_json_records

    rows = read_json_records(path)
    rows = rows if isinstance(rows, list) else [rows]
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("prompt", "chosen", "rejected")):
            raise file_error(path, "각 줄은 prompt, chosen, rejected 문자열을 가진 객체여야 합니다",
                             "each line must be an object with prompt, chosen and rejected strings", index=i)
    return rows


def _dpo_command(argv: list[str]) -> int:
    cfg, args = _config("dpo", argv, DPOArgs)
    pairs = _read_pairs(args.pairs)
    extra = {"max_steps": args.max_steps} if args.max_steps > 0 else {}
    from .core.hardware import cuda_available

    beta = args.beta if args.beta is not None else BETA["smoke" if args.smoke or not cuda_available() else "full"]
    result = dpo(cfg, pairs, beta=beta, adapter=args.adapter, resume=args.resume, force_resume=args.force_resume,
                 **extra)
    print(f"saved -> {result.adapter_dir}", flush=True)
    return 0


def _grpo_command(argv: list[str]) -> int:
    cfg, args = _config("grpo", argv, GRPOArgs)
    records = _records(args)
    extra = {"max_steps": args.max_steps} if args.max_steps > 0 else {}
    result = grpo(cfg, records, num_generations=args.num_generations, max_new_tokens=args.max_new_tokens,
                  temperature=args.temperature, epsilon=args.epsilon, beta=args.beta,
                  num_iterations=args.num_iterations, format_weight=args.format_weight, adapter=args.adapter,
                  resume=args.resume, force_resume=args.force_resume, **extra)
    print(f"saved -> {result.adapter_dir}", flush=True)
    return 0


_COMMANDS = {"pairs": _pairs_command, "dpo": _dpo_command, "grpo": _grpo_command}


def main(argv=None) -> int:
    """``python -m helpers.preference pairs|dpo|grpo [flags]``; ``COMMAND --help`` lists a
    command's flags (every :class:`LLMConfig` field and the command's own)."""
    import argparse

    from .core.cli import run

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m helpers.preference",
                                     description="preference tuning (DPO) and RL with verifiable rewards (GRPO)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pairs", help="preference pairs from a task's records (and an SFT adapter)", add_help=False)
    sub.add_parser("dpo", help="DPO on a pairs file; saves an adapter", add_help=False)
    sub.add_parser("grpo", help="GRPO with verifiable rewards on a task's records; saves an adapter", add_help=False)
    if argv[:1] and argv[0] in _COMMANDS:
        command = _COMMANDS[argv[0]]
        return run(lambda _: command(argv[1:]), argparse.ArgumentParser(add_help=False), [])
    return run(lambda a: 0, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
