"""Self-check for the lessons' exercises (연습 문제): ``exercises.check("04-1", answer)``.

Each exercise of lessons 00–06 has an id (``"<lesson>-<n>"``) and a judge that computes the
expected result *from the kit itself* when it is asked (``helpers.korean.with_particle`` for the
particle exercise, ``helpers.metrics.rouge1_f`` for the ROUGE one, …): nothing here stores an
output that a student could not derive by running the lesson's own functions. Worked solutions
are in ``solutions/<lesson>.md``, not here and not in the notebooks.

The checker speaks Korean, like the lessons. It never raises on an answer: no answer yet
(``None``, the placeholder of the exercise cell) is reported as such, so a lesson still runs top
to bottom under nbval; an answer of the wrong shape is 오답 with a hint about the expected form.

    >>> check("04-1", None)
    [04-1] 아직 답이 없습니다. 위 셀의 `answer = None`을 여러분의 답으로 바꾸고 두 셀을 다시 실행하세요.
    >>> grade("04-1", ["원인로", "동기로", "반응로", "결말로"]).status
    '오답'
    >>> sorted(ids("05"))
    ['05-1', '05-2']

Lesson glue (layer 5): the judges import the helpers they need when they run.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

__all__ = ["Exercise", "Result", "EXERCISES", "ids", "grade", "check", "LLAMA3_8B_SHAPE", "VOTES_05_1", "PROBS_05_2"]

CORRECT, WRONG, MISSING = "정답", "오답", "답 없음"


@dataclass(frozen=True)
class Result:
    """What the checker concluded: ``status`` is ``"정답"``, ``"오답"`` or ``"답 없음"``."""

    exercise: str
    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == CORRECT


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``judge(answer)`` returns ``(ok, detail)``; ``detail`` (optional) is a
    hint that depends on the answer. ``form`` says what shape of answer is expected."""

    id: str
    lesson: str
    title: str
    form: str
    judge: Callable[[Any], tuple[bool, str | None]]
    hint: str


# ----------------------------------------------------------------------------- small tools


def _close(a, b, tol: float) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(float(a), float(b), abs_tol=tol)


def _as_list(answer) -> list:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise TypeError("목록(list)이 아닙니다")
    return list(answer)


def _same_int(answer, expected: int) -> tuple[bool, str | None]:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return False, "정수(int) 하나로 답하세요 (예: `answer = 7`)."
    if answer == expected:
        return True, None
    return False, "정답은 그보다 큽니다." if answer < expected else "정답은 그보다 작습니다."


# ----------------------------------------------------------------------------- 00 setup


def _fraction(answer, expected: float, function: str, hint: str) -> tuple[bool, str | None]:
    """A 0–1 answer within 1e-3 of ``expected``; the same value as a percentage gets a hint
    about the scale of ``function``."""
    if _close(answer, expected, 1e-3):
        return True, None
    if _close(answer, expected * 100, 0.1):
        return False, f"0과 1 사이의 값으로 답하세요 (`{function}`와 같은 척도)."
    return False, hint


def _07_1(answer):
    from .preference import dpo_loss

    import torch

    t = torch.tensor
    expected = float(dpo_loss(t([-1.2]), t([-0.8]), t([-1.5]), t([-1.0]), beta=0.5)[0])
    if _close(answer, expected, 1e-3):
        return True, None
    return False, "보상 차이는 (−1.2 + 1.5) − (−0.8 + 1.0) = 0.1이고, 손실은 log(1 + e^(−0.5 × 0.1))입니다."


def _07_2(answer):
    from .preference import group_advantages

    import torch

    expected = float(group_advantages(torch.tensor([1.5, 0.5, 0.5, 0.5]), 4)[0])
    if _close(answer, expected, 1e-2):
        return True, None
    return False, "평균은 0.75, 불편 표준편차는 0.5입니다: (1.5 − 0.75) / 0.5."


