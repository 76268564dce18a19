"""Messages in one language at a time, and the kit's error type.

``KIT_LANG`` picks the language: ``ko`` (the default, the lessons' language) or ``en``.

    >>> import os; os.environ["KIT_LANG"] = "en"; msg("빈 파일", "empty file")
    'empty file'
    >>> os.environ["KIT_LANG"] = "ko"; msg("빈 파일", "empty file")
    '빈 파일'
"""

from __future__ import annotations

import os

__all__ = ["LANGUAGES", "lang", "msg", "KitError"]

LANGUAGES = ("ko", "en")


def lang() -> str:
    """``"ko"`` or ``"en"`` from ``KIT_LANG`` (anything else falls back to Korean).

    >>> lang() in LANGUAGES
    True
    """
    value = os.environ.get("KIT_LANG", "ko").strip().lower()
    return value if value in LANGUAGES else "ko"


def msg(ko: str, en: str) -> str:
    """The Korean or the English text, as ``KIT_LANG`` selects."""
    return en if lang() == "en" else ko


class KitError(ValueError):
    """An error the user can fix (a bad file, a wrong setting); command lines print its
    message and exit with status 1 instead of a traceback."""
