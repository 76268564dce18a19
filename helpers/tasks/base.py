"""The ``Task`` interface every task module implements, and the checks they share.

A task is the unit of the kit (as in ratsnlp): it knows its file layout, records,
validation, prompts, answers, label set, submission check, scorer and synthetic smoke data.
Everything else (training, inference, submission, ensembling, the lessons) asks the task
through this interface and never branches on a task's name.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

from ..core.io import DataError, Problem, read_json_records
from ..core.messages import msg

__all__ = ["Task", "Checker", "Utterance", "LETTERS", "split_of", "split_from_name", "answer_text",
           "conversation_lines", "check_conversation", "utterances", "records_hash"]

#: Option letters of multiple-choice prompts (a task with five options uses A–E).
LETTERS = ("A", "B", "C", "D", "E", "F", "G", "H")
_SPLIT_RE = re.compile(r"-(train|dev|test)-")


def split_of(record_id: str, fallback: str | None = None) -> str | None:
    """The split named inside an official id (``train``/``dev``/``test``).

    >>> split_of("nikluge-2024-대화 맥락 추론-dev-000003")
    'dev'
    """
    m = _SPLIT_RE.search(record_id or "")
    return m.group(1) if m else fallback


def split_from_name(path: str | os.PathLike) -> str | None:
    """The split a file's name mentions (``대화맥락추론_train.json`` -> ``train``).

    >>> split_from_name("x/대화맥락추론_dev.json")
    'dev'
    """
    stem = Path(path).stem.lower()
    for split in ("train", "dev", "test"):
        if split in stem:
            return split
    return None


def answer_text(raw: Any) -> str | None:
    """A record's answer, or None where it is hidden (test files: missing, ``""`` or ``[]``)."""
    return raw if isinstance(raw, str) and raw.strip() else None


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


class Checker:
    """Collects the problems of one file while a task's validator walks its records."""

    def __init__(self, path: str | os.PathLike):
        self.file = str(path)
        self.file_split = split_from_name(path)
        self.problems: list[Problem] = []

    def add(self, index, rid, fld, ko: str, en: str) -> None:
        self.problems.append(Problem(self.file, index, rid, fld, msg(ko, en)))

    def get(self, obj, key, typ, index, rid, prefix="", *, required=True, nonempty=False):
        """``obj[key]`` if present and of type ``typ`` (and not blank when ``nonempty``);
        records a problem otherwise."""
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
        if nonempty and isinstance(value, (str, list)) and not (value.strip() if isinstance(value, str) else value):
            self.add(index, rid, name, "값이 비어 있습니다", "empty value")
            return None
        return value

    def answer_hidden(self, rid: str | None, raw_output: Any) -> bool:
        """True where an empty answer is allowed: a test record (by its id, or the file's name)
        in a file that is not named as a training or dev file."""
        if self.file_split in ("train", "dev"):
            return False
        return raw_output in (None, "", [], {}) and split_of(rid or "", self.file_split) in ("test", None)

    def records(self, raw: Any) -> list:
        """``raw`` as a list of records (a problem if it is not one)."""
        if not isinstance(raw, list):
            self.add(None, None, None, "최상위가 레코드 배열(JSON array)이어야 합니다",
                     f"top level must be a list of records, got {type(raw).__name__}")
            return []
        if not raw:
            self.add(None, None, None, "레코드가 하나도 없습니다", "the file holds zero records")
        return raw

    def unique_ids(self, records: list) -> None:
        seen: dict[str, int] = {}
        for i, rec in enumerate(records):
            rid = rec.get("id") if isinstance(rec, dict) else None
            if isinstance(rid, str):
                if rid in seen:
                    self.add(i, rid, "id", f"중복된 id입니다 (레코드 #{seen[rid]}과 같음)",
                             f"duplicate id (same as record #{seen[rid]})")
                else:
                    seen[rid] = i

    def each(self, raw: Any):
        """``(index, id, input)`` of every record that is an object with an ``input`` object."""
        records = self.records(raw)
        self.unique_ids(records)
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                self.add(i, None, None, "레코드가 객체가 아닙니다", "record is not an object")
                continue
            rid = self.get(rec, "id", str, i, None, nonempty=True)
            inp = self.get(rec, "input", dict, i, rid)
            if inp is not None:
                yield i, rid, rec, inp

    def output(self, rec, i, rid, *, allowed: Sequence[str] | None = None) -> None:
        """Check ``output``: hidden in test records, else a non-empty string (from ``allowed``).

        A training or dev file may not hold a record without an answer.
        """
        raw_out = rec.get("output")
        if self.answer_hidden(rid, raw_out):
            return
        if raw_out in (None, "", [], {}):
            if split_of(rid or "") == "test":
                self.add(i, rid, "output", f"{self.file_split} 파일 안에 정답 없는 test 레코드가 있습니다",
                         f"a test record (no answer) inside a {self.file_split or 'training'} file")
            else:
                self.add(i, rid, "output", "정답이 비어 있습니다 (test 파일이 아님)", "empty answer in a non-test file")
            return
        out = self.get(rec, "output", str, i, rid)
        if out is None:
            return
        if not out.strip():
            self.add(i, rid, "output", "정답이 비어 있습니다 (test 파일이 아님)", "empty answer in a non-test file")
        elif allowed is not None and out not in allowed:
            self.add(i, rid, "output", f"알 수 없는 정답 레이블 '{out}' (가능: {', '.join(allowed)})",
                     f"unknown answer label '{out}'")


