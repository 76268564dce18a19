"""Run lessons in full mode on a GPU, as a user would, and record what happened.

Each lesson's code cells run in order, as one Python process per lesson (the GPU image has no
Jupyter kernel; the only IPython name the cells use, ``display``, is defined), with ``KIT_SMOKE=0`` so
``runtime.setup`` picks full mode, and the models named by environment variables, as a user
on an offline server would:

- ``KIT_LLM_MODEL``: a local folder (here a random-weight checkpoint of a ladder model's exact
  architecture, standing in for the hub model; ``bench/llm_speed.py prepare`` builds the
  Llama-3-8B shape, the architecture of MLP-KTLim/llama-3-Korean-Bllossom-8B);
- ``KIT_BERT_MODEL`` (``--bert DIR``): lesson 03b's BERT, a random-weight klue/bert-base-shaped
  folder built by :func:`bert_standin` (lesson 03a and 03b's demo cells also need kiwipiepy and
  its model package on the machine);
- ``--gpu-gib 15`` sets ``KIT_GPU_GIB`` (the hardware choice then picks as on a Colab T4) and
  caps this process's CUDA memory to that much (``torch.cuda.set_per_process_memory_fraction``
  through a ``sitecustomize`` on ``PYTHONPATH``), so a run that does not fit a T4's memory fails
  here; ``--fp16`` sets ``KIT_PRECISION=fp16`` (a T4 has no bf16). The speed is the H200's, not
  a T4's. The cap is set after the kit's allocator default (as a user's first cell has it), and
  checked: a block larger than the cap must be refused.
- ``--where`` records each CUDA block's Python stack from the setup cell on, so a free that leaves
  much allocated names the cell and kit functions that allocated what is still live, then resets
  ``torch._dynamo`` and says what that freed (a diagnosis: the rest of the run is changed by it).

Without the NIKL files the lessons read the shipped samples (the small-data schedule applies).
Random weights learn nothing useful: the run checks that every step of the full-mode path
executes and fits, not the scores. Writes ``<out>/<lesson>.log`` and one JSON line per lesson
to ``<out>/gpu_lessons.jsonl`` (exit status, seconds, peak memory, the cell that failed, and the
GiB still allocated and reserved after each cell that calls ``free_memory()``; where much is
allocated, the log names the live models and what refers to them).

    python bench/gpu_lessons.py --gpu-gib 15 --fp16 --out $OUT/lessons 04 05 07
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CAP = """
import os
try:
    import torch
    from helpers.core.hardware import cuda_available
    _gib = float(os.environ["KIT_BENCH_CAP_GIB"])
    # the kit's first question to the GPU sets its allocator default before CUDA starts; capping
    # starts CUDA, so ask it first, or the capped lesson would run with an allocator no user gets
    if cuda_available():
        torch.cuda.set_per_process_memory_fraction(_gib * 2**30 / torch.cuda.get_device_properties(0).total_memory)
        try:  # the cap must hold with that allocator too: a block larger than the cap is refused
            torch.empty(int((_gib + 0.5) * 2**30), dtype=torch.uint8, device="cuda")
            raise SystemExit(f"memory cap of {_gib} GiB not enforced")
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
except Exception as err:  # the run reports it; it must not start uncapped silently
    raise SystemExit(f"memory cap failed: {err}")
"""

_PEAK = """
try:  # a notebook's display() outside IPython
    from IPython.display import display
except ImportError:
    display = print
