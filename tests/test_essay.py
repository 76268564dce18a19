"""helpers.essay: 글쓰기 채점 지표. 기대값은 모두 손으로 계산했고 그 계산을 주석에 적었다."""

import json
import math

import pytest

from helpers.essay import (
    essay_scores,
    essay_scores_by_trait,
    parse_rubric,
    parse_score,
    rmse,
    round_half_up,
    spearman,
)


# --- 사사오입 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "unit", "expected"),
    [
        (2.5, 1.0, 3.0),  # 파이썬 round(2.5)는 2(짝수 쪽), 사사오입은 3
        (3.5, 1.0, 4.0),  # round(3.5)도 4지만 여기서는 짝수 규칙이 아니라 .5 올림이라서
        (4.5, 1.0, 5.0),  # round(4.5)는 4
        (2.49, 1.0, 2.0),  # .5 미만은 버림
        (0.25, 0.5, 0.5),  # 0.25 / 0.5 = 0.5 → 1단위 → 1 × 0.5 = 0.5
        (0.75, 0.5, 1.0),  # 0.75 / 0.5 = 1.5 → 2 × 0.5 = 1.0 (round(1.5)=2라 같지만 경계 확인)
        (1.25, 0.5, 1.5),  # 1.25 / 0.5 = 2.5 → 3 × 0.5 = 1.5 (은행가 반올림이면 2 × 0.5 = 1.0)
        (2.675, 0.01, 2.68),  # 2.675는 float로 2.67499…라 round(2.675, 2)=2.67; 십진 표기대로 올림
        (-2.5, 1.0, -3.0),  # 음수 .5는 0에서 먼 쪽
    ],
)
def test_round_half_up_at_half_boundaries(x, unit, expected):
    assert round_half_up(x, unit) == expected


def test_round_half_up_differs_from_python_round():
    # 같은 입력에서 내장 round는 짝수로 가므로, 구현이 round를 쓰면 이 검사가 실패한다.
    assert round(2.5) == 2 and round_half_up(2.5) == 3.0
    assert round(0.5) == 0 and round_half_up(0.5) == 1.0


@pytest.mark.parametrize("unit", [0, -1, float("nan")])
def test_round_half_up_rejects_bad_unit(unit):
    with pytest.raises(ValueError, match="단위"):
        round_half_up(3.2, unit)


def test_round_half_up_rejects_non_numbers():
    with pytest.raises(TypeError):
        round_half_up("3.5")
    with pytest.raises(ValueError):
        round_half_up(float("inf"))


# --- 출력 읽기 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", 4.0),
        ("4점", 4.0),
        ("점수: 3.5", 3.5),
        ("Score=2", 2.0),
        ('{"score": 4}', 4.0),
        ('{"score": "4점", "rationale": "2문단의 근거가 약함"}', 4.0),  # 근거 속 2가 아니라 score
        ("```json\n{\"점수\": 5}\n```", 5.0),
        ("5점 만점에 4점입니다", 4.0),  # 만점 5가 아니라 4
        ("４점", 4.0),  # 전각 숫자
        (3, 3.0),
        ({"score": 2.5}, 2.5),
        ("", None),
        ("판단할 수 없습니다", None),
        (None, None),
        (True, None),  # bool은 점수가 아니다
        (float("nan"), None),
        ('{"content": {"score": 4}, "organization": {"score": 3}}', None),  # 영역 여럿 = 점수 하나 아님
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text) == expected


def test_parse_rubric_reads_official_output_shape():
    text = (
        "```json\n"
        + json.dumps(
            {
                "content": {"score": 4, "rationale": "주장과 근거가 맞물린다. {괄호}"},
                "organization": {"score": "3", "rationale": "결론이 짧다"},
                "expression": {"score": 4.5, "rationale": "맞춤법 오류 2곳"},
            },
            ensure_ascii=False,
        )
        + "\n```\n이상입니다."
    )
    assert parse_rubric(text) == {"content": 4.0, "organization": 3.0, "expression": 4.5}
    assert parse_rubric("점수는 4점") is None
    assert parse_rubric('{"content": {"score": 4}') is None  # 중괄호 짝이 맞지 않음


