"""Seeded, learnable tiny tasks for smoke mode: a tiny model must be able to *learn* them on
two CPU cores in seconds, so a test can tell a working training path from a broken one.

Each task makes its own (:meth:`helpers.tasks.base.Task.synthetic`); the names here are the
ones lessons use.

    >>> qa = synthetic_qa(4, seed=0)
    >>> qa[0].context[qa[0].answers[0].answer_start:].startswith(qa[0].answers[0].text)
    True
"""

from __future__ import annotations

from . import tasks
from .tasks.cci import CCI_ANSWER_POSITION, CCI_FORMS, synthetic_cci
from .tasks.dcs import synthetic_dcs, synthetic_summary
from .tasks.korquad import positional_baseline_qa, synthetic_qa
from .tasks.sc import STORY_MIDDLES, synthetic_sc
from .tasks.words import ATTRIBUTES, NAMES, TOPIC_LINES

__all__ = ["synthetic", "synthetic_qa", "positional_baseline_qa", "vocabulary_texts", "synthetic_cci", "CCI_FORMS",
           "CCI_ANSWER_POSITION", "synthetic_dcs", "synthetic_sc", "synthetic_summary", "NAMES", "ATTRIBUTES",
           "TOPIC_LINES", "STORY_MIDDLES"]


def synthetic(task: str, n: int, seed: int = 42, split: str = "train") -> list:
    """``n`` learnable records of ``task`` (smoke mode)."""
    return tasks.get(task).synthetic(n, seed, split)


def vocabulary_texts(repeats: int = 3) -> list[str]:
    """Sentences with every word of every registered task's synthetic records, ``repeats``
    times each, so a vocabulary trained with them knows every word (min frequency 2)."""
    lines = [line for task in tasks.all_tasks() for line in task.vocabulary()]
    return lines * repeats
