"""The one place where precision is decided, and the seeds.

bf16 where the GPU has it, fp16 on older GPUs (the Colab T4), fp32 on a CPU: bf16 matrix
products ran about 5x slower than fp32 on the CPUs tried, so a CPU trains in fp32 even when
it could do bf16.

    >>> precision() in ("bf16", "fp16", "fp32")
    True
"""

from __future__ import annotations

import os
import random
import re

__all__ = ["cuda_available", "allocator_default", "gpu_info", "precision", "torch_dtype", "trainer_precision", "seed_everything",
           "drop_unsloth_plans", "free_memory"]


#: The CUDA allocator setting the kit turns on (where the user has set none): memory is mapped
#: in pages to growing segments instead of fixed blocks, so a lesson that frees one model and
#: loads the next on a 15 GB card is not refused for memory that is free but split up (lesson 07
#: under a T4's cap kept 10.75 GiB reserved for 3.60 allocated without it, and a 2 MiB block was
#: refused with 3.81 GiB reserved but free, most likely for that). unsloth sets the same on import,
#: but only where CUDA has not started by then; the kit asks for the GPU first.
ALLOCATOR_DEFAULT = "expandable_segments:True"
_ALLOCATOR_VARIABLES = ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF")


def cuda_available() -> bool:
    """True where torch sees a CUDA device (False where torch is missing). With a GPU it also
    calls :func:`allocator_default`, which acts once, before CUDA starts (the kit's first
    question to the GPU comes through here)."""
    try:
        import torch
    except ImportError:
        return False
    if not torch.cuda.is_available():
        return False
    allocator_default(torch)
    return True


def allocator_default(torch=None, environ=None) -> str | None:
    """Set torch's allocator variable to :data:`ALLOCATOR_DEFAULT` and return the variable's
    name, or leave things as they are and return None: where the user set an allocator variable
    (theirs wins), on Windows, WSL, ROCm or a Jetson (where expandable segments fail), or once
    CUDA has started (torch read its settings then). The variable is ``PYTORCH_ALLOC_CONF``
    from torch 2.10 and ``PYTORCH_CUDA_ALLOC_CONF`` before (what each reads). Only the
    environment is touched, so the user sees the setting and a child process inherits it.

    >>> allocator_default(environ={"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"}) is None
    True
    """
    environ = os.environ if environ is None else environ
    if any(name in environ for name in _ALLOCATOR_VARIABLES) or not _expandable_segments_work():
        return None
    name = "PYTORCH_ALLOC_CONF"
    if torch is not None:
        if getattr(torch.version, "hip", None) or torch.cuda.is_initialized():
            return None
        major, minor = (int(x) for x in re.findall(r"\d+", torch.__version__)[:2])
        if (major, minor) < (2, 10):
            name = "PYTORCH_CUDA_ALLOC_CONF"
    environ[name] = ALLOCATOR_DEFAULT
    return name


def _expandable_segments_work() -> bool:
    """False on Windows, under WSL (its kernel name says so, also inside Docker) and on a
    Jetson board, where PyTorch's expandable segments are not supported or fail."""
    if os.name == "nt" or os.environ.get("WSL_DISTRO_NAME") or os.path.exists("/etc/nv_tegra_release"):
        return False
    return "microsoft" not in os.uname().release.lower()


def gpu_info() -> tuple[str, float, bool] | None:
    """``(name, memory in GiB, bf16 support)`` of GPU 0, or None without one.

    ``KIT_GPU_GIB`` overrides the memory (so a capped run chooses as a smaller card would).
    """
    if not cuda_available():
        return None
    import torch

    props = torch.cuda.get_device_properties(0)
    gib = float(os.environ.get("KIT_GPU_GIB") or props.total_memory / 2**30)
    return props.name, gib, bool(torch.cuda.is_bf16_supported())