# --- RMSE ----------------------------------------------------------------------------------


def test_rmse_three_items():
    # 오차 3-2=1, 4-4=0, 5-3=2 → 제곱 1, 0, 4 → 평균 5/3 → sqrt(5/3) = 1.29099…
    assert rmse([3, 4, 5], [2, 4, 3]) == pytest.approx(math.sqrt(5 / 3))
    result = essay_scores([3, 4, 5], [2, 4, 3])
    assert result["RMSE"] == pytest.approx(1.2909944487)
    assert result["n"] == 3 and result["unparseable"] == 0


def test_rmse_uses_rounded_predictions():
    # 예측 2.4, 2.6, 3.5 → 사사오입 2, 3, 4; 정답 2, 3, 3 → 오차 0, 0, 1 → sqrt(1/3) = 0.57735
    # (반올림하지 않으면 오차 0.4, 0.4, 0.5 → sqrt(0.57/3) = 0.4359라 다르다)
    result = essay_scores([2.4, 2.6, 3.5], [2, 3, 3])
    assert result["RMSE"] == pytest.approx(math.sqrt(1 / 3))
    raw = essay_scores([2.4, 2.6, 3.5], [2, 3, 3], rounding_unit=None)
    assert raw["RMSE"] == pytest.approx(math.sqrt((0.16 + 0.16 + 0.25) / 3))


def test_references_are_not_rounded_by_default():
    # 정답 3.25는 그대로: 예측 3 → 오차 0.25, 예측 4 → 정답 3.75와 오차 0.25 → RMSE 0.25
    assert essay_scores([3, 4], [3.25, 3.75])["RMSE"] == pytest.approx(0.25)
    # round_references=True면 정답도 3, 4가 되어 오차 0
    assert essay_scores([3, 4], [3.25, 3.75], round_references=True)["RMSE"] == 0.0


# --- Spearman ------------------------------------------------------------------------------


def test_spearman_with_ties_uses_average_ranks():
    # 예측 [1, 2, 2, 3] → 순위 [1, 2.5, 2.5, 4]; 정답 [1, 2, 3, 4] → 순위 [1, 2, 3, 4]
    # 순위 평균 2.5 → 편차 [-1.5, 0, 0, 1.5] / [-1.5, -0.5, 0.5, 1.5]
    # 곱의 합 2.25 + 0 + 0 + 2.25 = 4.5; 제곱합 4.5 와 5 → 4.5 / sqrt(22.5) = sqrt(0.9) = 0.94868
    # (동점을 무시한 1 - 6Σd²/(n(n²-1)) = 1 - 6·0.5/60 = 0.95와 구별된다)
    rho = spearman([1, 2, 2, 3], [1, 2, 3, 4])
    assert rho == pytest.approx(math.sqrt(0.9))
    assert rho != pytest.approx(0.95)


def test_spearman_ties_on_both_sides():
    # 예측 [2, 2, 1, 3] → 순위 [2.5, 2.5, 1, 4]; 정답 [1, 1, 2, 2] → 순위 [1.5, 1.5, 3.5, 3.5]
    # 편차 [0, 0, -1.5, 1.5] / [-1, -1, 1, 1] → 곱의 합 0 + 0 - 1.5 + 1.5 = 0 → rho = 0
    assert spearman([2, 2, 1, 3], [1, 1, 2, 2]) == pytest.approx(0.0)
    # 완전히 거꾸로면 -1
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_after_rounding_in_essay_scores():
    # 예측 2.4, 2.6, 3.5 → 2, 3, 4로 정답 1, 2, 3과 순서가 같다 → 1.0
    # 2.5와 2.4는 반올림하면 3과 2: 반올림 없이 같은 2로 묶이면(은행가 반올림 2.5→2) 동점이 생긴다
    assert essay_scores([2.4, 2.6, 3.5], [1, 2, 3])["Spearman"] == pytest.approx(1.0)
    assert essay_scores([2.5, 2.4, 3.5], [2, 1, 3])["Spearman"] == pytest.approx(1.0)


