"""글쓰기 채점(essay scoring) 지표: 사사오입 반올림, 모델 출력 읽기, RMSE와 Spearman.

2026 AI 말평 '글쓰기 채점 능력 평가'의 정량 지표를 따라 만든 채점기다. 공개된 참가팀 자료에
따르면 운영 측은 모델이 낸 점수를 사사오입(ROUND_HALF_UP)으로 정수화한 뒤 RMSE와 Spearman을
계산하고, 두 번 재시도해도 읽을 수 없는 출력은 0점으로 처리한다. 정답 점수(사람 채점 평균,
예: 3.25)는 반올림하지 않는다. 표준 라이브러리만 쓰므로 모델 라이브러리 없이 바로 돈다.

파이썬의 ``round``는 은행가 반올림(짝수 쪽)이라 .5에서 결과가 다르다:

    >>> round(2.5), round_half_up(2.5), round_half_up(3.5)
    (2, 3.0, 4.0)
    >>> round_half_up(0.25, unit=0.5)
    0.5

모델 출력은 숫자, "4점", "점수: 3.5", JSON 어느 것이든 읽는다:

    >>> [parse_score(t) for t in ("4", "4점", "점수: 3.5", '{"score": 4}', "모르겠어요")]
    [4.0, 4.0, 3.5, 4.0, None]

채점: 읽지 못한 출력은 ``unparseable`` 값(기본 0점)으로 계산하고 그 수를 따로 센다.
예측 [4, 2, 0]과 정답 [4, 3, 1]의 오차는 0, 1, 1이라 RMSE = sqrt(2/3):

    >>> r = essay_scores(["4점", "2", "알 수 없음"], [4, 3, 1])
    >>> round(r["RMSE"], 4), r["Spearman"], r["n"], r["unparseable"]
    (0.8165, 1.0, 3, 1)

영역별 점수(dict)는 영역마다 먼저 반올림한 뒤 평균한다(아래 ``essay_scores`` 참고). 대회의
공식 집계에 가까운 영역별 RMSE·Spearman과 그 평균은 ``essay_scores_by_trait``가 낸다.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

__all__ = [
    "round_half_up",
    "parse_score",
    "parse_rubric",
    "rmse",
    "spearman",
    "essay_scores",
    "essay_scores_by_trait",
]

#: 정답 dict에서 영역 평균을 담은 요약 필드(공식 데이터의 ``score.average``): 평균에 넣지 않는다.
SUMMARY_KEYS = frozenset({"average"})
#: 단일 점수로 읽는 JSON 키.
SCORE_KEYS = ("score", "점수", "Score", "SCORE")

_FENCE = re.compile(r"```[A-Za-z]*")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# 영역별 dict의 값으로 쓰인 글은 "4", "4점"처럼 점수만 있어야 한다("3문단이 좋다"는 점수가 아니다).
_SCORE_ONLY = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*점?\s*$")
_LABELED = re.compile(r"(?:점수|score)\s*[:=]?\s*([-+]?\d+(?:\.\d+)?)", re.IGNORECASE)
# "5점 만점에 4점", "5점 만점 중 4점"에서 만점 부분은 점수가 아니다.
_OUT_OF = re.compile(r"\d+(?:\.\d+)?\s*점\s*만점\s*(?:에|중에?|기준(?:으로)?)?")


def round_half_up(x: float, unit: float = 1.0) -> float:
    """``x``를 ``unit`` 단위로 사사오입한다(.5는 언제나 0에서 먼 쪽으로).

    십진 표기 그대로 계산하므로(``Decimal(str(x))``) 2.675 같은 값도 보이는 대로 올린다.
    음수의 .5도 0에서 먼 쪽으로 간다(-2.5 → -3).

    >>> round_half_up(2.5), round_half_up(2.49), round_half_up(-2.5)
    (3.0, 2.0, -3.0)
    >>> round_half_up(2.675, unit=0.01), round(2.675, 2)
    (2.68, 2.67)
    >>> round_half_up(3.75, unit=0.5)
    4.0
    """
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal)):
        raise TypeError(f"반올림할 값은 숫자여야 합니다: {x!r}")
    if isinstance(unit, bool) or not isinstance(unit, (int, float, Decimal)):
        raise TypeError(f"반올림 단위는 숫자여야 합니다: {unit!r}")
    value, step = Decimal(str(x)), Decimal(str(unit))
    if not value.is_finite():
        raise ValueError(f"유한한 수만 반올림할 수 있습니다: {x!r}")
    if not step.is_finite() or step <= 0:
        raise ValueError(f"반올림 단위는 0보다 큰 유한한 수여야 합니다: {unit!r}")
    steps = (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(steps * step)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _first_json_object(text: str) -> dict | None:
    """``text`` 안의 첫 번째 JSON 객체(중괄호 짝이 맞는 범위)를 dict로 읽는다.

    공식 파서처럼 첫 ``{``부터 짝이 맞는 ``}``까지 한 덩어리만 본다(문자열 안의 중괄호는 세지
    않는다). 그 덩어리가 JSON이 아니거나 짝이 맞지 않으면 None.
    """
    start = text.find("{")
    if start == -1:
        return None
    depth, in_string, escaped = 0, False, False
    for end in range(start, len(text)):
        ch = text[end]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                try:
                    obj = json.loads(text[start : end + 1])
                except json.JSONDecodeError:
                    return None
                return obj if isinstance(obj, dict) else None
    return None


def _clean(text: str) -> str:
    """전각 숫자·콜론을 반각으로(NFKC) 바꾸고 코드 펜스(```json)를 지운다."""
    return _FENCE.sub("", unicodedata.normalize("NFKC", text)).strip()


def _single_score_key(obj: Mapping[str, Any]) -> str | None:
    return next((key for key in SCORE_KEYS if key in obj), None)


def parse_score(text: Any) -> float | None:
    """모델 출력 하나를 점수 하나로 읽는다. 읽을 수 없으면 None.

    읽는 순서: 숫자 그대로 → JSON 객체의 ``score``/``점수`` 키 → "점수: 3.5"처럼 이름 붙은 수
    → ("N점 만점에"를 뺀 뒤) 처음 나오는 수. 영역 여러 개를 담은 JSON(``{"content": {"score":
    4}, ...}``)은 점수 하나가 아니므로 None이다: 그런 출력은 ``parse_rubric``으로 읽는다.
    NaN·무한대와 bool도 None이다. 범위(1~5) 검사는 하지 않는다.

    >>> parse_score("```json\\n{\\"score\\": 2}\\n```"), parse_score("5점 만점에 4점")
    (2.0, 4.0)
    >>> parse_score({"점수": "３점"}), parse_score(float("nan")), parse_score(True)
    (3.0, None, None)
    >>> parse_score('{"content": {"score": 4}, "organization": {"score": 3}}') is None
    True
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float, Decimal)):
        return _finite(float(text))
    if isinstance(text, Mapping):
        key = _single_score_key(text)
        if key is None or isinstance(text[key], Mapping):
            return None
        return parse_score(text[key])
    if not isinstance(text, str):
        return None
    cleaned = _clean(text)
    obj = _first_json_object(cleaned)
    if obj is not None:
        if _single_score_key(obj) is not None:
            return parse_score(obj)
        if any(isinstance(value, Mapping) for value in obj.values()):
            return None  # 영역별 점수: parse_rubric의 몫
    labeled = _LABELED.search(cleaned)
    if labeled:
        return _finite(float(labeled.group(1)))
    number = _NUMBER.search(_OUT_OF.sub(" ", cleaned))
    return _finite(float(number.group())) if number else None


def parse_rubric(output: Any) -> dict[str, float] | None:
    """영역별 점수 출력(JSON 문자열 또는 dict)을 ``{영역: 점수}``로 읽는다. 없으면 None.

    값은 ``{"score": 4, "rationale": "…"}`` 같은 객체, 숫자, 또는 점수만 적힌 "4"·"4점" 같은
    글이다("3문단이 좋다" 같은 글은 점수로 치지 않는다). 읽을 수 없는 값의 영역은 결과에서
    빠진다(필요한 영역이 빠졌는지는 호출하는 쪽이 본다).

    >>> parse_rubric('{"content": {"score": 4, "rationale": "근거"}, "expression": {"score": 3}}')
    {'content': 4.0, 'expression': 3.0}
    >>> parse_rubric({"content": "5점", "organization": None}), parse_rubric("4점")
    ({'content': 5.0}, None)
    """
    if isinstance(output, Mapping):
        obj: Mapping[str, Any] | None = output
    elif isinstance(output, str):
        obj = _first_json_object(_clean(output))
    else:
        obj = None
    if not obj:
        return None
    scores = {}
    for key, value in obj.items():
        if isinstance(value, str):
            only = _SCORE_ONLY.match(unicodedata.normalize("NFKC", value))
            score = _finite(float(only.group(1))) if only else None
        else:
            score = parse_score(value)
        if score is not None:
            scores[str(key)] = score
    return scores or None


def rmse(predictions: Sequence[float], references: Sequence[float]) -> float:
    """평균 제곱 오차의 제곱근.

    >>> rmse([3, 4, 5], [2, 4, 3]) == math.sqrt(5 / 3)
    True
    """
    _check_lengths(predictions, references)
    return math.sqrt(
        math.fsum((p - r) ** 2 for p, r in zip(predictions, references)) / len(references)
    )


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1부터 매긴 순위. 같은 값에는 그 값들이 차지한 순위의 평균을 준다."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1  # 0부터 센 start..end → 1부터 센 순위의 평균
        for index in order[start : end + 1]:
            ranks[index] = shared
        start = end + 1
    return ranks


def spearman(predictions: Sequence[float], references: Sequence[float]) -> float:
    """동점을 평균 순위로 처리한 Spearman 순위 상관(= 순위의 Pearson 상관).

    한쪽 값이 모두 같거나 항목이 2개 미만이면 정의되지 않으므로 NaN을 돌려준다.
    (scipy가 이 환경에 없어 ``scipy.stats.spearmanr``와 같은 정의로 직접 계산한다.)

    >>> spearman([1, 2, 2, 3], [1, 2, 3, 4]) == math.sqrt(0.9)
    True
    >>> math.isnan(spearman([3, 3, 3], [1, 2, 3]))
    True
    """
    _check_lengths(predictions, references)
    if len(references) < 2:
        return float("nan")
    rank_p, rank_r = _average_ranks(predictions), _average_ranks(references)
    mean_p, mean_r = math.fsum(rank_p) / len(rank_p), math.fsum(rank_r) / len(rank_r)
    dev_p = [rank - mean_p for rank in rank_p]
    dev_r = [rank - mean_r for rank in rank_r]
    denominator = math.sqrt(math.fsum(d * d for d in dev_p) * math.fsum(d * d for d in dev_r))
    if denominator == 0:
        return float("nan")
    return math.fsum(p * r for p, r in zip(dev_p, dev_r)) / denominator


def _check_lengths(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"예측 {len(predictions)}개와 정답 {len(references)}개의 수가 다릅니다")
    if not references:
        raise ValueError("채점할 항목이 없습니다")


def _rounded(value: float, unit: float | None) -> float:
    return value if unit is None else round_half_up(value, unit)


def _rubric_keys(reference: Any, prediction: Mapping[str, Any]) -> list[str]:
    source = reference if isinstance(reference, Mapping) else prediction
    return [str(key) for key in source if key not in SUMMARY_KEYS]


def _as_rubric(prediction: Any) -> dict[str, float] | None:
    """예측이 영역별 점수이면 ``{영역: 점수}``, 점수 하나(또는 읽을 수 없음)이면 None."""
    if isinstance(prediction, Mapping):
        if _single_score_key(prediction) is not None:
            return None
        return parse_rubric(prediction) or {}
    if isinstance(prediction, str):
        obj = _first_json_object(_clean(prediction))
        if obj is not None and _single_score_key(obj) is None:
            return parse_rubric(obj) or {}  # 점수가 없는 JSON은 읽지 못한 출력
    return None


def _prediction_value(
    prediction: Any, reference: Any, unit: float | None
) -> float | None:
    """예측 하나를 정답과 비교할 수 하나로: 영역별이면 영역마다 반올림한 뒤 평균."""
    rubric = _as_rubric(prediction)
    if rubric is not None:
        keys = _rubric_keys(reference, rubric)
        if not keys or any(key not in rubric for key in keys):
            return None  # 필요한 영역이 하나라도 없으면 출력 전체를 읽지 못한 것으로 본다
        return math.fsum(_rounded(rubric[key], unit) for key in keys) / len(keys)
    score = parse_score(prediction)
    return None if score is None else _rounded(score, unit)


def _reference_value(reference: Any, index: int, unit: float | None) -> float:
    if isinstance(reference, Mapping) and _single_score_key(reference) is None:
        keys = [key for key in reference if key not in SUMMARY_KEYS]
        values = [parse_score(reference[key]) for key in keys]
        if not keys or any(value is None for value in values):
            raise ValueError(f"정답 {index}번의 영역 점수를 읽을 수 없습니다: {reference!r}")
        return math.fsum(_rounded(value, unit) for value in values) / len(values)
    value = parse_score(reference)
    if value is None:
        raise ValueError(f"정답 {index}번을 점수로 읽을 수 없습니다: {reference!r}")
    return _rounded(value, unit)


def essay_scores(
    predictions: Sequence[Any],
    references: Sequence[Any],
    *,
    rounding_unit: float | None = 1.0,
    unparseable: float = 0.0,
    round_references: bool = False,
) -> dict[str, float | int]:
    """예측과 정답을 항목 순서대로 맞대어 ``{"RMSE", "Spearman", "n", "unparseable"}``를 낸다.

    - 예측 하나는 숫자, 모델이 낸 글(``parse_score``), 또는 영역별 점수 dict나 그런 JSON 글이다.
      점수 하나는 ``rounding_unit`` 단위로 사사오입한다(``None``이면 반올림하지 않음).
    - **가정**: 영역별 점수는 영역마다 먼저 사사오입한 뒤 산술 평균한다(공식 공지가 영역
      점수마다 정수화하므로). 평균은 다시 반올림하지 않는다. 쓰는 영역은 정답 dict의 키이고
      (정답이 수이면 예측에서 점수를 읽어 낸 영역), 요약 필드 ``average``는 빼고 센다. 필요한 영역이 빠졌거나
      읽을 수 없는 예측은 통째로 읽지 못한 것으로 본다.
    - 읽지 못한 예측은 ``unparseable`` 점(기본 0, 대회 규정)으로 계산하고 그 수를 센다.
    - 정답도 숫자·글·영역별 dict가 될 수 있다. 공식 정답(사람 점수 평균)은 반올림하지 않으므로
      기본값에서는 그대로 쓰고, ``round_references=True``일 때만 예측과 같이 반올림한다.
      정답을 읽을 수 없으면 ``ValueError``.

    >>> preds = [{"content": 3.5, "organization": 2.5, "expression": 4.4}, "3점"]
    >>> r = essay_scores(preds, [{"content": 4, "organization": 3, "expression": 4, "average": 3.67}, 2])
    >>> round(r["RMSE"], 4), r["unparseable"]
    (0.7071, 0)
    """
    _check_lengths(predictions, references)
    reference_unit = rounding_unit if round_references else None
    truth = [_reference_value(ref, i, reference_unit) for i, ref in enumerate(references)]
    guessed: list[float] = []
    missed = 0
    for prediction, reference in zip(predictions, references):
        value = _prediction_value(prediction, reference, rounding_unit)
        if value is None:
            missed += 1
            value = float(unparseable)
        guessed.append(value)
    return {
        "RMSE": rmse(guessed, truth),
        "Spearman": spearman(guessed, truth),
        "n": len(truth),
        "unparseable": missed,
    }


def essay_scores_by_trait(
    predictions: Sequence[Any],
    references: Sequence[Mapping[str, Any]],
    *,
    traits: Sequence[str] | None = None,
    rounding_unit: float | None = 1.0,
    unparseable: float = 0.0,
) -> dict[str, Any]:
    """영역마다 RMSE와 Spearman을 따로 낸 뒤 영역 평균을 붙인다(참가팀들이 재현한 공식 집계).

    ``traits``를 주지 않으면 첫 정답 dict의 키에서 ``average``를 뺀 것을 쓴다. 예측은 영역별
    dict 또는 ``{"content": {"score": 4, "rationale": "…"}, …}`` 같은 JSON 글이다. 영역이 하나라도
    빠졌거나 읽을 수 없는 출력은 모든 영역을 ``unparseable`` 점으로 계산한다(공식 파서처럼).
    예측은 영역마다 사사오입하고 정답은 그대로 쓴다.

    >>> gold = [{"content": 3, "expression": 4}, {"content": 4, "expression": 2}]
    >>> r = essay_scores_by_trait(['{"content": {"score": 3}, "expression": {"score": 4.5}}', "??"], gold)
    >>> r["traits"]["content"]["RMSE"] == math.sqrt(8), r["unparseable"]
    (True, 1)
    """
    _check_lengths(predictions, references)
    names = [str(t) for t in traits] if traits is not None else _rubric_keys(references[0], {})
    if not names:
        raise ValueError("채점할 영역이 없습니다")
    truth: dict[str, list[float]] = {name: [] for name in names}
    guessed: dict[str, list[float]] = {name: [] for name in names}
    missed = 0
    for index, (prediction, reference) in enumerate(zip(predictions, references)):
        if not isinstance(reference, Mapping) or any(name not in reference for name in names):
            raise ValueError(f"정답 {index}번에 영역 {names} 점수가 모두 있어야 합니다: {reference!r}")
        rubric = _as_rubric(prediction) or {}
        complete = all(name in rubric for name in names)
        missed += not complete
        for name in names:
            value = parse_score(reference[name])
            if value is None:
                raise ValueError(f"정답 {index}번의 '{name}' 점수를 읽을 수 없습니다: {reference[name]!r}")
            truth[name].append(value)
            guessed[name].append(
                _rounded(rubric[name], rounding_unit) if complete else float(unparseable)
            )
    per_trait = {
        name: {"RMSE": rmse(guessed[name], truth[name]), "Spearman": spearman(guessed[name], truth[name])}
        for name in names
    }
    return {
        "traits": per_trait,
        "RMSE": math.fsum(m["RMSE"] for m in per_trait.values()) / len(names),
        "Spearman": math.fsum(m["Spearman"] for m in per_trait.values()) / len(names),
        "n": len(references),
        "unparseable": missed,
    }
