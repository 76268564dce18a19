"""Inference with causal LMs for any task, through the engine interface.

- :func:`score_options`: one forward pass per batch; the answer is read from the next-token
  logits over the option letters at the last prompt position (softmax over the letters gives
  each option's probability). Prompts are sorted by length and left-padded, so the last
  position is the prompt's last token in every row.
- :func:`generate_texts`: length-sorted, left-padded batched generation (greedy, beam search or
  sampling) with the KV cache.
- :func:`predict`: every record as its task says (``choice`` records scored, the others
  generated); :func:`predict_file` writes each chunk as soon as it is done (JSON lines, after a
  header naming the model, prompt style and records) and, rerun after an interruption, skips
  the records already answered — refusing a file that another model or other records made.

    >>> clean_generation(" 두 화자는\\n여행에 대해  이야기했다. ")
    '두 화자는 여행에 대해 이야기했다.'
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import tasks
from .batching import token_budget_batches
from .core.io import append_jsonl, read_json_records, read_predictions, write_json
from .core.messages import KitError, msg
from .llm.engines import get_engine, letter_token_ids
from .llm.train import prompt_and_answer
from .tasks.base import records_hash

__all__ = ["NEAR_TIE", "near_tie_margin", "letter_token_ids", "token_budget_batches", "score_options", "generate_letters", "GenerationConfig",
           "generate_texts", "generate_outputs", "clean_generation", "prompts_of", "cci_prompts", "predict",
           "predict_cci", "predict_file", "predict_cci_file", "read_predictions", "records_hash"]


@dataclass
class GenerationConfig:
    """Decoding settings: greedy (default), beam search (``num_beams`` > 1) or sampling."""

    max_new_tokens: int = 256
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    batch_size: int = 16
    max_tokens: int | None = None  # token budget per batch (prompt + new tokens); None: what the GPU's free memory holds
    # (helpers.llm.engines.generation_token_budget; on a CPU batch_size only)

    @classmethod
    def for_task(cls, task: str, **overrides) -> "GenerationConfig":
        """The task's decoding (``Task.generation``: greedy for 일상 대화 요약, beam search for
        이야기 완성, as the seeds did); override anything."""
        return cls(**{**tasks.get(task).generation, **overrides})

    def generate_kwargs(self) -> dict:
        kw = dict(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=self.do_sample,
                  repetition_penalty=self.repetition_penalty)
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p)
        return kw


def clean_generation(text: str) -> str:
    """One line: newlines become spaces and runs of spaces collapse (the seeds' output handling)."""
    return re.sub(r"\s+", " ", text.replace("\n", " ")).strip()


def score_options(model, tokenizer, prompts: Sequence[str], letters: Sequence[str] = ("A", "B", "C"),
                  max_tokens: int = 8192, max_batch: int | None = 64, progress: bool = True,
                  engine: str = "hf") -> list[list[float]]:
    """Probabilities of each letter as the next token after each prompt (rows in input order).

    Batches come from :func:`token_budget_batches` over prompt lengths; only the last
    position's logits are computed (``logits_to_keep=1``). The budget of 8192 padded tokens is
    about 16 prompts of 500 tokens: enough rows to keep a large GPU busy, and on the real
    length distribution about 7 % padding (16384 gave 15 %; measured on the lengths of
    ``bench/infer_entry.py``).
    """
    return get_engine(engine, load=False).score(model, tokenizer, prompts, letters, max_tokens=max_tokens,
                                                max_batch=max_batch, progress=progress)


def generate_texts(model, tokenizer, prompts: Sequence[str], cfg: GenerationConfig | None = None,
                   clean: bool = True, progress: bool = True, engine: str = "hf") -> list[str]:
    """Continuations of ``prompts`` (rows in input order): the new tokens only, decoded without
    special tokens (cleaned to one line unless ``clean=False``)."""
    texts = get_engine(engine, load=False).generate(model, tokenizer, prompts, cfg or GenerationConfig(),
                                                    progress=progress)
    return [clean_generation(t) for t in texts] if clean else texts


#: A top-2 probability gap below this is a near-tie: rounding differences (left padding in a
#: batch, another kernel) may flip greedy decoding there.
NEAR_TIE = 0.1


def near_tie_margin(model, tokenizer, prompt: str, other: str, max_new_tokens: int) -> float:
    """The smallest gap between the two most likely next tokens' probabilities while ``prompt``
    is greedy-decoded alone, up to the step where its text stops agreeing with ``other`` (another
    run's greedy output for the same prompt, e.g. from a padded batch; compared as
    :func:`clean_generation` text). Below :data:`NEAR_TIE` the two runs met a near-tie, where
    the numerics of padding may flip the choice; a large gap means they differ for another
    reason (a bug).
    """
    import torch

    from .batching import encode_left_padded, pad_id
    from .llm.engines import generation_mode

    unwrapped = getattr(model, "module", model)
    device = next(unwrapped.parameters()).device
    ids, mask = encode_left_padded(tokenizer, [prompt], device)
    with torch.inference_mode(), generation_mode(unwrapped):
        out = unwrapped.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 num_beams=1, output_scores=True, return_dict_in_generate=True,
                                 pad_token_id=pad_id(tokenizer), eos_token_id=tokenizer.eos_token_id)
    target = clean_generation(other)
    new = out.sequences[0, ids.shape[1]:]
    smallest = 1.0
    for step, scores in enumerate(out.scores):
        top = torch.softmax(scores[0].float(), dim=-1).topk(2).values
        smallest = min(smallest, float(top[0] - top[1]))
        text = clean_generation(tokenizer.decode(new[: step + 1], skip_special_tokens=True).rstrip("\ufffd"))
        if not target.startswith(text):
            break
    return smallest


