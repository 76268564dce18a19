"""Run mode, hardware, library versions and seeds: the first cell of every lesson.

Two questions decide a run: which model (a tiny one built locally, or a hub id) and which
data (the shipped samples, or the real files). ``smoke`` mode answers both with the small
choice; it is picked when there is no CUDA device or when ``KIT_SMOKE=1``. ``KIT_SMOKE=0``
forces the full mode.

This module sits on top of the kit (it asks the LLM engines which one a run uses); the
decisions themselves are made once each: precision in :mod:`helpers.core.hardware`, the
engine in :mod:`helpers.llm.engines`, the run's settings in :mod:`helpers.lessons`.

    >>> rt = detect(seed=42)
    >>> rt.precision == precision() and rt.device in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import importlib.metadata as md
import os
import random
import sys
from dataclasses import dataclass, field

from .core.hardware import free_memory, gpu_info, precision, seed_everything, trainer_precision
from .core.paths import outputs_dir, repo_root

__all__ = [
    "Runtime",
    "detect",
    "setup",
    "free_memory",
    "seed_everything",
    "is_smoke",
    "repo_root",
    "outputs_dir",
    "library_versions",
    "trainer_precision",
]

#: Libraries whose versions the summary line reports (read without importing them, so
#: that unsloth can still be imported before transformers on a GPU).
REPORTED_LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "accelerate")


def library_versions(names: tuple[str, ...] = REPORTED_LIBRARIES) -> dict[str, str]:
    """Installed versions by distribution name (``'-'`` when missing), without importing.

    >>> library_versions(("surely-not-installed-pkg",))
    {'surely-not-installed-pkg': '-'}
    """
    out = {}
    for name in names:
        try:
            out[name] = md.version(name).split("+")[0]
        except md.PackageNotFoundError:
            out[name] = "-"
    return out


def _smoke_choice(has_cuda: bool) -> tuple[bool, str]:
    flag = os.environ.get("KIT_SMOKE", "").strip().lower()
    if flag in {"1", "true", "yes"}:
        return True, "KIT_SMOKE=1"
    if flag in {"0", "false", "no"}:
        return False, "KIT_SMOKE=0"
    if not has_cuda:
        return True, "no CUDA device"
    return False, "CUDA device found"


def is_smoke() -> bool:
    """True when lessons should use tiny local models and the sample data.

    >>> import os; os.environ["KIT_SMOKE"] = "1"; is_smoke()
    True
    >>> _ = os.environ.pop("KIT_SMOKE")
    """
    return _smoke_choice(_cuda_available())[0]


def _cuda_available() -> bool:
    from .core.hardware import cuda_available

    return cuda_available()


@dataclass(frozen=True)
class Runtime:
    """What this run is: mode, place, hardware and engine. Built by :func:`detect`."""

    smoke: bool
    reason: str
    colab: bool
    device: str
    gpu_name: str | None = None
    gpu_memory_gib: float | None = None
    precision: str = "fp32"
    seed: int = 42
    engine: str = "hf"
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "full"

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def dtype_name(self) -> str:
        """The training precision: ``bf16``, ``fp16`` or ``fp32``."""
        return self.precision

    def summary(self) -> str:
        """One line: mode (and why), place, device, precision, versions, seed, engine."""
        gpu = f"{self.gpu_name} {self.gpu_memory_gib:.0f} GiB" if self.gpu_name else "cpu"
        libs = " ".join(f"{k} {v}" for k, v in self.versions.items())
        return (f"k-nlp-kit | {self.mode.upper()} mode ({self.reason}) | {'Colab' if self.colab else 'local'} | "
                f"{gpu} | {self.precision} | python {sys.version.split()[0]} {libs} | seed {self.seed} | "
                f"engine {self.engine}")


def _in_colab() -> bool:
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def detect(seed: int = 42) -> Runtime:
    """Inspect the machine and decide the run mode (no seeding, no printing, no import of the
    engine's library)."""
    from .llm.engines import engine_name

    info = gpu_info()
    smoke, reason = _smoke_choice(info is not None)
    return Runtime(smoke=smoke, reason=reason, colab=_in_colab(), device="cuda" if info else "cpu",
                   gpu_name=info[0] if info else None, gpu_memory_gib=info[1] if info else None,
                   precision=precision(), seed=seed, engine=engine_name("auto"), versions=library_versions())


def setup(seed: int = 42, *, verbose: bool = True) -> Runtime:
    """Detect the run mode, import the engine's library first (unsloth must come before
    transformers), seed everything and print the one-line summary.

    Every lesson's first code cell calls this.
    """
    from dataclasses import replace

    from .core.quiet import quiet_known_noise
    from .llm.engines import get_engine

    quiet_known_noise()
    rt = detect(seed)
    engine = get_engine(rt.engine).name
    rt = replace(rt, engine=engine)
    quiet_known_noise()  # again: the engine may have imported transformers
    if rt.smoke:
        # Small CPU machines: a fixed thread count keeps timings and results repeatable.
        seed_everything(seed, threads=min(2, os.cpu_count() or 1))
    else:
        seed_everything(seed)
    if verbose:
        print(rt.summary())
    return rt
