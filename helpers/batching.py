"""Batches of similar length under a token budget, for training and inference alike.

Sorting by length and cutting batches by *padded* tokens (not by a fixed number of rows)
keeps padding small and the GPU full: short prompts go many to a batch, long ones few.

    >>> token_budget_batches([5, 1, 3, 2], max_tokens=6)
    [[1, 3], [2], [0]]
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

__all__ = ["token_budget_batches", "TokenBudgetSampler", "AnswerOnlyCollator", "prompt_token_ids", "pad_id",
           "left_padded", "encode_left_padded"]


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped into batches, shortest first, each at most ``max_tokens`` tokens once
    padded to its longest member (and at most ``max_batch`` rows). A sequence longer than the
    budget gets a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i]  # ascending order: the newest row is the widest
        if current and (width * (len(current) + 1) > max_tokens or (max_batch and len(current) >= max_batch)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class TokenBudgetSampler:
    """Batches of example indices grouped by length under a padded-token budget; the order of
    the batches is shuffled every epoch (seeded), their content stays length-grouped, and the
    first epoch starts with the batch of the most padded tokens (an out-of-memory budget then
    fails at the first step, before the weights change: :func:`helpers.llm.train` retries it
    with half the budget).

    >>> s = TokenBudgetSampler([4, 4, 8, 8, 2], max_tokens=8, seed=0)
    >>> sorted(map(sorted, s.batches))
    [[0, 4], [1], [2], [3]]
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int = 42, max_batch: int | None = None,
                 pad_multiple: int = 1):
        # the collator pads to a multiple: budget the padded widths, not the raw lengths
        padded = [math.ceil(n / pad_multiple) * pad_multiple for n in lengths]
        self.batches = token_budget_batches(padded, max_tokens, max_batch)
        self.padded_tokens = [len(b) * max(padded[i] for i in b) for b in self.batches]
        self.max_tokens, self.seed, self.epoch = max_tokens, seed, 0

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def mean_batch(self) -> float:
        return sum(len(b) for b in self.batches) / max(len(self.batches), 1)

    def __iter__(self):
        order = list(range(len(self.batches)))
        random.Random(self.seed + self.epoch).shuffle(order)
        if self.epoch == 0 and order:  # the heaviest batch first: a budget too large fails before any update
            heaviest = max(order, key=lambda i: (self.padded_tokens[i], -i))
            order.remove(heaviest)
            order.insert(0, heaviest)
        self.epoch += 1
        return iter([self.batches[i] for i in order])


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


def prompt_token_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text without added special tokens (the rendered prompt already has the
    template's), in one batched tokenizer call."""
    if not texts:
        return []
    return list(tokenizer(list(texts), add_special_tokens=False)["input_ids"])


def pad_id(tokenizer) -> int:
    """The id that pads prompts for generation and scoring: the tokenizer's pad token, else its
    end-of-sequence token (many causal LMs ship without a pad token)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def left_padded(tokenizer, ids: Sequence[Sequence[int]], device):
    """Left-padded ``(input_ids, attention_mask)`` tensors of already tokenized rows."""
    import torch

    width = max(len(x) for x in ids)
    pad = pad_id(tokenizer)
    input_ids = torch.tensor([[pad] * (width - len(x)) + list(x) for x in ids], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
    return input_ids, mask


def encode_left_padded(tokenizer, texts: Sequence[str], device):
    """Left-padded ``(input_ids, attention_mask)`` of ``texts``, tokenized without added special
    tokens (the rendered prompt already has the template's), as in training."""
    return left_padded(tokenizer, prompt_token_ids(tokenizer, texts), device)
