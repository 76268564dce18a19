"""One reader for prediction files, shared by ensembling, submissions, metrics and evaluation.

A kit prediction file holds one record a line, ``{"id", "output", "probs": {label: p}}``
(``probs`` for choice tasks), optionally after a header line ``{"kit_header": {…}}`` that
says which model, prompt style and records made it (see :mod:`helpers.inference`). An
official-layout submission and an ``{id: output}`` object are read too.

:func:`load_predictions` rejects what would otherwise pass in silence: duplicate ids,
non-numeric or non-finite probabilities, labels outside the task's label set, partial
probability dicts; against reference records it reports missing and extra ids and fails
when none overlap.

    >>> check_prediction_rows([{"id": "a", "output": "inference_4"}], task="cci", path="p.jsonl")[0]
    "p.jsonl, 레코드 #0, id=a, 필드 'output': 잘못된 레이블 'inference_4' (가능: inference_1, inference_2, inference_3)"
"""

from __future__ import annotations

import math
import os
import sys
from typing import Sequence

from . import tasks
from .core.io import DataError, Problem, read_predictions
from .core.messages import KitError, msg

__all__ = ["load_predictions", "check_prediction_rows", "match_ids", "outputs"]


def check_prediction_rows(rows: Sequence[dict], *, task: str | None = None, records: Sequence | None = None,
                          path: str = "<memory>") -> list[str]:
    """Every problem of prediction rows, as messages naming file, record, id and field."""
    return [str(p) for p in _problems(rows, task=task, records=records, path=path)]


def _problems(rows: Sequence[dict], *, task: str | None, records: Sequence | None, path: str) -> list[Problem]:
    problems: list[Problem] = []
    t = tasks.get(task) if task else None
    by_id = {r.id: r for r in records} if records is not None else {}
    seen: dict[str, int] = {}

    def add(i, rid, fld, ko, en):
        problems.append(Problem(path, i, rid, fld, msg(ko, en)))

    for i, row in enumerate(rows):
        rid = row.get("id")
        if rid in seen:
            add(i, rid, "id", f"중복된 id입니다 (레코드 #{seen[rid]}과 같음)", f"duplicate id (same as record #{seen[rid]})")
            continue
        seen[rid] = i
        out = row.get("output")
        if not isinstance(out, str):
            add(i, rid, "output", f"output이 문자열이 아닙니다: {out!r}", f"output is not a string: {out!r}")
            continue
        rec = by_id.get(rid)
        choice_labels = None
        if t is not None and rec is not None and t.mode(rec) == "choice":
            choice_labels = tuple(t.labels(rec))
        elif t is not None and rec is None:
            try:
                choice_labels = tuple(t.labels(None))
            except Exception:  # a task whose labels depend on the record
                choice_labels = None
        if choice_labels is not None and out not in choice_labels:
            add(i, rid, "output", f"잘못된 레이블 '{out}' (가능: {', '.join(choice_labels)})",
                f"invalid label '{out}' (expected one of {', '.join(choice_labels)})")
        probs = row.get("probs")
        if probs is None:
            continue
        if not isinstance(probs, dict) or not probs:
            add(i, rid, "probs", "probs는 {레이블: 확률} 객체여야 합니다", "probs must be a {label: probability} object")
            continue
        for label, p in probs.items():
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 <= p <= 1:
                add(i, rid, f"probs.{label}", f"확률이 0과 1 사이의 유한한 수가 아닙니다: {p!r}",
                    f"probability is not a finite number in [0, 1]: {p!r}")
        if choice_labels is not None and set(probs) != set(choice_labels):
            add(i, rid, "probs", f"probs의 레이블이 {', '.join(choice_labels)}과 다릅니다: {sorted(probs)}",
                f"probs must have exactly the labels {', '.join(choice_labels)}, got {sorted(probs)}")
    return problems


def match_ids(pred_ids: Sequence[str], ref_ids: Sequence[str], *, path: str, reference: str,
              allow_missing: bool = True) -> None:
    """Say which ids are missing or extra (stderr); :class:`KitError` when none overlap, or
    when any is missing and ``allow_missing`` is off."""
    preds, refs = set(pred_ids), set(ref_ids)
    missing = [r for r in ref_ids if r not in preds]
    extra = [p for p in pred_ids if p not in refs]
    if refs and not preds & refs:
        raise KitError(msg(f"{path}의 id가 {reference}의 id와 하나도 겹치지 않습니다 (예: {list(pred_ids)[:3]})",
                           f"no id of {path} is in {reference} (e.g. {list(pred_ids)[:3]})"))
    if missing:
        text = msg(f"{path}: {reference}에 있는 id {len(missing)}개의 예측이 없습니다 (예: {missing[:3]})",
                   f"{path}: {len(missing)} ids of {reference} have no prediction, e.g. {missing[:3]}")
        if not allow_missing:
            raise KitError(text)
        print(text, file=sys.stderr)
    if extra:
        print(msg(f"{path}: {reference}에 없는 id {len(extra)}개 (예: {extra[:3]})",
                  f"{path}: {len(extra)} ids are not in {reference}, e.g. {extra[:3]}"), file=sys.stderr)


def load_predictions(path: str | os.PathLike, *, task: str | None = None, records: Sequence | None = None,
                     reference: str | None = None, allow_missing: bool = True) -> list[dict]:
    """The checked rows of a prediction file; :class:`DataError` listing every bad row.

    With ``records`` (the gold or test records) missing and extra ids are reported, and a file
    that shares no id with them is an error.
    """
    rows = read_predictions(path)
    if not rows:
        raise DataError([Problem(str(path), None, None, None, msg("예측이 하나도 없습니다", "the file holds no predictions"))])
    problems = _problems(rows, task=task, records=records, path=str(path))
    if problems:
        raise DataError(problems)
    if records is not None:
        match_ids([r["id"] for r in rows], [r.id for r in records], path=str(path),
                  reference=reference or msg("정답 파일", "the reference"), allow_missing=allow_missing)
    return rows


def outputs(rows: Sequence[dict]) -> dict[str, str]:
    """``{id: output}`` of prediction rows."""
    return {r["id"]: r["output"] for r in rows}
