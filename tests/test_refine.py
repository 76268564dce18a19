import pytest

from helpers import refine
from helpers.data import CCIRecord, DCSRecord, Utterance, load_cci, sample_file, validate


@pytest.mark.parametrize("text, expected", [
    ("아 진짜\n\n미치겠다", "아 진짜 미치겠다"),
    ("그래서  어떻게   됐어 ", "그래서 어떻게 됐어"),
    ("\t첫 줄\r\n둘째 줄", "첫 줄 둘째 줄"),
    ("", ""),
])
def test_rule1_collapse_whitespace(text, expected):
    assert refine.collapse_whitespace(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("ㅇㅇ", "응"),
    ("ㅇㅇㅇ 알았어", "응 알았어"),
    ("ㅇㅋㅇㅋ 내일 봐", "오케이 내일 봐"),
    ("합격 ㅊㅋㅊㅋ!!", "합격 축하!!"),
    ("ㄴㄴ 그거 아님", "아니 그거 아님"),
    ("좋아ㅇㅇ", "좋아 응"),           # glued to a word: separated by a space
    ("ㅋㅋㅋ 웃기다", "ㅋㅋㅋ 웃기다"),   # laughter is not shorthand (rule 7 removes it)
    ("ㅇㅋㅋ", "ㅇㅋㅋ"),             # not one shorthand: left for rule 7
    ("ㅎㄷㄷ 무섭다", "후덜덜 무섭다"),
])
def test_rule2_expand_shorthand(text, expected):
    assert refine.expand_shorthand(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("진짜?????", "진짜??"),
    ("그래서.......", "그래서..."),
    ("음...", "음..."),                # three dots are already fine
    ("와!!!! 대박", "와!! 대박"),
    ("뭐?!?!?!", "뭐?!"),
    ("그게……", "그게..."),
    ("네,,, 알겠어요", "네, 알겠어요"),
])
def test_rule3_shorten_punctuation(text, expected):
    assert refine.shorten_punctuation(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("헐;;", "헐"),
    ("(웃음) 그랬구나", "웃음 그랬구나"),
    ("좋아요~^^", "좋아요"),
    ("오늘:)", "오늘"),
    ("a@b_c", "a b c"),
    ("10:30에 만나", "10:30에 만나"),      # joiner between digits stays
    ("KTX-이음 타고 3/4 지점", "KTX-이음 타고 3/4 지점"),
    ("-- 끝 --", "끝"),
])
def test_rule4_remove_special_characters(text, expected):
    assert refine.remove_special_characters(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("안녕하세요~", ""),
    ("반갑습니당!!", ""),
    ("하이하이 name2", ""),
    ("안녕하세요~ 혹시 내일 시간 돼요?", "혹시 내일 시간 돼요?"),
    ("안녕하세요 저는 학생이에요", "저는 학생이에요"),  # after rule 4 removed the "~"
    ("안녕히 가세요는 작별 인사야", "안녕히 가세요는 작별 인사야"),
    ("오늘 안녕하셨어요?", "오늘 안녕하셨어요?"),      # content, not a greeting sentence
])
def test_rule5_remove_greetings(text, expected):
    assert refine.remove_greetings(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("name1아 뭐해?", "화자1아 뭐해?"),
    ("name2 씨랑 name10도 와", "화자2 씨랑 화자10도 와"),
    ("username1은 그대로", "username1은 그대로"),
    ("이름(name)은 그대로", "이름(name)은 그대로"),
])
def test_rule6_rename_anonymized(text, expected):
    assert refine.rename_anonymized(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("ㅋㅋㅋㅋㅋ", ""),
    ("좋아ㅋㅋ", "좋아"),
    ("그건 좀ㅠㅡㅠ 슬프다", "그건 좀 슬프다"),
    ("ㅋㄱㅋㄲㅋ", ""),
    ("ㅎㅎ 감사합니다 ㅜㅜ", "감사합니다"),
    ("한글 음절은 그대로", "한글 음절은 그대로"),
])
def test_rule7_remove_jamo(text, expected):
    assert refine.remove_jamo(text) == expected


def _conv(*items):
    return [Utterance(spk, text, f"D.1.{i}") for i, (spk, text) in enumerate(items, start=1)]


def test_rule8_drop_symbol_only_keeps_letters_and_references():
    conv = _conv((1, "..."), (2, "?!"), (1, "OK"), (2, "😂😂"), (1, "좋아"), (2, ";;"))
    kept, refs = refine.drop_symbol_only(conv, ["D.1.6"])
    assert [u.utterance for u in kept] == ["OK", "좋아", ";;"]
    assert refs == ["D.1.6"]


def test_rule9_merge_same_speaker_remaps_references():
    conv = _conv((1, "밥 먹었어?"), (1, "난 아직"), (2, "나도"), (2, "같이 가자"), (2, "지금"), (1, "ㄱㄱ"))
    merged, refs = refine.merge_same_speaker(conv, ["D.1.2", "D.1.5", "D.1.1"])
    assert [(u.utterance_id, u.utterance) for u in merged] == [
        ("D.1.1", "밥 먹었어? 난 아직"), ("D.1.3", "나도 같이 가자 지금"), ("D.1.6", "ㄱㄱ")]
    assert refs == ["D.1.1", "D.1.3"]  # deduplicated, order kept