class Task:
    """One competition task. Subclasses set the class attributes and implement the methods
    that raise ``NotImplementedError``; the others have defaults that fit most tasks.

    ``mode(record)`` says how a record is answered: ``"choice"`` (the answer is one of
    ``options(record)``, read from the next-token logits of ``letters``), ``"generation"``
    (free text) or ``"extractive"`` (a span of the context, the BERT track).
    """

    name: ClassVar[str]
    title: ClassVar[tuple[str, str]]  # (Korean, English)
    extension: ClassVar[str] = "json"  # "json" (one array) | "jsonl" (JSON lines)
    record_type: ClassVar[type]
    prompt_styles: ClassVar[tuple[str, ...]] = ("base",)
    submission: ClassVar[bool] = True  # submitted as the test file with ``output`` filled in
    #: Decoding of generated answers: greedy unless the task's seed used beam search.
    generation: ClassVar[dict] = {"max_new_tokens": 256}

    # ------------------------------------------------------------------ files and records

    @property
    def display_name(self) -> str:
        return msg(self.title[0], self.title[1])

    def validate(self, raw: Any, chk: Checker) -> None:
        raise NotImplementedError

    def build(self, raw: Any) -> list:
        """Typed records from already validated raw data."""
        raise NotImplementedError

    def problems(self, raw: Any, path: str | os.PathLike = "<memory>") -> list[Problem]:
        """Every schema problem of parsed data (empty: valid)."""
        chk = Checker(path)
        if self.extension == "jsonl" and isinstance(raw, dict):
            raw = [raw]
        self.validate(raw, chk)
        return chk.problems

    def load(self, path: str | os.PathLike) -> list:
        """Read, validate and build the records of a file; :class:`DataError` if invalid."""
        raw = read_json_records(path)
        if self.extension == "jsonl" and isinstance(raw, dict):
            raw = [raw]
        problems = self.problems(raw, path)
        if problems:
            raise DataError(problems)
        return self.build(raw)

    def to_file(self, records: Sequence) -> Any:
        """The official layout of ``records`` (what :func:`helpers.data.write_records` writes)."""
        return [r.to_dict() for r in records]

    def summarize(self, records: Sequence) -> dict[str, Any]:
        """Counts a user wants to see for a file."""
        splits = Counter(split_of(getattr(r, "id", ""), "?") for r in records)
        return {"task": self.name, "records": len(records), "splits": dict(splits),
                "answers": sum(1 for r in records if self.gold(r) is not None)}

    def texts(self, record) -> Iterator[str]:
        """Every piece of text of a record (vocabularies, word clouds)."""
        raise NotImplementedError

    def corpus(self, records: Sequence) -> Iterator[str]:
        """The text of a whole file, for training vocabularies: by default each record's texts."""
        for record in records:
            yield from self.texts(record)

    def documents(self, records: Sequence) -> list[list[str]]:
        """Multi-sentence documents (sentence-order pretraining): by default each record's texts."""
        return [list(self.texts(r)) for r in records]

    # ------------------------------------------------------------------ prompts and answers

    def mode(self, record) -> str:
        return "generation"

    def messages(self, record, style: str = "base") -> list[dict[str, str]]:
        raise NotImplementedError

    def options(self, record) -> list[str]:
        """The options of a choice record, in label order."""
        raise NotImplementedError(f"{self.name}: no options")

    def labels(self, record) -> tuple[str, ...]:
        """The output value of each option, in order (``inference_1``…)."""
        raise NotImplementedError(f"{self.name}: no labels")

    def letters(self, record) -> tuple[str, ...]:
        """The letters the prompt shows the options with (one token each)."""
        return LETTERS[: len(self.options(record))]

    def gold(self, record) -> str | None:
        """The answer as it stands in the file (None where hidden)."""
        return getattr(record, "output", None)

    def target(self, record) -> str | None:
        """What the model learns to write: the option letter of a choice record, the answer
        text otherwise (None where the answer is hidden)."""
        gold = self.gold(record)
        if gold is None:
            return None
        if self.mode(record) == "choice":
            return self.letters(record)[list(self.labels(record)).index(gold)]
        return gold

    # ------------------------------------------------------------------ outputs and scores

    def check_output(self, record, output: Any) -> str | None:
        """What is wrong with a submitted ``output`` for ``record`` (None: fine)."""
        if self.mode(record) == "choice":
            labels = self.labels(record)
            if output not in labels:
                return msg(f"잘못된 답 {output!r} (가능: {', '.join(labels)})",
                           f"invalid label {output!r} (expected one of {', '.join(labels)})")
            return None
        if not isinstance(output, str) or not output.strip():
            return msg(f"답이 비어 있습니다: {output!r}", f"empty or non-text output {output!r}")
        if "\n" in output:
            return msg("답에 줄바꿈이 있습니다", "output spans several lines")
        return None

    def submission_output(self, record, value: Any) -> Any:
        """What a submission writes as ``output`` for the predicted ``value`` of ``record``: the
        value itself by default; a task whose official layout wraps the answer (한국문화
        질의응답: ``{"answer": value}``) returns that."""
        return value

    def submitted_value(self, raw_output: Any) -> Any:
        """The predicted value inside a submitted ``output`` (the inverse of
        :meth:`submission_output`; by default ``raw_output`` itself). Raises
        :class:`~helpers.core.messages.KitError` (a ``ValueError``) saying why when the
        ``output`` does not have the task's layout."""
        return raw_output

    def score(self, predictions: dict[str, str], records: Sequence) -> dict[str, float]:
        """The official score(s) of ``predictions`` (id -> output) on records with answers."""
        raise NotImplementedError

    def generation_score(self, predictions: dict[str, str], records: Sequence) -> dict[str, float]:
        """ROUGE-1 and BLEU (%) on MeCab-ko morphemes, the organisers' scores of the generation
        tasks (a task uses it as ``score = Task.generation_score``); a missing prediction scores 0."""
        from ..metrics import generation_scores

        gold = [r for r in records if self.gold(r)]
        return generation_scores([predictions.get(r.id, "") for r in gold], [self.gold(r) for r in gold])

    # ------------------------------------------------------------------ smoke mode

    def synthetic(self, n: int, seed: int = 42, split: str = "train") -> list:
        """``n`` seeded records that a tiny model can learn (smoke mode)."""
        raise NotImplementedError

    def vocabulary(self) -> list[str]:
        """Sentences with every word the synthetic records use (tiny tokenizers know them)."""
        return []