def _00_1(answer):
    import copy

    from . import data

    raw = data.read_json_records(data.sample_file("cci", "dev"))
    broken = copy.deepcopy(raw)
    broken[0]["input"]["conversation"] = []
    expected = {p.field for p in data.validate("cci", broken, "dev(빈 대화).json")}
    given = {answer} if isinstance(answer, str) else set(_as_list(answer))
    if given == expected:
        return True, None
    if given < expected:
        return False, f"맞는 필드가 있지만 {len(expected) - len(given)}개가 더 있습니다: 출력된 모든 줄의 `필드 '…'`를 보세요."
    return False, None


@lru_cache(maxsize=None)
def _00_2_expected() -> int:
    from . import data

    records = data.load_cci(data.sample_file("cci", "train"))
    count = 0
    for r in records:
        speakers = {u.speaker for u in r.conversation if u.utterance_id in r.reference_id}
        count += speakers == {2}
    return count


def _00_2(answer):
    ok, detail = _same_int(answer, _00_2_expected())
    if not ok and isinstance(answer, int) and not isinstance(answer, bool):
        detail = "참조 발화가 여러 개인 문제도 있습니다: 참조 발화가 *모두* 화자 2의 것일 때만 세세요."
    return ok, detail


# ----------------------------------------------------------------------------- 01 EDA


def _01_records():
    from . import data

    return (data.load_cci(data.data_file("cci", "train", verbose=False))
            + data.load_cci(data.data_file("cci", "dev", verbose=False)))


def _01_1(answer):
    from . import eda

    return _same_int(answer, int(eda.total_length_table(_01_records())["turns"].max()))


SENTENCE_01_2 = "주말에 친구랑 제주도 여행을 다녀왔어"


def _01_2(answer):
    from . import eda

    expected = [form for form, tag in eda.analyze(SENTENCE_01_2, "kiwi") if tag in ("NNG", "NNP")]
    given = _as_list(answer)
    if given == expected:
        return True, None
    if sorted(given) == sorted(expected):
        return False, "명사는 다 찾았습니다. 문장에 나온 순서대로 쓰세요."
    if any(g.endswith(("에", "랑", "을", "를")) for g in given if isinstance(g, str)):
        return False, "조사(에, 랑, 을)가 붙은 어절이 아니라 형태소 분석 결과의 형태(form)를 쓰세요."
    return False, None


def _01_3(answer):
    if not isinstance(answer, str):
        return False, "인코딩 이름을 문자열로 답하세요 (예: `answer = \"utf-8\"`)."
    try:
        codecs.lookup(answer)
    except LookupError:
        return False, "파이썬이 모르는 인코딩 이름입니다."
    encoded = "길이,글자 수".encode(answer)
    if not encoded.startswith(codecs.BOM_UTF8):
        return False, "이 인코딩은 파일 맨 앞에 BOM(EF BB BF)을 쓰지 않습니다: 엑셀은 BOM을 보고 UTF-8임을 압니다."
    if encoded[len(codecs.BOM_UTF8):].decode("utf-8") != "길이,글자 수":
        return False, None
    return True, None


# ----------------------------------------------------------------------------- 02 refinement

TEXT_02_1 = "안녕하세요~~ ㅇㅇ 나 지금 가는 중ㅋㅋㅋ!!!!!"


def _02_1(answer):
    from . import refine

    if not isinstance(answer, str):
        return False, "정제된 문자열 하나로 답하세요."
    text = TEXT_02_1
    for rule in refine.RULES:
        if rule.kind == "text":
            text = rule.fn(text)
    if answer == text:
        return True, None
    if answer.strip() == text.strip() or " ".join(answer.split()) == " ".join(text.split()):
        return False, "거의 맞았습니다: 공백까지 규칙이 돌려준 그대로 쓰세요 (print 대신 repr로 보면 정확합니다)."
    return False, None


@lru_cache(maxsize=None)
def _02_refined():
    from . import data, refine

    train = data.load_cci(data.data_file("cci", "train", verbose=False))
    return train, refine.refine(train)


