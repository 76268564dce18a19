import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import runtime


def _pinned(name: str) -> str:
    """The version constraints.txt pins (the one place versions are written down)."""
    import re

    text = (runtime.repo_root() / "constraints.txt").read_text(encoding="utf-8")
    return re.search(rf"^{name}==(\S+)", text, re.M).group(1)


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
    assert f"transformers {_pinned('transformers')}" in line and "seed 7" in line
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
    assert versions["transformers"] == _pinned("transformers")
    assert versions["no-such-dist"] == "-"


def test_outputs_dir_honours_env(outputs):
    path = runtime.outputs_dir("figures")
    assert path == outputs / "figures" and path.is_dir()


def test_dtype_name_follows_hardware():
    cpu = runtime.detect()
    assert cpu.device == "cpu" and cpu.dtype_name == "fp32" and not cpu.bf16
    assert "| fp32 |" in cpu.summary() and "bf16" not in cpu.summary()   # a CPU trains in fp32: say so
    t4 = runtime.Runtime(smoke=False, reason="x", colab=True, device="cuda", precision="fp16", gpu_name="T4",
                         gpu_memory_gib=15)
    assert t4.dtype_name == "fp16" and "Colab" in t4.summary() and "T4 15 GiB" in t4.summary()


def test_precision_is_decided_once(monkeypatch):
    from helpers.core import hardware

    monkeypatch.setattr(hardware, "gpu_info", lambda: ("Tesla T4", 15.0, False))
    assert hardware.precision() == "fp16"
    assert hardware.trainer_precision() == {"bf16": False, "fp16": True, "dataloader_pin_memory": True}
    monkeypatch.setattr(hardware, "gpu_info", lambda: ("H100", 80.0, True))
    assert hardware.precision() == "bf16" and hardware.trainer_precision()["bf16"]


def test_the_allocator_default_is_set_before_cuda_starts_and_never_over_the_users(monkeypatch):
    from types import SimpleNamespace

    from helpers.core import hardware

    for name in hardware._ALLOCATOR_VARIABLES:   # set, then removed: restored as it was afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(hardware, "_expandable_segments_work", lambda: True)
    started = {"cuda": False}
    fake = SimpleNamespace(__version__="2.11.0+cu128", version=SimpleNamespace(hip=None),
                           cuda=SimpleNamespace(is_available=lambda: True, is_initialized=lambda: started["cuda"]))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert hardware.cuda_available()   # the first call with a GPU sets it, through the environment
    assert os.environ["PYTORCH_ALLOC_CONF"] == "expandable_segments:True"
    monkeypatch.setenv("PYTORCH_ALLOC_CONF", "garbage_collection_threshold:0.6")   # the user's own
    assert hardware.cuda_available() and hardware.allocator_default(fake) is None
    assert os.environ["PYTORCH_ALLOC_CONF"] == "garbage_collection_threshold:0.6"
    # too late once CUDA has started, and never on ROCm or where expandable segments fail
    env = {}
    started["cuda"] = True
    assert hardware.allocator_default(fake, environ=env) is None and env == {}
    started["cuda"] = False
    fake.version.hip = "6.2"
    assert hardware.allocator_default(fake, environ=env) is None and env == {}
    fake.version.hip = None
    monkeypatch.setattr(hardware, "_expandable_segments_work", lambda: False)
    assert hardware.allocator_default(fake, environ=env) is None and env == {}
    monkeypatch.setattr(hardware, "_expandable_segments_work", lambda: True)
    assert hardware.allocator_default(fake, environ=env) == "PYTORCH_ALLOC_CONF" and env == {
        "PYTORCH_ALLOC_CONF": "expandable_segments:True"}
    fake.__version__, env = "2.9.1+cu126", {}  # before 2.10 torch reads the CUDA-named variable only
    assert hardware.allocator_default(fake, environ=env) == "PYTORCH_CUDA_ALLOC_CONF" and env == {
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}