def generate_letters(model, tokenizer, prompts: Sequence[str], letters: Sequence[str] = ("A", "B", "C"),
                     max_new_tokens: int = 4, batch_size: int = 16) -> list[str | None]:
    """Greedy-generate a few tokens and parse the first option letter (None if there is none)."""
    texts = generate_texts(model, tokenizer, prompts, GenerationConfig(max_new_tokens=max_new_tokens,
                                                                       batch_size=batch_size), clean=False)
    pattern = re.compile("|".join(map(re.escape, letters)))
    return [(m.group(0) if (m := pattern.search(t)) else None) for t in texts]


# ----------------------------------------------------------------------------- predictions


def prompts_of(records: Sequence, tokenizer, style: str = "base") -> list[str]:
    """Rendered prompts (with the generation prompt) of any task's records."""
    return [prompt_and_answer(r, tokenizer, style)[0] for r in records]


def cci_prompts(records: Sequence, tokenizer, style: str = "base") -> list[str]:
    """:func:`prompts_of` for 대화 맥락 추론 records."""
    return prompts_of(records, tokenizer, style)


def predict(model, tokenizer, records: Sequence, style: str = "base", *, generation: GenerationConfig | None = None,
            engine: str = "hf", progress: bool = True, prompts: Sequence[str] | None = None, **score_kw) -> list[dict]:
    """One prediction per record, in order: ``{"id", "output", "probs": {label: p}}`` for a
    choice record (the option with the highest probability), ``{"id", "output"}`` with the
    generated text otherwise. Records may mix tasks and modes. ``prompts``: the records'
    prompts already rendered (:func:`prompts_of`), so they are not rendered again."""
    out: list[dict | None] = [None] * len(records)
    if prompts is None:
        prompts = prompts_of(records, tokenizer, style)
    elif len(prompts) != len(records):
        raise ValueError(f"{len(prompts)} prompts for {len(records)} records")
    choice = [i for i, r in enumerate(records) if tasks.task_of(r).mode(r) == "choice"]
    scored = set(choice)
    other = [i for i in range(len(records)) if i not in scored]
    groups: dict[tuple, list[int]] = {}
    for i in choice:  # records with the same letters are scored together
        groups.setdefault(tuple(tasks.task_of(records[i]).letters(records[i])), []).append(i)
    for letters, idx in groups.items():
        probs = score_options(model, tokenizer, [prompts[i] for i in idx], letters,
                              progress=progress, engine=engine, **score_kw)
        for i, p in zip(idx, probs):
            rec = records[i]
            labels = tasks.task_of(rec).labels(rec)
            best = max(range(len(p)), key=lambda k: p[k])
            out[i] = {"id": rec.id, "output": labels[best],
                      "probs": {label: round(float(x), 6) for label, x in zip(labels, p)}}
    by_task: dict[str, list[int]] = {}
    for i in other:
        by_task.setdefault(tasks.task_of(records[i]).name, []).append(i)
    for name, idx in by_task.items():
        gen = generation or GenerationConfig.for_task(name)
        texts = generate_texts(model, tokenizer, [prompts[i] for i in idx], gen,
                               progress=progress, engine=engine)
        for i, text in zip(idx, texts):
            out[i] = {"id": records[i].id, "output": text}
    return out  # type: ignore[return-value]


