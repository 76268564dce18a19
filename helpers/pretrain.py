"""BERT pretraining as the enliple contest model did it: n-gram masked LM + sentence-order prediction.

- **n-gram masking**: instead of masking single tokens, mask spans of 1–3 consecutive
  tokens (span length n drawn with probability ∝ 1/n, as in ALBERT) until 15 % of the
  tokens are chosen; of those, 80 % become [MASK], 10 % a random token, 10 % stay.
  ``transformers`` ships token- and whole-word masking collators but no n-gram one, so
  :class:`NgramMaskingCollator` is written here.
- **SOP**: two consecutive text segments, in order (label 0) or swapped (label 1). It uses
  BERT's two-way sentence head (``BertForPreTraining``), so the model class is the stock one.

    >>> docs = documents_from_texts(["첫 문장이다. 둘째 문장이다. 셋째 문장이다."])
    >>> docs[0]
    ['첫 문장이다.', '둘째 문장이다.', '셋째 문장이다.']
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["PretrainConfig", "documents_from_texts", "shipped_documents", "sop_examples", "NgramMaskingCollator", "pretrain",
           "lesson_settings", "ensure_pretrained"]

_SENT = re.compile(r"(?<=[.!?])\s+")


@dataclass
class PretrainConfig:
    """Pretraining settings (smoke values are set by the lesson)."""

    max_seq_length: int = 512
    mlm_probability: float = 0.15
    max_ngram: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    max_steps: int = 10000
    warmup_ratio: float = 0.01
    seed: int = 42


def documents_from_texts(texts: Iterable[str], min_sentences: int = 2) -> list[list[str]]:
    """Split each text into sentences; keep texts with at least ``min_sentences``."""
    docs = []
    for text in texts:
        sents = [s.strip() for s in _SENT.split(text.strip()) if s.strip()]
        if len(sents) >= min_sentences:
            docs.append(sents)
    return docs


def shipped_documents() -> list[list[str]]:
    """Multi-sentence documents from the shipped text (each task says what a document of its
    is: KorQuAD paragraphs, stories, conversations with one utterance a sentence), train and
    dev samples only, then konlpy's constitution and bills."""
    from .vocab import sample_records

    docs: list[list[str]] = []
    for task, records in sample_records(("train", "dev")):
        docs += task.documents(records)
    try:
        from konlpy.corpus import kobill, kolaw
    except ImportError:
        return docs
    for corpus in (kolaw, kobill):
        for fileid in corpus.fileids():
            lines = [line.strip() for line in corpus.open(fileid).read().splitlines() if line.strip()]
            docs += [lines[i : i + 12] for i in range(0, len(lines), 12) if len(lines[i : i + 12]) >= 2]
    return docs


def sop_examples(documents: Sequence[Sequence[str]], tok, max_seq_length: int, seed: int = 42) -> list[dict]:
    """Sentence-order pairs: for each cut point of a document, segment A (the sentences
    before) and B (after), each trimmed to fit; swapped with probability 1/2 (label 1)."""
    rng = random.Random(seed)
    out = []
    budget = (max_seq_length - 3) // 2
    for sents in documents:
        for cut in range(1, len(sents)):
            a = " ".join(sents[max(0, cut - 2) : cut])
            b = " ".join(sents[cut : cut + 2])
            a_ids = tok.hf(tok.prepare(a).text, add_special_tokens=False)["input_ids"][-budget:]
            b_ids = tok.hf(tok.prepare(b).text, add_special_tokens=False)["input_ids"][:budget]
            if not a_ids or not b_ids:
                continue
            label = int(rng.random() < 0.5)
            first, second = (b_ids, a_ids) if label else (a_ids, b_ids)
            hf = tok.hf
            ids = [hf.cls_token_id, *first, hf.sep_token_id, *second, hf.sep_token_id]
            types = [0] * (len(first) + 2) + [1] * (len(second) + 1)
            out.append({"input_ids": ids, "token_type_ids": types, "next_sentence_label": label})
    return out


