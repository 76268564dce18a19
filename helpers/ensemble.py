"""Ensembling prediction files by hard or soft voting.

    python -m helpers.ensemble --vote hard A.jsonl B.jsonl C.jsonl -o OUT.jsonl
    python -m helpers.ensemble --vote soft A.jsonl B.jsonl -o OUT.jsonl

Inputs are the kit's prediction files (JSON lines ``{"id", "output", "probs"}``); for hard
voting a submission file in the official layout also works (it has no probabilities).

- **hard**: each file votes for its label; the majority wins. A tie goes to the tied label
  with the highest mean probability over the files that carry probabilities; if that
  still ties (or there are none), to the label of the earliest file among the tied voters
  — list your best model first. This is the 2024 winner's method.
- **soft**: the label with the highest mean probability.

    >>> hard_vote([{"q": "inference_1"}, {"q": "inference_2"}, {"q": "inference_2"}])
    {'q': 'inference_2'}
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from .core.io import write_json
from .core.messages import KitError, msg
from .predictions import load_predictions

__all__ = ["load_votes", "hard_vote", "soft_vote", "ensemble_files", "vote_report", "plot_vote_report"]


def load_votes(path: str | Path, task: str | None = "cci") -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """``(labels, probs)`` by id from a kit prediction file or an official-layout submission,
    checked by :func:`helpers.predictions.load_predictions` (labels of ``task``)."""
    labels, probs = {}, {}
    for rec in load_predictions(path, task=task):
        labels[rec["id"]] = rec["output"]
        if isinstance(rec.get("probs"), dict):
            probs[rec["id"]] = rec["probs"]
    return labels, probs


def _same_ids(votes: Sequence[dict[str, str]]) -> list[str]:
    ids = list(votes[0])
    for n, v in enumerate(votes[1:], start=2):
        if set(v) != set(ids):
            missing, extra = set(ids) - set(v), set(v) - set(ids)
            raise KitError(msg(f"파일 {n}의 id가 파일 1과 다릅니다: 빠진 id {sorted(missing)[:3]}, 더 있는 id {sorted(extra)[:3]}",
                               f"file {n} has other ids than file 1: missing {sorted(missing)[:3]}, "
                               f"extra {sorted(extra)[:3]}"))
    return ids


def hard_vote(votes: Sequence[dict[str, str]], probs: Sequence[dict[str, dict[str, float]]] = ()) -> dict[str, str]:
    """Majority label per id (tie-break: mean probability, then the earliest file)."""
    out = {}
    for qid in _same_ids(votes):
        labels = [v[qid] for v in votes]
        counts = Counter(labels)
        top = max(counts.values())
        tied = [lab for lab in dict.fromkeys(labels) if counts[lab] == top]  # in order of first vote
        if len(tied) > 1:
            known = [p[qid] for p in probs if qid in p]
            if known:
                mean = {lab: sum(p.get(lab, 0.0) for p in known) / len(known) for lab in tied}
                best = max(mean.values())
                tied = [lab for lab in tied if mean[lab] == best]
        out[qid] = tied[0]
    return out


def soft_vote(probs: Sequence[dict[str, dict[str, float]]]) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """Label with the highest mean probability per id, and the mean probabilities."""
    ids = _same_ids([{k: "" for k in p} for p in probs])
    labels, means = {}, {}
    for qid in ids:
        keys = list(dict.fromkeys(k for p in probs for k in p[qid]))
        mean = {k: sum(p[qid].get(k, 0.0) for p in probs) / len(probs) for k in keys}
        means[qid] = mean
        labels[qid] = max(keys, key=lambda k: mean[k])
    return labels, means


def ensemble_files(paths: Sequence[str | Path], vote: str = "hard", task: str | None = "cci") -> list[dict]:
    """Combine prediction files; returns kit prediction records in the first file's order."""
    loaded = [load_votes(p, task) for p in paths]
    votes, probs = [v for v, _ in loaded], [p for _, p in loaded if p]
    if vote not in ("hard", "soft"):
        raise KitError(msg("vote는 'hard' 또는 'soft'여야 합니다", "vote must be 'hard' or 'soft'"))
    full = [p for p in probs] if len(probs) == len(paths) else []
    scored = [qid for qid in votes[0] if full and all(qid in p for p in full)]  # ids every file has probs for
    if vote == "soft" and not scored:
        raise KitError(msg("소프트 보팅에는 모든 파일에 확률(probs)이 있어야 합니다 (키트의 예측 파일에는 있습니다)",
                           "soft voting needs probabilities in every file (kit prediction files carry them)"))
    labels = hard_vote(votes, probs)  # ids without probabilities (generated answers) are voted on by label
    means = {qid: {lab: sum(p[qid].get(lab, 0.0) for p in full) / len(full)
                   for lab in dict.fromkeys(k for p in full for k in p[qid])} for qid in scored}
    if vote == "soft":
        soft, _ = soft_vote([{qid: p[qid] for qid in scored} for p in full])
        labels.update(soft)
    out = []
    for qid in votes[0]:
        rec = {"id": qid, "output": labels[qid], "votes": dict(Counter(v[qid] for v in votes))}
        if qid in means:
            rec["probs"] = {k: round(v, 6) for k, v in means[qid].items()}
        out.append(rec)
    return out


