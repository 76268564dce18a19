"""Submission files in the official layout: a writer and a validator for every task that is
submitted as its test file with ``output`` filled in (see ``Task.submission``).

The writer fills each test record's ``output`` from predictions (a label for choice records,
the text for generated ones) and writes UTF-8 with Korean unescaped, in the test file's
layout (JSON lines for 이야기 완성). ::

    python -m helpers.submission check --task cci SUBMISSION.json TEST.json
    python -m helpers.submission write --task cci TEST.json PREDICTIONS.jsonl -o SUBMISSION.json

``check`` exits 0 for a good file and 1 with the problems for a missing, extra or duplicate
id, an invalid label or empty answer, or a test record whose content was changed.

This module imports no model library.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from . import tasks
from .core.io import read_json_records, write_json
from .core.messages import KitError, msg

__all__ = ["SUBMISSION_TASKS", "submission_tasks", "fill_submission", "write_submission", "check_submission"]


def submission_tasks() -> tuple[str, ...]:
    """Registered tasks that are submitted as a filled test file."""
    return tuple(t.name for t in tasks.all_tasks() if t.submission)


SUBMISSION_TASKS = submission_tasks()


def _raw_records(task: str, path: str | Path) -> list[dict]:
    raw = read_json_records(path)
    if isinstance(raw, dict) and tasks.get(task).extension == "jsonl":
        raw = [raw]
    if not isinstance(raw, list):
        raise KitError(msg(f"{path}: 레코드 배열이어야 합니다", f"{path}: must be a list of records"))
    return raw


def _test_records(task: str, path: str | Path) -> tuple[list[dict], dict]:
    """The raw test records (validated as the task's file) and the typed records by id."""
    t = tasks.get(task)
    typed = t.load(path)
    return _raw_records(task, path), {r.id: r for r in typed}


def fill_submission(task: str, test_records: list[dict], predictions: dict[str, str], typed: dict | None = None) -> list[dict]:
    """The test records with ``output`` set from ``predictions`` (id -> label or text)."""
    t = tasks.get(task)
    missing = [r["id"] for r in test_records if r["id"] not in predictions]
    if missing:
        raise KitError(msg(f"예측이 없는 test id {len(missing)}개 (예: {missing[:3]})",
                           f"{len(missing)} test ids have no prediction, e.g. {missing[:3]}"))
    typed = typed if typed is not None else {r.id: r for r in t.build(test_records)}
    out, problems = [], []
    for i, rec in enumerate(test_records):
        filled = dict(rec)
        problem = t.check_output(typed[rec["id"]], predictions[rec["id"]])
        filled["output"] = t.submission_output(typed[rec["id"]], predictions[rec["id"]])
        if problem:
            problems.append(f"record #{i} (id={rec['id']}): {problem}")
        out.append(filled)
    if problems:
        raise KitError("\n".join(problems[:5]))
    return out


def write_submission(task: str, test_path: str | Path, predictions: dict[str, str], out_path: str | Path) -> Path:
    """Write the filled test file (in the task's layout); refuses to overwrite the test file."""
    raw, typed = _test_records(task, test_path)
    filled = fill_submission(task, raw, predictions, typed)
    return write_json(filled, out_path, jsonl=tasks.get(task).extension == "jsonl", inputs=[test_path])


def check_submission(task: str, submission_path: str | Path, test_path: str | Path) -> list[str]:
    """Every problem of a submission against its test file (an empty list: ready to submit)."""
    t = tasks.get(task)
    if not t.submission:
        raise KitError(msg(f"'{task}' 과제는 test 파일을 채워 제출하지 않습니다", f"task '{task}' has no submission file"))
    sub = _raw_records(task, submission_path)
    test, typed = _test_records(task, test_path)
    problems: list[str] = []
    ids = [r.get("id") if isinstance(r, dict) else None for r in sub]
    for rid, n in Counter(ids).items():
        if n > 1:
            problems.append(msg(f"중복 id {rid!r} ({n}번)", f"duplicate id {rid!r} ({n} times)"))
    test_by_id = {r["id"]: r for r in test}
    present = set(ids)
    missing = [rid for rid in test_by_id if rid not in present]
    extra = [rid for rid in dict.fromkeys(ids) if rid not in test_by_id]
    if missing:
        problems.append(msg(f"빠진 id {len(missing)}개 (예: {missing[:3]})", f"{len(missing)} missing ids, e.g. {missing[:3]}"))
    if extra:
        problems.append(msg(f"test 파일에 없는 id {len(extra)}개 (예: {extra[:3]})",
                            f"{len(extra)} extra ids, e.g. {extra[:3]}"))
    for i, rec in enumerate(sub):
        if not isinstance(rec, dict):
            problems.append(msg(f"record #{i}: 객체가 아닙니다", f"record #{i}: not an object"))
            continue
        ref = test_by_id.get(rec.get("id"))
        if ref is None:
            continue
        if set(rec) != set(ref) | {"output"}:
            problems.append(msg(f"record #{i} (id={rec['id']}): 필드가 다릅니다: ", f"record #{i} (id={rec['id']}): fields changed: ")
                            + str(sorted(set(rec) ^ (set(ref) | {"output"}))))
        if rec.get("input") != ref.get("input"):
            problems.append(msg(f"record #{i} (id={rec['id']}): input이 test 파일과 다릅니다",
                                f"record #{i} (id={rec['id']}): 'input' differs from the test file"))
        try:
            problem = t.check_output(typed[rec["id"]], t.submitted_value(rec.get("output")))
        except KitError as err:
            problem = str(err)
        if problem:
            problems.append(f"record #{i} (id={rec['id']}): {problem}")
    return problems


def main(argv=None) -> int:
    from .core.cli import run
    from .predictions import load_predictions, outputs

    def command(args) -> int:
        if args.command == "write":
            test = tasks.get(args.task).load(args.test)
            rows = load_predictions(args.predictions, task=args.task, records=test,
                                    reference=args.test, allow_missing=False)
            try:
                path = write_submission(args.task, args.test, outputs(rows), args.out)
            except KitError as err:
                raise KitError(f"{args.predictions}: {err}") from None
            print(msg(f"제출 파일을 썼습니다: {path}", f"wrote {path}"))
            return 0
        problems = check_submission(args.task, args.submission, args.test)
        if problems:
            print(msg(f"{args.submission}: 제출 파일에 문제가 {len(problems)}건 있습니다:",
                      f"{args.submission}: {len(problems)} problem(s):"))
            for p in problems[:20]:
                print(f"  - {p}")
            return 1
        print(msg(f"OK: {len(_raw_records(args.task, args.submission))}개 레코드, 제출할 수 있습니다",
                  f"OK: {len(_raw_records(args.task, args.submission))} records, ready to submit"))
        return 0

    parser = argparse.ArgumentParser(prog="python -m helpers.submission")
    sub = parser.add_subparsers(dest="command", required=True)
    ck = sub.add_parser("check", help="validate a submission against its test file")
    ck.add_argument("--task", required=True, choices=submission_tasks())
    ck.add_argument("submission")
    ck.add_argument("test")
    wr = sub.add_parser("write", help="fill a test file with predictions")
    wr.add_argument("--task", required=True, choices=submission_tasks())
    wr.add_argument("test")
    wr.add_argument("predictions", help="kit prediction file (JSON lines) or {id: output} JSON")
    wr.add_argument("-o", "--out", required=True)
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