def test_spearman_undefined_for_constant_predictions():
    # 예측이 모두 3이면 순위 분산이 0 → 정의되지 않음(NaN)
    assert math.isnan(essay_scores([3.2, 2.9, 3.4], [1, 2, 3])["Spearman"])


# --- 영역별 점수 평균 -------------------------------------------------------------------------


def test_rubric_dict_rounded_per_trait_then_averaged():
    predictions = [
        {"content": 3.5, "organization": 2.5, "expression": 4.4},  # → 4, 3, 4 → 평균 11/3
        {"content": 1.0, "organization": 1.4, "expression": 2.5},  # → 1, 1, 3 → 평균 5/3
    ]
    # 오차 11/3 - 3 = 2/3, 5/3 - 2 = -1/3 → 제곱 4/9, 1/9 → 평균 5/18 → sqrt(5/18) = 0.52705
    result = essay_scores(predictions, [3, 2])
    assert result["RMSE"] == pytest.approx(math.sqrt(5 / 18))
    # 반올림하지 않은 평균은 10.4/3, 4.9/3 → 오차 1.4/3, -1.1/3 → sqrt((1.96 + 1.21) / 18)
    raw = essay_scores(predictions, [3, 2], rounding_unit=None)
    assert raw["RMSE"] == pytest.approx(math.sqrt((1.96 + 1.21) / 18))
    assert raw["RMSE"] != pytest.approx(result["RMSE"])


def test_rubric_reference_ignores_average_and_json_text_prediction():
    reference = {"content": 3.0, "organization": 3.5, "expression": 4.0, "average": 9.9}
    # 정답 평균은 (3 + 3.5 + 4) / 3 = 3.5 (average 9.9는 넣지 않고, 3.5는 반올림하지 않음)
    prediction = json.dumps(
        {
            "content": {"score": 3, "rationale": "…"},
            "organization": {"score": 4, "rationale": "…"},
            "expression": {"score": 4, "rationale": "…"},
        }
    )
    # 예측 평균 (3 + 4 + 4) / 3 = 11/3 → 오차 11/3 - 3.5 = 1/6; 둘째 항목은 3 - 3 = 0
    # RMSE = sqrt((1/36 + 0) / 2) = sqrt(1/72) = 0.11785
    result = essay_scores([prediction, 3], [reference, 3])
    assert result["RMSE"] == pytest.approx(math.sqrt(1 / 72))
    assert result["unparseable"] == 0


def test_rubric_missing_trait_counts_as_unparseable():
    reference = {"content": 3, "organization": 3, "expression": 3}
    # organization이 없는 출력은 공식 파서처럼 통째로 실패 → 0점: 오차 3, 그리고 0 → sqrt(9/2)
    result = essay_scores([{"content": 3, "expression": 3}, 3], [reference, 3])
    assert result["unparseable"] == 1
    assert result["RMSE"] == pytest.approx(math.sqrt(9 / 2))


# --- 읽지 못한 출력 = 0점 ----------------------------------------------------------------------


def test_unparseable_prediction_scores_zero():
    # 예측 "모르겠음" → 0, "3" → 3; 정답 2, 3 → 오차 2, 0 → sqrt(4/2) = sqrt(2)
    result = essay_scores(["모르겠음", "3"], [2, 3])
    assert result["unparseable"] == 1
    assert result["RMSE"] == pytest.approx(math.sqrt(2))
    # 0 대신 1점으로 치면 오차 1, 0 → sqrt(1/2)
    assert essay_scores(["모르겠음", "3"], [2, 3], unparseable=1.0)["RMSE"] == pytest.approx(
        math.sqrt(0.5)
    )


