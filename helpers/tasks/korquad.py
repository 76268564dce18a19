"""KorQuAD 1.0 (extractive QA): the nested file layout, flat examples, validation, and the
official EM/F1 (a string metric: no model library here).

Layout::

    {"version": "KorQuAD_v1.0", "data": [{"title": "…", "paragraphs": [{"context": "…",
        "qas": [{"id": "6566495-0-0", "question": "…", "answers": [{"text": "…", "answer_start": 123}]}]}]}]}

    >>> exact_match_score("《1987년》", "1987년"), round(f1_score("1987년 3월", "1987년"), 4)
    (True, 0.8333)
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

from ..core.messages import msg
from ..korean import has_final_consonant, with_particle
from .base import Checker, Task
from .words import ATTRIBUTES, NAMES

__all__ = ["Answer", "QAExample", "KorQuADTask", "TASK", "korquad_to_json", "normalize_answer", "exact_match_score",
           "f1_score", "evaluate", "evaluate_examples", "synthetic_qa", "positional_baseline_qa"]

_SENT = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Answer:
    text: str  # 답변: "1987년 3월"
    answer_start: int  # 시작 위치 (문자 단위, 0부터): 123


@dataclass
class QAExample:
    """One KorQuAD question with its paragraph (flattened from the nested file)."""

    id: str  # "6566495-0-0"
    title: str  # 문서 제목
    context: str  # 지문
    question: str  # 질문
    answers: list[Answer] = field(default_factory=list)

    @property
    def output(self) -> str | None:
        """The first gold answer's text (None without answers)."""
        return self.answers[0].text if self.answers else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> dict[str, Any]:
        first = self.answers[0] if self.answers else None
        return {"id": self.id, "title": self.title, "context_chars": len(self.context),
                "question_chars": len(self.question), "answer_chars": len(first.text) if first else 0,
                "answer_start": first.answer_start if first else -1}


def korquad_to_json(examples: Sequence[QAExample], version: str = "KorQuAD_v1.0") -> dict:
    """Nest flat examples back into the KorQuAD file layout (grouped by title and context)."""
    articles: dict[str, dict[str, list]] = {}
    for ex in examples:
        paras = articles.setdefault(ex.title, {})
        paras.setdefault(ex.context, []).append(
            {"id": ex.id, "question": ex.question, "answers": [asdict(a) for a in ex.answers]})
    return {"version": version,
            "data": [{"title": t, "paragraphs": [{"context": c, "qas": q} for c, q in paras.items()]}
                     for t, paras in articles.items()]}


# ----------------------------------------------------------------------------- official metric

