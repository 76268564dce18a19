"""한국문화 질의응답 (kcqa): file layout and validation, option parsing, ``#`` answer forms,
the official scores (with partial labels when model-based scores cannot run), the CoT parser,
submissions through the task, the synthetic set, and a tiny model learning it end to end."""

import copy
import json
import re

import pytest

from helpers import data, inference, llm, metrics, tasks
from helpers.core.io import DataError
from helpers.core.messages import KitError
from helpers.tasks.kcqa import (CHOICE, DESCRIPTIVE, SHORT, SYNTHETIC_KINDS, TASK, KCQARecord,
                                answer_variants, describe_scores, exact_match, parse_cot, parse_options)
from helpers.tasks.words import ATTRIBUTES

CHOICE_Q = "가장 높은 산은? \\n 1\\t 지리산  2\\t 한라산  3\\t 설악산  4\\t 태백산"


def _raw(qtype=CHOICE, question=CHOICE_Q, answer="2", rid="1", **extra_input):
    inp = {"category": "문화 지식", "domain": "지리", "question_type": qtype, "topic_keyword": "산", "question": question}
    inp.update(extra_input)
    rec = {"id": rid, "input": inp}
    if answer is not None:
        rec["output"] = {"answer": answer}
    return rec


def _problems(records, path="kcqa_train.json"):
    return TASK.problems(records, path)


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("split, n", [("train", 36), ("dev", 12), ("test", 12)])
def test_samples_load_and_round_trip(split, n):
    path = data.sample_file("kcqa", split)
    records = data.load("kcqa", path)
    assert len(records) == n and {r.question_type for r in records} == {CHOICE, SHORT, DESCRIPTIVE}
    assert TASK.to_file(records) == json.loads(path.read_text(encoding="utf-8"))   # nothing lost or added
    assert all((r.output is None) == (split == "test") for r in records)
    if split == "test":
        assert all("output" not in r.to_dict() for r in records)


def test_registered_and_checked_by_the_generic_entry_points(capsys):
    assert tasks.get("kcqa") is TASK and "kcqa" in tasks.names()
    assert TASK.display_name == "Korean culture QA"
    assert tasks.task_of(KCQARecord("x", SHORT, "q", "a")) is TASK
    assert data.main(["check", str(data.sample_file("kcqa", "train")), "--task", "kcqa"]) == 0
    assert '"question_types": {"선다형": 12, "단답형": 12, "서술형": 12}' in capsys.readouterr().out


def test_extra_input_fields_are_kept_through_a_round_trip(tmp_path):
    raw = [_raw(source="our writing", difficulty=3), _raw(SHORT, "수도는?", "서울#서울특별시", rid="2")]
    assert _problems(raw) == []                        # unknown fields are kept, not rejected
    path = tmp_path / "train.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    records = TASK.load(path)
    assert records[0].extra == {"category": "문화 지식", "domain": "지리", "topic_keyword": "산",
                                "source": "our writing", "difficulty": 3}
    assert (records[0].category, records[0].domain, records[0].topic_keyword) == ("문화 지식", "지리", "산")
    out = data.write_records("kcqa", records, tmp_path / "again.json")
    assert json.loads(out.read_text(encoding="utf-8")) == raw
    assert list(records[0].to_dict()["input"]) == ["category", "domain", "question_type", "topic_keyword", "question",
                                                   "source", "difficulty"]


@pytest.mark.parametrize("hidden", ["absent", {}, {"answer": ""}])
def test_test_files_hide_answers(hidden):
    rec = _raw(answer=None)
    if hidden != "absent":
        rec["output"] = hidden
    assert _problems([rec], "kcqa_test.json") == []
    assert TASK.build([rec])[0].output is None
    problems = _problems([rec], "kcqa_train.json")         # a training file needs answers
    assert [(p.field, p.message) for p in problems] == [("output.answer", "empty answer in a non-test file")]


# ----------------------------------------------------------------------------- validation


def _one(records, path="kcqa_train.json"):
    problems = _problems(records, path)
    assert len(problems) == 1, problems
    return problems[0]


def test_unknown_question_type_names_file_record_and_field():
    p = _one([_raw(), _raw(qtype="객관식", rid="2")])
    assert (p.file, p.index, p.record_id, p.field) == ("kcqa_train.json", 1, "2", "input.question_type")
    assert "unknown question_type '객관식'" in p.message and "선다형" in p.message
    assert str(p).startswith("kcqa_train.json, record #1, id=2, field 'input.question_type'")


