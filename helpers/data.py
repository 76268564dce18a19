"""Official data layouts of the four tasks: typed records, loaders, validation, a check CLI.

Tasks and their short names:

- ``cci``: 대화 맥락 추론 (conversation context inference, NIKL 2024), JSON array.
- ``dcs``: 일상 대화 요약 (daily conversation summary, NIKL 2024), JSON array.
- ``sc``: 이야기 완성 (story completion, NIKL 2023), JSON lines.
- ``korquad``: KorQuAD 1.0, ``{"version", "data": [{"title", "paragraphs": [...]}]}``.

    >>> recs = load("cci", sample_file("cci", "dev"))
    >>> recs[0].category in CCI_CATEGORIES
    True

From the shell, for a file you just downloaded::

    python -m helpers.data check 대화맥락추론_train.json --task cci

This module imports no model library, so checking a file starts in a second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = [
    "TASKS",
    "CCI_CATEGORIES",
    "CCI_LABELS",
    "Utterance",
    "CCIRecord",
    "DCSRecord",
    "SCRecord",
    "QAExample",
    "Problem",
    "DataError",
    "read_json_records",
    "validate",
    "load",
    "load_cci",
    "load_dcs",
    "load_sc",
    "load_korquad",
    "to_dataset",
    "to_frame",
    "write_records",
    "korquad_to_json",
    "sample_file",
    "data_file",
    "check_file",
    "split_of",
]

TASKS = ("cci", "dcs", "sc", "korquad")
TASK_NAMES = {
    "cci": "대화 맥락 추론 (conversation context inference)",
    "dcs": "일상 대화 요약 (daily conversation summary)",
    "sc": "이야기 완성 (story completion)",
    "korquad": "KorQuAD 1.0",
}
#: The five inference types of 대화 맥락 추론, in the official order.
CCI_CATEGORIES = ("원인", "후행사건", "전제", "동기", "반응")
#: The answer labels of 대화 맥락 추론.
CCI_LABELS = ("inference_1", "inference_2", "inference_3")
_EXT = {"cci": "json", "dcs": "json", "sc": "jsonl", "korquad": "json"}
_SPLIT_RE = re.compile(r"-(train|dev|test)-")


# ----------------------------------------------------------------------------- records


@dataclass
class Utterance:
    """One turn of a conversation."""

    speaker: int | str  # 화자: 1 (대화 맥락 추론) 또는 "SD2000001" (일상 대화 요약)
    utterance: str  # 발화: "name1아 내일 뭐해?ㅋㅋ"
    utterance_id: str | None = None  # 발화 ID: "MDRW2100003410.1.1" (요약 과제에는 없음)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"speaker": self.speaker, "utterance": self.utterance}
        if self.utterance_id is not None:
            d["utterance_id"] = self.utterance_id
        return d


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
        return {
            "id": self.id,
            "split": split_of(self.id),
            "category": self.category,
            "n_turns": len(self.conversation),
            "n_chars": sum(len(u.utterance) for u in self.conversation),
            "output": self.output,
        }


@dataclass
class DCSRecord:
    """A 일상 대화 요약 record: a spoken conversation, its topic keywords, its summary."""

    id: str  # "nikluge-2024-일상 대화 요약-train-000001"
    conversation: list[Utterance]
    subject_keyword: list[str]  # 주제: ["해외여행"]
    output: str | None = None  # 요약문 (test 파일에서는 None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": {
                "conversation": [u.to_dict() for u in self.conversation],
                "subject_keyword": list(self.subject_keyword),
            },
            "output": self.output or "",
        }

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": split_of(self.id),
            "subject_keyword": ",".join(self.subject_keyword),
            "n_turns": len(self.conversation),
            "n_chars": sum(len(u.utterance) for u in self.conversation),
            "output_chars": len(self.output or ""),
        }


@dataclass
class SCRecord:
    """An 이야기 완성 record: first and third sentence given, the middle one is the answer."""

    id: str  # "nikluge-2023-sc-train-000001"
    sentence1: str  # "민수는 아침에 늦잠을 잤다."
    sentence3: str  # "결국 민수는 지각을 했다."
    output: str | None = None  # 가운데 문장 (test 파일에서는 None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": {"sentence1": self.sentence1, "sentence3": self.sentence3},
            "output": self.output or "",
        }

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": split_of(self.id),
            "sentence1_chars": len(self.sentence1),
            "sentence3_chars": len(self.sentence3),
            "output_chars": len(self.output or ""),
        }


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> dict[str, Any]:
        first = self.answers[0] if self.answers else None
        return {
            "id": self.id,
            "title": self.title,
            "context_chars": len(self.context),
            "question_chars": len(self.question),
            "answer_chars": len(first.text) if first else 0,
            "answer_start": first.answer_start if first else -1,
        }


# ----------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """Where a file breaks its schema: file, record index, record id, field, what is wrong."""

    file: str
    index: int | None
    record_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.index is not None:
            where.append(f"record #{self.index}")
        if self.record_id:
            where.append(f"id={self.record_id}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"


class DataError(ValueError):
    """A data file that does not match its task's official layout.

    ``problems`` lists every problem found; the message shows the first few.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:5])
        more = f"\n  ... and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        super().__init__(
            f"데이터 파일 오류 {len(self.problems)}건 / {len(self.problems)} data problem(s):\n{shown}{more}"
        )