class NgramMaskingCollator:
    """Pads a batch and applies n-gram masking; labels are -100 except at masked tokens.

    >>> from helpers.vocab import train_wordpiece
    >>> tok = train_wordpiece(["가 나 다 라 마 바 사"] * 3, vocab_size=100)
    >>> batch = NgramMaskingCollator(tok.hf, seed=0)([{"input_ids": [2] + [10] * 40 + [3], "token_type_ids": [0] * 42}])
    >>> int((batch["labels"] != -100).sum())
    6
    """

    def __init__(self, hf_tokenizer, mlm_probability: float = 0.15, max_ngram: int = 3, seed: int = 42):
        self.tok, self.p, self.max_ngram = hf_tokenizer, mlm_probability, max_ngram
        self.rng = random.Random(seed)
        weights = [1 / n for n in range(1, max_ngram + 1)]
        self.ngram_weights = [w / sum(weights) for w in weights]
        self.special = set(hf_tokenizer.all_special_ids)

    def _choose(self, ids: list[int]) -> set[int]:
        candidates = [i for i, t in enumerate(ids) if t not in self.special]
        target = max(1, round(len(candidates) * self.p))
        chosen: set[int] = set()
        order = candidates[:]
        self.rng.shuffle(order)
        for start in order:
            if len(chosen) >= target:
                break
            n = self.rng.choices(range(1, self.max_ngram + 1), self.ngram_weights)[0]
            span = [i for i in range(start, start + n) if i < len(ids) and ids[i] not in self.special]
            span = span[: target - len(chosen)]
            if span and not chosen.intersection(span):
                chosen.update(span)
        return chosen

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        pad = self.tok.pad_token_id
        input_ids, labels, types, mask = [], [], [], []
        for f in features:
            ids = list(f["input_ids"])
            lab = [-100] * len(ids)
            for i in self._choose(ids):
                lab[i] = ids[i]
                r = self.rng.random()
                if r < 0.8:
                    ids[i] = self.tok.mask_token_id
                elif r < 0.9:
                    ids[i] = self.rng.randrange(len(self.tok))
            extra = width - len(ids)
            input_ids.append(ids + [pad] * extra)
            labels.append(lab + [-100] * extra)
            types.append(list(f.get("token_type_ids", [0] * len(ids))) + [0] * extra)
            mask.append([1] * len(ids) + [0] * extra)
        batch = {
            "input_ids": torch.tensor(input_ids),
            "token_type_ids": torch.tensor(types),
            "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels),
        }
        if "next_sentence_label" in features[0]:
            batch["next_sentence_label"] = torch.tensor([f["next_sentence_label"] for f in features])
        return batch


def pretrain(model, tok, examples: list[dict], cfg: PretrainConfig, output_dir) -> list[dict]:
    """Train a ``BertForPreTraining`` on SOP examples with n-gram masking; returns the loss log."""
    from transformers import Trainer, TrainingArguments

    from .core.hardware import trainer_precision

    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio,
        seed=cfg.seed,
        **trainer_precision(),
        logging_steps=max(1, cfg.max_steps // 20),
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    collator = NgramMaskingCollator(tok.hf, cfg.mlm_probability, cfg.max_ngram, cfg.seed)
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collator)
    trainer.train()
    model.save_pretrained(output_dir)
    tok.save_pretrained(output_dir)
    return [log for log in trainer.state.log_history if "loss" in log]


def lesson_settings(smoke: bool) -> dict:
    """Lesson 03a's pretraining sizes: the BERT's layers (None: BERT-small's own), sequence
    length, documents used (None: all), learning rate and steps.

    >>> lesson_settings(True)["max_steps"], lesson_settings(False)["max_seq_length"]
    (60, 512)
    """
    if smoke:
        return dict(num_hidden_layers=2, max_seq_length=64, documents=150, learning_rate=1e-3, max_steps=60)
    return dict(num_hidden_layers=None, max_seq_length=512, documents=None, learning_rate=1e-4, max_steps=2000)


def ensure_pretrained(tok, smoke: bool, seed: int = 42, output_dir=None):
    """Lesson 03a's pretrained BERT (``outputs/korquad/bert-pretrained``), pretraining it first
    with 03a's settings (:func:`lesson_settings`) when a fresh runtime does not have it — so
    lesson 03b fine-tunes 03a's model even when opened on its own."""
    from pathlib import Path

    from .core.messages import msg
    from .core.paths import outputs_dir

    out = Path(output_dir) if output_dir else outputs_dir("korquad", "bert-pretrained")
    if (out / "config.json").is_file():
        return out
    print(msg(f"{out}에 03a의 사전학습 모델이 없어 먼저 사전학습합니다", f"no pretrained model from lesson 03a at {out}: "
              "pretraining it first"))
    from transformers import BertForPreTraining

    from . import korquad

    s = lesson_settings(smoke)
    layers = {"num_hidden_layers": s["num_hidden_layers"]} if s["num_hidden_layers"] else {}
    config = korquad.tiny_bert_config(len(tok), **layers) if smoke else korquad.bert_small_config(len(tok))
    docs = shipped_documents()
    docs = docs[: s["documents"]] if s["documents"] else docs
    examples = sop_examples(docs, tok, max_seq_length=s["max_seq_length"], seed=seed)
    cfg = PretrainConfig(max_seq_length=s["max_seq_length"], batch_size=32, learning_rate=s["learning_rate"],
                         max_steps=s["max_steps"], seed=seed)
    pretrain(BertForPreTraining(config), tok, examples, cfg, out)
    return out