@pytest.mark.parametrize("mutate, fld, words", [
    (lambda r: r["input"].pop("question"), "input.question", "missing field"),
    (lambda r: r["input"].update(question="  "), "input.question", "empty value"),
    (lambda r: r["input"].update(category=3), "input.category", "expected str, got int"),
    (lambda r: r["input"].update(question="산은? 지리산, 한라산"), "input.question", "no options found"),
    (lambda r: r["input"].update(question="산은? \\n 1\\t 지리산  3\\t 한라산"), "input.question", "no options found"),
    (lambda r: r["input"].update(question="산은? \\n 1\\t   2\\t 한라산"), "input.question", "option 1 is empty"),
    (lambda r: r.update(output={"answer": "5"}), "output.answer", "answer '5' is not an option number (expected one of 1, 2, 3, 4)"),
    (lambda r: r.update(output={"answer": "한라산"}), "output.answer", "not an option number"),
    (lambda r: r.update(output="2"), "output", "expected dict, got str"),
    (lambda r: r.update(output={"text": "2"}), "output.answer", "missing field"),
    (lambda r: r.update(output={"answer": 2}), "output.answer", "expected str, got int"),
])
def test_choice_record_problems(mutate, fld, words):
    rec = _raw()
    mutate(rec)
    p = _one([rec])
    assert (p.index, p.record_id, p.field) == (0, "1", fld) and words in p.message, p


def test_short_answer_forms_must_not_be_empty():
    p = _one([_raw(SHORT, "전통 가옥은?", "한옥##한옥집")])
    assert p.field == "output.answer" and "empty variant between '#' separators" in p.message
    assert _problems([_raw(SHORT, "전통 가옥은?", "한옥#한옥집"), _raw(DESCRIPTIVE, "서술하세요.", "긴 답", rid="2")]) == []


def test_a_bad_file_raises_with_every_problem(tmp_path):
    rows = [_raw(qtype="?"), _raw(answer="9", rid="2"), _raw(rid="2")]
    path = tmp_path / "kcqa_train.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError) as err:
        TASK.load(path)
    assert [(p.index, p.field) for p in err.value.problems] == [(2, "id"), (0, "input.question_type"),
                                                                (1, "output.answer")]
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- options and answers


@pytest.mark.parametrize("question, stem, options", [
    (CHOICE_Q, "가장 높은 산은?", ["지리산", "한라산", "설악산", "태백산"]),
    ("놀이는? \\n 1\\t주사위 놀이 2\\t검무 3\\t격구 4\\t영고 5\\t무애무", "놀이는?", ["주사위 놀이", "검무", "격구", "영고", "무애무"]),
    ("타령은? \\n 1\\t각설이타령   2\\t도라지타령    3\\t용강타령    4\\t 산아지타령", "타령은?",
     ["각설이타령", "도라지타령", "용강타령", "산아지타령"]),
    ("날은?\n1\t3월 1일\n2\t10월 9일", "날은?", ["3월 1일", "10월 9일"]),           # real newline and tabs
    ("10월 9일은? \\n 1\\t 한글날  2\\t 개천절", "10월 9일은?", ["한글날", "개천절"]),  # digits in the stem
    ("번호가 2\\t 하나뿐", "번호가 2\\t 하나뿐", []),
])
def test_parse_options(question, stem, options):
    assert parse_options(question) == (stem, options)


def test_labels_letters_and_targets():
    choice = TASK.build([_raw()])[0]
    five = KCQARecord("5", CHOICE, "놀이는? \\n 1\\t 가  2\\t 나  3\\t 다  4\\t 라  5\\t 마", "5")
    short = KCQARecord("2", SHORT, "명절은?", " 추석 #한가위")
    essay = KCQARecord("3", DESCRIPTIVE, "서술하세요.", "김장은 겨울을 나려고 김치를 담그는 일이다.")
    assert TASK.mode(choice) == "choice" and TASK.mode(short) == TASK.mode(essay) == "generation"
    assert TASK.labels(choice) == ("1", "2", "3", "4") and TASK.letters(choice) == ("A", "B", "C", "D")
    assert TASK.letters(five) == ("A", "B", "C", "D", "E") and TASK.target(five) == "E"
    assert (TASK.target(choice), TASK.target(short), TASK.target(essay)) == ("B", "추석", essay.output)
    assert TASK.target(KCQARecord("4", SHORT, "q")) is None
    with pytest.raises(NotImplementedError):
        TASK.labels(short)


@pytest.mark.parametrize("prediction, right", [("하이패스", True), (" 하이 패스\n", True), ("하이패스#하이 패스", False),
                                               ("하이패스.", False), ("하이", False), (None, False)])
