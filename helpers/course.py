"""Run the whole course headlessly: every lesson in ``notebooks/``, in order.

    python -m helpers.course run            # all lessons (what `make run` does)
    python -m helpers.course run 01 02      # only lessons whose name starts with 01 or 02

Executed copies go to ``outputs/executed/``; the figures, tables and files the lessons
write land under ``outputs/``. The mode is the machine's (smoke without a GPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["lessons", "run_lesson", "run_course"]


def lessons(prefixes: list[str] | None = None) -> list[Path]:
    """The lesson notebooks in order, optionally only those starting with one of ``prefixes``."""
    from .runtime import repo_root

    found = sorted((repo_root() / "notebooks").glob("*.ipynb"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) for x in prefixes)]
    return found


def run_lesson(path: Path, timeout: int = 3600) -> tuple[Path, float]:
    """Execute one lesson (cwd: its folder) and save the executed copy; returns (copy, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    from .runtime import outputs_dir

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        out = outputs_dir("executed") / path.name
        nbformat.write(nb, out)
    return out, time.perf_counter() - start


def _files_under(folder: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def run_course(prefixes: list[str] | None = None) -> int:
    """Run the lessons, print what each produced, return the number of failed lessons."""
    from .runtime import outputs_dir

    base = outputs_dir()
    failed = 0
    for path in lessons(prefixes):
        before = _files_under(base)
        print(f"==> {path.name}", flush=True)
        try:
            out, secs = run_lesson(path)
            print(f"    ok in {secs:.0f} s -> {out.relative_to(base.parent)}")
        except Exception as err:  # keep going: one broken lesson should not hide the others
            failed += 1
            print(f"    FAILED: {type(err).__name__}: {str(err).splitlines()[-1] if str(err) else ''}")
        after = _files_under(base)
        new = sorted(p for p, m in after.items() if p not in before or before[p] != m)
        for p in new:
            if "executed" not in p.parts:
                print(f"    wrote {p.relative_to(base.parent)}")
    print(f"{'all lessons ran' if not failed else f'{failed} lesson(s) failed'}; outputs in {base}")
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("only", nargs="*", help="lesson name prefixes, e.g. 01 02")
    args = parser.parse_args(argv)
    return 1 if run_course(args.only or None) else 0


if __name__ == "__main__":
    sys.exit(main())