def test_unparseable_zero_also_moves_spearman():
    # 예측 [0(실패), 2, 3] 정답 [4, 2, 3]: 실패가 꼴찌가 되어 순위 [1, 2, 3] 대 [3, 1, 2]
    # 편차 [-1, 0, 1] / [1, -1, 0] → 곱의 합 -1 → 제곱합 2, 2 → -1/2
    assert essay_scores([None, "2점", "3점"], [4, 2, 3])["Spearman"] == pytest.approx(-0.5)


def test_json_without_scores_is_unparseable():
    assert essay_scores(['{"rationale": "3문단이 좋다"}', 3], [3, 3])["unparseable"] == 1


# --- 입력 오류 -----------------------------------------------------------------------------


def test_length_mismatch_raises_in_korean():
    with pytest.raises(ValueError, match="예측 3개와 정답 4개의 수가 다릅니다"):
        essay_scores([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="예측 2개와 정답 1개"):
        rmse([1, 2], [1])


def test_empty_and_unreadable_references_raise():
    with pytest.raises(ValueError, match="항목이 없습니다"):
        essay_scores([], [])
    with pytest.raises(ValueError, match="정답 1번"):
        essay_scores([3, 3], [3, "모름"])


# --- 영역별 지표 ---------------------------------------------------------------------------


def test_essay_scores_by_trait():
    gold = [
        {"content": 3.0, "organization": 2.0, "expression": 4.0, "average": 3.0},
        {"content": 4.0, "organization": 3.0, "expression": 5.0, "average": 4.0},
        {"content": 2.0, "organization": 4.0, "expression": 3.0, "average": 3.0},
    ]
    predictions = [
        json.dumps({t: {"score": s} for t, s in [("content", 3), ("organization", 2), ("expression", 4)]}),
        {"content": 4.4, "organization": 3.5, "expression": 5},  # → 4, 4, 5
        "파싱 불가",  # → 세 영역 모두 0
    ]
    result = essay_scores_by_trait(predictions, gold)
    traits = result["traits"]
    assert list(traits) == ["content", "organization", "expression"]  # average는 영역이 아니다
    # content: 예측 [3, 4, 0] 정답 [3, 4, 2] → 오차 0, 0, -2 → sqrt(4/3); 순위가 같아 rho 1
    assert traits["content"]["RMSE"] == pytest.approx(math.sqrt(4 / 3))
    assert traits["content"]["Spearman"] == pytest.approx(1.0)
    # organization: 예측 [2, 4, 0] 정답 [2, 3, 4] → 오차 0, 1, -4 → sqrt(17/3)
    #   순위 [2, 3, 1] 대 [1, 2, 3] → 편차 [0, 1, -1] / [-1, 0, 1] → 곱의 합 -1 / 2 = -0.5
    assert traits["organization"]["RMSE"] == pytest.approx(math.sqrt(17 / 3))
    assert traits["organization"]["Spearman"] == pytest.approx(-0.5)
    # expression: 예측 [4, 5, 0] 정답 [4, 5, 3] → 오차 0, 0, -3 → sqrt(3); rho 1
    assert traits["expression"]["RMSE"] == pytest.approx(math.sqrt(3))
    # 평균: (sqrt(4/3) + sqrt(17/3) + sqrt(3)) / 3, Spearman (1 - 0.5 + 1) / 3 = 0.5
    assert result["RMSE"] == pytest.approx((math.sqrt(4 / 3) + math.sqrt(17 / 3) + math.sqrt(3)) / 3)
    assert result["Spearman"] == pytest.approx(0.5)
    assert result["n"] == 3 and result["unparseable"] == 1


def test_essay_scores_by_trait_rejects_gold_without_trait():
    with pytest.raises(ValueError, match="정답 1번"):
        essay_scores_by_trait(["{}", "{}"], [{"content": 3}, {"expression": 3}], traits=["content"])