def test_exact_match_against_any_form(prediction, right):
    assert answer_variants("하이패스#하이 패스") == ["하이패스", "하이 패스"]
    assert exact_match(prediction, "하이패스#하이 패스") is right


def test_answer_value_reads_numbers_letters_and_option_text():
    choice = TASK.build([_raw()])[0]
    assert [TASK.answer_value(choice, t) for t in ("2", "2번", " C ", "D.", "태백산", "백두산", "9")] == \
           ["2", "2", "3", "4", "4", None, None]
    assert TASK.answer_value(KCQARecord("2", SHORT, "q"), " 추석\n ") == "추석"


# ----------------------------------------------------------------------------- prompts


def test_messages_base_and_cot():
    choice = TASK.build([_raw()])[0]
    system, user = TASK.messages(choice)
    assert system["role"] == "system" and user["role"] == "user"
    assert "A. 지리산\nB. 한라산\nC. 설악산\nD. 태백산" in user["content"] and "\\n" not in user["content"]
    assert "[Topic] 산 / 지리" in user["content"] and "알파벳 하나만 답하세요" in user["content"]
    cot = TASK.messages(choice, "cot")[1]["content"]
    assert "'생각 과정:'" in cot and "'답변:'" in cot
    short = TASK.messages(KCQARecord("2", SHORT, "수도는?"), "base")[1]["content"]
    assert short.endswith("정답만 한두 단어로 쓰세요.")
    with pytest.raises(ValueError, match="unknown style 'definition'"):
        TASK.messages(choice, "definition")


@pytest.mark.parametrize("text, answer", [
    ("생각 과정: 한라산은 1,947 m이다.\n답변: 2", "2"),
    ("생각 과정: 답: 이라고 쓰기 전에 생각한다.\n답변: 한라산", "한라산"),     # the last marker counts
    ("**생각 과정:** …\n\n**답변:** 추석", "추석"),
    ("생각 과정: 설명\n정답： B", "B"),
    ("생각 과정: 김장은…\n답변: 김장은 겨울을 나려고\n김치를 담그는 일이다.", "김장은 겨울을 나려고 김치를 담그는 일이다."),
    ("생각 과정: 마커 없이 끝남\n한옥", "한옥"),
    ("생각 과정: 답이 없음", ""),
])
def test_cot_parser(text, answer):
    assert parse_cot(text) == answer


# ----------------------------------------------------------------------------- scores


def _score_records():
    return [
        KCQARecord("c1", CHOICE, CHOICE_Q, "2"), KCQARecord("c2", CHOICE, CHOICE_Q, "1"),
        KCQARecord("c3", CHOICE, CHOICE_Q, "4"),
        KCQARecord("s1", SHORT, "q", "하이패스#하이 패스"), KCQARecord("s2", SHORT, "q", "추석#한가위"),
        KCQARecord("d1", DESCRIPTIVE, "q", "김장은 김치를 담그는 일이다."),
        KCQARecord("d2", DESCRIPTIVE, "q", "두 화자는 해외여행에 대해 이야기했다."),
        KCQARecord("t1", SHORT, "q"),   # hidden answer: not scored
    ]


PREDICTIONS = {"c1": "2", "c2": "1", "c3": "3",                       # 2 of 3 right
               "s1": " 하이 패스 ", "s2": "설날",                      # 1 of 2 right
               "d1": "김장은 김치를 담그는 일이다.",                    # identical: ROUGE-1 F = 1
               "d2": "두 화자는 여행 이야기를 했다.", "t1": "x"}


def _skipped(preds, refs):
    return {"BERTScore": "skipped: ModuleNotFoundError: No module named 'bert_score'",
            "BLEURT": "skipped: ModuleNotFoundError: No module named 'bleurt'"}


