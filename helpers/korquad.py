"""KorQuAD 1.0 with a small BERT: config, features, post-processing, official metrics, training, CLI.

The defaults rebuild the enliple contest baseline (BERT hidden 256, 12 layers, 8 heads,
morpheme-level WordPiece; fine-tuned with max length 512, stride 128, query 96, answer 30,
n-best 20, batch 16, lr 5e-5, 4 epochs, seed 42; EM 78.68 / F1 88.20 on the dev set).

Command line::

    python -m helpers.korquad evaluate DATASET.json PREDICTIONS.json
    python -m helpers.korquad roundtrip DATASET.json [--tokenizer ID_OR_PATH] [--out PRED.json]
    python -m helpers.korquad predict --model DIR --data DATASET.json --out PRED.json

    >>> exact_match_score("《1987년》", "1987년"), round(f1_score("1987년 3월", "1987년"), 4)
    (True, 0.8333)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from .tasks.korquad import (QAExample, evaluate, evaluate_examples, exact_match_score, f1_score,
                            normalize_answer)

__all__ = [
    "QAConfig",
    "bert_small_config",
    "tiny_bert_config",
    "qa_model",
    "build_features",
    "postprocess",
    "normalize_answer",
    "exact_match_score",
    "f1_score",
    "evaluate",
    "evaluate_examples",
    "roundtrip",
    "train_qa",
    "predict",
    "kit_tokenizer",
]


# ----------------------------------------------------------------------------- config


@dataclass
class QAConfig:
    """Every setting of the KorQuAD track; defaults are the enliple baseline's values. The full-mode
    model is ``KIT_BERT_MODEL`` when set (a hub id, or a local folder on an offline server),
    ``klue/bert-base`` otherwise (it fits a Colab T4; a 24 GB card also fits klue/roberta-large).

    >>> saved = os.environ.pop("KIT_BERT_MODEL", None)
    >>> os.environ["KIT_BERT_MODEL"] = "/models/my-bert"; QAConfig().model_name
    '/models/my-bert'
    >>> del os.environ["KIT_BERT_MODEL"]; QAConfig().model_name
    'klue/bert-base'
    >>> os.environ.update({"KIT_BERT_MODEL": saved} if saved else {})
    """

    model_name: str = field(default_factory=lambda: os.environ.get("KIT_BERT_MODEL") or "klue/bert-base")
    tokenizer_name: str | None = None  # None: the model's own tokenizer
    max_seq_length: int = 512
    doc_stride: int = 128
    max_query_length: int = 96
    max_answer_length: int = 30
    n_best_size: int = 20
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    epochs: float = 4.0
    warmup_ratio: float = 0.1
    lr_scheduler_type: str = "linear"
    weight_decay: float = 0.01
    seed: int = 42
    output_dir: str = "outputs/korquad"

    @classmethod
    def smoke(cls, **overrides) -> "QAConfig":
        """Small windows and a short run for a tiny model on two CPU cores."""
        # A tiny BERT learns the synthetic task in a sudden jump after a plateau of a few hundred
        # steps; a constant learning rate of 1e-3 gets there on every seed tried (19 epochs of 1,200).
        base = dict(max_seq_length=64, doc_stride=16, max_query_length=16, batch_size=32, learning_rate=1e-3,
                    epochs=19.0, warmup_ratio=0.0, lr_scheduler_type="constant", weight_decay=0.0)
        return replace(cls(), **{**base, **overrides})


def bert_small_config(vocab_size: int, **overrides):
    """The contest's BERT-small: hidden 256, 12 layers, 8 heads (intermediate 4 × hidden).

    >>> bert_small_config(32000).num_hidden_layers
    12
    """
    from transformers import BertConfig

    settings = dict(hidden_size=256, num_hidden_layers=12, num_attention_heads=8, intermediate_size=1024,
                    max_position_embeddings=512, type_vocab_size=2)
    return BertConfig(vocab_size=vocab_size, **{**settings, **overrides})


def qa_model(name_or_path):
    """An extractive-QA BERT from a hub id or a folder — a fine-tuned QA model, or a pretrained
    one (lesson 03a's ``BertForPreTraining``), whose span head then starts random. transformers'
    notices about the head it initialises and the pretraining heads it drops are expected here,
    so they are not printed."""
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForQuestionAnswering.from_pretrained(str(name_or_path))
    finally:
        hf_logging.set_verbosity(before)


def tiny_bert_config(vocab_size: int, **overrides):
    """A BERT small enough to train on a CPU in seconds (smoke mode)."""
    settings = dict(hidden_size=96, num_hidden_layers=1, num_attention_heads=4, intermediate_size=192,
                    max_position_embeddings=256, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return bert_small_config(vocab_size, **{**settings, **overrides})


def kit_tokenizer(path: str | Path | None = None, rebuild: bool = False, extra_texts: Sequence[str] = ()):
    """The kit's morpheme-level WordPiece tokenizer (trained on the shipped text if missing).

    The shipped text includes one sentence per name, attribute and value of the synthetic
    smoke-mode task, so none of them becomes [UNK]. Saved under
    ``outputs/tokenizers/kit-wordpiece`` so later lessons and the CLI reuse it.
    """
    from .core.paths import outputs_dir
    from .synthetic import vocabulary_texts
    from .vocab import load_tokenizer, shipped_texts, train_wordpiece

    path = Path(path) if path else outputs_dir("tokenizers") / "kit-wordpiece"
    if rebuild or not (path / "tokenizer.json").is_file():
        texts = list(shipped_texts()) + vocabulary_texts() + list(extra_texts)
        train_wordpiece(texts, vocab_size=8000).save_pretrained(path)
    return load_tokenizer(path)


# ----------------------------------------------------------------------------- features


def _truncate_question(tok, question: str, max_query_length: int) -> str:
    """Cut the question after ``max_query_length`` tokens (at a token boundary)."""
    tokens, offsets = tok.tokenize_with_offsets(question)
    if len(tokens) <= max_query_length:
        return question
    return question[: offsets[max_query_length - 1][1]]


def build_features(examples: Sequence[QAExample], tok, cfg: QAConfig, *, train: bool = True) -> dict[str, list]:
    """Sliding-window features for extractive QA.

    Each example becomes one or more windows of ``cfg.max_seq_length`` tokens overlapping by
    ``cfg.doc_stride``. Returned columns: ``input_ids``, ``attention_mask``,
    ``token_type_ids``, ``example_index``, ``offset_mapping`` (original-context character
    spans for context tokens, ``None`` for question, special and padding tokens) and, when
    ``train``, ``start_positions``/``end_positions`` (the [CLS] index when the answer is not
    entirely inside the window).
    """
    hf = tok.hf
    questions, contexts = [], []
    for ex in examples:
        questions.append(tok.prepare(_truncate_question(tok, ex.question, cfg.max_query_length)))
        contexts.append(tok.prepare(ex.context))
    enc = hf(
        [q.text for q in questions],
        [c.text for c in contexts],
        truncation="only_second",
        max_length=cfg.max_seq_length,
        stride=cfg.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    feats: dict[str, list] = {k: [] for k in ("input_ids", "attention_mask", "token_type_ids", "example_index", "offset_mapping")}
    if train:
        feats["start_positions"], feats["end_positions"] = [], []
    reached = [0] * len(examples)  # the furthest context character some window holds
    for i, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
        seq_ids = enc.sequence_ids(i)
        seg = contexts[ex_idx]
        reached[ex_idx] = max([reached[ex_idx]] + [e for sid, (_, e) in zip(seq_ids, enc["offset_mapping"][i]) if sid == 1])
        offsets = [seg.span_to_original(s, e) if sid == 1 and e > s else None
                   for sid, (s, e) in zip(seq_ids, enc["offset_mapping"][i])]
        for key in ("input_ids", "attention_mask"):
            feats[key].append(enc[key][i])
        feats["token_type_ids"].append(enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(seq_ids))
        feats["example_index"].append(ex_idx)
        feats["offset_mapping"].append(offsets)
        if train:
            start, end = _label_positions(examples[ex_idx], offsets, enc["input_ids"][i].index(hf.cls_token_id)
                                          if hf.cls_token_id in enc["input_ids"][i] else 0)
            feats["start_positions"].append(start)
            feats["end_positions"].append(end)
    _check_windows_cover(examples, contexts, reached, hf)
    return feats


def _check_windows_cover(examples: Sequence[QAExample], contexts: list, reached: list[int], hf) -> None:
    """Stop when the windows of some example do not reach the end of its context.

    tokenizers 0.23.1 and 0.23.2 stop tokenizing at ``max_length`` when truncation is on and so
    return at most two overflowing windows (huggingface/tokenizers#2091): answers further on
    would silently never be trained on or found. The kit asks for ``tokenizers>=0.23.3``; this
    check catches an older install (or any tokenizer that drops windows).
    """
    from .core.messages import KitError, msg

    texts = list(dict.fromkeys(c.text for c in contexts))  # KorQuAD asks several questions per context
    whole = hf(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)  # no truncation
    ends = {t: max((e for _, e in offsets), default=0) for t, offsets in zip(texts, whole["offset_mapping"])}
    for ex, c, got in zip(examples, contexts, reached):
        end = ends[c.text]
        if got < end:
            import tokenizers

            stop = c.span_to_original(0, got)[1] if got else 0
            where = (f"질문 {ex.id}: 슬라이딩 창이 지문 {len(ex.context)}자 중 {stop}번째 글자에서 멈춥니다. ",
                     f"question {ex.id}: the sliding windows stop at context character {stop} of {len(ex.context)}. ")
            if tokenizers.__version__ in ("0.23.1", "0.23.2"):
                raise KitError(msg(
                    where[0] + f"설치된 tokenizers {tokenizers.__version__}에는 길이를 넘는 부분의 창(overflow)을 "
                    "버리는 버그가 있습니다: pip install 'tokenizers>=0.23.3'",
                    where[1] + f"tokenizers {tokenizers.__version__} drops overflowing windows (a bug of "
                    "0.23.1-0.23.2): pip install 'tokenizers>=0.23.3'"))
            raise KitError(msg(where[0] + f"토크나이저({type(hf).__name__})가 길이를 넘는 부분의 창(overflow)을 버립니다",
                               where[1] + f"the tokenizer ({type(hf).__name__}) drops overflowing windows"))


def _label_positions(ex: QAExample, offsets: list, cls_index: int) -> tuple[int, int]:
    """Token indices of the first answer inside this window, or (cls, cls) when it is not inside."""
    if not ex.answers:
        return cls_index, cls_index
    ans = ex.answers[0]
    start_char, end_char = ans.answer_start, ans.answer_start + len(ans.text)
    ctx = [i for i, o in enumerate(offsets) if o is not None]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return cls_index, cls_index
    start = next(i for i in ctx if offsets[i][1] > start_char)
    end = next(i for i in reversed(ctx) if offsets[i][0] < end_char)
    return start, end


# ----------------------------------------------------------------------------- post-processing


def postprocess(
    examples: Sequence[QAExample], features: dict[str, list], start_logits, end_logits, cfg: QAConfig,
) -> dict[str, str]:
    """The best answer text per question from start/end logits over all of its windows.

    Candidates are the ``n_best_size`` highest starts × ends of each window; a candidate is
    dropped when either end is not a context token (question, special token, padding), when
    it ends before it starts, or when it is longer than ``max_answer_length`` tokens. The
    score is start logit + end logit; the text is cut from the original context.
    """
    import numpy as np

    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    best: dict[int, tuple[float, str]] = {}
    for f, ex_idx in enumerate(features["example_index"]):
        offsets = features["offset_mapping"][f]
        s_log, e_log = start_logits[f], end_logits[f]
        starts = np.argsort(s_log)[::-1][: cfg.n_best_size]
        ends = np.argsort(e_log)[::-1][: cfg.n_best_size]
        for s in starts:
            if offsets[s] is None:
                continue
            for e in ends:
                if offsets[e] is None or e < s or e - s + 1 > cfg.max_answer_length:
                    continue
                score = float(s_log[s] + e_log[e])
                if ex_idx not in best or score > best[ex_idx][0]:
                    ctx = examples[ex_idx].context
                    best[ex_idx] = (score, ctx[offsets[s][0] : offsets[e][1]])
    return {ex.id: best.get(i, (0.0, ""))[1] for i, ex in enumerate(examples)}


# ----------------------------------------------------------------------------- official metrics

# The official KorQuAD 1.0 evaluation (itself built on SQuAD 1.1's): these quote and
# ----------------------------------------------------------------------------- round trip


def roundtrip(examples: Sequence[QAExample], tok, cfg: QAConfig | None = None) -> tuple[dict, dict[str, str], list[str]]:
    """Feature building and post-processing must invert each other: turn every training
    window's gold start/end labels into one-hot logits, post-process, and score.

    Returns ``(metrics, predictions, ids of questions whose gold answer did not come back)``.
    """
    import numpy as np

    cfg = cfg or QAConfig()
    feats = build_features(examples, tok, cfg, train=True)
    n, length = len(feats["input_ids"]), len(feats["input_ids"][0])
    start_logits, end_logits = np.zeros((n, length)), np.zeros((n, length))
    start_logits[np.arange(n), feats["start_positions"]] = 10.0
    end_logits[np.arange(n), feats["end_positions"]] = 10.0
    preds = postprocess(examples, feats, start_logits, end_logits, cfg)
    metrics = evaluate_examples(examples, preds)
    lost = [ex.id for ex in examples if not any(exact_match_score(preds[ex.id], a.text) for a in ex.answers)]
    return metrics, preds, lost


# ----------------------------------------------------------------------------- training


class _Features:
    """A torch Dataset over the model inputs of :func:`build_features`."""

    def __init__(self, feats: dict[str, list], keys: Sequence[str]):
        self.feats, self.keys = feats, [k for k in keys if k in feats]

    def __len__(self) -> int:
        return len(self.feats["input_ids"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        return {k: torch.tensor(self.feats[k][i]) for k in self.keys}


_MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")


def predict_logits(model, feats: dict[str, list], batch_size: int = 64):
    """Start and end logits of every feature (no gradients, the model's own device)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    data = _Features(feats, _MODEL_KEYS[:3])
    model.eval()
    starts, ends = [], []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for lo in tqdm(range(0, len(data), batch_size), desc="predict", leave=False, disable=len(data) <= batch_size):
            batch = {k: torch.stack([data[i][k] for i in range(lo, min(lo + batch_size, len(data)))]).to(device)
                     for k in data.keys}
            out = model(**batch)
            starts.append(out.start_logits.float().cpu().numpy())
            ends.append(out.end_logits.float().cpu().numpy())
    return np.concatenate(starts), np.concatenate(ends)


def predict(model, tok, examples: Sequence[QAExample], cfg: QAConfig) -> dict[str, str]:
    """Answer texts for ``examples`` (question id -> text)."""
    feats = build_features(examples, tok, cfg, train=False)
    start, end = predict_logits(model, feats, cfg.eval_batch_size)
    return postprocess(examples, feats, start, end, cfg)


def train_qa(model, tok, train_examples: Sequence[QAExample], dev_examples: Sequence[QAExample], cfg: QAConfig,
             output_dir: str | Path | None = None):
    """Fine-tune ``model`` for extractive QA with the ``transformers`` Trainer.

    Precision follows the hardware (bf16 where supported, else fp16 on a GPU, fp32 on a
    CPU), except that a small model (BERT-small) trains in fp32, measured faster
    (:data:`helpers.core.hardware.SMALL_MODEL_PARAMETERS`); the dev set is scored with the official EM/F1 at the end of every epoch (the
    history is returned). The model and tokenizer are saved to ``output_dir``.
    """
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from .core.hardware import trainer_precision

    output_dir = Path(output_dir or cfg.output_dir)
    feats = build_features(train_examples, tok, cfg, train=True)
    history: list[dict] = []

    class EpochEval(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kw):
            scores = evaluate_examples(dev_examples, predict(model, tok, dev_examples, cfg))
            history.append({"epoch": round(state.epoch or 0), **scores})
            print(f"epoch {history[-1]['epoch']}: EM {scores['exact_match']:.2f} F1 {scores['f1']:.2f}")
            model.train()

    args = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type=cfg.lr_scheduler_type,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        **trainer_precision(parameters=model.num_parameters()),
        logging_steps=max(1, len(feats["input_ids"]) // cfg.batch_size // 2),
        save_strategy="epoch",
        save_total_limit=1,
        report_to=[],
        disable_tqdm=False,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=_Features(feats, _MODEL_KEYS), callbacks=[EpochEval()])
    trainer.train()
    model.save_pretrained(output_dir)
    tok.save_pretrained(output_dir)
    (output_dir / "qa_config.json").write_text(json.dumps(asdict(cfg), ensure_ascii=False, indent=2), encoding="utf-8")
    return history


# ----------------------------------------------------------------------------- CLI


def _load_predictions(path: str, examples: Sequence[QAExample], dataset: str) -> dict[str, str]:
    from .core.messages import KitError, msg
    from .predictions import load_predictions

    rows = load_predictions(path, records=examples, reference=dataset)
    bad = [r["id"] for r in rows if not isinstance(r["output"], str)]
    if bad:
        raise KitError(msg(f"{path}: 답이 문자열이 아닌 id {len(bad)}개 (예: {bad[:3]})",
                           f"{path}: {len(bad)} answers are not strings, e.g. {bad[:3]}"))
    return {r["id"]: r["output"] for r in rows}


def _qa_model_dir(path: str) -> Path:
    """``path`` if it holds a fine-tuned QA model (a config whose architecture is for question
    answering); :class:`KitError` otherwise (an LLM adapter, an untrained checkpoint)."""
    from .core.messages import KitError, msg

    folder = Path(path)
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise KitError(msg(f"{folder}에 config.json이 없습니다: 학습된 QA 모델 폴더가 아닙니다",
                           f"{folder} has no config.json: not a trained QA model folder"))
    archs = json.loads(cfg_file.read_text(encoding="utf-8")).get("architectures") or []
    if not any(a.endswith("ForQuestionAnswering") for a in archs):
        raise KitError(msg(f"{folder}의 모델({', '.join(archs) or '알 수 없음'})에는 학습된 QA 헤드가 없습니다",
                           f"{folder} holds {', '.join(archs) or 'an unknown model'}, not a trained QA head"))
    return folder


def main(argv=None) -> int:
    from .core.cli import run
    from .core.io import read_json_records, write_json
    from .data import load_korquad

    def command(args) -> int:
        if args.command == "evaluate":
            examples = load_korquad(args.dataset)  # validates the file
            preds = _load_predictions(args.predictions, examples, args.dataset)
            print(json.dumps(evaluate(read_json_records(args.dataset), preds)))
            return 0
        if args.command == "roundtrip":
            from .vocab import load_tokenizer

            tok = load_tokenizer(args.tokenizer) if args.tokenizer else kit_tokenizer()
            cfg = QAConfig(max_seq_length=args.max_seq_length, doc_stride=args.doc_stride)
            examples = load_korquad(args.dataset)
            scores, preds, lost = roundtrip(examples, tok, cfg)
            print(json.dumps(scores))
            by_id = {ex.id: ex for ex in examples}
            for qid in lost:
                print(f"lost {qid}: gold {by_id[qid].answers[0].text!r} -> got {preds[qid]!r}")
            if args.out:
                write_json(preds, args.out, inputs=[args.dataset])
            return 0 if not lost else 1
        folder = _qa_model_dir(args.model)
        examples = load_korquad(args.data)
        from transformers import AutoModelForQuestionAnswering

        from .vocab import load_tokenizer

        tok = load_tokenizer(folder)
        cfg_path = folder / "qa_config.json"
        cfg = QAConfig(**json.loads(cfg_path.read_text(encoding="utf-8"))) if cfg_path.is_file() else QAConfig()
        model = AutoModelForQuestionAnswering.from_pretrained(folder)
        preds = predict(model, tok, examples, cfg)
        write_json(preds, args.out, inputs=[args.data])
        print(f"wrote {len(preds)} predictions -> {args.out}")
        return 0

    parser = argparse.ArgumentParser(prog="python -m helpers.korquad", description="KorQuAD 1.0 tools")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="official EM/F1 of a predictions file")
    ev.add_argument("dataset")
    ev.add_argument("predictions")
    rt = sub.add_parser("roundtrip", help="self-check: features -> one-hot logits -> post-processing -> EM/F1")
    rt.add_argument("dataset")
    rt.add_argument("--tokenizer", default=None, help="hub id or folder (default: the kit's trained tokenizer)")
    rt.add_argument("--out", default=None)
    rt.add_argument("--max-seq-length", type=int, default=QAConfig.max_seq_length)
    rt.add_argument("--doc-stride", type=int, default=QAConfig.doc_stride)
    pr = sub.add_parser("predict", help="answer every question of a dataset with a fine-tuned model")
    pr.add_argument("--model", required=True)
    pr.add_argument("--data", required=True)
    pr.add_argument("--out", required=True)
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
