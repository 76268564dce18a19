"""Silencing the known, harmless noise of the libraries, so a lesson shows only what matters.

Each entry says why it is harmless; a warning that may signal a real fault is fixed at its
cause instead (for example the peft notice about saving embedding layers: the kit's trainer
saves adapters without the full ``lm_head`` copy, see :mod:`helpers.llm.train`).
"""

from __future__ import annotations

import logging
import os

__all__ = ["quiet_known_noise", "quiet_bitsandbytes"]


def quiet_bitsandbytes() -> None:
    """bitsandbytes tries to fetch an optional CPU kernel from the hub (package ``kernels``) and
    warns when it cannot; offline it falls back to its built-in kernel, which the kit uses."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def quiet_known_noise() -> None:
    """Called by :func:`helpers.runtime.setup` (every lesson's first cell).

    - transformers' per-file progress bars (``Loading weights``, ``Writing model shards``)
      nest inside the training and prediction bars and add hundreds of lines to a notebook;
      the training bar itself stays.
    - the bitsandbytes notice above.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_bitsandbytes()
    import sys

    if "transformers" in sys.modules:  # already imported (unsloth first on a GPU): switch the bars off now
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