def conversation_lines(conversation: Sequence[Utterance], mark: Sequence[str] = ()) -> str:
    """A conversation as prompt lines ``화자1: …``, referenced turns marked ``[*]``."""
    lines = []
    for u in conversation:
        star = "[*] " if u.utterance_id in mark else ""
        lines.append(f"{star}화자{u.speaker}: {u.utterance}")  # 화자1 (cci) / 화자SD2000001 (dcs)
    return "\n".join(lines)


def check_conversation(chk: Checker, inp: dict, i: int, rid, *, speaker_type, need_ids: bool,
                       positive_speaker: bool = False) -> list[str]:
    """Validate ``input.conversation``; returns the utterance ids found."""
    conv = chk.get(inp, "conversation", list, i, rid, "input.")
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
        speaker = chk.get(utt, "speaker", speaker_type, i, rid, pre)
        if isinstance(speaker, str) and not speaker.strip():
            chk.add(i, rid, f"{pre}speaker", "화자가 비어 있습니다", "empty speaker")
        elif positive_speaker and isinstance(speaker, int) and speaker < 1:
            chk.add(i, rid, f"{pre}speaker", f"화자 번호는 1 이상이어야 합니다: {speaker}",
                    f"unknown speaker {speaker} (speakers are numbered from 1)")
        chk.get(utt, "utterance", str, i, rid, pre, nonempty=True)
        uid = chk.get(utt, "utterance_id", str, i, rid, pre, required=need_ids, nonempty=need_ids)
        if uid is not None:
            ids.append(uid)
    return ids


def records_hash(records: Sequence) -> str:
    """A short fingerprint of records' ids and contents (prediction-file headers and training
    runs keep it, to refuse resuming with other data).

    >>> from helpers.tasks.sc import SCRecord
    >>> records_hash([SCRecord("a", "x", "y", "z")]) == records_hash([SCRecord("a", "x", "y", "z")])
    True
    >>> records_hash([SCRecord("a", "x", "y", "z")]) == records_hash([SCRecord("a", "x", "y", "w")])
    False
    """
    import hashlib
    import json

    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()[:16]


def utterances(conv: list[dict]) -> list[Utterance]:
    return [Utterance(u["speaker"], u["utterance"], u.get("utterance_id")) for u in conv]
