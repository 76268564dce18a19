import json
import subprocess
import sys

import pytest

from helpers import ensemble


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _p(qid, label, probs=None):
    row = {"id": qid, "output": label}
    if probs:
        row["probs"] = dict(zip(("inference_1", "inference_2", "inference_3"), probs))
    return row


def test_hard_vote_majority():
    votes = [{"a": "inference_1", "b": "inference_3"}, {"a": "inference_2", "b": "inference_3"}, {"a": "inference_2", "b": "inference_1"}]
    assert ensemble.hard_vote(votes) == {"a": "inference_2", "b": "inference_3"}


def test_hard_vote_tie_goes_to_higher_mean_probability_then_earliest_file():
    votes = [{"q": "inference_1"}, {"q": "inference_2"}]
    probs = [{"q": {"inference_1": 0.5, "inference_2": 0.3, "inference_3": 0.2}},
             {"q": {"inference_1": 0.1, "inference_2": 0.8, "inference_3": 0.1}}]
    assert ensemble.hard_vote(votes, probs) == {"q": "inference_2"}   # mean 0.55 > 0.30
    assert ensemble.hard_vote(votes) == {"q": "inference_1"}          # no probabilities: earliest file
    assert ensemble.hard_vote(votes[::-1]) == {"q": "inference_2"}


def test_soft_vote_uses_mean_probabilities():
    probs = [{"q": {"inference_1": 0.6, "inference_2": 0.4, "inference_3": 0.0}},
             {"q": {"inference_1": 0.0, "inference_2": 0.5, "inference_3": 0.5}},
             {"q": {"inference_1": 0.6, "inference_2": 0.3, "inference_3": 0.1}}]
    labels, means = ensemble.soft_vote(probs)
    assert labels == {"q": "inference_1"} and means["q"]["inference_2"] == pytest.approx(0.4)
    # hard voting would pick inference_1 too (2 of 3); a case where they differ:
    probs[2]["q"] = {"inference_1": 0.34, "inference_2": 0.33, "inference_3": 0.33}
    assert ensemble.soft_vote(probs)[0] == {"q": "inference_2"}


def test_files_must_cover_the_same_ids(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_p("x", "inference_1"), _p("y", "inference_1")])
    b = _write(tmp_path / "b.jsonl", [_p("x", "inference_1")])
    with pytest.raises(ValueError, match="file 2 has other ids"):
        ensemble.ensemble_files([a, b])


def test_cli_hard_and_soft(tmp_path):
    files = [
        _write(tmp_path / "m1.jsonl", [_p("q1", "inference_1", (0.5, 0.3, 0.2)), _p("q2", "inference_3", (0.1, 0.2, 0.7))]),
        _write(tmp_path / "m2.jsonl", [_p("q1", "inference_2", (0.2, 0.7, 0.1)), _p("q2", "inference_3", (0.2, 0.2, 0.6))]),
        _write(tmp_path / "m3.jsonl", [_p("q1", "inference_2", (0.3, 0.4, 0.3)), _p("q2", "inference_1", (0.5, 0.1, 0.4))]),
    ]
    for vote, expected in (("hard", {"q1": "inference_2", "q2": "inference_3"}), ("soft", {"q1": "inference_2", "q2": "inference_3"})):
        out = tmp_path / f"{vote}.jsonl"
        res = subprocess.run([sys.executable, "-m", "helpers.ensemble", "--vote", vote, *map(str, files), "-o", str(out)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert {r["id"]: r["output"] for r in rows} == expected
        assert rows[0]["votes"] == {"inference_1": 1, "inference_2": 2}
    res = subprocess.run([sys.executable, "-m", "helpers.ensemble", "--vote", "soft", str(tmp_path / "missing.jsonl"), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 1


def test_hard_vote_reads_official_submissions(tmp_path):
    sub = tmp_path / "sub.json"
    sub.write_text(json.dumps([{"id": "q", "input": {}, "output": "inference_3"}], ensure_ascii=False), encoding="utf-8")
    other = _write(tmp_path / "o.jsonl", [_p("q", "inference_3")])
    assert ensemble.ensemble_files([sub, other])[0]["output"] == "inference_3"


def test_lesson_ensemble_members_differ_and_the_vote_beats_their_mean(outputs, tmp_path):
    """Lesson 05's ensemble, as the lesson builds it: three seeds of lesson 04's smoke setup on
    the lessons' synthetic records, best first. Each member lands between 60 % and 95 % (chance
    33 %), they disagree on at least 10 % of the questions, and the hard vote changes answers
    and beats their mean."""
    from types import SimpleNamespace

    from helpers import lessons

    rt = SimpleNamespace(smoke=True, seed=42)
    train, dev = lessons.records("cci", rt)
    files = lessons.member_predictions(lessons.ensemble_members("cci", rt), train, dev, tmp_path)
    rep = ensemble.vote_report(files, dev)
    assert all(60 <= acc <= 95 for acc in rep["members"]), rep
    assert rep["disagreement"] >= 10, rep
    assert rep["hard"] > rep["mean_member"], rep
    assert rep["changed"] > 0, rep


def test_vote_report_refuses_records_without_answers(tmp_path):
    from types import SimpleNamespace as R

    from helpers.core.messages import KitError

    a = _write(tmp_path / "a.jsonl", [_p("q", "inference_1")])
    b = _write(tmp_path / "b.jsonl", [_p("q", "inference_2")])
    with pytest.raises(KitError, match="none of the records carries an answer"):
        ensemble.vote_report([a, b], [R(id="q", output=None)])
