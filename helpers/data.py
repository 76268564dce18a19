"""Task files: loading, validation, writing, where the files are, and a check CLI.

Every function takes a task name and asks the task (:mod:`helpers.tasks`); the records and
constants of the built-in tasks are re-exported here so lessons keep one import:

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
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import tasks
from .core.io import DataError, Problem, read_json_records, write_json
from .core.messages import msg
from .core.paths import display_path, repo_root
from .tasks.base import Utterance, split_of
from .tasks.cci import CCI_CATEGORIES, CCI_LABELS, CCIRecord
from .tasks.dcs import DCSRecord
from .tasks.korquad import Answer, QAExample, korquad_to_json
from .tasks.sc import SCRecord

__all__ = [
    "TASKS", "CCI_CATEGORIES", "CCI_LABELS", "Utterance", "CCIRecord", "DCSRecord", "SCRecord", "QAExample",
    "Answer", "Problem", "DataError", "read_json_records", "write_json", "validate", "load", "load_cci", "load_dcs",
    "load_sc", "load_korquad", "to_dataset", "to_frame", "write_records", "korquad_to_json", "sample_file",
    "data_file", "check_file", "summarize", "split_of", "main",
]

#: The built-in tasks (``helpers.tasks.names()`` also lists tasks registered later).
TASKS = tasks.names()


def validate(task: str, raw: Any, path: str | os.PathLike = "<memory>") -> list[Problem]:
    """Every schema problem of already-parsed data (an empty list means the data is valid).

    >>> validate("sc", [{"id": "x", "input": {"sentence1": "a"}, "output": "b"}])[0].field
    'input.sentence3'
    """
    return tasks.get(task).problems(raw, path)


def load(task: str, path: str | os.PathLike) -> list:
    """Read and validate a task file into typed records; :class:`DataError` if invalid.

    >>> len(load("korquad", sample_file("korquad", "dev"))) > 0
    True
    """
    return tasks.get(task).load(path)


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


def write_records(task: str, records: Sequence, path: str | os.PathLike, *,
                  inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write records in their task's official layout, atomically (refusing any of ``inputs``).

    >>> import tempfile; p = write_records("sc", load_sc(sample_file("sc", "dev")), tempfile.mktemp(".jsonl"))
    >>> len(load_sc(p))
    10
    """
    t = tasks.get(task)
    return write_json(t.to_file(records), path, jsonl=t.extension == "jsonl", inputs=inputs)


def sample_file(task: str, split: str) -> Path:
    """The shipped sample file of a task and split.

    >>> sample_file("sc", "train").name
    'train.jsonl'
    """
    return repo_root() / "data" / "samples" / task / f"{split}.{tasks.get(task).extension}"


def data_file(task: str, split: str, data_dir: str | os.PathLike | None = None, *, verbose: bool = True) -> Path:
    """The real data file if you have put it in place, else the shipped sample.

    Looks in ``data_dir`` (default ``$KIT_DATA_DIR`` or ``data/raw``) under ``<task>/`` for
    ``<split>.json[l]`` or any file whose name contains the split (e.g. the official
    ``대화맥락추론_train.json``).
    """
    ext = tasks.get(task).extension
    base = Path(data_dir or os.environ.get("KIT_DATA_DIR") or repo_root() / "data" / "raw") / task
    candidates = [base / f"{split}.{ext}"]
    if base.is_dir():
        candidates += sorted(p for p in base.glob(f"*{split}*.json*") if p.is_file())
    for cand in candidates:
        if cand.is_file():
            if verbose:
                print(msg(f"[{task}/{split}] 실제 데이터: {cand}", f"[{task}/{split}] real data: {cand}"))
            return cand
    sample = sample_file(task, split)
    if verbose:
        print(msg(f"[{task}/{split}] {base}에 실제 데이터가 없어 샘플을 씁니다: {display_path(sample)}",
                  f"[{task}/{split}] no real data in {base}; using the sample {display_path(sample)}"))
    return sample


def summarize(task: str, records: Sequence) -> dict[str, Any]:
    """Counts a user wants to see for a file: records, splits, labels/categories."""
    return tasks.get(task).summarize(records)


def check_file(path: str | os.PathLike, task: str) -> tuple[bool, str]:
    """Validate one file: ``(True, summary)`` or ``(False, the problems)``."""
    try:
        records = load(task, path)
    except DataError as err:
        return False, str(err)
    return True, json.dumps(summarize(task, records), ensure_ascii=False)


def main(argv: Iterable[str] | None = None) -> int:
    from .core.cli import run

    def command(args) -> int:
        ok, text = check_file(args.file, args.task)
        print(("OK " if ok else "") + text)
        return 0 if ok else 1

    parser = argparse.ArgumentParser(prog="python -m helpers.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate a task file against its official layout")
    chk.add_argument("file")
    chk.add_argument("--task", required=True, choices=tasks.names())
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
