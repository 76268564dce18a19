"""Exploratory analysis: Korean morphological analysis behind one call, and the EDA plots.

    >>> nouns("오늘 저녁에 치킨 먹을래?")
    ['오늘', '저녁', '치킨']

Plots return a matplotlib ``Figure``; :func:`save_figure` writes it under
``outputs/figures/``. Korean renders offline with the NanumGothic font that
``koreanize-matplotlib`` ships.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from .core.kiwi import kiwi
from .core.messages import KitError, msg
from .core.plots import korean_font_path, new_figure, save_figure, use_korean_font

__all__ = [
    "analyze",
    "nouns",
    "compare_analyzers",
    "java_available",
    "available_backends",
    "korean_font_path",
    "use_korean_font",
    "save_figure",
    "plot_category_distribution",
    "plot_turn_counts",
    "plot_answer_positions",
    "plot_total_lengths",
    "total_length_table",
    "plot_wordcloud",
    "plot_length_distributions",
    "plot_curves",
]

BACKENDS = ("kiwi", "okt")
_NOUN_TAGS = {"kiwi": ("NNG", "NNP"), "okt": ("Noun",)}


def java_available() -> bool:
    """Whether a Java runtime is here for konlpy to start (``JAVA_HOME`` or ``java`` on the PATH).
    Colab has one; a fresh server often does not (``apt-get install default-jre``)."""
    import os
    import shutil
    from pathlib import Path

    home = os.environ.get("JAVA_HOME")
    return bool((home and (Path(home) / "bin" / "java").exists()) or shutil.which("java"))


def available_backends() -> tuple[str, ...]:
    """The analysers that can run here: kiwi always (no Java), Okt only where Java is."""
    return BACKENDS if java_available() else ("kiwi",)


@lru_cache(maxsize=None)
def _okt():
    from konlpy.tag import Okt  # starts a JVM on first use (several seconds)

    return Okt()


def analyze(text: str, backend: str = "kiwi") -> list[tuple[str, str]]:
    """Morphemes of ``text`` as ``(form, tag)`` pairs, from kiwipiepy (default) or konlpy Okt.

    Tags are each analyzer's own (kiwi: Sejong-style ``NNG``/``VV``…; Okt: ``Noun``/``Verb``…).

    >>> analyze("밥을 먹었다")[:2]
    [('밥', 'NNG'), ('을', 'JKO')]
    """
    if backend == "kiwi":
        return [(t.form, t.tag) for t in kiwi().tokenize(text)]
    if backend == "okt":
        if not java_available():
            raise KitError(msg("konlpy의 Okt에는 Java가 필요한데 이 컴퓨터에서 찾지 못했습니다 (JAVA_HOME도, PATH의 java도 "
                               "없음). Java를 설치하거나(예: apt-get install default-jre) Java가 필요 없는 kiwi를 쓰세요: "
                               "backend=\"kiwi\"",
                               "konlpy's Okt needs Java, and none was found here (no JAVA_HOME, no java on the PATH). "
                               "Install one (e.g. apt-get install default-jre) or use kiwi, which needs none: "
                               "backend=\"kiwi\""))
        return list(_okt().pos(text))
    raise ValueError(msg(f"알 수 없는 형태소 분석기 '{backend}' (가능: {', '.join(BACKENDS)})",
                         f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})"))


def nouns(text: str, backend: str = "kiwi", min_len: int = 2) -> list[str]:
    """The common and proper nouns of ``text`` of at least ``min_len`` characters."""
    tags = _NOUN_TAGS[backend]
    return [form for form, tag in analyze(text, backend) if tag in tags and len(form) >= min_len]


def compare_analyzers(texts: Sequence[str], backends: Sequence[str] | None = None):
    """Time each analyzer on the same texts: start-up (first call) and the rest.

    Returns a DataFrame with one row per backend: ``startup_s``, ``analyze_s``,
    ``texts_per_s`` and the number of morphemes it found. By default every analyser that can
    run here (:func:`available_backends`; without Java, kiwi alone, said out loud).
    """
    import pandas as pd

    if backends is None:
        backends = available_backends()
        if "okt" not in backends:
            print(msg("알림: Java가 없어 Okt는 빼고 kiwi만 잽니다", "notice: no Java here, so Okt is left out (kiwi only)"))
    rows = []
    for backend in backends:
        t0 = time.perf_counter()
        analyze(texts[0], backend)  # loads the model / starts the JVM
        t1 = time.perf_counter()
        n = sum(len(analyze(t, backend)) for t in texts)
        t2 = time.perf_counter()
        rows.append({
            "backend": backend,
            "startup_s": round(t1 - t0, 3),
            "analyze_s": round(t2 - t1, 3),
            "texts_per_s": round(len(texts) / max(t2 - t1, 1e-9), 1),
            "morphemes": n,
        })
    return pd.DataFrame(rows).set_index("backend")


# ----------------------------------------------------------------------------- plotting


def _figure(title: str, size=(7, 4)):
    return new_figure(title, size)


def _bar(counts: dict, title: str, xlabel: str, order: Sequence | None = None):
    fig, ax = _figure(title)
    keys = list(order) if order else sorted(counts)
    values = [counts.get(k, 0) for k in keys]
    bars = ax.bar([str(k) for k in keys], values, color="#4C72B0")
    ax.bar_label(bars)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("건수 (count)")
    return fig


def plot_category_distribution(records: Sequence):
    """Bar chart: how many 대화 맥락 추론 questions of each inference type."""
    from .data import CCI_CATEGORIES

    return _bar(Counter(r.category for r in records), "추론 유형 분포 (category)", "유형", CCI_CATEGORIES)


def plot_answer_positions(records: Sequence):
    """Bar chart: which option is the answer (a skew would let a model cheat)."""
    from .data import CCI_LABELS

    counts = Counter(r.output for r in records if r.output)
    return _bar(counts, "정답 위치 분포 (answer position)", "정답", CCI_LABELS)


def _count_axis(ax) -> None:
    """A histogram's count axis: labelled, whole numbers only (no 0.5-record ticks)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylabel("건수 (count)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _bins(values: Sequence[float], bins: int):
    """Whole-number data over a short range gets one bar per value (no bar straddling two);
    anything else ``bins`` equal bins."""
    if values and all(float(v).is_integer() for v in values) and max(values) - min(values) <= 40:
        return [v - 0.5 for v in range(int(min(values)), int(max(values)) + 2)]
    return bins