@pytest.mark.skipif(os.name == "nt", reason="the Windows branch returns before the kernel name is read")
def test_expandable_segments_are_not_asked_for_under_wsl_or_on_a_jetson(monkeypatch):
    from types import SimpleNamespace

    from helpers.core import hardware

    monkeypatch.delenv("WSL_DISTRO_NAME", raising=False)
    monkeypatch.setattr(hardware.os.path, "exists", lambda path: False)
    monkeypatch.setattr(hardware.os, "uname", lambda: SimpleNamespace(release="6.8.0-49-generic"))
    assert hardware._expandable_segments_work()
    monkeypatch.setattr(hardware.os, "uname", lambda: SimpleNamespace(release="5.15.167.4-microsoft-standard-WSL2"))
    assert not hardware._expandable_segments_work()   # Docker on WSL2: only the kernel says so
    monkeypatch.setattr(hardware.os, "uname", lambda: SimpleNamespace(release="6.8.0-49-generic"))
    monkeypatch.setenv("WSL_DISTRO_NAME", "Ubuntu")
    assert not hardware._expandable_segments_work()
    monkeypatch.delenv("WSL_DISTRO_NAME")
    monkeypatch.setattr(hardware.os.path, "exists", lambda path: path == "/etc/nv_tegra_release")
    assert not hardware._expandable_segments_work()


def test_free_memory_drops_unsloths_weight_plans_so_a_deleted_model_can_go(monkeypatch):
    """unsloth keeps a decode "plan" on each 4-bit weight's quant state that refers to the weight;
    on an H200 capped to 15 GiB a deleted model's 3.35 GiB of 4-bit weights stayed allocated
    through them. free_memory() clears them (only where unsloth's kernels are imported) and
    leaves other attributes alone."""
    import types

    from helpers.core import hardware

    class QuantState:  # bitsandbytes' name; the plans refer back to the weight
        pass

    weight = types.SimpleNamespace()
    states = [QuantState(), QuantState()]
    states[0]._unsloth_nf4_plan = [weight]
    states[0]._unsloth_gemv_rows = {1: [weight]}
    states[0].absmax = "kept"
    states[1]._unsloth_gemv_plan = [weight]
    monkeypatch.delitem(sys.modules, "unsloth.kernels.utils", raising=False)
    assert hardware.drop_unsloth_plans() == 0 and states[0]._unsloth_nf4_plan == [weight]   # no unsloth: untouched
    monkeypatch.setitem(sys.modules, "unsloth.kernels.utils", types.ModuleType("unsloth.kernels.utils"))
    monkeypatch.setattr(hardware, "cuda_available", lambda: False)
    assert hardware.free_memory() == 0.0   # a CPU: nothing allocated on a GPU
    assert [vars(s) for s in states] == [{"_unsloth_nf4_plan": None, "_unsloth_gemv_rows": None, "absmax": "kept"},
                                         {"_unsloth_gemv_plan": None}]
    assert hardware.drop_unsloth_plans() == 0   # nothing left to clear


def test_ensure_trained_lets_go_of_the_model_it_trained(monkeypatch, tmp_path):
    """ensure_trained trains only to save the adapter; the caller loads that next. On an H200
    capped as a T4 the trained 8B still held 5.9 GiB when lesson 07 loaded the adapter: most
    likely the trainer and the model refer to each other, so dropping the result frees nothing
    until a collection. Here the fake result is such a cycle, with automatic collection off."""
    import gc
    import importlib
    import weakref

    from helpers import lessons
    from helpers.llm.config import LLMConfig

    train_module = importlib.import_module("helpers.llm.train")
    held = []

    class Trained:  # a model and its trainer, each referring to the other
        def __init__(self):
            self.trainer = {"model": self}

    def fake_train(cfg, records):
        result = Trained()
        held.append(weakref.ref(result))
        (Path(cfg.output_dir) / "final").mkdir(parents=True)
        (Path(cfg.output_dir) / "final" / "adapter_config.json").write_text("{}", encoding="utf-8")
        return result

    monkeypatch.setattr(train_module, "train", fake_train)
    cfg = LLMConfig(output_dir=str(tmp_path / "run"))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        final = lessons.ensure_trained(cfg, ["a record"])
        assert final == tmp_path / "run" / "final" and len(held) == 1
        assert held[0]() is None, "the trained model is still in memory when ensure_trained returns"
        assert lessons.ensure_trained(cfg, ["a record"]) == final and len(held) == 1   # there: not trained again
    finally:
        if was_enabled:
            gc.enable()