import atexit, json, os
def _kit_bench_peak():
    import torch
    if torch.cuda.is_available() and os.environ.get("KIT_BENCH_PEAK"):
        with open(os.environ["KIT_BENCH_PEAK"], "w") as f:
            json.dump({"peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}, f)
atexit.register(_kit_bench_peak)
def _kit_bench_after_free(cell):
    # after a cell that frees memory: what is still allocated and, if much is, what holds it
    # (live models and the largest CUDA tensors gc can see, with the types that refer to them)
    import gc, torch
    from helpers.core.hardware import free_memory
    if not torch.cuda.is_available():
        return
    gib = free_memory()  # the kit's own gc + empty_cache (the cell called it; here it also covers a cell that did more after)
    held = torch.cuda.memory_reserved() / 2**30  # above the allocated after empty_cache: fragmentation
    print(f"### after free, cell {cell}: {gib:.2f} GiB allocated, {held:.2f} GiB reserved", flush=True)
    segments = torch.cuda.memory._snapshot()["segments"]  # torch 2.11 has no getter for the settings
    kind = "expandable" if any(s.get("is_expandable") for s in segments) else "fixed"
    print(f"###   allocator: {kind} segments ({len(segments)})", flush=True)
    if gib < 0.5:
        return
    try:  # a report, never a failure of the lesson: what gc holds can be odd (compiled graphs' fake tensors)
        _kit_bench_holders(gc, torch)
    except Exception as err:
        print(f"###   report failed: {type(err).__name__}: {err}", flush=True)
    if os.environ.get("KIT_BENCH_WHERE"):
        try:
            snapshot = torch.cuda.memory._snapshot()
            for gib_, cell_, via in _kit_bench_where(snapshot, __file__):
                print(f"###   {gib_:.2f} GiB allocated in cell {cell_} via {via}", flush=True)
            groups = _kit_bench_groups(snapshot, __file__)
            _kit_bench_owners(max(groups.values(), key=lambda spans: sum(s for _, s in spans)), gc, torch)
            del snapshot, groups
        except Exception as err:
            print(f"###   where failed: {type(err).__name__}: {err}", flush=True)
        torch._dynamo.reset()  # compiled graphs and their guards let go: does that free it?
        print(f"###   after torch._dynamo.reset(): {free_memory():.2f} GiB allocated", flush=True)
def _kit_bench_nbytes(t):
    try:
        return t.nbytes
    except RuntimeError:  # symbolic sizes
        return 0
def _kit_bench_holders(gc, torch):
    objects = gc.get_objects()
    def holders(obj, skip):
        return [type(r).__name__ + (f"[{','.join(map(str, list(r)[:4]))}]" if isinstance(r, dict) else "")
                for r in gc.get_referrers(obj) if r is not skip and r is not objects][:6]
    models = [o for o in objects if isinstance(o, torch.nn.Module) and type(o).__name__.endswith(("ForCausalLM", "PeftModel"))]
    for i in range(len(models)):  # every one (a lesson has few); no slice: it would be one more referrer
        print(f"###   live {type(models[i]).__name__}, held by {holders(models[i], models)}", flush=True)
    # real CUDA tensors only: compiled graphs keep fake ones (no memory of their own) in their nodes
    tensors = sorted((o for o in objects if isinstance(o, torch.Tensor) and o.is_cuda and _kit_bench_nbytes(o)
                      and not type(o).__name__.startswith(("Fake", "Functional"))),
                     key=lambda t: -_kit_bench_nbytes(t))
    print(f"###   {len(tensors)} CUDA tensors gc sees, {sum(map(_kit_bench_nbytes, tensors)) / 2**30:.2f} GiB", flush=True)
    for i in range(min(4, len(tensors))):
        print(f"###   {tuple(tensors[i].shape)} {tensors[i].dtype}, held by {holders(tensors[i], tensors)}", flush=True)
def _kit_bench_record():
    # --where: from now on the allocator keeps the Python stack of each live block (after the
    # setup cell, so the kit's allocator default is in place before this starts CUDA)
    import torch
    if os.environ.get("KIT_BENCH_WHERE") and torch.cuda.is_available():
        torch.cuda.memory._record_memory_history(enabled="state", context="alloc", stacks="python")
def _kit_bench_groups(snapshot, script):
    # live blocks grouped by the lesson cell that allocated them and the chain of kit frames,
    # innermost first: {(cell, "file:line function <- ..."): [(address, size), ...]}
    import re
    marks = [(n + 1, int(m[1])) for n, line in enumerate(open(script, encoding="utf-8").read().splitlines())
             for m in [re.match(r"print\\('### cell (\\d+)'", line)] if m]
    groups = {}
    for segment in snapshot.get("segments", []):
        address = segment.get("address", 0)
        for block in segment.get("blocks", []):
            start, address = block.get("address", address), block.get("address", address) + block["size"]
            if block.get("state") != "active_allocated":
                continue
            frames = block.get("frames") or []
            top_line = next((f["line"] for f in frames if f.get("filename") == script and f.get("name") == "<module>"), None)
            cell = next((c for n, c in reversed(marks) if top_line and n <= top_line), None)
            kit = [f for f in frames if "/helpers/" in f.get("filename", "")] or frames[:1]
            via = " <- ".join(f"{f['filename'].split('/helpers/')[-1]}:{f['line']} {f['name']}" for f in kit) \
                or "(before recording)"
            groups.setdefault((cell, via), []).append((start, block["size"]))
    return groups
def _kit_bench_where(snapshot, script, top=6):
    # which load: a lesson's training or its policy; [(GiB, cell, via), ...], largest first
    ranked = sorted(((sum(s for _, s in spans), key) for key, spans in _kit_bench_groups(snapshot, script).items()),
                    key=lambda kv: -kv[0])[:top]
    return [(size / 2**30, cell, via) for size, (cell, via) in ranked]
def _kit_bench_owners(spans, gc, torch, show=2):
    # what keeps the blocks of one group alive: the tensors gc sees whose storage lies in them, and
    # for the largest, the chain of referrers up to a module's global (or "none found")
    import bisect
    spans = sorted(spans)
    starts = [a for a, _ in spans]
    def inside(ptr):
        i = bisect.bisect_right(starts, ptr) - 1
        return i >= 0 and ptr < spans[i][0] + spans[i][1]
    import warnings
    objects = gc.get_objects()
    found = []  # the tensors themselves, no tuples around them: the path below must not start at one of ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() on every object gc holds wakes deprecated module attributes
        for o in objects:
            try:
                if not isinstance(o, torch.Tensor) or type(o).__name__.startswith(("Fake", "Functional")):
                    continue
                ptr = o.untyped_storage().data_ptr()
            except Exception:
                continue
            if ptr and inside(ptr):
                found.append(o)
    found.sort(key=lambda t: -t.untyped_storage().nbytes())
    sizes = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in found}
    kinds = {}
    for t in found:
        kinds[f"{type(t).__name__} {t.dtype}"] = kinds.get(f"{type(t).__name__} {t.dtype}", 0) + 1
    print(f"###   owners: {len(found)} tensors gc sees lie in its {len(spans)} blocks "
          f"({sum(sizes.values()) / 2**30:.2f} of {sum(s for _, s in spans) / 2**30:.2f} GiB): {dict(sorted(kinds.items()))}", flush=True)
    skip = {id(objects), id(found), id(spans)}
    firsts = {}  # the largest of each kind (a 4-bit weight and its quantization state are different kinds)
    for t in found:
        firsts.setdefault(f"{type(t).__name__} {t.dtype}", t)
    for kind in list(firsts)[:show]:
        t = firsts[kind]
        print(f"###   {tuple(t.shape)} {t.dtype} <- {_kit_bench_path(gc, t, skip | {id(firsts)})}", flush=True)
    firsts.clear()
    del objects, found
def _kit_bench_path(gc, start, skip, depth=8, calls=80):
    # breadth-first up the referrers from start to the nearest module global: "module.name[key] -> ... -> type"
    import sys, types
    modules = {id(vars(m)): name for name, m in list(sys.modules.items()) if m is not None and hasattr(m, "__dict__")}
    up, held, frontier = {id(start): None}, {id(start): start}, [start]
    skip = skip | {id(up), id(held)}
    end = None
    for _ in range(depth):
        nxt = []
        skip_now = skip | {id(frontier), id(nxt)}
        for obj in frontier:
            calls -= 1
            for r in gc.get_referrers(obj):
                if id(r) in up or id(r) in skip_now or isinstance(r, types.FrameType):
                    continue
                up[id(r)], held[id(r)] = id(obj), r
                if id(r) in modules:
                    end = r
                    break
                nxt.append(r)
            if end is not None or calls <= 0:
                break
        if end is not None or calls <= 0 or not nxt:
            break
        frontier = nxt
    if end is None:
        first = [type(r).__name__ for r in gc.get_referrers(start) if id(r) not in skip][:6]
        return f"no module global within {depth} steps; first referrers {first}"
    def name(holder, child):
        if isinstance(holder, dict):
            key = next((k for k, v in holder.items() if v is child), "?")
            return f"{modules[id(holder)]}.{key}" if id(holder) in modules else f"dict[{key!r}]"
        if isinstance(holder, (list, tuple)):
            return f"{type(holder).__name__}[{next((i for i, v in enumerate(holder) if v is child), '?')}]"
        return getattr(holder, "__qualname__", None) or type(holder).__name__
    chain, node = [], id(end)
    while up[node] is not None:
        chain.append(name(held[node], held[up[node]]))
        node = up[node]
    return " -> ".join(chain + [type(start).__name__])
"""


#: klue/bert-base's architecture (its published config.json): lesson 03b's full-mode default.
KLUE_BERT_BASE = dict(vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)


def bert_standin(folder: Path, **shape) -> Path:
    """A random-weight BERT of ``shape`` (default klue/bert-base's) with a WordPiece tokenizer
    trained on the shipped text (no morpheme segmentation, like a hub tokenizer), saved like a
    hub checkpoint: what ``KIT_BERT_MODEL`` points at. Built once."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from helpers.vocab import shipped_texts, train_wordpiece

    tok = train_wordpiece(list(shipped_texts()), vocab_size=8000, segmented=False)
    shape = {**KLUE_BERT_BASE, **shape}
    shape["vocab_size"] = max(shape["vocab_size"], len(tok.hf))
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(**shape, pad_token_id=tok.hf.pad_token_id)).save_pretrained(folder)
    tok.hf.save_pretrained(folder)
    return folder


def lesson_script(notebook: Path) -> str:
    """The lesson's code cells as one script; each cell announces itself (``### cell N``) so the
    log shows where a failure happened."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    parts = [_PEAK]
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        after = f"_kit_bench_after_free({i})\n" if "free_memory()" in src else ""
        after += "_kit_bench_record()\n" if "runtime.setup(" in src else ""
        parts.append(f"print('### cell {i}', flush=True)\n{src}\n{after}")
    return "\n".join(parts)


def run_lesson(notebook: Path, out: Path, env: dict, timeout: float) -> dict:
    script = out / f"{notebook.stem}.py"
    script.write_text(lesson_script(notebook), encoding="utf-8")
    log_path = out / f"{notebook.stem}.log"
    peak_path = out / f"{notebook.stem}.peak.json"
    env = {**env, "KIT_BENCH_PEAK": str(peak_path)}
    t0 = time.time()
    with log_path.open("w", encoding="utf-8") as log:
        try:
            rc = subprocess.run([sys.executable, str(script)], cwd=ROOT / "notebooks", env=env, stdout=log,
                                stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = round(time.time() - t0, 1)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    cells = [line for line in text.splitlines() if line.startswith("### cell ")]
    peak = json.loads(peak_path.read_text()) if peak_path.is_file() else {}
    freed = {m[1]: [float(m[2]), float(m[3])]
             for m in re.finditer(r"^### after free, cell (\d+): ([\d.]+) GiB allocated, ([\d.]+) GiB reserved", text, re.M)}
    return {"lesson": notebook.stem, "rc": rc, "seconds": seconds, "last_cell": cells[-1][4:] if cells else None,
            **peak, **({"gib_after_free": freed} if freed else {}), "tail": text.splitlines()[-6:] if rc != 0 else []}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lessons", nargs="+", help="lesson numbers (04 05 …)")
    p.add_argument("--out", required=True)
    p.add_argument("--gpu-gib", type=float, default=None, help="choose and cap as a card of this memory")
    p.add_argument("--fp16", action="store_true", help="KIT_PRECISION=fp16 (a T4 has no bf16)")
    p.add_argument("--budget", type=float, default=540.0, help="seconds for all lessons together")
    p.add_argument("--where", action="store_true",
                   help="record each CUDA block's Python stack from the setup cell on; after a free that leaves "
                        "much allocated, the log groups what is live by the cell and kit functions that allocated it, "
                        "then resets torch._dynamo and says what that freed (a diagnosis: the run goes on changed)")
    p.add_argument("--bert", default=None, help="KIT_BERT_MODEL: this folder, built as a random-weight "
                                                "klue/bert-base-shaped stand-in if it does not exist (lesson 03b)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KIT_SMOKE": "0", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
           "KIT_OUTPUTS": os.environ.get("KIT_OUTPUTS", tempfile.mkdtemp(prefix="kit-outputs-"))}
    if args.bert:
        env["KIT_BERT_MODEL"] = str(bert_standin(Path(args.bert)))
    if args.gpu_gib:
        site = Path(tempfile.mkdtemp(prefix="kit-cap-"))
        (site / "sitecustomize.py").write_text(_CAP, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
        env["KIT_GPU_GIB"] = env["KIT_BENCH_CAP_GIB"] = str(args.gpu_gib)
    if args.fp16:
        env["KIT_PRECISION"] = "fp16"
    if args.where:
        env["KIT_BENCH_WHERE"] = "1"
    deadline = time.time() + args.budget
    ok = True
    for number in args.lessons:
        notebook = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
        left = deadline - time.time()
        if left < 20:
            row = {"lesson": notebook.stem, "rc": "not run (budget spent)"}
        else:
            row = run_lesson(notebook, out, env, left)
        row.update(gpu_gib=args.gpu_gib, fp16=args.fp16, model=os.environ.get("KIT_LLM_MODEL"),
                   bert=env.get("KIT_BERT_MODEL"))
        ok &= row["rc"] == 0
        print(json.dumps(row, ensure_ascii=False), flush=True)
        with (out / "gpu_lessons.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
