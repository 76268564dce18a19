"""Scores as the task organisers compute them. No torch here: scoring starts in a second.

- 대화 맥락 추론: accuracy, overall and per inference category, and a confusion matrix.

    >>> accuracy({"a": "inference_1", "b": "inference_2"}, {"a": "inference_1", "b": "inference_3"})
    50.0
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Sequence

__all__ = ["accuracy", "accuracy_by_category", "confusion", "plot_confusion"]


def accuracy(predictions: dict[str, str], gold: dict[str, str]) -> float:
    """Percentage of gold ids whose prediction equals the gold label (missing = wrong)."""
    if not gold:
        return 0.0
    return 100.0 * sum(predictions.get(k) == v for k, v in gold.items()) / len(gold)


def accuracy_by_category(predictions: dict[str, str], records: Sequence):
    """A DataFrame: questions and accuracy (%) per inference category, plus the total row."""
    import pandas as pd

    from .data import CCI_CATEGORIES

    rows = []
    for cat in CCI_CATEGORIES:
        gold = {r.id: r.output for r in records if r.category == cat and r.output}
        if gold:
            rows.append({"category": cat, "questions": len(gold), "accuracy": round(accuracy(predictions, gold), 2)})
    gold = {r.id: r.output for r in records if r.output}
    rows.append({"category": "전체 (all)", "questions": len(gold), "accuracy": round(accuracy(predictions, gold), 2)})
    return pd.DataFrame(rows).set_index("category")


def confusion(predictions: dict[str, str], gold: dict[str, str], labels: Sequence[str] | None = None):
    """Counts of (gold, predicted) label pairs as a DataFrame (rows: gold, columns: predicted)."""
    import pandas as pd

    from .data import CCI_LABELS

    labels = list(labels or CCI_LABELS)
    pairs = Counter((g, predictions.get(k, "(none)")) for k, g in gold.items())
    cols = labels + (["(none)"] if any(p == "(none)" for _, p in pairs) else [])
    return pd.DataFrame([[pairs[(g, p)] for p in cols] for g in labels], index=labels, columns=cols)


def plot_confusion(predictions: dict[str, str], gold: dict[str, str], title: str = "혼동 행렬 (confusion)"):
    """A heat map of :func:`confusion` with the counts written in the cells."""
    import matplotlib.pyplot as plt

    from .eda import use_korean_font

    use_korean_font()
    table = confusion(predictions, gold)
    fig, ax = plt.subplots(figsize=(4.8, 4))
    ax.imshow(table.values, cmap="Blues")
    ax.set_xticks(range(len(table.columns)), table.columns, rotation=30)
    ax.set_yticks(range(len(table.index)), table.index)
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, int(table.values[i, j]), ha="center", va="center")
    ax.set_xlabel("예측 (predicted)")
    ax.set_ylabel("정답 (gold)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:  # extended by the generation metrics
    print("usage: python -m helpers.metrics generation GOLD PRED", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