# bracket characters become spaces, then lowercasing, ASCII punctuation removal and
# whitespace collapsing; F1 is computed over the characters of the remaining tokens.
_KORQUAD_SYMBOLS = "'\"《》<>〈〉()‘’"
_ASCII_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official KorQuAD 1.0 normalisation.

    >>> normalize_answer(" 《서울(현 종로구)》의 ")
    '서울 현 종로구 의'
    """
    text = re.sub("[" + re.escape(_KORQUAD_SYMBOLS) + "]", " ", text)
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """Equal after :func:`normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Character-level F1 over the characters of the normalised tokens (spaces not counted)."""
    pred_chars = [ch for tok in normalize_answer(prediction).split() for ch in tok]
    gold_chars = [ch for tok in normalize_answer(ground_truth).split() for ch in tok]
    same = sum((Counter(pred_chars) & Counter(gold_chars)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_chars), same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


def evaluate(dataset: dict | list, predictions: dict[str, str]) -> dict[str, float]:
    """EM and F1 as percentages over every question of a KorQuAD file (its ``data`` list or the
    whole object); an unanswered question scores 0. Best over the gold answers.

    >>> evaluate({"data": [{"title": "t", "paragraphs": [{"context": "가나다", "qas": [
    ...     {"id": "q", "question": "?", "answers": [{"text": "가나", "answer_start": 0}]}]}]}]}, {"q": "가나"})
    {'exact_match': 100.0, 'f1': 100.0}
    """
    articles = dataset["data"] if isinstance(dataset, dict) else dataset
    total = em = f1 = 0.0
    for article in articles:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                golds = [a["text"] for a in qa["answers"]]
                pred = predictions[qa["id"]]
                em += max(float(exact_match_score(pred, g)) for g in golds)
                f1 += max(f1_score(pred, g) for g in golds)
    return {"exact_match": 100.0 * em / max(total, 1), "f1": 100.0 * f1 / max(total, 1)}


def evaluate_examples(examples: Sequence[QAExample], predictions: dict[str, str]) -> dict[str, float]:
    """:func:`evaluate` for flat examples."""
    return evaluate(korquad_to_json(examples), predictions)


# ----------------------------------------------------------------------------- task


class KorQuADTask(Task):
    name = "korquad"
    title = ("KorQuAD 1.0", "KorQuAD 1.0")
    extension = "json"
    record_type = QAExample
    submission = False  # predictions are an {id: answer} object, scored by `helpers.korquad evaluate`

    def validate(self, raw: Any, chk: Checker) -> None:
        if not isinstance(raw, dict):
            chk.add(None, None, None, "최상위가 {\"version\", \"data\"} 객체여야 합니다",
                    "top level must be an object with 'version' and 'data'")
            return
        articles = chk.get(raw, "data", list, None, None) or []
        seen: dict[str, int] = {}
        qi = -1  # running question index: the record index reported for KorQuAD
        for a, art in enumerate(articles):
            pre = f"data[{a}]."
            chk.get(art, "title", str, None, None, pre)
            for p, para in enumerate(chk.get(art, "paragraphs", list, None, None, pre) or []):
                ppre = f"{pre}paragraphs[{p}]."
                ctx = chk.get(para, "context", str, None, None, ppre, nonempty=True)
                for q, qa in enumerate(chk.get(para, "qas", list, None, None, ppre) or []):
                    qi += 1
                    self._check_question(chk, qa, qi, f"{ppre}qas[{q}].", ctx, seen)
        if qi < 0 and not chk.problems:
            chk.add(None, None, "data", "질문이 하나도 없습니다", "the file holds zero questions")

    @staticmethod
    def _check_question(chk: Checker, qa, qi: int, qpre: str, ctx: str | None, seen: dict[str, int]) -> None:
        qid = chk.get(qa, "id", str, qi, None, qpre, nonempty=True)
        if qid is not None:
            if qid in seen:
                chk.add(qi, qid, f"{qpre}id", f"중복된 질문 id입니다 (질문 #{seen[qid]}과 같음)",
                        f"duplicate question id (same as question #{seen[qid]})")
            seen.setdefault(qid, qi)
        chk.get(qa, "question", str, qi, qid, qpre, nonempty=True)
        answers = chk.get(qa, "answers", list, qi, qid, qpre)
        if answers is not None and not answers and chk.file_split != "test":
            chk.add(qi, qid, f"{qpre}answers", "답변이 없습니다", "no answers")
        for n, ans in enumerate(answers or []):
            apre = f"{qpre}answers[{n}]."
            text = chk.get(ans, "text", str, qi, qid, apre, nonempty=True)
            start = chk.get(ans, "answer_start", int, qi, qid, apre)
            if start is not None and start < 0:
                chk.add(qi, qid, f"{apre}answer_start", f"answer_start가 음수입니다 ({start})",
                        f"negative answer_start ({start})")
                continue
            if text is None or start is None or ctx is None:
                continue
            if ctx[start:start + len(text)] != text:
                found = ctx.find(text)
                hint = msg(f" (지문에서는 {found}번 위치에 있음)", f" (found at {found})") if found >= 0 else ""
                chk.add(qi, qid, f"{apre}answer_start",
                        f"answer_start={start} 위치의 글자가 답변과 다릅니다 (답변: '{text}'){hint}",
                        f"answer_start={start} does not point at the answer text '{text}'{hint}")

    def build(self, raw: Any) -> list[QAExample]:
        return [QAExample(qa["id"], art["title"], para["context"], qa["question"],
                          [Answer(a["text"], a["answer_start"]) for a in qa["answers"]])
                for art in raw["data"] for para in art["paragraphs"] for qa in para["qas"]]

    def to_file(self, records: Sequence) -> Any:
        return korquad_to_json(records)

    def summarize(self, records: Sequence) -> dict[str, Any]:
        out = super().summarize(records)
        out["paragraphs"] = len(dict.fromkeys((r.title, r.context) for r in records))
        out["articles"] = len(dict.fromkeys(r.title for r in records))
        return out

    def texts(self, record: QAExample) -> Iterator[str]:
        yield record.question

    def corpus(self, records: Sequence) -> Iterator[str]:
        """The questions, then each distinct context once."""
        for record in records:
            yield from self.texts(record)
        yield from self.contexts(records)

    def contexts(self, records: Sequence[QAExample]) -> list[str]:
        """The distinct contexts, in file order."""
        return list(dict.fromkeys(r.context for r in records))

    def documents(self, records: Sequence) -> list[list[str]]:
        docs = []
        for ctx in self.contexts(records):
            sents = [s.strip() for s in _SENT.split(ctx.strip()) if s.strip()]
            if len(sents) >= 2:
                docs.append(sents)
        return docs

    def mode(self, record) -> str:
        return "extractive"

    def score(self, predictions: dict[str, str], records: Sequence) -> dict[str, float]:
        return evaluate_examples(records, predictions)

    def synthetic(self, n: int, seed: int = 42, split: str = "train") -> list[QAExample]:
        return synthetic_qa(n, seed)

    def vocabulary(self) -> list[str]:
        values = [v for vals in ATTRIBUTES.values() for v in vals]
        return [f"{name}의 {attr}" for name in NAMES for attr in ATTRIBUTES] + [f"{v}이다." for v in values]


# ----------------------------------------------------------------------------- synthetic


def synthetic_qa(n: int, seed: int = 42, facts: int = 4) -> list[QAExample]:
    """``n`` KorQuAD-style examples: a paragraph of ``facts`` sentences
    "<이름>의 <속성>은 <값>이다." (different people, different attributes) and a question
    about one of them.

    The model has to find the sentence whose name and attribute match the question and
    extract its value; answering the first sentence's value (the positional baseline) is
    right about ``1/facts`` of the time.

    >>> qa = synthetic_qa(4, seed=0)
    >>> qa[0].context[qa[0].answers[0].answer_start:].startswith(qa[0].answers[0].text)
    True
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        people = rng.sample(NAMES, facts)
        sentences, spans = [], []
        pos = 0
        for name, attr in zip(people, rng.sample(list(ATTRIBUTES), facts)):
            value = rng.choice(ATTRIBUTES[attr])
            head = f"{name}의 {with_particle(attr, '은/는')} "
            sentence = f"{head}{value}{'이다' if has_final_consonant(value) else '다'}. "
            spans.append((name, attr, value, pos + len(head)))
            sentences.append(sentence)
            pos += len(sentence)
        name, attr, value, start = rng.choice(spans)
        context = "".join(sentences).strip()
        question = f"{name}의 {with_particle(attr, '은/는')} {'어디인가' if attr == '고향' else '무엇인가'}?"
        out.append(QAExample(f"synth-{seed}-{i}", "합성", context, question, [Answer(value, start)]))
    return out


def positional_baseline_qa(examples: list[QAExample]) -> dict[str, str]:
    """The trivial answer "the value in the first sentence" for every example."""
    preds = {}
    for ex in examples:
        first = ex.context.split(". ")[0]
        head_end = first.index(" ", first.index("의 ") + 2) + 1
        preds[ex.id] = first[head_end:].removesuffix("이다").removesuffix("다").rstrip(".")
    return preds


TASK = KorQuADTask()
