"""대화 맥락 추론 (conversation context inference, NIKL 2024): a conversation, the turns it
asks about, an inference type, three options; the answer is ``inference_1|2|3``.

Layout (a JSON array)::

    {"id": "nikluge-2024-대화 맥락 추론-train-000001",
     "input": {"conversation": [{"speaker": 1, "utterance": "…", "utterance_id": "MDRW2100003410.1.1"}, …],
               "reference_id": ["MDRW2100003410.1.11"], "category": "원인",
               "inference_1": "…", "inference_2": "…", "inference_3": "…"},
     "output": "inference_2"}

The five prompt styles are the 2024 winner's; options are shown as A/B/C and the model
answers with one letter.

    >>> r = CCIRecord("x", [Utterance(1, "배고파", "d.1.1")], ["d.1.1"], "전제", "a", "b", "c", "inference_2")
    >>> TASK.messages(r)[1]["content"].splitlines()[4]
    '위 대화의 전제로 올바른 지문은?'
    >>> TASK.target(r)
    'B'
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..core.messages import msg
from ..korean import with_particle
from .base import (Checker, Task, Utterance, answer_text, check_conversation, conversation_lines, split_of,
                   utterances)
from .words import VALUES

__all__ = ["CCI_CATEGORIES", "CCI_LABELS", "PROMPT_STYLES", "OFFICIAL_TERMS", "DEFINITIONS", "CCIRecord",
           "CCITask", "TASK", "CCI_FORMS", "CCI_ANSWER_POSITION", "synthetic_cci", "answer_slot"]

#: The five inference types of 대화 맥락 추론, in the official order.
CCI_CATEGORIES = ("원인", "후행사건", "전제", "동기", "반응")
#: The answer labels of 대화 맥락 추론.
CCI_LABELS = ("inference_1", "inference_2", "inference_3")
PROMPT_STYLES = ("base", "official_terms", "definition", "instruction", "system")
#: The inference types by their official (longer) names.
OFFICIAL_TERMS = {"원인": "원인", "후행사건": "후행 사건", "전제": "전제 조건", "동기": "내적 동기", "반응": "감정 반응"}
#: What each inference type asks for (the kit's wording of the task guidelines).
DEFINITIONS = {
    "원인": "대상 발화에서 일어난 사건이나 상태를 일으킨 까닭",
    "후행사건": "대상 발화의 사건 뒤에 일어날 법한 일",
    "전제": "대상 발화가 말이 되려면 그 전에 이미 성립해 있어야 하는 사건이나 상태",
    "동기": "화자가 대상 발화를 하게 만든 마음속 바람이나 감정",
    "반응": "대상 발화의 사건에 대해 화자나 청자가 느낄 법한 감정",
}
_SYSTEM_SHORT = "당신은 한국어 대화를 읽고 추론 문제를 푸는 도우미입니다. 정답 선택지의 알파벳 하나만 답하세요."
_SYSTEM_DETAILED = (
    "당신은 한국어 대화의 맥락을 깊이 이해하는 언어 전문가입니다. 대화 전체의 흐름과 화자들의 관계를 살핀 뒤, "
    "[*] 표시가 붙은 대상 발화에 대해 질문이 묻는 추론 유형에 가장 알맞은 선택지를 고르세요. 선택지들은 "
    "사소한 차이(부정, 화자 바뀜, 세부 사항)로 갈리므로 대화의 내용과 하나하나 대조하세요. "
    "설명 없이 정답 선택지의 알파벳(A, B, C) 하나만 출력하세요."
)


@dataclass
class CCIRecord:
    """A 대화 맥락 추론 question: conversation, referenced turns, type, three options."""

    id: str  # "nikluge-2024-대화 맥락 추론-train-000001"
    conversation: list[Utterance]
    reference_id: list[str]  # 추론 대상 발화: ["MDRW2100003410.1.11"]
    category: str  # 추론 유형: "원인" | "후행사건" | "전제" | "동기" | "반응"
    inference_1: str  # 선택지 1: "화자2는 시험에 떨어져서 속상하다."
    inference_2: str
    inference_3: str
    output: str | None = None  # 정답: "inference_2" (test 파일에서는 None)

    @property
    def options(self) -> list[str]:
        """The three inferences in label order."""
        return [self.inference_1, self.inference_2, self.inference_3]

    @property
    def answer_index(self) -> int | None:
        """0, 1 or 2 for the answer, None where the answer is hidden (test)."""
        return CCI_LABELS.index(self.output) if self.output else None

    def to_dict(self) -> dict[str, Any]:
        """The official layout (a hidden answer is written back as ``""``)."""
        return {
            "id": self.id,
            "input": {
                "conversation": [u.to_dict() for u in self.conversation],
                "reference_id": list(self.reference_id),
                "category": self.category,
                "inference_1": self.inference_1,
                "inference_2": self.inference_2,
                "inference_3": self.inference_3,
            },
            "output": self.output or "",
        }

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "split": split_of(self.id), "category": self.category,
                "n_turns": len(self.conversation), "n_chars": sum(len(u.utterance) for u in self.conversation),
                "output": self.output}


def _type_name(category: str, style: str) -> str:
    return OFFICIAL_TERMS[category] if style != "base" else category


class CCITask(Task):
    name = "cci"
    title = ("대화 맥락 추론", "conversation context inference")
    extension = "json"
    record_type = CCIRecord
    prompt_styles = PROMPT_STYLES

    def validate(self, raw: Any, chk: Checker) -> None:
        for i, rid, rec, inp in chk.each(raw):
            ids = check_conversation(chk, inp, i, rid, speaker_type=int, need_ids=True, positive_speaker=True)
            refs = chk.get(inp, "reference_id", list, i, rid, "input.", nonempty=True)
            for ref in refs or []:
                if ref not in ids:
                    chk.add(i, rid, "input.reference_id", f"대화에 없는 참조 발화입니다: '{ref}'",
                            f"reference id '{ref}' is not in the conversation")
            cat = chk.get(inp, "category", str, i, rid, "input.")
            if cat is not None and cat not in CCI_CATEGORIES:
                chk.add(i, rid, "input.category", f"알 수 없는 추론 유형 '{cat}' (가능: {', '.join(CCI_CATEGORIES)})",
                        f"unknown category '{cat}'")
            for label in CCI_LABELS:
                chk.get(inp, label, str, i, rid, "input.", nonempty=True)
            chk.output(rec, i, rid, allowed=CCI_LABELS)

    def build(self, raw: Any) -> list[CCIRecord]:
        return [CCIRecord(id=r["id"], conversation=utterances(r["input"]["conversation"]),
                          reference_id=list(r["input"]["reference_id"]), category=r["input"]["category"],
                          inference_1=r["input"]["inference_1"], inference_2=r["input"]["inference_2"],
                          inference_3=r["input"]["inference_3"], output=answer_text(r.get("output")))
                for r in raw]

    def summarize(self, records: Sequence) -> dict[str, Any]:
        out = super().summarize(records)
        out["categories"] = dict(Counter(r.category for r in records))
        out["labels"] = dict(Counter(r.output or "(hidden)" for r in records))
        return out

    def texts(self, record: CCIRecord) -> Iterator[str]:
        yield from (u.utterance for u in record.conversation)
        yield from record.options
        if record.output:
            yield record.output

    def documents(self, records: Sequence) -> list[list[str]]:
        return [[u.utterance for u in r.conversation] for r in records]

    # prompts -----------------------------------------------------------------

    def mode(self, record) -> str:
        return "choice"

    def options(self, record: CCIRecord) -> list[str]:
        return record.options

    def labels(self, record) -> tuple[str, ...]:
        return CCI_LABELS

    def messages(self, record: CCIRecord, style: str = "base") -> list[dict[str, str]]:
        """System and user messages in one of :data:`PROMPT_STYLES`.

        - ``base``: the conversation with the referenced utterances marked [*], the question
          "위 대화의 <유형><으로/로> 올바른 지문은?" and the options;
        - ``official_terms``: the same with the types' official names (전제 조건, 내적 동기…);
        - ``definition``: the type's definition spelled out before the question;
        - ``instruction``: an instruction in place of the question;
        - ``system``: ``official_terms`` with a detailed system prompt.
        """
        if style not in PROMPT_STYLES:
            raise ValueError(msg(f"알 수 없는 프롬프트 스타일 '{style}' (가능: {', '.join(PROMPT_STYLES)})",
                                 f"unknown style '{style}' (choose from {', '.join(PROMPT_STYLES)})"))
        name = _type_name(record.category, style)
        parts = ["[Conversation]", conversation_lines(record.conversation, record.reference_id), ""]
        if style == "definition":
            parts += ["[Definition]", f"{name}: {DEFINITIONS[record.category]}", ""]
        if style == "instruction":
            parts += ["[Instruction]",
                      f"위 대화에서 [*] 표시된 발화의 {with_particle(name, '을/를')} 가장 잘 추론한 선택지를 고르세요.", ""]
        else:
            parts += ["[Question]", f"위 대화의 {with_particle(name, '으로/로')} 올바른 지문은?", ""]
        letters = self.letters(record)
        parts += ["[Option]", "\n".join(f"{letter}. {option}" for letter, option in zip(letters, record.options))]
        system = _SYSTEM_DETAILED if style == "system" else _SYSTEM_SHORT
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]

    # scores ------------------------------------------------------------------

    def score(self, predictions: dict[str, str], records: Sequence) -> dict[str, float]:
        """Accuracy (%) overall and per inference type."""
        from ..metrics import accuracy

        gold = {r.id: r.output for r in records if r.output}
        out = {"accuracy": accuracy(predictions, gold)}
        for cat in CCI_CATEGORIES:
            sub = {r.id: r.output for r in records if r.output and r.category == cat}
            if sub:
                out[f"accuracy/{cat}"] = accuracy(predictions, sub)
        return out

    # smoke -------------------------------------------------------------------

    def synthetic(self, n: int, seed: int = 42, split: str = "train", positions: str = "category") -> list[CCIRecord]:
        return synthetic_cci(n, seed, split, positions)

    def vocabulary(self) -> list[str]:
        lines = [_form(k, s, v) for k in CCI_FORMS for s in (1, 2) for v in VALUES[:3]]
        return lines + [line for lines_ in _CHAT.values() for line in lines_]


# ----------------------------------------------------------------------------- synthetic

#: One sentence form per inference type: the right option is the one written in the form of
#: the asked type, so a model has to read the question's type and the options. ``{s}`` is
#: the speaker with its subject particle (화자1이, 화자2가), ``{t}`` with its topic particle.
CCI_FORMS = {
    "원인": "{s} {x} 때문이다.",
    "후행사건": "{t} 곧 {x} 것이다.",
    "전제": "{t} 이미 {x} 상태였다.",
    "동기": "{t} {x} 싶어서 말했다.",
    "반응": "{t} {x} 기분이 들었다.",
}
#: Chat lines by theme: a synthetic conversation talks in the theme of its category, so the
#: category shows all over the prompt, not in one word of the question only.
_CHAT = {
    "원인": ("버스를 놓쳐서 늦었어", "비가 와서 옷이 젖었어", "잠을 못 자서 피곤해", "배탈이 나서 결석했어"),
    "후행사건": ("내일 같이 영화 보자", "다음 주에 이사 간대", "곧 시험 결과 나온대", "이따가 장 보러 갈 거야"),
    "전제": ("벌써 표는 샀지", "이미 예약해 뒀어", "원래 여기 살았잖아", "전에 말해 둔 대로야"),
    "동기": ("살 빼고 싶어서 운동해", "칭찬받고 싶었나 봐", "돈 모으려고 아껴 써", "친해지고 싶어서 말 걸었어"),
    "반응": ("와 진짜 기쁘다", "너무 속상해", "완전 설레", "좀 무섭더라"),
}
#: Where the right option stands for each category in :func:`synthetic_cci`.
CCI_ANSWER_POSITION = {"원인": 0, "동기": 0, "후행사건": 1, "반응": 1, "전제": 2}


def _rule_slot(category: str, speaker: int) -> int:
    return (CCI_CATEGORIES.index(category) + speaker) % 3


def answer_slot(record: CCIRecord) -> int:
    """The slot the ``"balanced"`` rule of :func:`synthetic_cci` gives a record: its category's
    place in :data:`CCI_CATEGORIES` plus the options' speaker number, modulo 3.

    >>> rec = synthetic_cci(1, seed=0)[0]
    >>> answer_slot(rec) == (CCI_CATEGORIES.index(rec.category) + int(rec.inference_1[2])) % 3
    True
    """
    return _rule_slot(record.category, int(record.inference_1[2]))  # "화자1이 ..." / "화자2는 ..."


def _form(kind: str, speaker: int, value: str) -> str:
    """An option sentence; particles follow the speaker's number (화자1이, 화자2가, 화자1은).

    >>> _form("원인", 1, "비"), _form("반응", 2, "설렘")
    ('화자1이 비 때문이다.', '화자2는 설렘 기분이 들었다.')
    """
    who = f"화자{speaker}"
    return CCI_FORMS[kind].format(s=with_particle(who, "이/가"), t=with_particle(who, "은/는"), x=value)


def synthetic_cci(n: int, seed: int = 42, split: str = "train", positions: str = "category") -> list[CCIRecord]:
    """``n`` 대화 맥락 추론 records (official layout) that a tiny model can learn: a short
    chat, a referenced utterance, and three options in the sentence forms of three different
    inference types (:data:`CCI_FORMS`); the right option is the one in the form of the
    record's own category, and it stands where :data:`CCI_ANSWER_POSITION` puts it.

    The conversation talks in the theme of its category (``_CHAT``). So the answer follows
    from the prompt, never from the option order alone: a model that ignores the prompt
    scores at most 40 % (always A), chance is 1/3. Why so easy: a tiny *randomly
    initialised* model trained through LoRA adapters only (QLoRA) learns a signal spread
    over the prompt in a hundred steps, but did not learn to find one decisive word (the
    category in the question) or to match option forms within a few hundred steps on a
    CPU (full fine-tuning of the same model learned that in a hundred).

    ``positions`` says where the right option stands:

    - ``"category"`` (tests): the slot of :data:`CCI_ANSWER_POSITION`, one per category. A
      tiny model learns it to 100 % in about a hundred steps, so a test can tell a working
      training path from a broken one.
    - ``"balanced"`` (the lessons): the slot follows the category *and* the options' speaker
      (:func:`answer_slot`), so each category's answer stands in two slots and every slot
      holds about a third of the answers. The tiny model learns this rule more slowly and,
      in the lessons' short training, only in part — each seed with its own gaps — which is
      what an ensemble needs (lesson 05; ``tests/test_ensemble.py``).

    Random slots could not be learned: the tiny model stayed at chance (loss ln 3 / 2) with
    QLoRA r 16 and r 64 up to 480 steps and with full fine-tuning up to 1,100 steps on 3,200
    records, because picking the option written in the asked type's form at a random slot
    means tying each option to its letter.

    >>> recs = synthetic_cci(300, seed=0, positions="balanced")
    >>> all(r.answer_index == answer_slot(r) for r in recs)
    True
    >>> [round(sum(r.answer_index == k for r in recs) / 300, 1) for k in range(3)]
    [0.3, 0.3, 0.4]
    """
    if positions not in ("category", "balanced"):
        raise ValueError(f"positions must be 'category' or 'balanced', not {positions!r}")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        doc = f"SYN{seed:04d}{i:06d}"
        category = rng.choice(CCI_CATEGORIES)
        turns = rng.randint(2, 4)
        conv = [Utterance(1 + t % 2, rng.choice(_CHAT[category]), f"{doc}.1.{t + 1}") for t in range(turns)]
        ref = conv[rng.randrange(turns)].utterance_id
        others = rng.sample([c for c in CCI_CATEGORIES if c != category], 2)
        speaker = rng.choice((1, 2))
        answer = CCI_ANSWER_POSITION[category] if positions == "category" else _rule_slot(category, speaker)
        kinds = others[:answer] + [category] + others[answer:]
        options = [_form(k, speaker, rng.choice(VALUES)) for k in kinds]
        out.append(CCIRecord(f"nikluge-2024-대화 맥락 추론-{split}-{i + 1:06d}", conv, [ref], category, *options,
                             output=CCI_LABELS[answer]))
    return out


TASK = CCITask()