def _02_2(answer):
    from . import refine

    if not isinstance(answer, str):
        return False, "규칙 이름(문자열)으로 답하세요 (예: `\"jamo\"`)."
    names = [r.name for r in refine.RULES]
    if answer not in names:
        return False, f"규칙 이름은 다음 중 하나입니다: {', '.join(names)}"
    _, result = _02_refined()
    expected = result.report()["utterances_dropped"].idxmax()
    return answer == expected, None


def _02_3(answer):
    from . import refine

    train, result = _02_refined()
    texts = {}
    for original, cleaned in zip(train[:10], result.records[:10]):
        texts[original.id + " (원문)"] = refine.conversation_text(original)
        texts[original.id + " (정제)"] = refine.conversation_text(cleaned)
    clusters = refine.near_duplicates(texts, max_distance=20)
    expected = sum(1 for c in clusters if len({k.split(" (")[0] for k in c}) == 1)
    ok, detail = _same_int(answer, expected)
    if not ok and isinstance(answer, int) and not isinstance(answer, bool) and answer <= 5:
        detail = "max_distance=12일 때보다 느슨하게 묶으니 같거나 더 많아야 합니다."
    return ok, detail


# ----------------------------------------------------------------------------- 03a tokenizer and pretraining

SENTENCE_03A_1 = "나는 어제 도서관에 갔다."
CONTEXT_03A_2 = "대통령은 국회에 출석하여 의견을 말할 수 있다."


def _03a_1(answer):
    from . import vocab

    ok, detail = _same_int(answer, vocab.segment(SENTENCE_03A_1).offsets.count(-1))
    if not ok and isinstance(answer, int) and not isinstance(answer, bool):
        detail = "원래 있던 띄어쓰기는 세지 않습니다: offsets에서 -1인 자리만 세세요."
    return ok, detail


@lru_cache(maxsize=None)
def _03a_2_expected() -> str:
    from . import korquad, vocab
    from .data import Answer, QAExample

    plain = vocab.train_wordpiece(list(vocab.shipped_texts()), vocab_size=8000, segmented=False)
    example = QAExample("q", "t", CONTEXT_03A_2, "누가 출석하나?", [Answer("대통령", 0)])
    _, preds, _ = korquad.roundtrip([example], plain, korquad.QAConfig(max_seq_length=48, doc_stride=16))
    return preds["q"]


def _03a_2(answer):
    if not isinstance(answer, str):
        return False, "복원된 답(문자열)을 쓰세요."
    if answer == _03a_2_expected():
        return True, None
    if answer == "대통령":
        return False, "형태소 단위 토크나이저라면 그렇습니다. 어절 단위 토크나이저(`plain`)로 돌려 보세요."
    return False, None


def _03a_3(answer):
    from transformers import BertForPreTraining

    from . import korquad

    model = BertForPreTraining(korquad.bert_small_config(8000))
    expected = model.num_parameters() / 1e6
    if _close(answer, expected, 0.01):
        return True, None
    if _close(answer, expected * 1e6, 1e4):
        return False, "백만(M) 단위로 답하세요: 파라미터 수를 1e6으로 나눈 값입니다."
    return False, "`BertForPreTraining(korquad.bert_small_config(8000)).num_parameters()`를 1e6으로 나눠 보세요."


# ----------------------------------------------------------------------------- 03b KorQuAD

PAIRS_03B_2 = [("KTX-이음", "ktx이음"), ("1948 년", "1948년"), ("《토지》", "토지"), ("세종 대왕", "세종대왕"), ("‘서울’", "서울")]


def _03b_1(answer):
    from . import korquad

    return _fraction(answer, korquad.f1_score("세종대왕", "세종대왕은"), "korquad.f1_score",
                     "정밀도 = 겹친 글자 / 예측 글자, 재현율 = 겹친 글자 / 정답 글자, F1 = 2PR/(P+R).")


