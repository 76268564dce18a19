"""한국문화 질의응답 (Korean culture QA, NIKL 2025): a question about Korean culture of one of
three types; 선다형 (multiple choice), 단답형 (short answer) or 서술형 (descriptive answer).

Layout (a JSON array)::

    {"id": "1",
     "input": {"category": "문화 지식", "domain": "역사", "question_type": "선다형",
               "topic_keyword": "훈민정음",
               "question": "훈민정음을 창제한 왕은? \\\\n 1\\\\t 태조  2\\\\t 세종  3\\\\t 정조  4\\\\t 영조"},
     "output": {"answer": "2"}}

- 선다형: the options stand inside the question text after a *literal* backslash-n, each as
  its number and a literal backslash-t (four or five options); the answer is the option
  number as a string.
- 단답형: the answer lists the acceptable forms separated by ``#`` (``"하이패스#하이 패스"``).
- 서술형: the answer is a paragraph.

The official test file has no ``output`` key; a submission adds ``"output": {"answer": …}``
(:meth:`KCQATask.submission_output`).

Scoring (:meth:`KCQATask.score`, percentages): 선다형 accuracy; 단답형 exact match against any
``#`` form; 서술형 the mean of ROUGE-1 (MeCab-ko, :func:`helpers.metrics.rouge1`), BERTScore and
BLEURT; the final score is the mean of the three. The organisers' inference-only baselines:
Qwen3-8B 48.06, HyperCLOVAX-1.5B 43.39.

    >>> stem, options = parse_options("가장 높은 산은? \\\\n 1\\\\t 지리산  2\\\\t 한라산  3\\\\t 설악산")
    >>> stem, options
    ('가장 높은 산은?', ['지리산', '한라산', '설악산'])
    >>> r = KCQARecord("7", "선다형", "가장 높은 산은? \\\\n 1\\\\t 지리산  2\\\\t 한라산  3\\\\t 설악산", "2")
    >>> TASK.mode(r), TASK.labels(r), TASK.target(r)
    ('choice', ('1', '2', '3'), 'B')
    >>> answer_variants("하이패스# 하이 패스 ")
    ['하이패스', '하이 패스']
    >>> parse_cot("생각 과정: 한라산이 1,947 m로 가장 높다.\\n답변: 2")
    '2'
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ..core.messages import KitError, msg
from ..korean import with_particle
from .base import Checker, Task, answer_text
from .words import ATTRIBUTES

__all__ = ["QUESTION_TYPES", "CHOICE", "SHORT", "DESCRIPTIVE", "PROMPT_STYLES", "KCQARecord", "KCQATask", "TASK",
           "parse_options", "answer_variants", "exact_match", "parse_cot", "describe_scores", "synthetic_kcqa",
           "SYNTHETIC_KINDS", "SYNTHETIC_CONTEXT", "BASELINES"]

CHOICE, SHORT, DESCRIPTIVE = "선다형", "단답형", "서술형"
#: The three question types, in the official order.
QUESTION_TYPES = (CHOICE, SHORT, DESCRIPTIVE)
PROMPT_STYLES = ("base", "cot")
#: The organisers' inference-only baselines (final score, %).
BASELINES = {"Qwen3-8B": 48.06, "HyperCLOVAX-SEED-Text-Instruct-1.5B": 43.39}
#: Input fields the official files carry besides ``question_type`` and ``question``, in order.
_META = ("category", "domain", "topic_keyword")

# An option mark: its number, then a literal backslash-t (or a real tab), after the start,
# whitespace or a literal backslash-n.
_MARK = re.compile(r"(?:^|(?<=\s)|(?<=\\n))(\d{1,2}) *(?:\\t|\t)")
_TRAILING_BREAK = re.compile(r"(?:\s|\\n)+$")
_COT_ANSWER = re.compile(r"\**\s*(?:답변|정답|답)\s*\**\s*[:：]\s*\**")
_COT_THOUGHT = re.compile(r"^\s*\**\s*생각\s*과정\s*\**\s*[:：]")


def parse_options(question: str) -> tuple[str, list[str]]:
    """``(stem, options)`` of a 선다형 question whose options follow the stem as
    ``\\\\n 1\\\\t … 2\\\\t …`` (literal backslash sequences; real newlines and tabs work too).

    The options are the last run of marks numbered 1, 2, 3, … in order; any other numbering
    gives no options (``(question, [])``), and so does a question without marks.

    >>> parse_options("한글날은? \\\\n 1\\\\t 3월 1일  2\\\\t 10월 9일")
    ('한글날은?', ['3월 1일', '10월 9일'])
    >>> parse_options("놀이는? \\\\n 1\\\\t주사위 놀이 2\\\\t검무 3\\\\t격구")[1]
    ['주사위 놀이', '검무', '격구']
    >>> parse_options("번호가 없는 질문")
    ('번호가 없는 질문', [])
    """
    marks = list(_MARK.finditer(question))
    firsts = [i for i, m in enumerate(marks) if m.group(1) == "1"]
    if not firsts:
        return question.strip(), []
    run = marks[firsts[-1]:]
    if [int(m.group(1)) for m in run] != list(range(1, len(run) + 1)):
        return question.strip(), []
    ends = [m.start() for m in run[1:]] + [len(question)]
    options = [_TRAILING_BREAK.sub("", question[m.end():end]).strip() for m, end in zip(run, ends)]
    stem = _TRAILING_BREAK.sub("", question[: run[0].start()]).strip()
    return stem, options


def answer_variants(answer: str) -> list[str]:
    """The acceptable forms of a 단답형 answer (``#``-separated), stripped; empty forms dropped."""
    return [v.strip() for v in answer.split("#") if v.strip()]


def exact_match(prediction: str | None, answer: str) -> bool:
    """True when ``prediction`` equals one ``#`` form of ``answer``.

    Normalisation, an assumption (we could not read the organisers' scoring script offline):
    surrounding whitespace is stripped from the prediction and from each form; nothing else
    (case, inner spaces, punctuation) is changed.

    >>> exact_match(" 하이 패스 ", "하이패스#하이 패스"), exact_match("하이패스.", "하이패스#하이 패스")
    (True, False)
    """
    if prediction is None:
        return False
    return prediction.strip() in answer_variants(answer)


def parse_cot(text: str) -> str:
    """The answer of a chain-of-thought output ``생각 과정: … 답변: …``: what follows the last
    ``답변:`` (also ``정답:``/``답:``, with or without ``**``), on one line. Without such a
    marker, the last non-empty line that is not the reasoning itself (so a model that skipped
    the reasoning is still read).

    >>> parse_cot("생각 과정: 설날은 음력 1월 1일이다.\\n**답변:** 설날")
    '설날'
    >>> parse_cot("그냥 답만 씀")
    '그냥 답만 씀'
    """
    found = list(_COT_ANSWER.finditer(text))
    if found:
        answer = text[found[-1].end():]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        answer = next((line for line in reversed(lines) if not _COT_THOUGHT.match(line)), "")
    return re.sub(r"\s+", " ", answer.replace("*", " ")).strip()


def _readable(question: str) -> str:
    """A question for the prompt: literal ``\\\\n``/``\\\\t`` become a newline and a space."""
    return question.replace("\\n", "\n").replace("\\t", " ").strip()


@dataclass
class KCQARecord:
    """A 한국문화 질의응답 question. ``extra`` keeps every other input field (category, domain,
    topic_keyword, and anything a later release adds), so a record is written back as read."""

    id: str  # "1"
    question_type: str  # "선다형" | "단답형" | "서술형"
    question: str  # 선다형: "… \\n 1\\t 태조  2\\t 세종 …" (literal backslash sequences)
    output: str | None = None  # 정답: "2" / "하이패스#하이 패스" / a paragraph (None where hidden)
    extra: dict[str, Any] = field(default_factory=dict)  # {"category": "문화 지식", "domain": "역사", …}

    @property
    def category(self) -> str | None:
        return self.extra.get("category")

    @property
    def domain(self) -> str | None:
        return self.extra.get("domain")

    @property
    def topic_keyword(self) -> str | None:
        return self.extra.get("topic_keyword")

    def to_dict(self) -> dict[str, Any]:
        """The official layout; no ``output`` key where the answer is hidden (test files).

        >>> r = KCQARecord("5", "단답형", "한국의 전통 의상은?", extra={"domain": "일상생활", "source": "x"})
        >>> r.to_dict()
        {'id': '5', 'input': {'domain': '일상생활', 'question_type': '단답형', 'question': '한국의 전통 의상은?', 'source': 'x'}}
        """
        inp: dict[str, Any] = {k: self.extra[k] for k in ("category", "domain") if k in self.extra}
        inp["question_type"] = self.question_type
        if "topic_keyword" in self.extra:
            inp["topic_keyword"] = self.extra["topic_keyword"]
        inp["question"] = self.question
        inp.update((k, v) for k, v in self.extra.items() if k not in inp)
        out: dict[str, Any] = {"id": self.id, "input": inp}
        if self.output is not None:
            out["output"] = {"answer": self.output}
        return out

    def row(self) -> dict[str, Any]:
        n_options = len(parse_options(self.question)[1]) if self.question_type == CHOICE else 0
        return {"id": self.id, "question_type": self.question_type, "category": self.category,
                "domain": self.domain, "topic_keyword": self.topic_keyword, "question_chars": len(self.question),
                "options": n_options, "answer_chars": len(self.output or "")}


def _hidden(raw_out: Any) -> bool:
    """An output that hides the answer: absent, empty, or ``{"answer": ""}``."""
    if raw_out in (None, "", [], {}):
        return True
    return isinstance(raw_out, dict) and set(raw_out) <= {"answer"} and raw_out.get("answer") in (None, "")


class KCQATask(Task):
    name = "kcqa"
    title = ("한국문화 질의응답", "Korean culture QA")
    extension = "json"
    record_type = KCQARecord
    prompt_styles = PROMPT_STYLES
    #: Greedy; room for a paragraph (서술형) or a reasoning and an answer (``cot``).
    generation = {"max_new_tokens": 512}

    # ------------------------------------------------------------------ files and records

    def validate(self, raw: Any, chk: Checker) -> None:
        for i, rid, rec, inp in chk.each(raw):
            qtype = chk.get(inp, "question_type", str, i, rid, "input.")
            if qtype is not None and qtype not in QUESTION_TYPES:
                chk.add(i, rid, "input.question_type",
                        f"알 수 없는 질문 유형 '{qtype}' (가능: {', '.join(QUESTION_TYPES)})",
                        f"unknown question_type '{qtype}' (expected one of {', '.join(QUESTION_TYPES)})")
                qtype = None
            question = chk.get(inp, "question", str, i, rid, "input.", nonempty=True)
            for key in _META:  # optional; strings where present
                chk.get(inp, key, str, i, rid, "input.", required=False)
            labels: tuple[str, ...] | None = None
            if qtype == CHOICE and question is not None:
                labels = self._check_options(chk, question, i, rid)
            self._check_answer(chk, rec, i, rid, qtype, labels)

    @staticmethod
    def _check_options(chk: Checker, question: str, i: int, rid) -> tuple[str, ...] | None:
        _, options = parse_options(question)
        if len(options) < 2:
            chk.add(i, rid, "input.question",
                    "선다형 질문에서 선택지를 찾지 못했습니다 (질문 뒤에 '\\n 1\\t … 2\\t …' 꼴로 번호를 1부터 차례로)",
                    "no options found in a 선다형 question (expected '\\n 1\\t … 2\\t …' after the question, "
                    "numbered from 1 in order)")
            return None
        if len(options) > 8:
            chk.add(i, rid, "input.question", f"선택지가 {len(options)}개입니다 (8개까지)",
                    f"{len(options)} options (at most 8)")
            return None
        for k, option in enumerate(options, 1):
            if not option:
                chk.add(i, rid, "input.question", f"{k}번 선택지가 비어 있습니다", f"option {k} is empty")
        return tuple(str(k) for k in range(1, len(options) + 1))

    @staticmethod
    def _check_answer(chk: Checker, rec: dict, i: int, rid, qtype: str | None, labels) -> None:
        raw_out = rec.get("output")
        if _hidden(raw_out):
            if not chk.answer_hidden(rid, None):
                chk.add(i, rid, "output.answer", "정답이 비어 있습니다 (test 파일이 아님)",
                        "empty answer in a non-test file")
            return
        out = chk.get(rec, "output", dict, i, rid)
        if out is None:
            return
        answer = chk.get(out, "answer", str, i, rid, "output.", nonempty=True)
        if answer is None or qtype is None:
            return
        if qtype == CHOICE and labels is not None and answer not in labels:
            chk.add(i, rid, "output.answer",
                    f"정답 {with_particle(repr(answer), '은/는')} 선택지 번호가 아닙니다 (가능: {', '.join(labels)})",
                    f"answer '{answer}' is not an option number (expected one of {', '.join(labels)})")
        elif qtype == SHORT and any(not v.strip() for v in answer.split("#")):
            chk.add(i, rid, "output.answer", f"'#'으로 나눈 정답 가운데 빈 것이 있습니다: '{answer}'",
                    f"an empty variant between '#' separators: '{answer}'")

    def build(self, raw: Any) -> list[KCQARecord]:
        out = []
        for r in raw:
            inp = r["input"]
            raw_out = r.get("output")
            answer = None if _hidden(raw_out) else answer_text(raw_out.get("answer"))
            extra = {k: v for k, v in inp.items() if k not in ("question_type", "question")}
            out.append(KCQARecord(r["id"], inp["question_type"], inp["question"], answer, extra))
        return out

    def summarize(self, records: Sequence) -> dict[str, Any]:
        out = super().summarize(records)
        out.pop("splits", None)  # the ids ("1", "2", …) do not name a split
        out["question_types"] = dict(Counter(r.question_type for r in records))
        out["categories"] = dict(Counter(r.category or "-" for r in records))
        out["domains"] = dict(Counter(r.domain or "-" for r in records))
        return out

    def texts(self, record: KCQARecord) -> Iterator[str]:
        if record.question_type == CHOICE:
            stem, options = parse_options(record.question)
            yield stem
            yield from options
        else:
            yield _readable(record.question)
        if record.output and record.question_type == SHORT:
            yield from answer_variants(record.output)
        elif record.output and record.question_type == DESCRIPTIVE:
            yield record.output

    # ------------------------------------------------------------------ prompts and answers

    def mode(self, record: KCQARecord) -> str:
        return "choice" if record.question_type == CHOICE else "generation"

    def options(self, record: KCQARecord) -> list[str]:
        return parse_options(record.question)[1]

    def labels(self, record) -> tuple[str, ...]:
        if record is None or record.question_type != CHOICE:
            raise NotImplementedError("kcqa: labels depend on the record (선다형 only)")
        return tuple(str(k) for k in range(1, len(self.options(record)) + 1))

    def messages(self, record: KCQARecord, style: str = "base") -> list[dict[str, str]]:
        """System and user messages in one of :data:`PROMPT_STYLES`.

        - ``base``: the question (a 선다형 stem with its options as ``A. …``), the topic, and an
          instruction for the type: one letter, a word or two, or one paragraph;
        - ``cot``: the same, asking for the reasoning first: ``생각 과정: …`` then ``답변: …``
          (read back with :func:`parse_cot`). The kit's training targets carry no reasoning,
          so this style is for prompting an instruct model, not for training.

        >>> r = KCQARecord("1", "단답형", "한국의 전통 가옥은?", "한옥", {"topic_keyword": "한옥"})
        >>> print(TASK.messages(r)[1]["content"])
        [Question]
        한국의 전통 가옥은?
        <BLANKLINE>
        [Topic] 한옥
        <BLANKLINE>
        [Instruction]
        정답만 한두 단어로 쓰세요.
        """
        if style not in PROMPT_STYLES:
            raise ValueError(msg(f"알 수 없는 프롬프트 스타일 '{style}' (가능: {', '.join(PROMPT_STYLES)})",
                                 f"unknown style '{style}' (choose from {', '.join(PROMPT_STYLES)})"))
        if record.question_type == CHOICE:
            stem, options = parse_options(record.question)
            parts = ["[Question]", _readable(stem), "", "[Option]",
                     "\n".join(f"{letter}. {option}" for letter, option in zip(self.letters(record), options))]
            answer_form = "정답 선택지의 알파벳 하나"
        elif record.question_type == SHORT:
            parts = ["[Question]", _readable(record.question)]
            answer_form = "정답만 한두 단어"
        else:
            parts = ["[Question]", _readable(record.question)]
            answer_form = "질문에 대한 답을 한 문단"
        topic = [t for t in (record.topic_keyword, record.domain) if t]
        if topic:
            parts += ["", f"[Topic] {' / '.join(topic)}"]
        if style == "cot":
            instruction = (f"먼저 '생각 과정:' 뒤에 차근차근 풀이를 쓰고, 마지막 줄에 '답변:' 뒤에 "
                           f"{with_particle(answer_form, '으로/로')} 답하세요.")
        else:
            instruction = f"{with_particle(answer_form, '으로/로')} 쓰세요." if record.question_type != CHOICE \
                else f"{answer_form}만 답하세요."
        parts += ["", "[Instruction]", instruction]
        system = _SYSTEM_COT if style == "cot" else _SYSTEM
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]

    def gold(self, record: KCQARecord) -> str | None:
        return record.output

    def target(self, record: KCQARecord) -> str | None:
        """The option letter (선다형), the first ``#`` form (단답형) or the paragraph (서술형)."""
        if record.output is None:
            return None
        if record.question_type == SHORT:
            return answer_variants(record.output)[0]
        return super().target(record)

    def answer_value(self, record: KCQARecord, text: str) -> str | None:
        """The submission value a generated ``text`` gives (after :func:`parse_cot` for ``cot``
        outputs): for a 선다형 record the option number that the text names by number, by
        letter or by the option's exact text (None when it names none); otherwise the text on
        one line.

        >>> r = KCQARecord("1", "선다형", "산은? \\\\n 1\\\\t 지리산  2\\\\t 한라산")
        >>> TASK.answer_value(r, "2번"), TASK.answer_value(r, "B."), TASK.answer_value(r, "한라산")
        ('2', '2', '2')
        """
        text = re.sub(r"\s+", " ", text).strip()
        if record.question_type != CHOICE:
            return text
        labels = self.labels(record)
        if (m := re.match(r"(\d{1,2})(?!\d)", text)) and m.group(1) in labels:
            return m.group(1)
        letters = self.letters(record)
        if (m := re.match(r"([A-H])(?![A-Za-z])", text)) and m.group(1) in letters:
            return labels[letters.index(m.group(1))]
        options = self.options(record)
        cleaned = text.rstrip(".")
        return labels[options.index(cleaned)] if cleaned in options else None

    # ------------------------------------------------------------------ outputs and scores

    def check_output(self, record: KCQARecord, output: Any) -> str | None:
        """선다형: one of the option numbers ("1".."N"); 단답형/서술형: non-empty text on one line."""
        if record.question_type == CHOICE:
            labels = self.labels(record)
            if output not in labels:
                return msg(f"잘못된 답 {output!r}: 선택지 번호({', '.join(labels)}) 가운데 하나여야 합니다",
                           f"invalid label {output!r}: expected an option number ({', '.join(labels)})")
            return None
        return super().check_output(record, output)

    def submission_output(self, record: KCQARecord, value: Any) -> Any:
        """``{"answer": value}``: the official submission wraps the answer."""
        return {"answer": value}

    def submitted_value(self, raw_output: Any) -> Any:
        """The answer inside a submitted ``{"answer": …}``; :class:`KitError` for another layout."""
        if not isinstance(raw_output, dict) or "answer" not in raw_output:
            raise KitError(msg(f"output은 {{\"answer\": …}} 객체여야 합니다: {raw_output!r}",
                               f"output must be an object {{\"answer\": …}}, got {raw_output!r}"))
        extra = sorted(set(raw_output) - {"answer"})
        if extra:
            raise KitError(msg(f"output에 answer 말고 다른 필드가 있습니다: {extra}",
                               f"output holds fields other than 'answer': {extra}"))
        return raw_output["answer"]

    def score(self, predictions: dict[str, str], records: Sequence, *, model_based: bool = True) -> dict[str, Any]:
        """The official scores (percentages) of ``predictions`` (id -> option number or text) on
        the records with answers; a missing prediction counts as wrong (empty text).

        - ``accuracy``: 선다형, the option number (surrounding spaces ignored);
          ``exact_match``: 단답형 (:func:`exact_match`);
        - ``ROUGE-1``, ``BERTScore``, ``BLEURT``: 서술형; a model-based score that cannot run
          here (or ``model_based=False``) is a ``"skipped: …"`` string, never estimated;
        - ``descriptive``: the mean of the 서술형 scores that ran; ``final``: the mean of
          accuracy, exact match and descriptive.

        When a component is missing, ``descriptive/partial`` and ``final/partial`` say which
        scores were averaged (so a partial score is never read as the official one).
        """
        from ..metrics import model_based_scores, rouge1

        by_type = {t: [r for r in records if r.output is not None and r.question_type == t] for t in QUESTION_TYPES}
        out: dict[str, Any] = {}
        parts: dict[str, float] = {}
        missing: list[str] = []
        ran: list[str] = []  # the 서술형 scores that ran
        if by_type[CHOICE]:
            right = sum((predictions.get(r.id) or "").strip() == r.output.strip() for r in by_type[CHOICE])
            parts["accuracy"] = out["accuracy"] = 100.0 * right / len(by_type[CHOICE])
        else:
            missing.append(CHOICE)
        if by_type[SHORT]:
            right = sum(exact_match(predictions.get(r.id), r.output) for r in by_type[SHORT])
            parts["exact_match"] = out["exact_match"] = 100.0 * right / len(by_type[SHORT])
        else:
            missing.append(SHORT)
        if by_type[DESCRIPTIVE]:
            preds = [predictions.get(r.id) or "" for r in by_type[DESCRIPTIVE]]
            refs = [r.output for r in by_type[DESCRIPTIVE]]
            out["ROUGE-1"] = rouge1(preds, refs)
            if model_based:
                out.update(model_based_scores(preds, refs))
            else:
                out["BERTScore"] = out["BLEURT"] = "skipped: model_based=False"
            ran = [k for k in ("ROUGE-1", "BERTScore", "BLEURT") if isinstance(out[k], float)]
            skipped = [k for k in ("BERTScore", "BLEURT") if k not in ran]
            parts["descriptive"] = out["descriptive"] = sum(out[k] for k in ran) / len(ran)
            if skipped:
                out["descriptive/partial"] = msg(
                    f"부분 점수: {', '.join(ran)}만의 평균 ({', '.join(skipped)} 건너뜀)",
                    f"partial: mean of {', '.join(ran)} only ({', '.join(skipped)} skipped)")
        else:
            missing.append(DESCRIPTIVE)
        if parts:
            out["final"] = sum(parts.values()) / len(parts)
            if missing or "descriptive/partial" in out:
                names = [f"{k} ({'+'.join(ran)} only)" if k == "descriptive" and "descriptive/partial" in out else k
                         for k in parts]
                note_ko = f"부분 점수: {', '.join(names)}의 평균"
                note_en = f"partial: mean of {', '.join(names)}"
                if missing:
                    note_ko += f" ({', '.join(missing)} 문항 없음)"
                    note_en += f" (no {', '.join(missing)} questions)"
                out["final/partial"] = msg(note_ko, note_en)
        return out

    # ------------------------------------------------------------------ smoke mode

    def synthetic(self, n: int, seed: int = 42, split: str = "train") -> list[KCQARecord]:
        return synthetic_kcqa(n, seed, split)

    def vocabulary(self) -> list[str]:
        # the fixed wording of every prompt style and question type, then every word that varies
        lines = [m["content"] for r in synthetic_kcqa(4, seed=0) for style in PROMPT_STYLES
                 for m in self.messages(r, style)] + ["생각 과정: … 답변: …", " ".join(SYNTHETIC_KINDS)]
        for theme, (lead, group, short_answer, description) in SYNTHETIC_KINDS.items():
            values = ATTRIBUTES[theme]
            lines += [lead, *SYNTHETIC_CONTEXT[theme], _choice_stem(group), *answer_variants(short_answer), description,
                      _descriptive_stem(theme), " ".join(values), " ".join(with_particle(v, "은/는") for v in values)]
        return lines