def _msg(ko: str, en: str) -> str:
    return f"{ko} / {en}"


# ----------------------------------------------------------------------------- reading


def read_json_records(path: str | os.PathLike) -> Any:
    """Parse a JSON array/object or a JSON-lines file (a UTF-8 BOM is accepted).

    Raises :class:`DataError` naming the line and column of malformed JSON.

    >>> type(read_json_records(sample_file("sc", "dev")))
    <class 'list'>
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"파일이 없습니다 / no such file: {path}")
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if not stripped:
        raise DataError([Problem(str(path), None, None, None, _msg("빈 파일", "empty file"))])
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole_err:
        if not stripped.startswith("{"):
            raise DataError([_json_problem(path, whole_err)]) from None
    # JSON lines: one object per non-empty line.
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            prob = Problem(
                str(path), len(records), None, None,
                _msg(f"{lineno}번째 줄의 JSON이 잘못되었습니다 ({err.msg}, {err.colno}열)",
                     f"malformed JSON on line {lineno}, column {err.colno}: {err.msg}"),
            )
            raise DataError([prob]) from None
    return records


def _json_problem(path: Path, err: json.JSONDecodeError) -> Problem:
    return Problem(
        str(path), None, None, None,
        _msg(f"JSON 형식 오류: {err.lineno}번째 줄 {err.colno}열 ({err.msg})",
             f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"),
    )


def split_of(record_id: str, fallback: str | None = None) -> str | None:
    """The split named inside an official id (``train``/``dev``/``test``).

    >>> split_of("nikluge-2024-대화 맥락 추론-dev-000003")
    'dev'
    """
    m = _SPLIT_RE.search(record_id or "")
    return m.group(1) if m else fallback


def _split_from_name(path: str | os.PathLike) -> str | None:
    stem = Path(path).stem.lower()
    for split in ("train", "dev", "test"):
        if split in stem:
            return split
    return None


# ----------------------------------------------------------------------------- validation


class _Checker:
    """Collects problems for one file while walking its records."""

    def __init__(self, path: str | os.PathLike):
        self.file = str(path)
        self.file_split = _split_from_name(path)
        self.problems: list[Problem] = []

    def add(self, index, rid, fld, ko, en):
        self.problems.append(Problem(self.file, index, rid, fld, _msg(ko, en)))

    def get(self, obj, key, typ, index, rid, prefix="", *, required=True):
        """obj[key] if present and of type ``typ``; records a problem otherwise."""
        name = f"{prefix}{key}"
        if not isinstance(obj, dict) or key not in obj:
            if required:
                self.add(index, rid, name, "필드가 없습니다", "missing field")
            return None
        value = obj[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            want = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            self.add(index, rid, name, f"자료형이 {want}이어야 하는데 {type(value).__name__}입니다",
                     f"expected {want}, got {type(value).__name__}")
            return None
        return value

    def answer_hidden(self, rid: str | None, raw_output: Any) -> bool:
        """True where an empty answer is allowed (a test record)."""
        return raw_output in (None, "", []) and split_of(rid or "", self.file_split) in ("test", None)


def _records_list(raw: Any, chk: _Checker) -> list:
    if not isinstance(raw, list):
        chk.add(None, None, None, "최상위가 레코드 배열(JSON array)이어야 합니다",
                f"top level must be a list of records, got {type(raw).__name__}")
        return []
    return raw


def _check_ids(records: list, chk: _Checker) -> None:
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        rid = rec.get("id") if isinstance(rec, dict) else None
        if isinstance(rid, str):
            if rid in seen:
                chk.add(i, rid, "id", f"중복된 id입니다 (레코드 #{seen[rid]}와 같음)",
                        f"duplicate id (same as record #{seen[rid]})")
            else:
                seen[rid] = i


def _check_conversation(rec, i, rid, chk, *, speaker_type, need_ids) -> list[str]:
    """Validate ``input.conversation``; returns the utterance ids found."""
    conv = chk.get(rec.get("input"), "conversation", list, i, rid, "input.")
    if conv is None:
        return []
    if not conv:
        chk.add(i, rid, "input.conversation", "대화가 비어 있습니다", "empty conversation")
    ids = []
    for j, utt in enumerate(conv):
        pre = f"input.conversation[{j}]."
        if not isinstance(utt, dict):
            chk.add(i, rid, pre[:-1], "발화가 객체가 아닙니다", "utterance is not an object")
            continue
        chk.get(utt, "speaker", speaker_type, i, rid, pre)
        chk.get(utt, "utterance", str, i, rid, pre)
        uid = chk.get(utt, "utterance_id", str, i, rid, pre, required=need_ids)
        if uid is not None:
            ids.append(uid)
    return ids


def _validate_cci(raw: Any, chk: _Checker) -> None:
    records = _records_list(raw, chk)
    _check_ids(records, chk)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            chk.add(i, None, None, "레코드가 객체가 아닙니다", "record is not an object")
            continue
        rid = chk.get(rec, "id", str, i, None)
        inp = chk.get(rec, "input", dict, i, rid)
        if inp is None:
            continue
        ids = _check_conversation(rec, i, rid, chk, speaker_type=int, need_ids=True)
        refs = chk.get(inp, "reference_id", list, i, rid, "input.")
        for ref in refs or []:
            if ref not in ids:
                chk.add(i, rid, "input.reference_id",
                        f"대화에 없는 참조 발화입니다: '{ref}'", f"reference id '{ref}' is not in the conversation")
        cat = chk.get(inp, "category", str, i, rid, "input.")
        if cat is not None and cat not in CCI_CATEGORIES:
            chk.add(i, rid, "input.category", f"알 수 없는 추론 유형 '{cat}' (가능: {', '.join(CCI_CATEGORIES)})",
                    f"unknown category '{cat}'")
        for label in CCI_LABELS:
            chk.get(inp, label, str, i, rid, "input.")
        _check_output(rec, i, rid, chk, allowed=CCI_LABELS)


def _check_output(rec, i, rid, chk, *, allowed: Sequence[str] | None) -> None:
    raw_out = rec.get("output")
    if chk.answer_hidden(rid, raw_out):
        return
    out = chk.get(rec, "output", str, i, rid)
    if out is None:
        return
    if not out.strip():
        chk.add(i, rid, "output", "정답이 비어 있습니다 (test 파일이 아님)", "empty answer in a non-test file")
    elif allowed is not None and out not in allowed:
        chk.add(i, rid, "output", f"알 수 없는 정답 레이블 '{out}' (가능: {', '.join(allowed)})",
                f"unknown answer label '{out}'")


def _validate_dcs(raw: Any, chk: _Checker) -> None:
    records = _records_list(raw, chk)
    _check_ids(records, chk)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            chk.add(i, None, None, "레코드가 객체가 아닙니다", "record is not an object")
            continue
        rid = chk.get(rec, "id", str, i, None)
        inp = chk.get(rec, "input", dict, i, rid)
        if inp is None:
            continue
        _check_conversation(rec, i, rid, chk, speaker_type=(str, int), need_ids=False)
        kws = chk.get(inp, "subject_keyword", list, i, rid, "input.")
        if kws is not None and not all(isinstance(k, str) for k in kws):
            chk.add(i, rid, "input.subject_keyword", "주제어는 문자열 목록이어야 합니다",
                    "subject keywords must be strings")
        _check_output(rec, i, rid, chk, allowed=None)


def _validate_sc(raw: Any, chk: _Checker) -> None:
    records = _records_list(raw, chk)
    _check_ids(records, chk)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            chk.add(i, None, None, "레코드가 객체가 아닙니다", "record is not an object")
            continue
        rid = chk.get(rec, "id", str, i, None)
        inp = chk.get(rec, "input", dict, i, rid)
        if inp is None:
            continue
        chk.get(inp, "sentence1", str, i, rid, "input.")
        chk.get(inp, "sentence3", str, i, rid, "input.")
        _check_output(rec, i, rid, chk, allowed=None)


def _validate_korquad(raw: Any, chk: _Checker) -> None:
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
            ctx = chk.get(para, "context", str, None, None, ppre)
            for q, qa in enumerate(chk.get(para, "qas", list, None, None, ppre) or []):
                qi += 1
                qpre = f"{ppre}qas[{q}]."
                qid = chk.get(qa, "id", str, qi, None, qpre)
                if qid is not None:
                    if qid in seen:
                        chk.add(qi, qid, f"{qpre}id", f"중복된 질문 id입니다 (질문 #{seen[qid]}와 같음)",
                                f"duplicate question id (same as question #{seen[qid]})")
                    seen.setdefault(qid, qi)
                chk.get(qa, "question", str, qi, qid, qpre)
                answers = chk.get(qa, "answers", list, qi, qid, qpre)
                if answers is not None and not answers and chk.file_split != "test":
                    chk.add(qi, qid, f"{qpre}answers", "답변이 없습니다", "no answers")
                for n, ans in enumerate(answers or []):
                    apre = f"{qpre}answers[{n}]."
                    text = chk.get(ans, "text", str, qi, qid, apre)
                    start = chk.get(ans, "answer_start", int, qi, qid, apre)
                    if text is None or start is None or ctx is None:
                        continue
                    if ctx[start:start + len(text)] != text:
                        found = ctx.find(text)
                        hint = f" (지문에서는 {found}번 위치에 있음 / found at {found})" if found >= 0 else ""
                        chk.add(qi, qid, f"{apre}answer_start",
                                f"answer_start={start} 위치의 글자가 답변과 다릅니다 (답변: '{text}'){hint}",
                                f"answer_start={start} does not point at the answer text '{text}'")


_VALIDATORS = {"cci": _validate_cci, "dcs": _validate_dcs, "sc": _validate_sc, "korquad": _validate_korquad}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"알 수 없는 과제 '{task}' / unknown task '{task}' (choose from {', '.join(TASKS)})")


def validate(task: str, raw: Any, path: str | os.PathLike = "<memory>") -> list[Problem]:
    """Every schema problem of already-parsed data (an empty list means the data is valid).

    >>> validate("sc", [{"id": "x", "input": {"sentence1": "a"}, "output": "b"}])[0].field
    'input.sentence3'
    """
    _check_task(task)
    chk = _Checker(path)
    _VALIDATORS[task](raw, chk)
    return chk.problems


# ----------------------------------------------------------------------------- loading


def _utterances(conv: list[dict]) -> list[Utterance]:
    return [Utterance(u["speaker"], u["utterance"], u.get("utterance_id")) for u in conv]


def _answer(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw.strip() else None


def _build(task: str, raw: Any) -> list:
    if task == "cci":
        return [
            CCIRecord(
                id=r["id"], conversation=_utterances(r["input"]["conversation"]),
                reference_id=list(r["input"]["reference_id"]), category=r["input"]["category"],
                inference_1=r["input"]["inference_1"], inference_2=r["input"]["inference_2"],
                inference_3=r["input"]["inference_3"], output=_answer(r.get("output")),
            )
            for r in raw
        ]
    if task == "dcs":
        return [
            DCSRecord(r["id"], _utterances(r["input"]["conversation"]),
                      list(r["input"]["subject_keyword"]), _answer(r.get("output")))
            for r in raw
        ]
    if task == "sc":
        return [SCRecord(r["id"], r["input"]["sentence1"], r["input"]["sentence3"], _answer(r.get("output")))
                for r in raw]
    return [
        QAExample(qa["id"], art["title"], para["context"], qa["question"],
                  [Answer(a["text"], a["answer_start"]) for a in qa["answers"]])
        for art in raw["data"] for para in art["paragraphs"] for qa in para["qas"]
    ]


def load(task: str, path: str | os.PathLike) -> list:
    """Read and validate a task file into typed records; :class:`DataError` if invalid.

    >>> len(load("korquad", sample_file("korquad", "dev"))) > 0
    True
    """
    _check_task(task)
    raw = read_json_records(path)
    problems = validate(task, raw, path)
    if problems:
        raise DataError(problems)
    return _build(task, raw)


def load_cci(path: str | os.PathLike) -> list[CCIRecord]:
    """``load("cci", path)``: 대화 맥락 추론 records."""
    return load("cci", path)


def load_dcs(path: str | os.PathLike) -> list[DCSRecord]:
    """``load("dcs", path)``: 일상 대화 요약 records."""
    return load("dcs", path)


def load_sc(path: str | os.PathLike) -> list[SCRecord]:
    """``load("sc", path)``: 이야기 완성 records."""
    return load("sc", path)


def load_korquad(path: str | os.PathLike) -> list[QAExample]:
    """``load("korquad", path)``: KorQuAD questions, flattened one per example."""
    return load("korquad", path)


def to_dataset(records: Sequence):
    """A ``datasets.Dataset`` with one row per record (nested fields kept as structs).

    >>> to_dataset(load_sc(sample_file("sc", "dev"))).column_names
    ['id', 'input', 'output']
    """
    import datasets

    return datasets.Dataset.from_list([r.to_dict() for r in records])


def to_frame(records: Sequence):
    """A pandas DataFrame with one summary row per record (ids, split, lengths, labels)."""
    import pandas as pd

    return pd.DataFrame([r.row() for r in records])


def korquad_to_json(examples: Sequence[QAExample], version: str = "KorQuAD_v1.0") -> dict:
    """Nest flat examples back into the KorQuAD file layout (grouped by title and context)."""
    articles: dict[str, dict[str, list]] = {}
    for ex in examples:
        paras = articles.setdefault(ex.title, {})
        paras.setdefault(ex.context, []).append(
            {"id": ex.id, "question": ex.question, "answers": [asdict(a) for a in ex.answers]}
        )
    return {
        "version": version,
        "data": [
            {"title": t, "paragraphs": [{"context": c, "qas": q} for c, q in paras.items()]}
            for t, paras in articles.items()
        ],
    }


def write_json(obj: Any, path: str | os.PathLike, *, jsonl: bool = False) -> Path:
    """Write UTF-8 JSON with Korean unescaped (JSON lines when ``jsonl``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        if jsonl:
            for rec in obj:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write("\n")
    os.replace(tmp, path)
    return path


def write_records(task: str, records: Sequence, path: str | os.PathLike) -> Path:
    """Write records in their task's official layout (JSON lines for ``sc``).

    >>> import tempfile; p = write_records("sc", load_sc(sample_file("sc", "dev")), tempfile.mktemp(".jsonl"))
    >>> len(load_sc(p))
    10
    """
    _check_task(task)
    if task == "korquad":
        return write_json(korquad_to_json(records), path)
    return write_json([r.to_dict() for r in records], path, jsonl=task == "sc")


# ----------------------------------------------------------------------------- locations


def sample_file(task: str, split: str) -> Path:
    """The shipped sample file of a task and split.

    >>> sample_file("cci", "train").name
    'train.json'
    """
    from .runtime import repo_root

    _check_task(task)
    return repo_root() / "data" / "samples" / task / f"{split}.{_EXT[task]}"


def data_file(task: str, split: str, data_dir: str | os.PathLike | None = None, *, verbose: bool = True) -> Path:
    """The real data file if you have put it in place, else the shipped sample.

    Looks in ``data_dir`` (default ``$KIT_DATA_DIR`` or ``data/raw``) under ``<task>/`` for
    ``<split>.json[l]`` or any file whose name contains the split (e.g. the official
    ``대화맥락추론_train.json``).
    """
    from .runtime import repo_root

    _check_task(task)
    base = Path(data_dir or os.environ.get("KIT_DATA_DIR") or repo_root() / "data" / "raw") / task
    candidates = [base / f"{split}.{_EXT[task]}"]
    if base.is_dir():
        candidates += sorted(p for p in base.glob(f"*{split}*.json*") if p.is_file())
    for cand in candidates:
        if cand.is_file():
            if verbose:
                print(f"[{task}/{split}] real data: {cand}")
            return cand
    sample = sample_file(task, split)
    if verbose:
        print(f"[{task}/{split}] 실제 데이터가 없어 샘플을 씁니다 / no real data in {base}, using the sample: "
              f"{sample.relative_to(repo_root()) if sample.is_relative_to(repo_root()) else sample}")
    return sample


# ----------------------------------------------------------------------------- check CLI


def summarize(task: str, records: Sequence) -> dict[str, Any]:
    """Counts a user wants to see for a file: records, splits, labels/categories."""
    splits = Counter(split_of(getattr(r, "id", ""), "?") for r in records)
    out: dict[str, Any] = {"task": task, "records": len(records), "splits": dict(splits)}
    if task == "cci":
        out["categories"] = dict(Counter(r.category for r in records))
        out["labels"] = dict(Counter(r.output or "(hidden)" for r in records))
    elif task == "korquad":
        out["paragraphs"] = len({(r.title, r.context) for r in records})
        out["articles"] = len({r.title for r in records})
    else:
        out["answers"] = sum(1 for r in records if r.output)
    return out


def check_file(path: str | os.PathLike, task: str) -> tuple[bool, str]:
    """Validate one file: ``(True, summary)`` or ``(False, the first problems)``."""
    try:
        records = load(task, path)
    except DataError as err:
        return False, str(err)
    except FileNotFoundError as err:
        return False, str(err)
    return True, json.dumps(summarize(task, records), ensure_ascii=False)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate a task file against its official layout")
    chk.add_argument("file")
    chk.add_argument("--task", required=True, choices=TASKS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    ok, text = check_file(args.file, args.task)
    print(("OK " if ok else "") + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
