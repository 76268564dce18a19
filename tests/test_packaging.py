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


def test_import_helpers_is_light():
    import subprocess
    import sys

    code = "import sys, helpers, helpers.data, helpers.refine; print(sorted(m for m in ('torch','transformers','datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_device_queue_runs_every_command_and_reports_failures(tmp_path):
    """bench/device_queue.sh (GPU leases): each line runs on its GPU with BENCH_OUT set, a failing
    command is reported and the queue goes on, a command cannot eat the queue file from stdin,
    and ``wait`` copies the results to $OUT."""
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
    (tmp_path / "keep" / "ready").touch()  # what a later device call does once its wheels are in
    report = subprocess.run(["bash", str(script), "wait", "30"], env=env, check=True, cwd=tmp_path,
                            capture_output=True, text=True).stdout
    assert "gpu5: done" in report
    assert "rc 1: false" in report and "rc 0: cat > /dev/null" in report
    assert (tmp_path / "out" / "gpu.txt").read_text().strip() == "5"
    assert "gave up waiting for" in (tmp_path / "out" / "gpu5.log").read_text()
    assert (tmp_path / "out" / "after.txt").exists() and not (tmp_path / "out" / "never.txt").exists()
