"""The tasks: one module per task, each implementing :class:`~helpers.tasks.base.Task`, and a
registry that everything else asks.

    >>> names()
    ('cci', 'dcs', 'sc', 'korquad', 'kcqa')
    >>> get("cci").display_name
    '대화 맥락 추론'

A new task is one module with a ``Task`` subclass, registered with :func:`register`; no
other module of the kit changes (``tests/test_tasks.py`` registers a five-option task and
runs it from file to submission).
"""

from __future__ import annotations

from ..core.messages import KitError, msg
from .base import LETTERS, Checker, Task, Utterance

__all__ = ["Task", "Checker", "Utterance", "LETTERS", "register", "unregister", "get", "task_of", "names", "all_tasks"]

_REGISTRY: dict[str, Task] = {}


class UnknownTask(KitError):
    """A task name that is not registered."""


def register(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry under ``task.name``; returns it."""
    if task.name in _REGISTRY and not replace:
        raise KitError(msg(f"과제 '{task.name}'은(는) 이미 등록되어 있습니다", f"task '{task.name}' is already registered"))
    _REGISTRY[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove a task (tests register temporary ones)."""
    _REGISTRY.pop(name, None)


def get(name: str | Task) -> Task:
    """The registered task called ``name`` (a task object is returned as it is)."""
    if isinstance(name, Task):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTask(msg(f"알 수 없는 과제 '{name}' (가능: {', '.join(_REGISTRY)})",
                           f"unknown task '{name}' (choose from {', '.join(_REGISTRY)})")) from None


def task_of(record) -> Task:
    """The registered task whose record type ``record`` is."""
    for task in _REGISTRY.values():
        if isinstance(record, task.record_type):
            return task
    raise UnknownTask(msg(f"{type(record).__name__} 레코드의 과제를 알 수 없습니다",
                          f"no registered task has records of type {type(record).__name__}"))


def names() -> tuple[str, ...]:
    """Registered task names, in registration order."""
    return tuple(_REGISTRY)


def all_tasks() -> list[Task]:
    return list(_REGISTRY.values())


def _register_builtin() -> None:
    from . import cci, dcs, kcqa, korquad, sc

    for module in (cci, dcs, sc, korquad, kcqa):
        register(module.TASK)


_register_builtin()