def test_scores_by_hand_with_partial_labels(monkeypatch):
    monkeypatch.setattr(metrics, "model_based_scores", _skipped)
    # d2 by hand (lesson 06): prediction morphemes 두/화자/는/여행/이야기/를/했/다 (8), reference
    # 두/화자/는/해외여행/에/대해/이야기/했/다 (9), 6 shared: P = 6/8, R = 6/9.
    assert metrics.rouge1_tokens(PREDICTIONS["d2"]) == ["두", "화자", "는", "여행", "이야기", "를", "했", "다"]
    assert len(metrics.rouge1_tokens("두 화자는 해외여행에 대해 이야기했다.")) == 9
    f_d2 = 2 * (6 / 8) * (6 / 9) / (6 / 8 + 6 / 9)
    scores = TASK.score(PREDICTIONS, _score_records())
    assert scores["accuracy"] == pytest.approx(200 / 3)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["ROUGE-1"] == pytest.approx(100 * (1 + f_d2) / 2)
    assert scores["BERTScore"].startswith("skipped:") and scores["BLEURT"].startswith("skipped:")
    assert scores["descriptive"] == pytest.approx(scores["ROUGE-1"])                 # ROUGE-1 alone
    assert scores["descriptive/partial"] == "partial: mean of ROUGE-1 only (BERTScore, BLEURT skipped)"
    assert scores["final"] == pytest.approx((200 / 3 + 50 + scores["ROUGE-1"]) / 3)
    assert scores["final/partial"] == "partial: mean of accuracy, exact_match, descriptive (ROUGE-1 only)"
    text = describe_scores(scores)
    assert "final: " in text and "[partial: mean of accuracy" in text and "/partial" not in text


def test_full_score_when_model_based_scores_run(monkeypatch):
    monkeypatch.setattr(metrics, "model_based_scores", lambda p, r: {"BERTScore": 80.0, "BLEURT": 50.0})
    scores = TASK.score(PREDICTIONS, _score_records())
    assert not [k for k in scores if k.endswith("/partial")]
    assert scores["descriptive"] == pytest.approx((scores["ROUGE-1"] + 80 + 50) / 3)
    assert scores["final"] == pytest.approx((200 / 3 + 50 + scores["descriptive"]) / 3)


def test_one_skipped_component_and_missing_types_are_named(monkeypatch):
    monkeypatch.setattr(metrics, "model_based_scores", lambda p, r: {"BERTScore": 80.0, "BLEURT": "skipped: offline"})
    scores = TASK.score(PREDICTIONS, _score_records())
    assert scores["descriptive"] == pytest.approx((scores["ROUGE-1"] + 80) / 2)
    assert scores["descriptive/partial"] == "partial: mean of ROUGE-1, BERTScore only (BLEURT skipped)"
    no_essays = [r for r in _score_records() if r.question_type != DESCRIPTIVE]
    scores = TASK.score(PREDICTIONS, no_essays)
    assert "ROUGE-1" not in scores and scores["final"] == pytest.approx((200 / 3 + 50) / 2)
    assert scores["final/partial"] == "partial: mean of accuracy, exact_match (no 서술형 questions)"
    off = TASK.score(PREDICTIONS, _score_records(), model_based=False)
    assert off["BERTScore"] == "skipped: model_based=False" and "descriptive/partial" in off


def test_missing_predictions_score_zero_and_gold_scores_full(monkeypatch):
    monkeypatch.setattr(metrics, "model_based_scores", _skipped)
    records = data.load("kcqa", data.sample_file("kcqa", "dev"))
    assert TASK.score({}, records)["final"] == 0.0
    targets = {r.id: (r.output if r.question_type != SHORT else TASK.target(r)) for r in records}
    assert TASK.score(targets, records)["final"] == pytest.approx(100.0)


# ----------------------------------------------------------------------------- submissions


def test_submission_layout_through_the_task():
    test = json.loads(data.sample_file("kcqa", "test").read_text(encoding="utf-8"))
    records = TASK.build(test)
    values = {r.id: ("1" if r.question_type == CHOICE else "한옥") for r in records}
    filled = [dict(raw, output=TASK.submission_output(r, values[r.id])) for raw, r in zip(test, records)]
    assert filled[0]["output"] == {"answer": "1"} and filled[0]["input"] == test[0]["input"]
    assert all(TASK.check_output(r, TASK.submitted_value(f["output"])) is None for r, f in zip(records, filled))
    assert TASK.check_output(records[0], "5") == "invalid label '5': expected an option number (1, 2, 3, 4)"
    assert TASK.check_output(records[4], "두 줄\n답") == "output spans several lines"
    assert TASK.check_output(records[4], " ") is not None
    for bad, words in (("1", "must be an object"), ({"text": "1"}, "must be an object"),
                       ({"answer": "1", "why": "x"}, "other than 'answer'")):
        with pytest.raises(KitError, match=words):
            TASK.submitted_value(bad)
    cci = tasks.get("cci")   # the defaults keep the other tasks' plain outputs
    assert cci.submission_output(None, "inference_1") == "inference_1" == cci.submitted_value("inference_1")


