"""Scores as the task organisers compute them. No torch here: scoring starts in a second.

- 대화 맥락 추론: accuracy, overall and per inference category, and a confusion matrix.
- 일상 대화 요약, 이야기 완성: ROUGE-1 and BLEU on MeCab-ko morphemes, written from the
  organisers' definition (not the ``rouge-score`` package, whose tokenisation differs);
  BERTScore and BLEURT-20 only where their scoring models are available.

    >>> accuracy({"a": "inference_1", "b": "inference_2"}, {"a": "inference_1", "b": "inference_3"})
    50.0

From the shell (two files in the task's format, JSON array or JSON lines)::

    python -m helpers.metrics generation GOLD.json PRED.json
    {"ROUGE-1": 54.76, "BLEU": 41.02}

Generation scores are percentages (the organisers' 0.322 is 32.20 here).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections import Counter
from functools import lru_cache
from typing import Sequence

__all__ = [
    "accuracy",
    "accuracy_by_category",
    "accuracy_of",
    "confusion",
    "plot_confusion",
    "morphs",
    "rouge1_tokens",
    "rouge1_f",
    "rouge1",
    "bleu",
    "generation_scores",
    "model_based_scores",
    "TOKENIZERS",
]


def accuracy(predictions: dict[str, str], gold: dict[str, str]) -> float:
    """Percentage of gold ids whose prediction equals the gold label (missing = wrong)."""
    if not gold:
        return 0.0
    return 100.0 * sum(predictions.get(k) == v for k, v in gold.items()) / len(gold)


def accuracy_of(predictions, records: Sequence) -> float:
    """Accuracy (%) of kit predictions — a list of ``{"id", "output", …}`` or a prediction
    file — against records with answers.

    >>> from helpers.data import load_cci, sample_file
    >>> recs = load_cci(sample_file("cci", "dev"))
    >>> accuracy_of([{"id": r.id, "output": r.output} for r in recs], recs)
    100.0
    """
    if not isinstance(predictions, list):
        from .core.io import read_predictions

        predictions = read_predictions(predictions)
    return accuracy({p["id"]: p["output"] for p in predictions}, {r.id: r.output for r in records if r.output})


def accuracy_by_category(predictions: dict[str, str], records: Sequence, categories: Sequence[str] | None = None):
    """A DataFrame: questions and accuracy (%) per ``record.category`` (in ``categories``'
    order, else in order of first appearance), plus the total row."""
    import pandas as pd

    order = list(categories) if categories else list(dict.fromkeys(r.category for r in records))
    rows = []
    for cat in order:
        gold = {r.id: r.output for r in records if r.category == cat and r.output}
        if gold:
            rows.append({"category": cat, "questions": len(gold), "accuracy": round(accuracy(predictions, gold), 2)})
    gold = {r.id: r.output for r in records if r.output}
    rows.append({"category": "전체 (all)", "questions": len(gold), "accuracy": round(accuracy(predictions, gold), 2)})
    return pd.DataFrame(rows).set_index("category")


def confusion(predictions: dict[str, str], gold: dict[str, str], labels: Sequence[str] | None = None):
    """Counts of (gold, predicted) label pairs as a DataFrame (rows: gold, columns: predicted);
    ``labels`` default to every label seen, sorted."""
    import pandas as pd

    labels = list(labels or sorted(set(gold.values()) | {predictions[k] for k in gold if k in predictions}))
    pairs = Counter((g, predictions.get(k, "(none)")) for k, g in gold.items())
    cols = labels + (["(none)"] if any(p == "(none)" for _, p in pairs) else [])
    return pd.DataFrame([[pairs[(g, p)] for p in cols] for g in labels], index=labels, columns=cols)


def plot_confusion(predictions: dict[str, str], gold: dict[str, str], title: str = "혼동 행렬 (confusion)",
                   labels: Sequence[str] | None = None):
    """A heat map of :func:`confusion` with the counts written in the cells (white on dark cells)."""
    from .core.plots import new_figure

    table = confusion(predictions, gold, labels)
    fig, ax = new_figure(title, size=(4.8, 4))
    ax.imshow(table.values, cmap="Blues")
    ax.set_xticks(range(len(table.columns)), table.columns, rotation=30)
    ax.set_yticks(range(len(table.index)), table.index)
    high = table.values.max() or 1
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            value = int(table.values[i, j])
            ax.text(j, i, value, ha="center", va="center", color="white" if value > high / 2 else "black")
    ax.set_xlabel("예측 (predicted)")
    ax.set_ylabel("정답 (gold)")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- generation


@lru_cache(maxsize=None)
def _mecab():
    try:
        import mecab  # python-mecab-ko: MeCab-ko with its dictionary, no Java
    except ImportError:
        from .core.messages import KitError, msg

        raise KitError(msg("python-mecab-ko가 설치되어 있지 않습니다: 공식 ROUGE-1과 BLEU는 MeCab-ko 형태소 단위로 "
                           "셉니다. pip install python-mecab-ko",
                           "python-mecab-ko is not installed: the official ROUGE-1 and BLEU count MeCab-ko "
                           "morphemes. pip install python-mecab-ko")) from None
    return mecab.MeCab()


def morphs(text: str) -> list[str]:
    """MeCab-ko morphemes of ``text`` (the organisers' analyzer).

    >>> morphs("요약했습니다")
    ['요약', '했', '습니다']
    """
    return _mecab().morphs(text) if text.strip() else []


_NOT_KEPT = re.compile(r"[^A-Za-z0-9가-힣]")


def rouge1_tokens(text: str, tokenize: str = "morph") -> list[str]:
    """ROUGE-1 units: the first 1000 whitespace-separated words, lowercased, every character
    outside ``[A-Za-z0-9가-힣]`` made a space, then MeCab morphemes (``tokenize="morph"``,
    the official way), whitespace words or single characters (for comparison).

    >>> rouge1_tokens("KTX-이음을 탔다!")
    ['ktx', '이음', '을', '탔', '다']
    """
    text = " ".join(text.split()[:1000]).lower()
    text = _NOT_KEPT.sub(" ", text)
    if tokenize == "morph":
        return morphs(text)
    if tokenize == "whitespace":
        return text.split()
    if tokenize == "char":
        return [ch for ch in text if not ch.isspace()]
    raise ValueError("tokenize must be 'morph', 'whitespace' or 'char'")


TOKENIZERS = ("morph", "whitespace", "char")


def rouge1_f(prediction: str, reference: str, tokenize: str = "morph") -> float:
    """Unigram F (alpha 0.5) of one prediction: clipped overlap over prediction (precision)
    and reference (recall) units; 0 for an empty prediction or no overlap."""
    pred, ref = Counter(rouge1_tokens(prediction, tokenize)), Counter(rouge1_tokens(reference, tokenize))
    overlap = sum((pred & ref).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def rouge1(predictions: Sequence[str], references: Sequence[str], tokenize: str = "morph") -> float:
    """Mean per-record ROUGE-1 F, as a percentage."""
    _same_length(predictions, references)
    if not references:
        return 0.0
    return 100.0 * sum(rouge1_f(p, r, tokenize) for p, r in zip(predictions, references)) / len(references)


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean sentence BLEU with unigram weights (1, 0, 0, 0) on MeCab morphemes of the raw
    texts (nltk's ``sentence_bleu``, no smoothing), as a percentage."""
    from nltk.translate.bleu_score import sentence_bleu

    _same_length(predictions, references)
    if not references:
        return 0.0
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns about the zero-weighted higher orders
        for p, r in zip(predictions, references):
            total += sentence_bleu([morphs(r)], morphs(p), weights=(1, 0, 0, 0))
    return 100.0 * total / len(references)


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        from .core.messages import msg

        raise ValueError(msg(f"예측 {len(a)}개와 정답 {len(b)}개의 수가 다릅니다",
                             f"{len(a)} predictions vs {len(b)} references"))


def model_based_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """BERTScore (bert-base-multilingual-cased) and BLEURT-20 where they can run here.

    Both need their scoring models (and packages); offline they are reported as skipped
    with the reason, never estimated.
    """
    out: dict[str, float | str] = {}
    try:
        from bert_score import score as bert_score  # type: ignore

        _, _, f = bert_score(list(predictions), list(references), model_type="bert-base-multilingual-cased")
        out["BERTScore"] = 100.0 * float(f.mean())
    except Exception as err:  # ImportError, or the model cannot be downloaded offline
        out["BERTScore"] = f"skipped: {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    try:
        from bleurt import score as bleurt_score  # type: ignore

        scorer = bleurt_score.BleurtScorer("BLEURT-20")
        out["BLEURT"] = 100.0 * sum(scorer.score(references=list(references), candidates=list(predictions))) / len(references)
    except Exception as err:
        out["BLEURT"] = f"skipped: {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    return out


def generation_scores(predictions: Sequence[str], references: Sequence[str], model_based: bool = False) -> dict:
    """``{"ROUGE-1": …, "BLEU": …}`` (percentages); with ``model_based`` also BERTScore/BLEURT
    (or why they were skipped)."""
    scores: dict = {"ROUGE-1": rouge1(predictions, references), "BLEU": bleu(predictions, references)}
    if model_based:
        scores.update(model_based_scores(predictions, references))
    return scores


def _outputs_by_id(path: str) -> dict[str, str]:
    from .core.io import read_predictions

    return {r["id"]: r.get("output") or "" for r in read_predictions(path)}


def main(argv=None) -> int:
    from .core.cli import run
    from .core.messages import KitError, msg

    def command(args) -> int:
        gold, pred = _outputs_by_id(args.gold), _outputs_by_id(args.pred)
        missing = [k for k in gold if k not in pred]
        extra = [k for k in pred if k not in gold]
        if len(missing) == len(gold):
            raise KitError(msg(f"{args.pred}의 id가 {args.gold}의 id와 하나도 겹치지 않습니다",
                               f"no id of {args.pred} is in {args.gold}"))
        if missing:
            print(msg(f"예측이 없는 id {len(missing)}개는 0점 처리합니다 (예: {missing[:3]})",
                      f"{len(missing)} ids without a prediction score 0, e.g. {missing[:3]}"), file=sys.stderr)
        if extra:
            print(msg(f"정답 파일에 없는 id {len(extra)}개는 무시합니다 (예: {extra[:3]})",
                      f"{len(extra)} ids not in the gold file are ignored, e.g. {extra[:3]}"), file=sys.stderr)
        ids = list(gold)
        scores = generation_scores([pred.get(k, "") for k in ids], [gold[k] for k in ids], args.model_based)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in scores.items()},
                         ensure_ascii=False))
        return 0

    parser = argparse.ArgumentParser(prog="python -m helpers.metrics")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generation", help="ROUGE-1 and BLEU of a prediction file against a gold file")
    gen.add_argument("gold")
    gen.add_argument("pred")
    gen.add_argument("--model-based", action="store_true", help="also BERTScore and BLEURT-20 (needs their models)")
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
