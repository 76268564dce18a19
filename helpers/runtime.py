"""Run mode, hardware, library versions and seeds: the first cell of every lesson.

Two questions decide a run: which model (a tiny one built locally, or a hub id) and which
data (the shipped samples, or the real files). ``smoke`` mode answers both with the small
choice; it is picked when there is no CUDA device or when ``KIT_SMOKE=1``. ``KIT_SMOKE=0``
forces the full mode.

    >>> rt = setup(seed=42)          # doctest: +SKIP
    k-nlp-kit | SMOKE mode (no CUDA device) | local | cpu | bf16 yes | torch 2.13.0 ... | seed 42
"""

from __future__ import annotations

import importlib.metadata as md
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Runtime",
    "detect",
    "setup",
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


def repo_root() -> Path:
    """The kit's checkout: ``KIT_HOME`` if set, else the folder above ``helpers/``.

    >>> (repo_root() / "helpers").is_dir()
    True
    """
    env = os.environ.get("KIT_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


def outputs_dir(*parts: str) -> Path:
    """A folder under ``outputs/`` (``KIT_OUTPUTS`` overrides the base), created on demand.

    >>> outputs_dir("figures").name
    'figures'
    """
    base = Path(os.environ.get("KIT_OUTPUTS") or repo_root() / "outputs")
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


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

    >>> is_smoke() in (True, False)
    True
    """
    return _smoke_choice(_cuda_available())[0]


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@dataclass(frozen=True)
class Runtime:
    """What this run is: mode, place and hardware. Built by :func:`detect`."""

    smoke: bool
    reason: str
    colab: bool
    device: str
    gpu_name: str | None = None
    gpu_memory_gib: float | None = None
    bf16: bool = False
    seed: int = 42
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "full"

    @property
    def dtype_name(self) -> str:
        """The training precision this hardware supports: ``bf16``, ``fp16`` or ``fp32``."""
        if self.device != "cuda":
            return "fp32"
        return "bf16" if self.bf16 else "fp16"

    def summary(self) -> str:
        """One line: mode (and why), place, device, precision, versions, seed."""
        gpu = f"{self.gpu_name} {self.gpu_memory_gib:.0f} GiB" if self.gpu_name else "cpu"
        libs = " ".join(f"{k} {v}" for k, v in self.versions.items())
        return (
            f"k-nlp-kit | {self.mode.upper()} mode ({self.reason}) | "
            f"{'Colab' if self.colab else 'local'} | {gpu} | bf16 {'yes' if self.bf16 else 'no'} | "
            f"python {sys.version.split()[0]} {libs} | seed {self.seed}"
        )


def _in_colab() -> bool:
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def detect(seed: int = 42) -> Runtime:
    """Inspect the machine and decide the run mode (no seeding, no printing).

    >>> detect().device in {"cpu", "cuda"}
    True
    """
    import torch

    has_cuda = torch.cuda.is_available()
    smoke, reason = _smoke_choice(has_cuda)
    name = mem = None
    bf16 = False
    if has_cuda:
        props = torch.cuda.get_device_properties(0)
        name, mem = props.name, props.total_memory / 2**30
        bf16 = bool(torch.cuda.is_bf16_supported())
    else:
        # bf16 matmuls run on any recent x86/ARM CPU through torch's kernels.
        bf16 = True
    return Runtime(
        smoke=smoke,
        reason=reason,
        colab=_in_colab(),
        device="cuda" if has_cuda else "cpu",
        gpu_name=name,
        gpu_memory_gib=mem,
        bf16=bf16,
        seed=seed,
        versions=library_versions(),
    )


def seed_everything(seed: int = 42, threads: int | None = None) -> None:
    """Seed python, numpy and torch (and cap torch's CPU threads if ``threads`` is given).

    >>> seed_everything(0); random.random() == (random.seed(0) or random.random())
    True
    """
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def trainer_precision() -> dict[str, bool]:
    """``TrainingArguments`` precision flags for this hardware: bf16 where the GPU has it,
    fp16 on older GPUs (Colab T4), fp32 on a CPU; pinned memory only with a GPU.

    >>> sorted(trainer_precision())
    ['bf16', 'dataloader_pin_memory', 'fp16']
    """
    import torch

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": cuda and not bf16, "dataloader_pin_memory": cuda}


def setup(seed: int = 42, *, verbose: bool = True) -> Runtime:
    """Detect the run mode, seed everything and print the one-line summary.

    Every lesson's first code cell calls this.
    """
    rt = detect(seed)
    engine = _import_fast_engine(rt)
    if rt.smoke:
        # Small CPU machines: a fixed thread count keeps timings and results repeatable.
        seed_everything(seed, threads=min(2, os.cpu_count() or 1))
    else:
        seed_everything(seed)
    if verbose:
        print(rt.summary() + f" | engine {engine}")
    return rt


def _import_fast_engine(rt: Runtime) -> str:
    """On a GPU, import unsloth now, before anything imports transformers (it patches them).

    ``KIT_ENGINE=hf`` keeps the plain transformers + peft path. Returns the engine name.
    """
    import importlib.util

    if rt.device != "cuda" or os.environ.get("KIT_ENGINE", "auto") == "hf" or importlib.util.find_spec("unsloth") is None:
        return "hf"
    if "transformers" in sys.modules and "unsloth" not in sys.modules:
        print("주의: transformers가 unsloth보다 먼저 불러와졌습니다 / transformers was imported before unsloth; "
              "restart the runtime and run this cell first for unsloth's optimisations")
    try:
        import unsloth  # noqa: F401
    except Exception as err:
        print(f"unsloth import failed ({type(err).__name__}); using hf")
        return "hf"
    return "unsloth"