def _03b_2(answer):
    from . import korquad

    expected = [i for i, (a, b) in enumerate(PAIRS_03B_2) if korquad.exact_match_score(a, b)]
    given = sorted(_as_list(answer))
    if given == expected:
        return True, None
    if any(i in given for i in (1, 3)):
        return False, "정규화는 문장부호와 따옴표·괄호를 지우지만, 단어 사이의 띄어쓰기는 남깁니다."
    return False, "`korquad.normalize_answer`로 두 쪽을 정규화해 보세요 (번호는 0부터)."


# ----------------------------------------------------------------------------- 04 LLM fine-tuning

WORDS_04_1 = ["원인", "동기", "반응", "결말"]
#: Llama-3-8B's shape (the config fields the memory estimate reads).
LLAMA3_8B_SHAPE = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False}


def _04_1(answer):
    from .korean import with_particle

    expected = [with_particle(w, "으로/로") for w in WORDS_04_1]
    given = _as_list(answer)
    if given == expected:
        return True, None
    wrong = [g for g, e in zip(given, expected) if g != e]
    if len(given) != len(expected):
        return False, f"단어 {len(expected)}개에 대해 {len(expected)}개를 답하세요."
    if any(isinstance(g, str) and g.endswith("결말으로") for g in wrong):
        return False, "받침이 ㄹ이면 '로'입니다 (서울로, 결말로)."
    return False, f"{len(wrong)}개가 다릅니다: 받침이 있으면 '으로', 없으면 '로'."


