"""Prompts for every LLM task, rendered with the model's own chat template.

대화 맥락 추론 has the five prompt styles of the 2024 winner (``PROMPT_STYLES``); options
are shown as A/B/C and the answer is one letter. 일상 대화 요약 and 이야기 완성 have one
prompt each (the generation lesson).

    >>> from helpers.data import load_cci, sample_file
    >>> msgs = cci_messages(load_cci(sample_file("cci", "dev"))[0], style="base")
    >>> [m["role"] for m in msgs]
    ['system', 'user']

When a tokenizer has no chat template, :func:`render` falls back to a plain layout
(``FALLBACK_TEMPLATE``): each turn as ``### <role>:`` + content, then ``### assistant:``.
"""

from __future__ import annotations

from typing import Sequence

from .data import CCI_LABELS, CCIRecord, DCSRecord, SCRecord
from .korean import with_particle

__all__ = [
    "PROMPT_STYLES",
    "LETTERS",
    "OFFICIAL_TERMS",
    "DEFINITIONS",
    "cci_messages",
    "cci_answer",
    "dcs_messages",
    "sc_messages",
    "render",
    "FALLBACK_TEMPLATE",
]

LETTERS = ("A", "B", "C")
PROMPT_STYLES = ("base", "official_terms", "definition", "instruction", "system")

#: The inference types by their official (longer) names.
OFFICIAL_TERMS = {"원인": "원인", "후행사건": "후행 사건", "전제": "전제 조건", "동기": "내적 동기", "반응": "감정 반응"}
#: What each inference type asks for (the kit's wording of the task guidelines).
DEFINITIONS = {
    "원인": "대상 발화에서 일어난 사건이나 상태를 일으킨 까닭",
    "후행사건": "대상 발화의 사건 뒤에 일어날 법한 일",
    "전제": "대상 발화가 말이 되려면 그 전에 이미 성립해 있어야 하는 사건이나 상태",
    "동기": "화자가 대상 발화를 하게 만든 마음속 바람이나 감정",
    "반응": "대상 발화의 사건에 대해 화자나 청자가 느낄 법한 감정",
}

_SYSTEM_SHORT = "당신은 한국어 대화를 읽고 추론 문제를 푸는 도우미입니다. 정답 선택지의 알파벳 하나만 답하세요."
_SYSTEM_DETAILED = (
    "당신은 한국어 대화의 맥락을 깊이 이해하는 언어 전문가입니다. 대화 전체의 흐름과 화자들의 관계를 살핀 뒤, "
    "[*] 표시가 붙은 대상 발화에 대해 질문이 묻는 추론 유형에 가장 알맞은 선택지를 고르세요. 선택지들은 "
    "사소한 차이(부정, 화자 바뀜, 세부 사항)로 갈리므로 대화의 내용과 하나하나 대조하세요. "
    "설명 없이 정답 선택지의 알파벳(A, B, C) 하나만 출력하세요."
)


def _conversation(record: CCIRecord | DCSRecord, mark: Sequence[str] = ()) -> str:
    lines = []
    for u in record.conversation:
        star = "[*] " if u.utterance_id in mark else ""
        lines.append(f"{star}화자{u.speaker}: {u.utterance}")  # 화자1 (cci) / 화자SD2000001 (dcs)
    return "\n".join(lines)


def _options(record: CCIRecord) -> str:
    return "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, record.options))


def _type_name(category: str, style: str) -> str:
    return OFFICIAL_TERMS[category] if style in ("official_terms", "definition", "instruction", "system") else category


def cci_messages(record: CCIRecord, style: str = "base") -> list[dict[str, str]]:
    """System and user messages of one 대화 맥락 추론 question in one of ``PROMPT_STYLES``.

    - ``base``: the conversation with the referenced utterances marked [*], the question
      "위 대화의 <유형><으로/로> 올바른 지문은?" and the options;
    - ``official_terms``: the same with the types' official names (전제 조건, 내적 동기…);
    - ``definition``: the type's definition spelled out before the question;
    - ``instruction``: an instruction in place of the question;
    - ``system``: ``official_terms`` with a detailed system prompt.

    >>> from helpers.data import Utterance
    >>> r = CCIRecord("x", [Utterance(1, "배고파", "d.1.1")], ["d.1.1"], "전제", "a", "b", "c")
    >>> cci_messages(r)[1]["content"].splitlines()[4]
    '위 대화의 전제로 올바른 지문은?'
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f"알 수 없는 프롬프트 스타일 '{style}' / unknown style (choose from {PROMPT_STYLES})")
    name = _type_name(record.category, style)
    parts = ["[Conversation]", _conversation(record, record.reference_id), ""]
    if style == "definition":
        parts += ["[Definition]", f"{name}: {DEFINITIONS[record.category]}", ""]
    if style == "instruction":
        parts += ["[Instruction]", f"위 대화에서 [*] 표시된 발화의 {with_particle(name, '을/를')} 가장 잘 추론한 선택지를 고르세요.", ""]
    else:
        parts += ["[Question]", f"위 대화의 {with_particle(name, '으로/로')} 올바른 지문은?", ""]
    parts += ["[Option]", _options(record)]
    system = _SYSTEM_DETAILED if style == "system" else _SYSTEM_SHORT
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]


def cci_answer(record: CCIRecord) -> str:
    """The answer letter of a record (``inference_2`` -> ``B``)."""
    if record.output is None:
        raise ValueError(f"{record.id}: 정답이 없는 레코드입니다 / record has no answer")
    return LETTERS[CCI_LABELS.index(record.output)]


def dcs_messages(record: DCSRecord) -> list[dict[str, str]]:
    """Messages asking for a summary of a 일상 대화 요약 conversation (speakers and topic shown)."""
    topic = ", ".join(record.subject_keyword)
    user = "\n".join([
        "[Conversation]", _conversation(record), "",
        "[Question]", f"위 {topic} 주제에 대한 대화를 요약해 주세요.",
    ])
    return [{"role": "system", "content": "당신은 대화를 정확하고 간결하게 요약하는 도우미입니다."},
            {"role": "user", "content": user}]


def sc_messages(record: SCRecord) -> list[dict[str, str]]:
    """Messages asking for the missing middle sentence of a three-sentence story."""
    user = "\n".join([
        "[Story]", f"문장 1: {record.sentence1}", "문장 2: (빈칸)", f"문장 3: {record.sentence3}", "",
        "[Question]", "문장 1과 문장 3을 자연스럽게 잇는 문장 2를 한 문장으로 쓰세요.",
    ])
    return [{"role": "system", "content": "당신은 이야기의 빈 문장을 채우는 작가입니다."}, {"role": "user", "content": user}]


#: The layout used when a tokenizer has no chat template of its own.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}### assistant:\n{% endif %}"
)


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text from the tokenizer's chat template (or :data:`FALLBACK_TEMPLATE`).

    Models whose template refuses a ``system`` role get the system text folded into the
    first user message.
    """
    template = getattr(tokenizer, "chat_template", None) or FALLBACK_TEMPLATE
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             chat_template=template)
    except Exception as err:  # e.g. "System role not supported" (Gemma)
        if messages and messages[0]["role"] == "system" and "system" in str(err).lower():
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}, *messages[2:]]
            return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                 chat_template=template)
        raise
