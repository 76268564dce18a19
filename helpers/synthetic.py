"""Seeded, learnable tiny tasks for smoke mode: a tiny model must be able to *learn* them on
two CPU cores in seconds, so a test can tell a working training path from a broken one.

    >>> qa = synthetic_qa(4, seed=0)
    >>> qa[0].context[qa[0].answers[0].answer_start:].startswith(qa[0].answers[0].text)
    True
"""

from __future__ import annotations

import random

from .data import Answer, QAExample
from .korean import has_final_consonant, with_particle

__all__ = ["synthetic_qa", "positional_baseline_qa", "vocabulary_texts", "NAMES", "ATTRIBUTES"]

NAMES = ("민수", "지영", "서준", "하은", "도윤", "수아", "예준", "지우", "시우", "서연", "주원", "하린",
         "건우", "채원", "현우", "지아", "우진", "유나", "선우", "다은")
#: attribute -> possible values (nouns that the shipped text also uses)
ATTRIBUTES = {
    "고향": ("서울", "부산", "대구", "광주", "대전", "강릉", "전주", "제주", "인천", "수원"),
    "직업": ("교사", "의사", "기자", "요리사", "경찰", "가수", "작가", "농부", "군인", "화가"),
    "취미": ("등산", "낚시", "독서", "요리", "게임", "수영", "여행", "음악", "영화", "축구"),
    "반려동물": ("강아지", "고양이", "거북이", "토끼", "앵무새", "햄스터", "금붕어", "고슴도치"),
}


def synthetic_qa(n: int, seed: int = 42, facts: int = 4) -> list[QAExample]:
    """``n`` KorQuAD-style examples: a paragraph of ``facts`` sentences
    "<이름>의 <속성>은 <값>이다." (different people, different attributes) and a question
    about one of them.

    The model has to find the sentence whose name and attribute match the question and
    extract its value; answering the first sentence's value (the positional baseline) is
    right about ``1/facts`` of the time.
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


def vocabulary_texts(repeats: int = 3) -> list[str]:
    """Sentences using every name, attribute and value of the synthetic tasks, ``repeats``
    times each, so a vocabulary trained with them knows every word (min frequency 2)."""
    values = [v for vals in ATTRIBUTES.values() for v in vals]
    lines = [f"{name}의 {attr}" for name in NAMES for attr in ATTRIBUTES] + [f"{v}이다." for v in values]
    return lines * repeats
