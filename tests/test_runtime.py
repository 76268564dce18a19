import random

import numpy as np
import pytest
import torch

from helpers import runtime


@pytest.mark.parametrize(
    "flag, has_cuda, smoke, reason",
    [
        ("", False, True, "no CUDA device"),
        ("", True, False, "CUDA device found"),
        ("1", True, True, "KIT_SMOKE=1"),
        ("0", False, False, "KIT_SMOKE=0"),
    ],
)
def test_smoke_choice(monkeypatch, flag, has_cuda, smoke, reason):
    monkeypatch.setenv("KIT_SMOKE", flag)
    assert runtime._smoke_choice(has_cuda) == (smoke, reason)


def test_setup_prints_one_line_that_names_the_mode(monkeypatch, capsys):
    monkeypatch.setenv("KIT_SMOKE", "1")
    rt = runtime.setup(seed=7)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.startswith("k-nlp-kit | SMOKE mode (KIT_SMOKE=1)")
    assert "transformers 5.17" in line and "seed 7" in line
    assert rt.smoke and rt.mode == "smoke"


def test_seed_everything_repeats_python_numpy_torch():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first
    runtime.seed_everything(124)
    assert draw() != first


def test_library_versions_reads_without_import():
    versions = runtime.library_versions(("transformers", "no-such-dist"))
    assert versions["transformers"].startswith("5.17")
    assert versions["no-such-dist"] == "-"


def test_outputs_dir_honours_env(outputs):
    path = runtime.outputs_dir("figures")
    assert path == outputs / "figures" and path.is_dir()


def test_dtype_name_follows_hardware():
    cpu = runtime.Runtime(smoke=True, reason="x", colab=False, device="cpu", bf16=True)
    t4 = runtime.Runtime(smoke=False, reason="x", colab=True, device="cuda", bf16=False, gpu_name="T4", gpu_memory_gib=15)
    assert cpu.dtype_name == "fp32" and t4.dtype_name == "fp16"
    assert "Colab" in t4.summary() and "T4 15 GiB" in t4.summary()
