import copy
import json
import subprocess
import sys

import pytest

from helpers import submission
from helpers.data import load_cci, read_json_records, sample_file, write_json


@pytest.fixture
def cci_test():
    return read_json_records(sample_file("cci", "test"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.submission", *map(str, args)], capture_output=True, text=True, encoding="utf-8")


def test_writer_fills_outputs_and_keeps_everything_else(tmp_path, cci_test):
    preds = {r["id"]: "inference_2" for r in cci_test}
    out = submission.write_submission("cci", sample_file("cci", "test"), preds, tmp_path / "sub.json")
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [r["output"] for r in written] == ["inference_2"] * len(cci_test)
    assert [r["input"] for r in written] == [r["input"] for r in cci_test]
    assert "대화 맥락 추론" in out.read_text(encoding="utf-8")   # unescaped UTF-8
    assert submission.check_submission("cci", out, sample_file("cci", "test")) == []
    res = _cli("check", "--task", "cci", out, sample_file("cci", "test"))
    assert res.returncode == 0 and res.stdout.startswith("OK")


def test_writer_refuses_missing_predictions(cci_test):
    with pytest.raises(ValueError, match="have no prediction"):
        submission.fill_submission("cci", cci_test, {cci_test[0]["id"]: "inference_1"})


def _bad(tmp_path, cci_test, mutate):
    rows = [dict(copy.deepcopy(r), output="inference_1") for r in cci_test]
    mutate(rows)
    path = tmp_path / "bad.json"
    write_json(rows, path)
    res = _cli("check", "--task", "cci", path, sample_file("cci", "test"))
    assert res.returncode == 1
    return res.stdout


def test_missing_id(tmp_path, cci_test):
    assert "1 missing ids" in _bad(tmp_path, cci_test, lambda rows: rows.pop(3))


def test_extra_id(tmp_path, cci_test):
    def add(rows):
        rows.append(dict(rows[0], id="nikluge-2024-대화 맥락 추론-test-999999"))
    assert "1 extra ids" in _bad(tmp_path, cci_test, add)


def test_duplicate_id(tmp_path, cci_test):
    assert "duplicate id" in _bad(tmp_path, cci_test, lambda rows: rows.append(copy.deepcopy(rows[0])))


def test_invalid_label(tmp_path, cci_test):
    def bad(rows):
        rows[2]["output"] = "B"
    text = _bad(tmp_path, cci_test, bad)
    assert "record #2" in text and "invalid label 'B'" in text


def test_changed_test_records(tmp_path, cci_test):
    def edit(rows):
        rows[1]["input"]["inference_1"] = "바뀐 선택지"
        rows[4]["extra"] = 1
    text = _bad(tmp_path, cci_test, edit)
    assert "record #1" in text and "'input' differs" in text and "record #4" in text and "fields changed" in text


@pytest.mark.parametrize("task, ext", [("dcs", "json"), ("sc", "jsonl")])
def test_generation_tasks(tmp_path, task, ext):
    test = read_json_records(sample_file(task, "test"))
    preds = {r["id"]: "두 화자는 여행에 대해 이야기했다." for r in test}
    out = submission.write_submission(task, sample_file(task, "test"), preds, tmp_path / f"s.{ext}")
    assert submission.check_submission(task, out, sample_file(task, "test")) == []
    rows = read_json_records(out)
    rows[0]["output"] = ""
    rows[1]["output"] = "두 줄\n답"
    write_json(rows, out, jsonl=task == "sc")
    problems = submission.check_submission(task, out, sample_file(task, "test"))
    assert len(problems) == 2 and "empty" in problems[0] and "several lines" in problems[1]


def test_cli_write_from_kit_predictions(tmp_path, cci_test):
    preds = tmp_path / "p.jsonl"
    preds.write_text("\n".join(json.dumps({"id": r["id"], "output": "inference_3",
                                          "probs": {"inference_1": 0.1, "inference_2": 0.2, "inference_3": 0.7}},
                                         ensure_ascii=False)
                               for r in cci_test), encoding="utf-8")
    res = _cli("write", "--task", "cci", sample_file("cci", "test"), preds, "-o", tmp_path / "s.json")
    assert res.returncode == 0, res.stdout
    assert {r.output for r in load_cci(tmp_path / "s.json")} == {"inference_3"}
