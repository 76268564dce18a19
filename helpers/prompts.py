"""Prompts of the LLM tasks, rendered with the model's own chat template.

Each task writes its own messages (:meth:`helpers.tasks.base.Task.messages`); this module
renders them and keeps the names lessons use. 대화 맥락 추론 has the five prompt styles of
the 2024 winner (``PROMPT_STYLES``); options are shown as letters and the answer is one letter.

    >>> from helpers.data import load_cci, sample_file
    >>> msgs = cci_messages(load_cci(sample_file("cci", "dev"))[0], style="base")
    >>> [m["role"] for m in msgs]
    ['system', 'user']
"""

from __future__ import annotations

from . import tasks
from .core.chat import FALLBACK_TEMPLATE, render
from .tasks.base import LETTERS
from .tasks.cci import DEFINITIONS, OFFICIAL_TERMS, PROMPT_STYLES

__all__ = ["PROMPT_STYLES", "LETTERS", "OFFICIAL_TERMS", "DEFINITIONS", "messages", "prompt", "target",
           "cci_messages", "cci_answer", "dcs_messages", "sc_messages", "render", "FALLBACK_TEMPLATE"]


def messages(task: str, record, style: str = "base") -> list[dict[str, str]]:
    """The chat messages of ``record`` for ``task``."""
    return tasks.get(task).messages(record, style)


def prompt(task: str, record, tokenizer, style: str = "base") -> str:
    """The rendered prompt of ``record`` (with the generation prompt)."""
    return render(tokenizer, messages(task, record, style))


def target(task: str, record) -> str | None:
    """What the model learns to answer (a letter for choice records; None where hidden)."""
    return tasks.get(task).target(record)


def cci_messages(record, style: str = "base") -> list[dict[str, str]]:
    """:func:`messages` of a 대화 맥락 추론 record (see :class:`helpers.tasks.cci.CCITask`)."""
    return messages("cci", record, style)


def cci_answer(record) -> str:
    """The answer letter of a 대화 맥락 추론 record (``inference_2`` -> ``B``)."""
    answer = target("cci", record)
    if answer is None:
        raise ValueError(f"{record.id}: record has no answer")
    return answer


def dcs_messages(record) -> list[dict[str, str]]:
    """Messages asking for a summary of a 일상 대화 요약 conversation."""
    return messages("dcs", record)


def sc_messages(record) -> list[dict[str, str]]:
    """Messages asking for the missing middle sentence of a story."""
    return messages("sc", record)