def vote_report(paths: Sequence[str | Path], records: Sequence, task: str | None = "cci") -> dict:
    """What a vote over prediction files does on records with answers: each member's accuracy
    and their mean, the share of questions the members disagree on, the hard and soft votes'
    accuracies, and the answers the hard vote changed against the first (best) member — fixed
    (wrong → right) or broken (right → wrong). Accuracies in %, rounded to two decimals.

    >>> import json, tempfile
    >>> from types import SimpleNamespace as R
    >>> recs = [R(id=q, output="inference_1") for q in ("a", "b", "c", "d")]
    >>> rows = [["inference_1", "inference_2", "inference_1", "inference_1"],   # 75 %
    ...         ["inference_2", "inference_1", "inference_1", "inference_1"],   # 75 %
    ...         ["inference_1", "inference_1", "inference_3", "inference_2"]]   # 50 %
    >>> tmp = tempfile.mkdtemp()
    >>> paths = []
    >>> for n, row in enumerate(rows):
    ...     paths.append(f"{tmp}/m{n}.jsonl")
    ...     with open(paths[-1], "w") as f:
    ...         _ = f.write("\\n".join(json.dumps({"id": q, "output": o}) for q, o in zip("abcd", row)))
    >>> rep = vote_report(paths, recs)
    >>> rep["members"], rep["mean_member"], rep["disagreement"], rep["hard"], rep["fixed"], rep["broken"]
    ([75.0, 75.0, 50.0], 66.67, 100.0, 100.0, 1, 0)
    """
    from .metrics import accuracy

    gold = {r.id: r.output for r in records if r.output}
    if not gold:
        raise KitError(msg("정답이 있는 레코드가 없습니다 (test 파일?): 투표 결과는 정답이 있는 dev 레코드로 봅니다",
                           "none of the records carries an answer (a test file?): a vote report needs dev records"))
    loaded = [load_votes(p, task) for p in paths]
    votes = [v for v, _ in loaded]
    ids = _same_ids(votes)
    hard = {r["id"]: r["output"] for r in ensemble_files(paths, "hard", task)}
    members = [accuracy(v, gold) for v in votes]
    first = votes[0]
    report = {
        "members": members,
        "mean_member": sum(members) / len(members),
        "disagreement": 100 * sum(len({v[q] for v in votes}) > 1 for q in ids) / len(ids),
        "hard": accuracy(hard, gold),
        "changed": sum(hard[q] != first[q] for q in ids),
        "fixed": sum(hard[q] != first[q] and hard[q] == gold.get(q) for q in ids),
        "broken": sum(hard[q] != first[q] and first[q] == gold.get(q) for q in ids),
    }
    if all(p for _, p in loaded):
        report["soft"] = accuracy({r["id"]: r["output"] for r in ensemble_files(paths, "soft", task)}, gold)
    return {k: [round(x, 2) for x in v] if isinstance(v, list) else round(v, 2) if isinstance(v, float) else v
            for k, v in report.items()}


def plot_vote_report(report: dict, names: Sequence[str] | None = None):
    """Bars of each member's accuracy and of the votes, with the members' mean as a line."""
    import matplotlib.pyplot as plt

    names = list(names or [f"모델 {i + 1}" for i in range(len(report["members"]))])
    labels = names + ["하드 보팅"] + (["소프트 보팅"] if "soft" in report else [])
    values = list(report["members"]) + [report["hard"]] + ([report["soft"]] if "soft" in report else [])
    colors = ["#9db4d3"] * len(names) + ["#2f5d8a"] * (len(labels) - len(names))
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2, 3.6))
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, fmt="%.1f")
    ax.axhline(report["mean_member"], color="#c0504d", linestyle="--", label=f"모델 평균 {report['mean_member']:.1f}")
    ax.set_ylim(0, 105)
    ax.set_ylabel("정확도 (%)")
    ax.set_title(f"앙상블: 의견이 갈린 문제 {report['disagreement']:.0f}%, 바뀐 답 {report['changed']}개 "
                 f"(고침 {report['fixed']}, 망침 {report['broken']})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from .core.cli import run

    def command(args) -> int:
        if len(args.files) < 2:
            raise KitError(msg("앙상블에는 예측 파일이 두 개 이상 필요합니다", "an ensemble needs at least two prediction files"))
        records = ensemble_files(args.files, args.vote, args.task)
        write_json(records, args.out, jsonl=True, inputs=args.files)
        changed = sum(1 for r in records if len(r["votes"]) > 1)
        print(msg(f"{args.vote} 보팅, 파일 {len(args.files)}개: 예측 {len(records)}개 (의견이 갈린 문제 {changed}개) -> {args.out}",
                  f"{args.vote} vote over {len(args.files)} files: {len(records)} predictions "
                  f"({changed} with disagreement) -> {args.out}"))
        return 0

    parser = argparse.ArgumentParser(prog="python -m helpers.ensemble", description="hard/soft voting over prediction files")
    parser.add_argument("--vote", choices=["hard", "soft"], default="hard")
    parser.add_argument("--task", default="cci", help="the task whose labels the files hold (default: cci)")
    parser.add_argument("files", nargs="+")
    parser.add_argument("-o", "--out", required=True)
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