def _hist(values: Sequence[float], title: str, xlabel: str, bins: int = 15):
    fig, ax = _figure(title)
    ax.hist(values, bins=_bins(values, bins), color="#55A868", edgecolor="white")
    ax.axvline(sum(values) / max(len(values), 1), color="#C44E52", linestyle="--", label="평균 (mean)")
    ax.set_xlabel(xlabel)
    _count_axis(ax)
    ax.legend()
    return fig


def plot_turn_counts(records: Sequence):
    """Histogram: conversation length in turns."""
    return _hist([len(r.conversation) for r in records], "대화 턴 수 분포 (turns)", "턴 수")


def total_length_table(records: Sequence):
    """One row per record: id, turns and total utterance length in characters."""
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [r.id for r in records],
            "turns": [len(r.conversation) for r in records],
            "total_chars": [sum(len(u.utterance) for u in r.conversation) for r in records],
        }
    )


def plot_total_lengths(records: Sequence):
    """Histogram: total characters of all utterances of a conversation."""
    table = total_length_table(records)
    return _hist(list(table["total_chars"]), "대화 전체 길이 분포 (characters)", "글자 수")


def plot_wordcloud(texts: Iterable[str], backend: str = "kiwi", seed: int = 42, max_words: int = 100):
    """A word cloud of the nouns of ``texts`` (Hangul drawn with NanumGothic, offline)."""
    from wordcloud import WordCloud

    freq = Counter(n for t in texts for n in nouns(t, backend))
    cloud = WordCloud(
        font_path=str(korean_font_path()), background_color="white", width=900, height=450,
        max_words=max_words, random_state=seed,
    ).generate_from_frequencies(freq or {"(없음)": 1})
    fig, ax = _figure("명사 워드클라우드 (nouns)", size=(9, 4.5))
    ax.imshow(cloud, interpolation="bilinear")
    ax.axis("off")
    return fig


def plot_length_distributions(records: Sequence, task: str, tokenizer=None):
    """Side-by-side histograms of input and output lengths for ``dcs``/``sc``: in characters,
    or in tokens of ``tokenizer`` (the unit of a model's ``max_length``) when one is given.

    >>> from helpers.data import load_dcs, sample_file
    >>> fig = plot_length_distributions(load_dcs(sample_file("dcs", "train")), "dcs")
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['건수 (count)', '건수 (count)']
    """
    import matplotlib.pyplot as plt

    use_korean_font()

    def size(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if tokenizer is not None else len(text)

    if task == "dcs":
        inputs = [size("\n".join(u.utterance for u in r.conversation)) for r in records]
        in_label = "대화 길이 (input)"
    elif task == "sc":
        inputs = [size(r.sentence1 + " " + r.sentence3) for r in records]
        in_label = "문장1+문장3 길이 (input)"
    else:
        raise ValueError("task must be 'dcs' or 'sc'")
    outputs = [size(r.output) for r in records if r.output]
    unit = "토큰 수 (tokens)" if tokenizer is not None else "글자 수 (characters)"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, values, label, color in ((axes[0], inputs, in_label, "#4C72B0"), (axes[1], outputs, "정답 길이 (output)", "#DD8452")):
        ax.hist(values, bins=_bins(values, 12), color=color, edgecolor="white")
        ax.set_title(label)
        ax.set_xlabel(unit)
        _count_axis(ax)
    fig.suptitle(f"{task}: 입력·출력 길이 분포")
    fig.tight_layout()
    return fig


def plot_curves(series: dict[str, Sequence[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
                baseline: tuple[str, float] | None = None):
    """Line plot of named ``(x, y)`` series (training loss, dev scores), with an optional
    horizontal baseline ``(label, value)``.

    >>> fig = plot_curves({"loss": [(1, 2.0), (2, 1.0)]}, "학습 손실", "step", "loss")
    >>> len(fig.axes[0].lines)
    1
    """
    fig, ax = _figure(title, size=(6, 3.5))
    for (name, points), marker in zip(series.items(), "osd^v"):
        xs, ys = zip(*points) if points else ((), ())
        ax.plot(xs, ys, marker=marker, label=name)
    if baseline:
        ax.axhline(baseline[1], color="gray", linestyle="--", label=baseline[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1 or baseline:
        ax.legend()
    return fig
