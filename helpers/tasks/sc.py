"""이야기 완성 (story completion, NIKL 2023): the first and third sentences of a story; the
answer is the missing middle sentence.

Layout (JSON lines)::

    {"id": "nikluge-2023-sc-train-000001", "input": {"sentence1": "…", "sentence3": "…"}, "output": "…"}
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..korean import with_particle
from .base import Checker, Task, answer_text, split_of
from .words import NAMES, TOPIC_LINES

__all__ = ["SCRecord", "SCTask", "TASK", "synthetic_sc", "STORY_MIDDLES"]

#: The middle sentence each story theme calls for.
STORY_MIDDLES = {
    "여행": "그래서 그는 가방을 싸서 기차역으로 갔다.",
    "음식": "그는 냉장고에 남은 재료로 요리를 시작했다.",
    "운동": "그는 운동화를 신고 공원으로 달려 나갔다.",
    "영화": "그는 표를 사서 극장 맨 앞자리에 앉았다.",
    "날씨": "갑자기 하늘이 어두워지더니 비가 쏟아졌다.",
}


@dataclass
class SCRecord:
    """An 이야기 완성 record: first and third sentence given, the middle one is the answer."""

    id: str  # "nikluge-2023-sc-train-000001"
    sentence1: str  # "민수는 아침에 늦잠을 잤다."
    sentence3: str  # "결국 민수는 지각을 했다."
    output: str | None = None  # 가운데 문장 (test 파일에서는 None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": {"sentence1": self.sentence1, "sentence3": self.sentence3},
                "output": self.output or ""}

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "split": split_of(self.id), "sentence1_chars": len(self.sentence1),
                "sentence3_chars": len(self.sentence3), "output_chars": len(self.output or "")}


class SCTask(Task):
    name = "sc"
    title = ("이야기 완성", "story completion")
    extension = "jsonl"
    record_type = SCRecord
    #: The seed (polyglot-ko, one sentence) used beam search with four beams.
    generation = {"max_new_tokens": 64, "num_beams": 4}

    def validate(self, raw: Any, chk: Checker) -> None:
        for i, rid, rec, inp in chk.each(raw):
            chk.get(inp, "sentence1", str, i, rid, "input.", nonempty=True)
            chk.get(inp, "sentence3", str, i, rid, "input.", nonempty=True)
            chk.output(rec, i, rid)

    def build(self, raw: Any) -> list[SCRecord]:
        return [SCRecord(r["id"], r["input"]["sentence1"], r["input"]["sentence3"], answer_text(r.get("output")))
                for r in raw]

    def texts(self, record: SCRecord) -> Iterator[str]:
        yield from (record.sentence1, record.sentence3)
        if record.output:
            yield record.output

    def documents(self, records: Sequence) -> list[list[str]]:
        return [[r.sentence1, r.output, r.sentence3] for r in records if r.output]

    def messages(self, record: SCRecord, style: str = "base") -> list[dict[str, str]]:
        """Messages asking for the missing middle sentence of a three-sentence story."""
        user = "\n".join(["[Story]", f"문장 1: {record.sentence1}", "문장 2: (빈칸)", f"문장 3: {record.sentence3}", "",
                          "[Question]", "문장 1과 문장 3을 자연스럽게 잇는 문장 2를 한 문장으로 쓰세요."])
        return [{"role": "system", "content": "당신은 이야기의 빈 문장을 채우는 작가입니다."},
                {"role": "user", "content": user}]

    score = Task.generation_score

    def synthetic(self, n: int, seed: int = 42, split: str = "train") -> list[SCRecord]:
        return synthetic_sc(n, seed, split)

    def vocabulary(self) -> list[str]:
        return list(STORY_MIDDLES.values())


def synthetic_sc(n: int, seed: int = 42, split: str = "train") -> list[SCRecord]:
    """``n`` 이야기 완성 records whose missing middle sentence is fixed by the story's theme
    (:data:`STORY_MIDDLES`); sentences 1 and 3 are lines of that theme."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(list(STORY_MIDDLES))
        first, third = rng.sample(TOPIC_LINES[topic], 2)
        out.append(SCRecord(f"nikluge-2023-sc-{split}-{i + 1:06d}",
                            f"{with_particle(rng.choice(NAMES), '이/가')} 말했다. \"{first}\"",
                            f"결국 \"{third}\"라고 그는 덧붙였다.", STORY_MIDDLES[topic]))
    return out


TASK = SCTask()
