"""Where the kit lives and where it writes.

    >>> (repo_root() / "helpers").is_dir()
    True
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "outputs_dir", "display_path"]


def repo_root() -> Path:
    """The kit's checkout: ``KIT_HOME`` if set, else the folder above ``helpers/``."""
    env = os.environ.get("KIT_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent.parent


def outputs_dir(*parts: str) -> Path:
    """A folder under ``outputs/`` (``KIT_OUTPUTS`` overrides the base), created on demand.

    >>> outputs_dir("figures").name
    'figures'
    """
    base = Path(os.environ.get("KIT_OUTPUTS") or repo_root() / "outputs")
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the checkout when it lies inside it (shorter messages).

    >>> display_path(repo_root() / "data" / "x.json")
    'data/x.json'
    """
    p = Path(path)
    try:
        return str(p.resolve().relative_to(repo_root()))
    except ValueError:
        return str(p)