def test_submission_writer_wraps_answers_and_the_checker_unwraps_them(tmp_path):
    from helpers import submission

    test_path = data.sample_file("kcqa", "test")
    records = data.load("kcqa", test_path)
    values = {r.id: ("2" if r.question_type == CHOICE else "한옥") for r in records}
    out = submission.write_submission("kcqa", test_path, values, tmp_path / "kcqa_submission.json")
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [r["output"] for r in written] == [{"answer": values[r.id]} for r in records]
    assert submission.check_submission("kcqa", out, test_path) == []
    plain = [dict(r, output=values[r["id"]]) for r in copy.deepcopy(written)]
    (tmp_path / "plain.json").write_text(json.dumps(plain, ensure_ascii=False), encoding="utf-8")
    assert any("must be an object" in p for p in submission.check_submission("kcqa", tmp_path / "plain.json", test_path))
    with pytest.raises(ValueError, match="expected an option number"):
        submission.write_submission("kcqa", test_path, {**values, records[0].id: "9"}, tmp_path / "bad.json")


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_is_seeded_valid_mixed_and_answerable():
    records = TASK.synthetic(40, seed=3)
    assert [r.to_dict() for r in records] == [r.to_dict() for r in TASK.synthetic(40, seed=3)]
    assert [r.to_dict() for r in records] != [r.to_dict() for r in TASK.synthetic(40, seed=4)]
    assert TASK.problems(TASK.to_file(records), "synthetic_train.json") == []
    types = [r.question_type for r in records]
    assert set(types) == {CHOICE, SHORT, DESCRIPTIVE} and types.count(CHOICE) == 20
    for r in records:
        theme = r.topic_keyword
        lead, group, short_answer, description = SYNTHETIC_KINDS[theme]
        assert r.question.startswith(lead)
        if r.question_type == CHOICE:   # the right option is the one value of the theme's attribute
            options = TASK.options(r)
            assert [o in ATTRIBUTES[theme] for o in options].count(True) == 1
            assert options[int(r.output) - 1] in ATTRIBUTES[theme] and group in r.question
        elif r.question_type == SHORT:  # the values named belong to the group the answer names
            assert r.output == short_answer and sum(v in r.question for v in ATTRIBUTES[theme]) >= 3
        else:
            assert r.output == description and theme in r.question


def test_vocabulary_covers_every_synthetic_word():
    def words(lines):
        return {w for line in lines for w in re.findall(r"[가-힣A-Za-z0-9]+", line)}

    prompts = [m["content"] for r in TASK.synthetic(200, seed=0) for m in TASK.messages(r)]
    assert words(prompts) | words(TASK.target(r) for r in TASK.synthetic(200, seed=0)) <= words(TASK.vocabulary())


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_tiny_model_learns_the_synthetic_task(seed, tiny_llm_dir, tmp_path):
    """Train (160 steps: three question types in one adapter take more steps than one), predict
    (선다형 scored over the option letters, the others generated), score.

    Thresholds: 선다형 accuracy >= 80 % where chance is 25 % (always answering one number
    scores about 25 % too); 단답형 exact match >= 80 % where an untrained model scores 0."""
    from helpers.runtime import seed_everything

    seed_everything(seed, threads=2)
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), seed=seed, **SMOKE_SCHEDULE)
    result = llm.train(cfg, TASK.synthetic(320, seed=seed))
    dev = TASK.synthetic(32, seed=seed + 100, split="dev")
    preds = inference.predict(result.model, result.tokenizer, dev, progress=False,
                              generation=inference.GenerationConfig(max_new_tokens=24))
    by_id = {p["id"]: p for p in preds}
    assert all(set(by_id[r.id]["probs"]) == set(TASK.labels(r)) for r in dev if r.question_type == CHOICE)
    scores = TASK.score({k: p["output"] for k, p in by_id.items()}, dev, model_based=False)
    assert scores["accuracy"] >= 80, scores
    assert scores["exact_match"] >= 80, scores
    assert "final/partial" in scores   # BERTScore/BLEURT were not run: the final score says so


#: Smoke settings for kcqa beyond ``SMOKE_SETTINGS`` (epochs 3, lr 1e-3): 320 records x 4 epochs
#: / batch 8 = 160 steps at lr 2e-3, in fixed batches that mix the question types (the smoke
#: default; named here because it matters). Seen here: at 90-120 steps and lr 1e-3 the tiny
#: model had not yet told the three types apart (선다형 15-50 %); length-grouped batches, which
#: hold one question type each since the types differ in length, gave 70-100 % 단답형 exact
#: match over seeds at 160 steps; mixed batches 100 % on seeds 0, 1 and 2.
from helpers.lessons import SMOKE_PRESETS  # noqa: E402  (the lesson's settings, one place)

SMOKE_SCHEDULE = SMOKE_PRESETS["kcqa"]