_SYSTEM = "당신은 한국 문화에 대한 질문에 정확하게 답하는 도우미입니다."
_SYSTEM_COT = _SYSTEM + " 답하기 전에 생각 과정을 먼저 쓰고, 마지막에 '답변:' 뒤에 답을 씁니다."


def describe_scores(scores: dict[str, Any]) -> str:
    """Scores as lines for a person, partial labels next to the numbers they qualify.

    >>> print(describe_scores({"accuracy": 50.0, "final": 50.0}))
    accuracy: 50.00
    final: 50.00
    """
    lines = []
    for key, value in scores.items():
        if key.endswith("/partial"):
            continue
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        note = scores.get(f"{key}/partial")
        lines.append(f"{key}: {text}" + (f"  [{note}]" if note else ""))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- synthetic

#: Per attribute of :data:`helpers.tasks.words.ATTRIBUTES` (the theme of a synthetic
#: question): a lead-in sentence, the group word a 선다형 question asks for, the 단답형 answer
#: with its ``#`` forms, and the 서술형 answer (our writing).
SYNTHETIC_KINDS = {
    "고향": ("사람마다 태어나서 자란 고장이 있습니다.", "도시", "도시#도시 이름",
           "한국 사람들에게 고향은 태어나서 자란 곳이라 명절마다 찾아가는 곳입니다."),
    "직업": ("사람들은 저마다 일을 하며 돈을 법니다.", "직업", "직업#직업 이름",
           "한국 사람들에게 직업은 돈을 벌려고 날마다 하는 일입니다."),
    "취미": ("쉬는 날에는 저마다 좋아하는 일을 즐깁니다.", "취미", "취미#취미 활동",
           "한국 사람들에게 취미는 쉬는 시간에 즐거움을 얻으려고 하는 일입니다."),
    "반려동물": ("집에서 사람과 함께 사는 동물이 있습니다.", "동물", "동물#반려동물",
             "한국 사람들에게 반려동물은 가족처럼 함께 살며 정성껏 돌보는 동물입니다."),
}
#: More sentences in each theme: every synthetic question starts with the lead-in and one to
#: three of these, so the theme makes up a good part of the prompt whatever the question type.
SYNTHETIC_CONTEXT = {
    "고향": ("명절이면 고향에 내려가는 기차표를 삽니다.", "고향 친구들과 사투리로 이야기합니다.",
           "부모님이 계신 고향 집이 그립습니다.", "어릴 때 뛰놀던 동네 골목이 생각납니다."),
    "직업": ("아침마다 출근해서 회사에서 일합니다.", "월급날이 되면 통장을 확인합니다.",
           "일터에서 동료들과 회의를 합니다.", "퇴근 시간이 되면 하루 일을 마칩니다."),
    "취미": ("주말에는 동호회 사람들과 모입니다.", "시간 가는 줄 모르고 빠져듭니다.",
           "퇴근 후에 즐기는 일이 있으면 하루가 즐겁습니다.", "좋아하는 일을 하며 쉬는 시간을 보냅니다."),
    "반려동물": ("날마다 산책을 시키고 먹이를 줍니다.", "동물 병원에서 예방 주사를 맞힙니다.",
             "털을 빗기고 목욕을 시킵니다.", "꼬리를 흔들며 주인을 반깁니다."),
}
#: Where the right option stands for each theme in a synthetic 선다형 question.
_ANSWER_POSITION = {"고향": 0, "직업": 1, "취미": 2, "반려동물": 3}
#: The order of question types in synthetic records: half 선다형, whose one answer token
#: would otherwise be a small share of the loss next to the sentences of the other types.
_TYPE_CYCLE = (CHOICE, SHORT, CHOICE, DESCRIPTIVE)


