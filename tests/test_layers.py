"""The layer contract: imports go downwards only, with no cycles, and the modules that check
files, score strings, write submissions and ensemble never reach a model library.

    core → text and metric primitives → tasks → files/submission/ensemble/analysis
         → engines, LLM and BERT training and inference → lesson glue

Imports inside functions count as much as module-level ones (a lazy import of the model
layer from a "light" module would still make ``python -m helpers.data check`` heavy).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"

#: Layer of each module (a package name covers its submodules); lower never imports higher.
LAYERS = {
    "helpers": 0, "helpers.core": 0, "helpers.korean": 0,
    "helpers.metrics": 1, "helpers.essay": 1,
    "helpers.tasks": 2,
    "helpers.data": 3, "helpers.prompts": 3, "helpers.synthetic": 3, "helpers.predictions": 3,
    "helpers.submission": 3, "helpers.ensemble": 3, "helpers.refine": 3, "helpers.eda": 3,
    "helpers.batching": 4, "helpers.memory": 4, "helpers.vocab": 4, "helpers.pretrain": 4, "helpers.korquad": 4,
    "helpers.llm": 4, "helpers.inference": 4,
    "helpers.lessons": 5, "helpers.runtime": 5, "helpers.course": 5, "helpers.colab": 5, "helpers.serve": 5,
    "helpers.exercises": 5, "helpers.preference": 4,
}
#: Modules that must never import torch, transformers or the model layer (not even lazily).
LIGHT = ("helpers.korean", "helpers.metrics", "helpers.essay", "helpers.tasks", "helpers.data",
         "helpers.predictions", "helpers.submission", "helpers.ensemble")
MODEL_LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "unsloth", "accelerate", "vllm")
#: Model-based scores load their libraries in the one function that needs them.
ALLOWED_LAZY = {("helpers.metrics", "model_based_scores"): ("bert_score", "bleurt")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(HELPERS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """``(imported module, enclosing function or None)`` for every import in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Import):
                found.extend((a.name, func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module
                found.append((mod, func))
                for a in child.names:  # "from . import data" imports a module
                    found.append((f"{mod}.{a.name}", func))
            visit(child, f)

    visit(tree, None)
    return found


MODULES = {_module_name(p): p for p in sorted(HELPERS.rglob("*.py"))}
GRAPH = {m: sorted({i for i, _ in _imports(p) if i in MODULES and i != m}) for m, p in MODULES.items()}


def layer(module: str) -> int:
    best = None
    for prefix, level in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, level)
    assert best is not None, f"{module} has no layer: add it to LAYERS"
    return best[1]


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_imports_only_go_down():
    wrong = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
             for m, targets in GRAPH.items() for t in targets if layer(t) > layer(m)]
    assert wrong == []


def test_no_import_cycles():
    state: dict[str, int] = {}
    cycles = []

    def walk(node, stack):
        state[node] = 1
        for nxt in GRAPH[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = 2

    for m in MODULES:
        if m not in state:
            walk(m, [m])
    assert cycles == []


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(GRAPH[m])
    return seen


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(LIGHT)))
def test_light_modules_never_reach_a_model_library(module):
    for m in sorted(_closure(module)):
        assert layer(m) <= 3, f"{module} reaches {m}"
        for imported, func in _imports(MODULES[m]):
            top = (imported or "").split(".")[0]
            allowed = ALLOWED_LAZY.get((m, func), ())
            assert top not in MODEL_LIBRARIES, f"{m}.{func or '<module>'} imports {imported}"
            if top in ("bert_score", "bleurt"):
                assert top in allowed, f"{m}.{func or '<module>'} imports {imported}"


def test_checking_a_file_loads_no_model_library(tmp_path):
    """The contract at run time: the check and scoring commands start without torch."""
    code = (
        "import sys\n"
        "from helpers import data, metrics, submission, ensemble, predictions\n"
        "assert data.main(['check', str(data.sample_file('cci', 'dev')), '--task', 'cci']) == 0\n"
        "metrics.rouge1(['두 화자는 여행'], ['두 화자는 여행 이야기'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HELPERS.parent)
    assert res.returncode == 0, res.stderr


def test_the_checker_sees_a_violation():
    """The checker itself can fail: a model-layer import from a light module is caught."""
    fake = {"helpers.data": ["helpers.llm.train"], "helpers.llm.train": []}
    wrong = [(m, t) for m, ts in fake.items() for t in ts if layer(t) > layer(m)]
    assert wrong == [("helpers.data", "helpers.llm.train")]