def precision() -> str:
    """``"bf16"``, ``"fp16"`` or ``"fp32"``: the training and inference precision of this machine.

    ``KIT_PRECISION=fp16`` on a GPU runs as a card without bf16 would (a T4), for checking that
    path on a newer card; bf16 is refused where the card lacks it, and a CPU always runs fp32.
    """
    info = gpu_info()
    if info is None:
        return "fp32"
    wanted = os.environ.get("KIT_PRECISION", "").strip().lower()
    if wanted:
        if wanted not in ("bf16", "fp16", "fp32"):
            raise ValueError(f"KIT_PRECISION must be bf16, fp16 or fp32, not {wanted!r}")
        if wanted == "bf16" and not info[2]:
            raise ValueError(f"KIT_PRECISION=bf16, but {info[0]} has no bf16")
        return wanted
    return "bf16" if info[2] else "fp16"


def torch_dtype():
    """:func:`precision` as a torch dtype."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision()]


#: Below this many parameters a model trains in fp32 even where bf16/fp16 exist: measured on an
#: H100, BERT-small (KorQuAD) ran 253.8 examples/s in fp32 against 213.2 in bf16
#: (bench/results/bert_runs.jsonl) — for a small model the casts cost more than the faster
#: matrix products save. The threshold itself (between BERT-small and BERT-base) is not measured.
SMALL_MODEL_PARAMETERS = 50_000_000


def trainer_precision(parameters: int | None = None) -> dict[str, bool]:
    """``TrainingArguments`` flags for :func:`precision` (pinned memory only with a GPU); fp32
    for a model of fewer than :data:`SMALL_MODEL_PARAMETERS` ``parameters``.

    >>> trainer_precision()["bf16"] == (precision() == "bf16")
    True
    >>> trainer_precision(parameters=20_000_000)["bf16"], trainer_precision(parameters=20_000_000)["fp16"]
    (False, False)
    """
    p = precision()
    if parameters is not None and parameters < SMALL_MODEL_PARAMETERS:
        return {"bf16": False, "fp16": False, "dataloader_pin_memory": p != "fp32"}
    return {"bf16": p == "bf16", "fp16": p == "fp16", "dataloader_pin_memory": p != "fp32"}


def seed_everything(seed: int = 42, threads: int | None = None) -> None:
    """Seed python, numpy and torch (and cap torch's CPU threads if ``threads`` is given).

    >>> seed_everything(0); a = random.random(); seed_everything(0); a == random.random()
    True
    """
    random.seed(seed)
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


#: What unsloth (2026.10) caches on a 4-bit weight's bitsandbytes ``QuantState``: its decode
#: and dequantization "plans", which keep the weight itself. It rebuilds them on first use.
UNSLOTH_PLANS = ("_unsloth_nf4_plan", "_unsloth_gemv_plan", "_unsloth_gemv_rows")


def drop_unsloth_plans() -> int:
    """Clear unsloth's per-weight plans (:data:`UNSLOTH_PLANS`) on every 4-bit weight in memory;
    returns how many were set. Nothing to do unless unsloth's kernels are imported.

    Measured on an H200 (lesson 07 capped to 15 GiB, and ``bench/probes/stop27_leak2.py``): an
    8B model loaded with a saved adapter that generated its own answers (DPO pairs) and was then
    deleted kept its 4-bit weights allocated (3.35 GiB); the plans refer to the weights, and
    ``gc.collect()`` did not free them. Clearing the plans did. Live models lose nothing but the
    first call's planning.
    """
    import gc
    import sys

    if "unsloth.kernels.utils" not in sys.modules:
        return 0
    n = 0
    for obj in gc.get_objects():
        if type(obj).__name__ == "QuantState":
            for name in UNSLOTH_PLANS:
                if getattr(obj, name, None) is not None:
                    setattr(obj, name, None)
                    n += 1
    return n


def free_memory() -> float:
    """Give the memory of models the caller has let go of (``del model``) back to the GPU, and
    return the GiB still allocated (0.0 without a GPU). A lesson that loads a second model
    calls this first: on a 15 GB card two 4-bit 8B models with their training state do not fit.
    unsloth's weight plans are dropped first (:func:`drop_unsloth_plans`): without that a deleted
    unsloth model's 4-bit weights stay allocated.
    """
    import gc

    drop_unsloth_plans()
    gc.collect()
    if not cuda_available():
        return 0.0
    import torch

    torch.cuda.empty_cache()
    return round(torch.cuda.memory_allocated() / 2**30, 2)