def _choice_stem(group: str) -> str:
    return f"다음 중 {group}에 해당하는 것은 무엇인가요?"


def _short_stem(values: Sequence[str]) -> str:
    *first, last = values
    return f"{', '.join(first)}, {with_particle(last, '은/는')} 모두 무엇인가요?"


def _descriptive_stem(theme: str) -> str:
    return f"한국 사람들의 삶에서 {with_particle(theme, '이/가')} 무엇인지 서술하세요."


def synthetic_kcqa(n: int, seed: int = 42, split: str = "train") -> list[KCQARecord]:
    """``n`` 한국문화 질의응답 records (official layout) that a tiny model can learn. Each
    question has a theme, an attribute of :data:`~helpers.tasks.words.ATTRIBUTES` (고향,
    직업, 취미, 반려동물), and starts with two to four sentences in that theme
    (:data:`SYNTHETIC_KINDS`, :data:`SYNTHETIC_CONTEXT`); the types come in the order of
    ``_TYPE_CYCLE`` (half 선다형, a quarter each 단답형 and 서술형):

    - 선다형: "다음 중 도시에 해당하는 것은 무엇인가요?" with four options written the official
      way (``\\n 1\\t …``), one value of each attribute; the right one is the value of the
      theme's attribute, at the position ``_ANSWER_POSITION`` gives the theme. A model that
      ignores the prompt scores about 25 % (always one number); chance is 25 %.
    - 단답형: "서울, 부산, 대구는 모두 무엇인가요?" -> "도시#도시 이름".
    - 서술형: "한국 사람들의 삶에서 고향이 무엇인지 서술하세요." -> the theme's sentence, which
      starts like every 서술형 answer ("한국 사람들에게 …"), so its first word tells the types apart.

    All three types answer from the same theme, so what a model learns for one helps the
    others: a tiny randomly initialised model trained through LoRA learns a signal spread
    over the prompt within a hundred steps, not one decisive word.
    """
    rng = random.Random(seed)
    themes = list(SYNTHETIC_KINDS)
    out = []
    for i in range(n):
        qtype = _TYPE_CYCLE[i % len(_TYPE_CYCLE)]
        theme = rng.choice(themes)
        lead, group, short_answer, description = SYNTHETIC_KINDS[theme]
        context = " ".join([lead, *rng.sample(SYNTHETIC_CONTEXT[theme], rng.randint(1, 3))])
        extra = {"category": "문화 지식", "domain": "일상생활", "topic_keyword": theme}
        if qtype == CHOICE:
            others = [t for t in themes if t != theme]
            rng.shuffle(others)
            pos = _ANSWER_POSITION[theme]
            options = [rng.choice(ATTRIBUTES[t]) for t in others[:pos] + [theme] + others[pos:]]
            marks = "  ".join(f"{k}\\t {option}" for k, option in enumerate(options, 1))
            question, answer = f"{context} {_choice_stem(group)} \\n {marks}", str(pos + 1)
        elif qtype == SHORT:
            question, answer = f"{context} {_short_stem(rng.sample(ATTRIBUTES[theme], 3))}", short_answer
        else:
            extra["category"] = "문화 관점"
            question, answer = f"{context} {_descriptive_stem(theme)}", description
        out.append(KCQARecord(f"kcqa-syn-{split}-{i + 1:06d}", qtype, question, answer, extra))
    return out


TASK = KCQATask()
