import json
import subprocess
import sys

import pytest

from helpers import data
from helpers.data import DataError


def cci_record(n=1, split="train", output="inference_2"):
    doc = f"MDRW21000000{n:02d}"
    return {
        "id": f"nikluge-2024-대화 맥락 추론-{split}-{n:06d}",
        "input": {
            "conversation": [
                {"speaker": 1, "utterance": "점심 뭐 먹을래?", "utterance_id": f"{doc}.1.1"},
                {"speaker": 2, "utterance": "김밥 먹자ㅋㅋ", "utterance_id": f"{doc}.1.2"},
            ],
            "reference_id": [f"{doc}.1.2"],
            "category": "동기",
            "inference_1": "화자2는 배가 고프지 않다.",
            "inference_2": "화자2는 가볍게 먹고 싶다.",
            "inference_3": "화자1은 김밥을 싫어한다.",
        },
        "output": output,
    }


def dcs_record(n=1, split="train", output="두 화자는 점심 메뉴에 대해 이야기했습니다."):
    return {
        "id": f"nikluge-2024-일상 대화 요약-{split}-{n:06d}",
        "input": {
            "conversation": [{"speaker": "SD2000001", "utterance": "어~ 저는 김밥을 좋아해요."},
                             {"speaker": "SD2000002", "utterance": "저도요."}],
            "subject_keyword": ["음식"],
        },
        "output": output,
    }


def korquad(context="서울역은 1900년에 문을 열었다.", text="1900년", start=5):
    return {"version": "KorQuAD_v1.0_dev", "data": [{"title": "서울역", "paragraphs": [
        {"context": context, "qas": [{"id": "1-0-0", "question": "언제 열었나?", "answers": [{"text": text, "answer_start": start}]}]}
    ]}]}


# ---------------------------------------------------------------- samples


@pytest.mark.parametrize(
    "task, split, minimum",
    [("cci", "train", 60), ("cci", "dev", 20), ("cci", "test", 20),
     ("dcs", "train", 30), ("dcs", "dev", 10), ("dcs", "test", 10),
     ("sc", "train", 30), ("sc", "dev", 10), ("sc", "test", 10)],
)
def test_samples_load_in_official_layout(task, split, minimum):
    records = data.load(task, data.sample_file(task, split))
    assert len(records) >= minimum
    assert all(data.split_of(r.id) == split for r in records)
    hidden = [r.output is None for r in records]
    assert all(hidden) if split == "test" else not any(hidden)


def test_cci_samples_cover_every_category_and_label():
    records = data.load_cci(data.sample_file("cci", "train"))
    assert {r.category for r in records} == set(data.CCI_CATEGORIES)
    assert {r.output for r in records} == set(data.CCI_LABELS)


def test_korquad_samples_have_enough_paragraphs_and_questions():
    qs = data.load_korquad(data.sample_file("korquad", "train")) + data.load_korquad(data.sample_file("korquad", "dev"))
    assert len(qs) >= 80
    assert len({(q.title, q.context) for q in qs}) >= 20
    assert all(q.context[a.answer_start:a.answer_start + len(a.text)] == a.text for q in qs for a in q.answers)


# ---------------------------------------------------------------- reading


def test_reads_json_array_jsonl_and_bom(write_json):
    recs = [cci_record(1), cci_record(2)]
    as_array = write_json(recs, "a.json", bom=True)
    as_lines = write_json(None, "a.jsonl", raw="\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n")
    assert [r.id for r in data.load_cci(as_array)] == [r.id for r in data.load_cci(as_lines)]


def test_malformed_json_names_line_and_column(write_json):
    path = write_json(None, "bad.json", raw='[\n  {"id": "x",\n   "input": }\n]')
    with pytest.raises(DataError) as err:
        data.load_cci(path)
    assert "bad.json" in str(err.value) and "line 3" in str(err.value)


def test_malformed_json_line_names_record(write_json):
    good = json.dumps({"id": "nikluge-2023-sc-train-000001", "input": {"sentence1": "a", "sentence3": "c"}, "output": "b"})
    path = write_json(None, "bad.jsonl", raw=good + "\n" + '{"id": "y", "input": {\n')
    with pytest.raises(DataError) as err:
        data.load_sc(path)
    prob = err.value.problems[0]
    assert prob.index == 1 and "line 2" in prob.message


def _only_problem(task, raw):
    problems = data.validate(task, raw, "f.json")
    assert len(problems) == 1, problems
    return problems[0]


def test_missing_field_is_named():
    rec = cci_record()
    del rec["input"]["inference_3"]
    p = _only_problem("cci", [rec])
    assert (p.index, p.record_id, p.field) == (0, rec["id"], "input.inference_3")
    assert "missing field" in p.message


def test_mistyped_field_is_named():
    rec = cci_record()
    rec["input"]["conversation"][1]["speaker"] = "2"
    p = _only_problem("cci", [rec])
    assert p.field == "input.conversation[1].speaker" and "expected int, got str" in p.message


def test_unknown_category():
    rec = cci_record()
    rec["input"]["category"] = "원인2"
    assert "unknown category" in _only_problem("cci", [rec]).message


