"""The repository's promises about its own layout, install and commands."""

import json
import re
import tomllib

import pytest
import yaml

from helpers.runtime import repo_root

ROOT = repo_root()


def test_top_level_layout():
    for name in ("notebooks", "helpers", "data", "colab", "tests", "bench", "environment.yml",
                 "README.md", "pyproject.toml", "Makefile", ".ci/run", "LICENSE", "constraints.txt"):
        assert (ROOT / name).exists(), name


def test_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [["make", "run"], ["make", "test"]]
    assert text.index("make run") < 400


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_pyproject_never_pins_torch_and_admits_the_pinned_set():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + [d for extra in meta["optional-dependencies"].values() for d in extra]
    assert not [d for d in deps if re.match(r"torch\b", d)]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["torch"] == "2.13.0"
    for name, version in [("transformers", "5.17.0"), ("trl", "1.15.0"), ("peft", "0.21.2"),
                          ("accelerate", "1.15.0"), ("bitsandbytes", "0.50.2")]:
        assert pins[name] == version
    assert pins["datasets"].startswith("4.8.")
    assert {"notebooks", "llm", "gpu", "dev"} <= set(meta["optional-dependencies"])


def test_environment_yml_installs_this_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert any(line.startswith("-e .[") for line in pip)
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert env["name"] == name


