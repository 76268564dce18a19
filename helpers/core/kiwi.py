"""One kiwipiepy analyser for the whole kit (it takes about 2 s to start, so it is built once)."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["kiwi"]


@lru_cache(maxsize=None)
def kiwi():
    """The shared ``kiwipiepy.Kiwi`` instance.

    >>> [t.form for t in kiwi().tokenize("밥을")]
    ['밥', '을']
    """
    from kiwipiepy import Kiwi

    return Kiwi()