def test_unknown_answer_label():
    p = _only_problem("cci", [cci_record(output="inference_4")])
    assert p.field == "output" and "unknown answer label" in p.message


def test_duplicate_id_points_at_the_first():
    p = _only_problem("cci", [cci_record(1), cci_record(2), cci_record(1)])
    assert p.index == 2 and "record #0" in p.message


def test_empty_conversation():
    rec = cci_record()
    rec["input"]["conversation"] = []
    rec["input"]["reference_id"] = []
    problems = data.validate("cci", [rec], "f.json")
    assert [(p.field, p.message) for p in problems] == [("input.conversation", "empty conversation"),
                                                        ("input.reference_id", "empty value")]


def test_reference_id_not_in_conversation():
    rec = cci_record()
    rec["input"]["reference_id"] = ["MDRW2100000001.1.9"]
    p = _only_problem("cci", [rec])
    assert p.field == "input.reference_id" and "MDRW2100000001.1.9" in p.message


def test_answer_start_must_point_at_the_answer():
    p = _only_problem("korquad", korquad(start=3))
    assert p.field == "data[0].paragraphs[0].qas[0].answers[0].answer_start"
    assert p.record_id == "1-0-0" and "found at 5" in p.message
    assert data.validate("korquad", korquad()) == []


@pytest.mark.parametrize("hidden", ["", [], None])
def test_test_files_accept_hidden_answers(hidden):
    rec = cci_record(split="test")
    if hidden is None:
        del rec["output"]
    else:
        rec["output"] = hidden
    assert data.validate("cci", [rec]) == []
    assert data.tasks.get("cci").build([rec])[0].output is None


def test_train_record_needs_an_answer():
    assert "empty answer" in _only_problem("dcs", [dcs_record(output="")]).message
    rec = dcs_record()
    del rec["output"]
    assert _only_problem("dcs", [rec]).field == "output"


def test_error_message_is_in_one_language_and_lists_several(write_json, monkeypatch):
    recs = [cci_record(i, output="x") for i in range(1, 8)]
    path = write_json(recs)
    with pytest.raises(DataError) as err:
        data.load_cci(path)
    english = str(err.value)
    assert "7 problem(s)" in english and "and 2 more" in english and "unknown answer label" in english
    assert "오류" not in english and "알 수 없는" not in english        # one language at a time
    monkeypatch.setenv("KIT_LANG", "ko")
    with pytest.raises(DataError) as err:
        data.load_cci(path)
    korean = str(err.value)
    assert "파일 오류 7건" in korean and "그 밖에 2건" in korean and "알 수 없는 정답" in korean
    assert "unknown answer label" not in korean

def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task"):
        data.validate("qa", [])


# ---------------------------------------------------------------- conversions and files


def test_records_round_trip_through_files(tmp_path):
    for task in ("cci", "dcs", "sc", "korquad"):
        split = "dev"
        records = data.load(task, data.sample_file(task, split))
        path = data.write_records(task, records, tmp_path / f"{task}.json")
        assert data.load(task, path) == records
    text = (tmp_path / "cci.json").read_text(encoding="utf-8")
    assert "대화 맥락 추론" in text and "\\u" not in text


def test_hidden_answer_written_back_as_empty_string(tmp_path):
    records = data.load_cci(data.sample_file("cci", "test"))
    path = data.write_records("cci", records, tmp_path / "t.json")
    assert all(r["output"] == "" for r in json.loads(path.read_text(encoding="utf-8")))


def test_to_dataset_and_frame():
    records = data.load_cci(data.sample_file("cci", "dev"))
    ds = data.to_dataset(records)
    assert ds.num_rows == len(records) and ds[0]["input"]["category"] == records[0].category
    frame = data.to_frame(records)
    assert list(frame["n_turns"]) == [len(r.conversation) for r in records]


def test_data_file_prefers_real_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_DATA_DIR", str(tmp_path))
    assert data.data_file("cci", "dev") == data.sample_file("cci", "dev")
    assert "using the sample" in capsys.readouterr().out
    real = tmp_path / "cci" / "대화맥락추론_dev.json"
    real.parent.mkdir()
    real.write_text("[]", encoding="utf-8")
    assert data.data_file("cci", "dev") == real


# ---------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.data", *args], capture_output=True, text=True, encoding="utf-8")


def test_cli_check_ok_prints_summary():
    res = _cli("check", str(data.sample_file("cci", "train")), "--task", "cci")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.removeprefix("OK "))
    assert summary["records"] >= 60 and summary["splits"] == {"train": summary["records"]}
    assert set(summary["categories"]) == set(data.CCI_CATEGORIES)


def test_cli_check_fails_with_the_problem(write_json):
    rec = cci_record()
    rec["input"]["category"] = "원인2"
    res = _cli("check", str(write_json([rec], "bad.json")), "--task", "cci")
    assert res.returncode == 1
    assert "bad.json" in res.stdout and "record #0" in res.stdout and "input.category" in res.stdout


def test_cli_check_missing_file():
    res = _cli("check", "/no/such/file.json", "--task", "sc")
    assert res.returncode == 1 and "no such file" in res.stdout
