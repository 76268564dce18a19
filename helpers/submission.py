"""Submission files in the official layout: a writer and a validator for every NIKL task.

A submission is the official test file itself with each record's ``output`` filled in
(``inference_1|2|3`` for 대화 맥락 추론, the text for 일상 대화 요약 and 이야기 완성), in
UTF-8 with Korean unescaped. ::

    python -m helpers.submission check --task cci SUBMISSION.json TEST.json
    python -m helpers.submission write --task cci TEST.json PREDICTIONS.jsonl -o SUBMISSION.json

``check`` exits 0 for a good file and 1 with the problems for a missing, extra or duplicate
id, an invalid label or empty answer, or a test record whose content was changed.

This module imports no model library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from .data import CCI_LABELS, read_json_records, write_json

__all__ = ["SUBMISSION_TASKS", "fill_submission", "write_submission", "check_submission"]

SUBMISSION_TASKS = ("cci", "dcs", "sc")


def _records(path: str | Path) -> list[dict]:
    raw = read_json_records(path)
    if not isinstance(raw, list):
        raise ValueError(f"{path}: 레코드 배열이어야 합니다 / must be a list of records")
    return raw


def fill_submission(task: str, test_records: list[dict], predictions: dict[str, str]) -> list[dict]:
    """The test records with ``output`` set from ``predictions`` (id -> label or text)."""
    missing = [r["id"] for r in test_records if r["id"] not in predictions]
    if missing:
        raise ValueError(f"예측이 없는 id {len(missing)}개 / {len(missing)} test ids have no prediction, e.g. {missing[:3]}")
    out = []
    for rec in test_records:
        filled = dict(rec)
        filled["output"] = predictions[rec["id"]]
        out.append(filled)
    problems = _check_outputs(task, out)
    if problems:
        raise ValueError("\n".join(problems[:5]))
    return out


def write_submission(task: str, test_path: str | Path, predictions: dict[str, str], out_path: str | Path) -> Path:
    """Write the filled test file (JSON lines for ``sc``, a JSON array otherwise)."""
    filled = fill_submission(task, _records(test_path), predictions)
    return write_json(filled, out_path, jsonl=task == "sc")


def _check_outputs(task: str, records: list[dict]) -> list[str]:
    problems = []
    for i, rec in enumerate(records):
        out = rec.get("output")
        rid = rec.get("id")
        if task == "cci":
            if out not in CCI_LABELS:
                problems.append(f"record #{i} (id={rid}): 잘못된 레이블 {out!r} / invalid label (expected one of {', '.join(CCI_LABELS)})")
        elif not isinstance(out, str) or not out.strip():
            problems.append(f"record #{i} (id={rid}): 답이 비어 있습니다 / empty or non-text output {out!r}")
        elif "\n" in out:
            problems.append(f"record #{i} (id={rid}): 답에 줄바꿈이 있습니다 / output spans several lines")
    return problems


def check_submission(task: str, submission_path: str | Path, test_path: str | Path) -> list[str]:
    """Every problem of a submission against its test file (an empty list: ready to submit)."""
    if task not in SUBMISSION_TASKS:
        raise ValueError(f"task must be one of {SUBMISSION_TASKS}")
    sub, test = _records(submission_path), _records(test_path)
    problems: list[str] = []
    ids = [r.get("id") for r in sub]
    for rid, n in Counter(ids).items():
        if n > 1:
            problems.append(f"중복 id / duplicate id {rid!r} ({n} times)")
    test_by_id = {r["id"]: r for r in test}
    missing = [rid for rid in test_by_id if rid not in set(ids)]
    extra = [rid for rid in dict.fromkeys(ids) if rid not in test_by_id]
    if missing:
        problems.append(f"빠진 id {len(missing)}개 / {len(missing)} missing ids, e.g. {missing[:3]}")
    if extra:
        problems.append(f"test 파일에 없는 id {len(extra)}개 / {len(extra)} extra ids, e.g. {extra[:3]}")
    for i, rec in enumerate(sub):
        ref = test_by_id.get(rec.get("id"))
        if ref is None:
            continue
        if set(rec) != set(ref) | {"output"}:
            problems.append(f"record #{i} (id={rec['id']}): 필드가 다릅니다 / fields changed: "
                            f"{sorted(set(rec) ^ (set(ref) | {'output'}))}")
        if rec.get("input") != ref.get("input"):
            problems.append(f"record #{i} (id={rec['id']}): input이 test 파일과 다릅니다 / 'input' differs from the test file")
    problems += _check_outputs(task, sub)
    return problems


def _load_prediction_map(path: str | Path) -> dict[str, str]:
    from .inference import read_predictions

    text = Path(path).read_text(encoding="utf-8-sig").strip()
    if text.startswith("{") and "\n" not in text.strip():
        obj = json.loads(text)
        if "id" not in obj:
            return obj  # {id: output}
    return {p["id"]: p["output"] for p in read_predictions(path)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.submission")
    sub = parser.add_subparsers(dest="command", required=True)
    ck = sub.add_parser("check", help="validate a submission against its test file")
    ck.add_argument("--task", required=True, choices=SUBMISSION_TASKS)
    ck.add_argument("submission")
    ck.add_argument("test")
    wr = sub.add_parser("write", help="fill a test file with predictions")
    wr.add_argument("--task", required=True, choices=SUBMISSION_TASKS)
    wr.add_argument("test")
    wr.add_argument("predictions", help="kit prediction file (JSON lines) or {id: output} JSON")
    wr.add_argument("-o", "--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            path = write_submission(args.task, args.test, _load_prediction_map(args.predictions), args.out)
            print(f"wrote {path}")
            return 0
        problems = check_submission(args.task, args.submission, args.test)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}")
        return 1
    if problems:
        print(f"제출 파일에 문제가 {len(problems)}건 있습니다 / {len(problems)} problem(s):")
        for p in problems[:20]:
            print(f"  - {p}")
        return 1
    print(f"OK: {len(_records(args.submission))} records, ready to submit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
