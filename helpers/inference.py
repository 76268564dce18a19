"""Inference with causal LMs: option scoring, letter generation, batched text generation.

- :func:`score_options`: one forward pass per batch; the answer is read from the
  next-token logits over the option letters at the last prompt position (softmax over
  A/B/C gives the three probabilities). Prompts are sorted by length and left-padded, so
  the last position is the prompt's last token in every row.
- :func:`generate_letters`: the slower way for comparison: generate and parse a letter.
- :func:`generate_texts`: length-sorted, left-padded batched generation (greedy, beam
  search or sampling) for the generation tasks.
- :func:`predict_cci_file`: writes each prediction as soon as its batch is done (JSON
  lines); rerun after an interruption and it skips the questions already answered.

    >>> token_budget_batches([5, 1, 3, 2], max_tokens=6)
    [[1, 3], [2], [0]]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = [
    "letter_token_ids",
    "token_budget_batches",
    "score_options",
    "generate_letters",
    "GenerationConfig",
    "generate_texts",
    "generate_outputs",
    "clean_generation",
    "predict_cci",
    "predict_cci_file",
    "read_predictions",
]


def letter_token_ids(tokenizer, letters: Sequence[str] = ("A", "B", "C")) -> list[int]:
    """The token id each answer letter starts with, as training encodes it (the letter
    tokenized on its own, right after the generation prompt)."""
    ids = [tokenizer(letter, add_special_tokens=False)["input_ids"][0] for letter in letters]
    if len(set(ids)) != len(ids):
        raise ValueError(f"선택지 글자가 같은 토큰이 됩니다 / option letters share a token: {dict(zip(letters, ids))}")
    return ids


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped into batches, shortest first, each at most ``max_tokens`` tokens once
    padded to its longest member (and at most ``max_batch`` rows). A prompt longer than the
    budget gets a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max([lengths[j] for j in current] + [lengths[i]])
        if current and (width * (len(current) + 1) > max_tokens or (max_batch and len(current) >= max_batch)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _encode_left_padded(tokenizer, texts: Sequence[str], device):
    """Left-padded tensors of ``texts`` (tokenized without added special tokens, as in training)."""
    import torch

    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
    return input_ids, mask


def _device(model):
    return next(model.parameters()).device


def score_options(model, tokenizer, prompts: Sequence[str], letters: Sequence[str] = ("A", "B", "C"),
                  max_tokens: int = 16384, max_batch: int | None = 64, progress: bool = True) -> list[list[float]]:
    """Probabilities of each letter as the next token after each prompt (rows in input order).

    Batches come from :func:`token_budget_batches` over prompt lengths; only the last
    position's logits are computed (``logits_to_keep=1``).
    """
    import torch
    from tqdm.auto import tqdm

    letter_ids = letter_token_ids(tokenizer, letters)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    batches = token_budget_batches(lengths, max_tokens, max_batch)
    out: list[list[float] | None] = [None] * len(prompts)
    device = _device(model)
    with torch.inference_mode():
        for batch in tqdm(batches, desc="scoring", disable=not progress or len(batches) < 2):
            input_ids, mask = _encode_left_padded(tokenizer, [prompts[i] for i in batch], device)
            logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :]
            probs = torch.softmax(logits[:, letter_ids].float(), dim=-1).cpu().tolist()
            for i, p in zip(batch, probs):
                out[i] = p
    return out  # type: ignore[return-value]


def generate_letters(model, tokenizer, prompts: Sequence[str], letters: Sequence[str] = ("A", "B", "C"),
                     max_new_tokens: int = 4, batch_size: int = 16) -> list[str | None]:
    """Greedy-generate a few tokens and parse the first option letter (None if there is none)."""
    texts = generate_texts(model, tokenizer, prompts, GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch_size),
                           clean=False)
    pattern = re.compile("|".join(map(re.escape, letters)))
    return [(m.group(0) if (m := pattern.search(t)) else None) for t in texts]


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
    max_tokens: int | None = None  # token budget per batch (prompt + new tokens); None: batch_size only

    @classmethod
    def for_task(cls, task: str, **overrides) -> "GenerationConfig":
        """The seeds' decoding: greedy for 일상 대화 요약 (EXAONE, long summaries), beam
        search for 이야기 완성 (polyglot-ko, one sentence); override anything."""
        base = {"dcs": dict(max_new_tokens=512), "sc": dict(max_new_tokens=64, num_beams=4)}[task]
        return cls(**{**base, **overrides})

    def generate_kwargs(self) -> dict:
        kw = dict(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=self.do_sample,
                  repetition_penalty=self.repetition_penalty)
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p)
        return kw


def clean_generation(text: str) -> str:
    """One line: newlines become spaces and runs of spaces collapse (the seeds' output handling).

    >>> clean_generation(" 두 화자는\\n여행에 대해  이야기했다. ")
    '두 화자는 여행에 대해 이야기했다.'
    """
    return re.sub(r"\s+", " ", text.replace("\n", " ")).strip()


def generate_texts(model, tokenizer, prompts: Sequence[str], cfg: GenerationConfig | None = None,
                   clean: bool = True, progress: bool = True) -> list[str]:
    """Continuations of ``prompts`` (rows in input order), in length-sorted left-padded batches
    with the KV cache; the new tokens only, decoded without special tokens."""
    import torch
    from tqdm.auto import tqdm

    cfg = cfg or GenerationConfig()
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    budget = cfg.max_tokens or 10**12
    batches = token_budget_batches([n + cfg.max_new_tokens for n in lengths], budget, cfg.batch_size)
    out: list[str] = [""] * len(prompts)
    device = _device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        for batch in tqdm(batches, desc="generating", disable=not progress or len(batches) < 2):
            input_ids, mask = _encode_left_padded(tokenizer, [prompts[i] for i in batch], device)
            gen = model.generate(input_ids=input_ids, attention_mask=mask, pad_token_id=pad,
                                 eos_token_id=tokenizer.eos_token_id, use_cache=True, **cfg.generate_kwargs())
            for row, i in enumerate(batch):
                text = tokenizer.decode(gen[row, input_ids.shape[1]:], skip_special_tokens=True)
                out[i] = clean_generation(text) if clean else text
    return out


# ----------------------------------------------------------------------------- predictions


def cci_prompts(records: Sequence, tokenizer, style: str = "base") -> list[str]:
    """Rendered prompts (with the generation prompt) of 대화 맥락 추론 records."""
    from .llm import prompt_and_answer

    return [prompt_and_answer(r, tokenizer, style)[0] for r in records]


def generate_outputs(model, tokenizer, records: Sequence, cfg: "GenerationConfig | None" = None) -> dict[str, str]:
    """Generated answers of 일상 대화 요약 / 이야기 완성 records, by id (cleaned to one line)."""
    from .llm import prompt_and_answer

    texts = generate_texts(model, tokenizer, [prompt_and_answer(r, tokenizer)[0] for r in records], cfg)
    return {r.id: t for r, t in zip(records, texts)}


def predict_cci(model, tokenizer, records: Sequence, style: str = "base", **score_kw) -> list[dict]:
    """One prediction per record: ``{"id", "output": "inference_N", "probs": {label: p}}``."""
    probs = score_options(model, tokenizer, cci_prompts(records, tokenizer, style), **score_kw)
    return [_prediction(r.id, p) for r, p in zip(records, probs)]


def _prediction(rid: str, probs: Sequence[float]) -> dict:
    from .data import CCI_LABELS

    best = max(range(len(probs)), key=lambda k: probs[k])
    return {"id": rid, "output": CCI_LABELS[best], "probs": {label: round(float(p), 6) for label, p in zip(CCI_LABELS, probs)}}


def read_predictions(path: str | Path) -> list[dict]:
    """A kit prediction file (JSON lines, or a JSON array) as a list of dicts."""
    text = Path(path).read_text(encoding="utf-8-sig").strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def predict_cci_file(model, tokenizer, records: Sequence, out_path: str | Path, style: str = "base",
                     chunk: int = 64, **score_kw) -> list[dict]:
    """Predict and append to ``out_path`` (JSON lines) chunk by chunk; questions already in the
    file are skipped, so an interrupted run resumes where it stopped."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = {p["id"] for p in read_predictions(out_path)} if out_path.is_file() else set()
    todo = [r for r in records if r.id not in done]
    if done:
        print(f"{len(done)}개는 이미 예측됨, {len(todo)}개 남음 / resuming: {len(done)} done, {len(todo)} to go")
    for lo in range(0, len(todo), chunk):
        part = todo[lo : lo + chunk]
        preds = predict_cci(model, tokenizer, part, style, **score_kw)
        with open(out_path, "a", encoding="utf-8") as f:
            for p in preds:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
    by_id = {p["id"]: p for p in read_predictions(out_path)}
    return [by_id[r.id] for r in records if r.id in by_id]