def test_notebooks_are_stored_without_outputs():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "colab").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_lesson_starts_with_the_runtime_line(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "runtime.setup(" in first_code["source"]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_lesson_lets_go_of_each_model_before_it_loads_the_next(path):
    """Between two cells that load a model for use (``load_policy``, ``load_for_inference``) a
    lesson deletes the name the first load bound and calls ``runtime.free_memory()``: a T4's
    15 GB does not hold two 4-bit 8B models with their state. Lesson 07 under a 15 GiB cap ran
    out of memory in cell 27 (reloading its DPO adapter) with the GRPO model still held. Cells
    are numbered as ``bench/gpu_lessons.py`` prints them (every cell, from 0)."""
    import re

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = {i: "".join(c["source"]) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"}
    load = re.compile(r"^(\w+)\s*(?:,\s*\w+\s*)*=.*\b(?:load_policy|load_for_inference)\(", re.M)
    loads = [(i, m.group(1)) for i, src in code.items() for m in load.finditer(src)]
    if path.stem in ("05_inference_ensemble", "07_preference_rl"):
        assert len(loads) >= 2, loads   # the lessons that load one model after another
    for (before, name), (after, _) in zip(loads, loads[1:]):
        freed = [i for i, src in code.items() if before <= i < after and "runtime.free_memory()" in src
                 and re.search(rf"^del\b[^#\n]*\b{name}\b", src, re.M)]
        assert freed, (f"{path.name}: cell {after} loads a model while `{name}` from cell {before} is still held "
                       f"(no `del {name}` with runtime.free_memory() between)")


def test_import_helpers_is_light():
    import subprocess
    import sys

    code = "import sys, helpers, helpers.data, helpers.refine; print(sorted(m for m in ('torch','transformers','datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_device_queue_runs_every_command_and_reports_failures(tmp_path):
    """bench/device_queue.sh (GPU leases): each line runs on its GPU with BENCH_OUT set, a failing
    command is reported and the queue goes on, a command cannot eat the queue file from stdin,
    ``wait`` copies the results to $OUT, and a second queue on the same GPU (``QUEUE``) keeps its
    own log."""
    import os
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "device_queue.sh"
    queue = tmp_path / "q.txt"
    queue.write_text("# a comment\nfalse\n\ncat > /dev/null\necho $CUDA_VISIBLE_DEVICES > $BENCH_OUT/gpu.txt\n"
                     f"bash {script} await $KEEP/nowhere 1 && touch $BENCH_OUT/never.txt\n"
                     f"bash {script} await $KEEP/ready 20 && touch $BENCH_OUT/after.txt\n", encoding="utf-8")
    env = {**os.environ, "KEEP": str(tmp_path / "keep"), "OUT": str(tmp_path / "out")}
    (tmp_path / "out").mkdir()
    subprocess.run(["bash", str(script), "start", "5", str(queue)], env=env, check=True, cwd=tmp_path)
    second = tmp_path / "q2.txt"   # a second queue on the same GPU, named by QUEUE
    second.write_text("echo $CUDA_VISIBLE_DEVICES > $BENCH_OUT/second.txt\n", encoding="utf-8")
    subprocess.run(["bash", str(script), "start", "5", str(second)], env={**env, "QUEUE": "gpu5b"}, check=True,
                   cwd=tmp_path)
    unseen = subprocess.run(["bash", str(script), "start", "5", str(second)], env={**env, "QUEUE": "other"},
                            cwd=tmp_path, capture_output=True, text=True)
    assert unseen.returncode == 2 and "must start with gpu" in unseen.stderr   # wait would never see it
    (tmp_path / "keep" / "ready").touch()  # what a later device call does once its wheels are in
    report = subprocess.run(["bash", str(script), "wait", "30"], env=env, check=True, cwd=tmp_path,
                            capture_output=True, text=True).stdout
    assert "gpu5: done" in report and "gpu5b: done" in report
    assert (tmp_path / "out" / "second.txt").read_text().strip() == "5"
    assert "rc 1: false" in report and "rc 0: cat > /dev/null" in report
    assert (tmp_path / "out" / "gpu.txt").read_text().strip() == "5"
    assert "gave up waiting for" in (tmp_path / "out" / "gpu5.log").read_text()
    assert (tmp_path / "out" / "after.txt").exists() and not (tmp_path / "out" / "never.txt").exists()


def test_gpu_lessons_reports_what_is_still_allocated_after_a_lesson_frees_memory(tmp_path, monkeypatch, capsys):
    """bench/gpu_lessons.py: after each cell that calls ``free_memory()`` the script reports the GiB
    still allocated and, when much is, which models are alive and what refers to them (lesson 07
    ran out of a T4's memory loading its third model with 11 GiB still allocated); the lesson's row
    keeps the figures."""
    import os
    from pathlib import Path

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "bench"))
    import gpu_lessons

    script = gpu_lessons.lesson_script(root / "notebooks" / "07_preference_rl.ipynb")
    assert "runtime.free_memory()\n_kit_bench_after_free(14)\n" in script and "_kit_bench_after_free(17)" in script

    import atexit

    space = {}
    exec(gpu_lessons._PEAK, space)
    atexit.unregister(space["_kit_bench_peak"])  # the hook is the lesson process's, not pytest's
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: 11 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda: 14.5 * 2**30)
    monkeypatch.setattr(torch.cuda.memory, "_snapshot", lambda: {"segments": [{"is_expandable": True}] * 3})
    kept = {"leaked": LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                                   num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))}
    space["_kit_bench_after_free"](22)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "### after free, cell 22: 11.00 GiB allocated, 14.50 GiB reserved"
    assert printed[1] == "###   allocator: expandable segments (3)"

    class Symbolic:  # what torch.compile leaves in its graphs: a tensor whose size is symbolic
        @property
        def nbytes(self):
            raise RuntimeError("Cannot call numel() on tensor with symbolic sizes/strides")

    assert space["_kit_bench_nbytes"](Symbolic()) == 0 and space["_kit_bench_nbytes"](torch.zeros(4)) == 16
    assert any("live LlamaForCausalLM, held by ['dict[leaked]']" in line for line in printed), printed
    del kept

    assert "rt = runtime.setup(seed=42)\n_kit_bench_record()\n" in script   # --where records from the setup cell on
    lesson = tmp_path / "07_preference_rl.py"
    lesson.write_text(script, encoding="utf-8")
    lines = script.splitlines()
    at = {c: lines.index(f"print('### cell {c}', flush=True)") + 2 for c in (4, 16)}  # a line inside each cell
    frames = lambda cell, *kit: [*({"filename": f"/r/helpers/{f}", "line": n, "name": fn} for f, n, fn in kit),
                                 {"filename": str(lesson), "line": at[cell], "name": "<module>"}]
    snapshot = {"segments": [{"blocks": [
        {"state": "active_allocated", "size": 3 * 2**30, "frames": frames(16, ("preference.py", 141, "load_policy"))},
        {"state": "active_allocated", "size": 2 * 2**30, "frames": frames(16, ("preference.py", 141, "load_policy"))},
        {"state": "inactive", "size": 9 * 2**30, "frames": frames(4, ("llm/train.py", 9, "train"))},
        {"state": "active_allocated", "size": 2**30, "frames": frames(4, ("inference.py", 7, "predict"),
                                                                      ("llm/train.py", 9, "train"))},
        {"state": "active_allocated", "size": 2**29, "frames": []}]}]}
    assert space["_kit_bench_where"](snapshot, str(lesson)) == [
        (5.0, 16, "preference.py:141 load_policy"), (1.0, 4, "inference.py:7 predict <- llm/train.py:9 train"), (0.5, None, "(before recording)")]

    groups = space["_kit_bench_groups"]({"segments": [{"address": 4096, "blocks": [
        {"state": "active_allocated", "size": 512, "frames": frames(16, ("llm/engines.py", 326, "load"))},
        {"state": "inactive", "size": 512, "frames": []},
        {"state": "active_allocated", "size": 256, "address": 8192, "frames": frames(16, ("llm/engines.py", 326, "load"))}]}]},
        str(lesson))
    assert groups == {(16, "llm/engines.py:326 load"): [(4096, 512), (8192, 256)]}

    # what keeps a group's blocks alive: here a tensor in a module global's cache, and one nothing names
    import gc
    import sys
    import types

    cache = types.ModuleType("kit_bench_fake_cache")
    monkeypatch.setitem(sys.modules, cache.__name__, cache)
    cache.GRAPHS = {"compiled": [{"val": torch.zeros(1000, dtype=torch.uint8)}]}
    spans = [(cache.GRAPHS["compiled"][0]["val"].untyped_storage().data_ptr(), 1000), (1, 8)]
    capsys.readouterr()
    space["_kit_bench_owners"](spans, gc, torch)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("###   owners: 1 tensors gc sees lie in its 2 blocks") and "'Tensor torch.uint8': 1" in printed[0]
    assert printed[1] == "###   (1000,) torch.uint8 <- kit_bench_fake_cache.GRAPHS -> dict['compiled'] -> list[0] -> dict['val'] -> Tensor"

    notebook = tmp_path / "99_fake.ipynb"
    line = "print('### after free, cell 3: 1.25 GiB allocated, 2.00 GiB reserved')"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": line}]}), encoding="utf-8")
    row = gpu_lessons.run_lesson(notebook, tmp_path, dict(os.environ), 120)
    assert row["rc"] == 0 and row["gib_after_free"] == {"3": [1.25, 2.0]}