def _04_2(answer):
    from .llm.config import LLMConfig

    cfg = LLMConfig()
    effective = cfg.per_device_batch_size * cfg.gradient_accumulation_steps
    ok, detail = _same_int(answer, effective // (1 * 2))
    if not ok and answer == effective:
        detail = "GPU가 두 장이면 한 번의 누적 단계에 시퀀스가 두 배로 들어갑니다."
    return ok, detail


def _04_3(answer):
    from . import memory

    parts = memory.estimate_memory(LLAMA3_8B_SHAPE, "qlora", seq_len=1024, batch=8)
    names = [k for k in parts if k != "total_gib"]
    if not isinstance(answer, str) or answer not in names:
        return False, f"항목 이름으로 답하세요: {', '.join(names)} 중 하나."
    if answer == max(names, key=parts.get):
        return True, None
    if answer == "weights":
        return False, "배치 1이라면 맞습니다. 배치 8에서는 토큰 수에 비례하는 항목이 커집니다."
    return False, None


# ----------------------------------------------------------------------------- 05 inference and ensembling

#: Three models' answers to four questions (the best model first).
VOTES_05_1 = [
    {"q1": "inference_1", "q2": "inference_3", "q3": "inference_1", "q4": "inference_2"},
    {"q1": "inference_1", "q2": "inference_2", "q3": "inference_2", "q4": "inference_3"},
    {"q1": "inference_2", "q2": "inference_2", "q3": "inference_3", "q4": "inference_3"},
]
#: Three models' probabilities for one question.
PROBS_05_2 = [
    {"q": {"inference_1": 0.40, "inference_2": 0.35, "inference_3": 0.25}},
    {"q": {"inference_1": 0.45, "inference_2": 0.40, "inference_3": 0.15}},
    {"q": {"inference_1": 0.05, "inference_2": 0.90, "inference_3": 0.05}},
]


def _05_1(answer):
    from . import ensemble

    result = ensemble.hard_vote(VOTES_05_1)
    expected = [result[q] for q in ("q1", "q2", "q3", "q4")]
    given = [answer[q] for q in ("q1", "q2", "q3", "q4")] if isinstance(answer, dict) else _as_list(answer)
    if given == expected:
        return True, None
    if len(given) == 4 and given[2] != expected[2] and [g for i, g in enumerate(given) if i != 2] == [
            e for i, e in enumerate(expected) if i != 2]:
        return False, "q3은 세 파일의 답이 모두 달라 동점입니다: 확률이 없으면 먼저 나열한 파일(가장 좋은 모델)의 답을 고릅니다."
    return False, "레이블은 `\"inference_1\"`처럼 쓰고, q1–q4 순서의 목록으로 답하세요."


def _05_2(answer):
    from . import ensemble

    votes = [{"q": max(p["q"], key=p["q"].get)} for p in PROBS_05_2]
    hard = ensemble.hard_vote(votes, PROBS_05_2)["q"]
    soft = ensemble.soft_vote(PROBS_05_2)[0]["q"]
    given = tuple(_as_list(answer))
    if given == (hard, soft):
        return True, None
    if given == (soft, hard):
        return False, "(하드, 소프트) 순서로 쓰세요."
    return False, "하드: 모델마다 확률이 가장 큰 답 하나씩의 다수결. 소프트: 세 확률의 평균이 가장 큰 답."


# ----------------------------------------------------------------------------- 06 generation

PRED_06, REF_06 = "두 사람은 주말 계획을 이야기했다.", "두 화자는 주말에 할 일을 이야기했다."


def _06_1(answer):
    from . import metrics

    return _fraction(answer, metrics.rouge1_f(PRED_06, REF_06), "metrics.rouge1_f",
                     "`metrics.rouge1_tokens`로 두 문장의 형태소를 보고, 겹친 개수로 P, R, F를 계산하세요.")


def _06_2(answer):
    from . import metrics

    expected = metrics.rouge1_f(PRED_06, REF_06, tokenize="whitespace")
    if _close(answer, expected, 1e-3):
        return True, None
    if _close(answer, metrics.rouge1_f(PRED_06, REF_06), 1e-3):
        return False, "그것은 형태소 단위 점수입니다: `tokenize=\"whitespace\"`로 공백 단위 점수를 구하세요."
    return False, "공백으로 나눈 단어 중 완전히 같은 것만 겹친 것으로 셉니다 ('주말'과 '주말에'는 다릅니다)."


# ----------------------------------------------------------------------------- the registry


def _ex(id_: str, title: str, form: str, judge, hint: str) -> Exercise:
    return Exercise(id_, id_.split("-")[0], title, form, judge, hint)


EXERCISES: dict[str, Exercise] = {e.id: e for e in (
    _ex("00-1", "빈 대화를 검증기에 넣기", "필드 이름의 목록", _00_1,
        "`data.validate`가 돌려준 문제마다 `.field`가 있습니다."),
    _ex("00-2", "화자 2를 가리키는 질문 세기", "정수", _00_2,
        "`u.utterance_id in r.reference_id`인 발화의 `u.speaker`를 모아 보세요."),
    _ex("01-1", "가장 긴 대화의 턴 수", "정수", _01_1,
        "`lengths.describe()`의 `turns` 열을 보세요."),
    _ex("01-2", "kiwi로 명사 고르기", "문자열 목록", _01_2,
        "`eda.analyze(문장, \"kiwi\")`의 (형태, 품사) 중 품사가 NNG 또는 NNP인 형태입니다."),
    _ex("01-3", "엑셀용 CSV 인코딩", "인코딩 이름(문자열)", _01_3,
        "BOM이 붙는 UTF-8 인코딩의 파이썬 이름을 찾아보세요."),
    _ex("02-1", "문자열 규칙 1–7 적용하기", "문자열", _02_1,
        "`refine.RULES`에서 `kind == \"text\"`인 규칙의 `fn`을 차례로 적용하세요."),
    _ex("02-2", "발화를 가장 많이 지운 규칙", "규칙 이름(문자열)", _02_2,
        "보고서 `report`의 `utterances_dropped` 열을 보세요."),
    _ex("02-3", "더 느슨한 중복 묶음", "정수", _02_3,
        "강의의 셀을 `max_distance=20`으로 바꿔 다시 세어 보세요."),
    _ex("03a-1", "형태소 분할이 넣은 공백", "정수", _03a_1,
        "`vocab.segment(문장).offsets`에서 -1의 개수입니다."),
    _ex("03a-2", "어절 단위 어휘와 답의 경계", "문자열", _03a_2,
        "강의의 `plain` 토크나이저로 `korquad.roundtrip`을 돌려 복원된 답을 보세요."),
    _ex("03a-3", "BERT-small의 파라미터 수", "실수 (백만 단위)", _03a_3,
        "`BertForPreTraining(korquad.bert_small_config(8000)).num_parameters() / 1e6`"),
    _ex("03b-1", "글자 단위 F1 손으로 계산하기", "실수 (0–1)", _03b_1,
        "예측 4글자, 정답 5글자, 겹친 글자 4개."),
    _ex("03b-2", "EM이 1인 쌍 고르기", "번호(0부터)의 목록", _03b_2,
        "`korquad.exact_match_score(예측, 정답)`을 쌍마다 불러 보세요."),
    _ex("04-1", "받침에 맞는 조사 '으로/로'", "문자열 목록", _04_1,
        "받침이 없거나 ㄹ이면 '로', 그 밖의 받침이면 '으로'."),
    _ex("04-2", "GPU 두 장에서 같은 유효 배치", "정수", _04_2,
        "유효 배치 = 배치 × 누적 단계 × GPU 수."),
    _ex("04-3", "메모리 추정에서 가장 큰 항목", "항목 이름(문자열)", _04_3,
        "`memory.estimate_memory(exercises.LLAMA3_8B_SHAPE, \"qlora\", 1024, 8)`을 출력해 보세요."),
    _ex("05-1", "하드 보팅 손으로 하기", "레이블 4개의 목록", _05_1,
        "문제마다 다수결, 동점이면 먼저 나열한 파일의 답."),
    _ex("05-2", "하드와 소프트가 갈리는 경우", "(하드, 소프트) 레이블 쌍", _05_2,
        "세 확률을 선택지별로 평균해 보세요."),
    _ex("06-1", "ROUGE-1 손으로 계산하기", "실수 (0–1)", _06_1,
        "형태소 9개와 11개, 겹친 형태소를 세어 보세요."),
    _ex("06-2", "공백 단위로 자르면", "실수 (0–1)", _06_2,
        "`metrics.rouge1_f(예측, 정답, tokenize=\"whitespace\")`"),
    _ex("07-1", "DPO 손실 손으로 계산하기", "실수", _07_1,
        "[(π_c − ref_c) − (π_r − ref_r)]를 먼저 구하고 −log σ(x) = log(1 + e^(−x))를 쓰세요."),
    _ex("07-2", "그룹 이점", "실수", _07_2,
        "평균을 빼고 불편 표준편차(n − 1로 나눈)로 나누세요."),
)}


def ids(lesson: str | None = None) -> list[str]:
    """Exercise ids, optionally of one lesson (``"03a"``, ``"04"``)."""
    return [k for k, e in EXERCISES.items() if lesson is None or e.lesson == lesson]


def grade(exercise_id: str, answer: Any) -> Result:
    """Judge ``answer`` for ``exercise_id``; never raises on the answer itself."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"연습 문제 '{exercise_id}'가 없습니다 (있는 것: {', '.join(EXERCISES)})")
    ex = EXERCISES[exercise_id]
    tag = f"[{ex.id}]"
    if answer is None:
        return Result(ex.id, MISSING, f"{tag} 아직 답이 없습니다. 위 셀의 `answer = None`을 여러분의 답으로 바꾸고 "
                                      "두 셀을 다시 실행하세요.")
    try:
        ok, detail = ex.judge(answer)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        ok, detail = False, f"답의 형식을 확인하세요. 기대하는 형식: {ex.form} ({type(err).__name__})."
    if ok:
        return Result(ex.id, CORRECT, f"{tag} 정답입니다! ({ex.title})")
    return Result(ex.id, WRONG, f"{tag} 오답입니다. 힌트: {detail or ex.hint}")


def check(exercise_id: str, answer: Any) -> None:
    """Print 정답, 오답 (with a hint) or that there is no answer yet."""
    print(grade(exercise_id, answer).message)