def predict_cci(model, tokenizer, records: Sequence, style: str = "base", **score_kw) -> list[dict]:
    """:func:`predict` for 대화 맥락 추론 records."""
    return predict(model, tokenizer, records, style, **score_kw)


def generate_outputs(model, tokenizer, records: Sequence, cfg: GenerationConfig | None = None,
                     style: str = "base") -> dict[str, str]:
    """Generated answers of records, by id (cleaned to one line)."""
    texts = generate_texts(model, tokenizer, prompts_of(records, tokenizer, style), cfg)
    return {r.id: t for r, t in zip(records, texts)}


def _model_name(model) -> str:
    """The model's folder, plus a fingerprint of its adapter weights (two trainings of the same
    base are different models: a prediction file of one must not be resumed by the other)."""
    path = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "")
    peft = getattr(model, "peft_config", None)
    if peft:
        first = next(iter(peft.values()))
        sums = [f"{float(p.detach().float().sum()):.6g}" for n, p in model.named_parameters() if "lora_" in n][:16]
        digest = hashlib.sha256(" ".join(sums).encode()).hexdigest()[:12]
        path = f"{first.base_model_name_or_path} + adapter {digest}"
    return path


def predict_file(model, tokenizer, records: Sequence, out_path: str | Path, style: str = "base", chunk: int = 64,
                 *, model_id: str | None = None, stop_after: int | None = None, **kw) -> list[dict]:
    """Predict and append to ``out_path`` (JSON lines) chunk by chunk; records already in the
    file are skipped, so an interrupted run resumes where it stopped. The records still to do
    are taken shortest prompt first, so each chunk's batches hold prompts of about one length
    (little padding); the file's lines are in that order, the returned list in ``records``'.

    The first line is a header ``{"kit_header": {"model", "style", "records"}}``; a file whose
    header names another model, style or record set is refused (delete it or choose another
    name) rather than silently reused. A torn last line (a kill mid-write) is dropped with a
    warning. ``stop_after=N`` answers at most N more records and stops (an interruption, on
    purpose: lessons and tests use it to show the resume).
    """
    out_path = Path(out_path)
    header = {"model": model_id or _model_name(model), "style": style, "records": records_hash(records)}
    done: set[str] = set()
    if out_path.is_file() and out_path.stat().st_size:
        raw = read_json_records(out_path, allow_torn_tail=True)
        raw = raw if isinstance(raw, list) else [raw]
        have = raw[0].get("kit_header") if raw and isinstance(raw[0], dict) else None
        if have != header:
            raise KitError(msg(f"{out_path}는 다른 모델·프롬프트·데이터로 만든 예측 파일입니다 ({have}). "
                               "지우거나 다른 파일 이름을 쓰세요",
                               f"{out_path} was made by another model, prompt style or record set ({have} vs "
                               f"{header}); delete it or use another name"))
        rows = [r for r in raw[1:] if isinstance(r, dict) and "id" in r]
        write_json([{"kit_header": header}, *rows], out_path, jsonl=True)  # rewrite without a torn tail
        done = {r["id"] for r in rows}
    else:
        write_json([{"kit_header": header}], out_path, jsonl=True)
    todo = [r for r in records if r.id not in done]
    if stop_after is not None:
        todo = todo[:stop_after]
    if done:
        print(msg(f"{len(done)}개는 이미 예측됨, {len(todo)}개 남음", f"resuming: {len(done)} done, {len(todo)} to go"))
    from tqdm.auto import tqdm

    prompts = prompts_of(todo, tokenizer, style)  # rendered once
    order = sorted(range(len(todo)), key=lambda i: len(prompts[i]))
    progress = kw.pop("progress", True)
    with tqdm(total=len(todo), desc="predicting", unit="rec", disable=not progress or len(todo) <= chunk) as bar:
        for lo in range(0, len(todo), chunk):
            part = order[lo: lo + chunk]
            append_jsonl(predict(model, tokenizer, [todo[i] for i in part], style, prompts=[prompts[i] for i in part],
                                 progress=progress and len(todo) <= chunk, **kw), out_path)
            bar.update(len(part))
    by_id = {p["id"]: p for p in read_predictions(out_path)}
    return [by_id[r.id] for r in records if r.id in by_id]


def predict_cci_file(model, tokenizer, records: Sequence, out_path: str | Path, style: str = "base",
                     chunk: int = 64, **kw) -> list[dict]:
    """:func:`predict_file` for 대화 맥락 추론 records."""
    return predict_file(model, tokenizer, records, out_path, style, chunk, **kw)
