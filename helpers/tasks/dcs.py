"""일상 대화 요약 (daily conversation summary, NIKL 2024): a spoken conversation and its
topic keywords; the answer is a summary.

Layout (a JSON array)::

    {"id": "nikluge-2024-일상 대화 요약-train-000001",
     "input": {"conversation": [{"speaker": "SD2000001", "utterance": "…"}, …],
               "subject_keyword": ["해외여행"]},
     "output": "두 화자는 …"}

Scored with ROUGE-1 and BLEU on MeCab-ko morphemes (:mod:`helpers.metrics`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from .base import (Checker, Task, Utterance, answer_text, check_conversation, conversation_lines, split_of,
                   utterances)
from .words import TOPIC_LINES

__all__ = ["DCSRecord", "DCSTask", "TASK", "synthetic_dcs", "synthetic_summary"]


@dataclass
class DCSRecord:
    """A 일상 대화 요약 record: a spoken conversation, its topic keywords, its summary."""

    id: str  # "nikluge-2024-일상 대화 요약-train-000001"
    conversation: list[Utterance]
    subject_keyword: list[str]  # 주제: ["해외여행"]
    output: str | None = None  # 요약문 (test 파일에서는 None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id,
                "input": {"conversation": [u.to_dict() for u in self.conversation],
                          "subject_keyword": list(self.subject_keyword)},
                "output": self.output or ""}

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "split": split_of(self.id), "subject_keyword": ",".join(self.subject_keyword),
                "n_turns": len(self.conversation), "n_chars": sum(len(u.utterance) for u in self.conversation),
                "output_chars": len(self.output or "")}


class DCSTask(Task):
    name = "dcs"
    title = ("일상 대화 요약", "daily conversation summary")
    extension = "json"
    record_type = DCSRecord
    #: The seed (EXAONE, long summaries) decoded greedily.
    generation = {"max_new_tokens": 512}

    def validate(self, raw: Any, chk: Checker) -> None:
        for i, rid, rec, inp in chk.each(raw):
            check_conversation(chk, inp, i, rid, speaker_type=(str, int), need_ids=False)
            kws = chk.get(inp, "subject_keyword", list, i, rid, "input.")
            if kws is not None and not all(isinstance(k, str) for k in kws):
                chk.add(i, rid, "input.subject_keyword", "주제어는 문자열 목록이어야 합니다",
                        "subject keywords must be strings")
            chk.output(rec, i, rid)

    def build(self, raw: Any) -> list[DCSRecord]:
        return [DCSRecord(r["id"], utterances(r["input"]["conversation"]), list(r["input"]["subject_keyword"]),
                          answer_text(r.get("output"))) for r in raw]

    def texts(self, record: DCSRecord) -> Iterator[str]:
        yield from (u.utterance for u in record.conversation)
        if record.output:
            yield record.output

    def documents(self, records: Sequence) -> list[list[str]]:
        return [[u.utterance for u in r.conversation] for r in records]

    def messages(self, record: DCSRecord, style: str = "base") -> list[dict[str, str]]:
        """Messages asking for a summary of the conversation (speakers and topic shown)."""
        topic = ", ".join(record.subject_keyword)
        user = "\n".join(["[Conversation]", conversation_lines(record.conversation), "",
                          "[Question]", f"위 {topic} 주제에 대한 대화를 요약해 주세요."])
        return [{"role": "system", "content": "당신은 대화를 정확하고 간결하게 요약하는 도우미입니다."},
                {"role": "user", "content": user}]

    score = Task.generation_score

    def synthetic(self, n: int, seed: int = 42, split: str = "train") -> list[DCSRecord]:
        return synthetic_dcs(n, seed, split)

    def vocabulary(self) -> list[str]:
        return [line for lines in TOPIC_LINES.values() for line in lines] + [synthetic_summary(t) for t in TOPIC_LINES]


def synthetic_summary(topic: str) -> str:
    """The target summary of a synthetic conversation about ``topic``."""
    return f"두 화자는 {topic}에 대해 이야기했습니다."


def synthetic_dcs(n: int, seed: int = 42, split: str = "train") -> list[DCSRecord]:
    """``n`` 일상 대화 요약 records whose summary names the conversation's topic
    ("두 화자는 여행에 대해 이야기했습니다."): the lines of the conversation all come from
    that topic, so a tiny model can learn it; an untrained model scores near 0 ROUGE-1."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(list(TOPIC_LINES))
        speakers = (f"SD2{seed % 1000:03d}{i % 100:02d}1", f"SD2{seed % 1000:03d}{i % 100:02d}2")
        conv = [Utterance(speakers[t % 2], rng.choice(TOPIC_LINES[topic])) for t in range(rng.randint(2, 4))]
        out.append(DCSRecord(f"nikluge-2024-일상 대화 요약-{split}-{i + 1:06d}", conv, [topic], synthetic_summary(topic)))
    return out


TASK = DCSTask()