def _record(conv, refs):
    return CCIRecord("nikluge-2024-대화 맥락 추론-train-000001", conv, refs, "원인", "a", "b", "c", "inference_1")


def test_pipeline_never_drops_a_referenced_utterance():
    conv = _conv((1, "안녕하세요~"), (2, "ㅋㅋㅋㅋ"), (1, "name2 내일 올 거지??????"), (1, "ㅇㅇ"), (2, "..."))
    rec = _record(conv, ["D.1.2", "D.1.5"])
    out = refine.refine([rec]).records[0]
    assert [u.utterance for u in out.conversation] == ["ㅋㅋㅋㅋ", "화자2 내일 올 거지?? 응", "..."]
    assert out.reference_id == ["D.1.2", "D.1.5"]
    assert validate("cci", [out.to_dict()]) == []
    assert rec.conversation[0].utterance == "안녕하세요~"  # input untouched


def test_pipeline_report_counts_each_rule():
    conv = _conv((1, "안녕!"), (2, "반가워"), (1, "시험 망했어ㅠㅠ"), (1, "진짜....."), (2, "헐;;"), (2, "ㅇㅇ"))
    res = refine.refine([_record(conv, ["D.1.3"])])
    report = res.report()
    assert list(report.index) == [r.name for r in refine.RULES]
    assert report.loc["greetings", "utterances_dropped"] == 2
    assert report.loc["jamo", "utterances_changed"] == 1
    assert report.loc["special_chars", "chars_removed"] == 2
    assert report.loc["merge_speaker", "utterances_dropped"] == 2
    assert report["records_changed"].max() == 1
    assert [u.utterance for u in res.records[0].conversation] == ["시험 망했어 진짜...", "헐 응"]


def test_pipeline_on_dcs_records_and_rule_subset():
    rec = DCSRecord("nikluge-2024-일상 대화 요약-train-000001",
                    [Utterance("SD1", "어~ 저는ㅋㅋ 여행을 좋아해요"), Utterance("SD1", "특히 바다!!!!")], ["여행"], "요약")
    out = refine.refine([rec], rules=["jamo", "merge_speaker"]).records[0]
    assert [u.utterance for u in out.conversation] == ["어~ 저는 여행을 좋아해요 특히 바다!!!!"]
    with pytest.raises(KeyError, match="unknown rule"):
        refine.refine([rec], rules=["nope"])


def test_refined_samples_stay_valid_and_shrink():
    records = load_cci(sample_file("cci", "train"))
    res = refine.refine(records)
    assert validate("cci", [r.to_dict() for r in res.records]) == []
    report = res.report()
    assert (report["records_changed"] > 0).all(), report  # the samples exercise every rule
    assert report["chars_removed"].sum() > 0


def test_before_after_marks_references():
    rec = _record(_conv((1, "ㅋㅋ 안녕"), (2, "뭐해??????")), ["D.1.2"])
    table = refine.before_after(rec, refine.refine([rec]).records[0])
    assert table.iloc[1, 0].startswith("★") and table.iloc[1, 1] == "★[2] 뭐해??"


def test_near_duplicates_cluster_variants_only():
    texts = {
        "a": "주말에 부산 가서 돼지국밥 먹고 광안리 바다 보고 왔어 진짜 좋더라",
        "a2": "주말에 부산 가서 돼지국밥 먹고 광안리 바다 보고 왔어 진짜 좋더라!!",
        "b": "다음 주 월요일까지 보고서 내야 하는데 아직 하나도 못 썼어",
        "c": "강아지 산책시키다가 비 와서 둘 다 흠뻑 젖었어",
    }
    assert refine.near_duplicates(texts) == [["a", "a2"]]
    assert refine.near_duplicates(texts, max_distance=0) == []


def test_refined_file_rebuilds_when_missing(outputs):
    path = refine.refined_file("cci", "dev", verbose=False)
    assert path.is_relative_to(outputs) and len(load_cci(path)) == 20


def test_refined_file_is_rebuilt_when_its_source_changes(tmp_path, monkeypatch, outputs):
    import json
    import shutil

    from helpers import data

    raw = tmp_path / "raw" / "cci"
    raw.mkdir(parents=True)
    shutil.copy(data.sample_file("cci", "dev"), raw / "dev.json")
    monkeypatch.setenv("KIT_DATA_DIR", str(tmp_path / "raw"))
    first = refine.refined_file("cci", "dev", verbose=False)
    assert len(data.load_cci(first)) == 20
    stamp = json.loads(first.with_name("dev.json.source.json").read_text(encoding="utf-8"))
    assert stamp["source"].endswith("raw/cci/dev.json") and len(stamp["sha256"]) == 64
    records = json.loads((raw / "dev.json").read_text(encoding="utf-8"))[:5]   # the user replaces the file
    (raw / "dev.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    again = refine.refined_file("cci", "dev", verbose=False)
    assert again == first and len(data.load_cci(again)) == 5                   # rebuilt, not the stale copy
