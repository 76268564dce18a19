"""Merging a LoRA adapter into the Llama-3-8B-shaped stand-in, each way ``llm.merge_adapter``
offers — ``gpu`` (peft on the GPU), ``shards`` (one safetensors shard at a time on the CPU) and
``cpu`` (peft with the whole 16-bit base in RAM, the old default) — each in its own process:
wall time, peak host RAM (anonymous memory sampled every 10 ms, and ``ru_maxrss``, which also
counts the checkpoint's file pages the kernel may drop), peak GPU memory, and the largest difference between
the merged weights of ``gpu``/``cpu`` and ``shards``.

The adapter: LoRA r 16 / alpha 32 on the seven projections with random (non-zero) weights, so
every merged matrix changes; saved with the kit's config as ``llm.train`` saves it.

    python bench/llm_speed.py prepare
    python bench/merge_check.py

Appends one JSON line to ``$BENCH_OUT/merge_check.jsonl``.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_entry import CACHE, CKPT, save_row  # noqa: E402

ADAPTER = CACHE / "merge-adapter"


def make_adapter() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers import llm

    if (ADAPTER / "adapter_config.json").is_file():
        return
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(CKPT, dtype=torch.bfloat16,
                                                device_map={"": 0} if torch.cuda.is_available() else None)
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=list(llm.SEVEN_PROJECTIONS),
                                            init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.01)
    llm.save_adapter(model, AutoTokenizer.from_pretrained(CKPT), llm.LLMConfig(model_name=str(CKPT), method="lora"),
                     ADAPTER)


def _anon_gib() -> float:
    """This process's anonymous resident memory (what must fit in RAM; file pages mapped from
    the checkpoint count in RSS too, but the kernel can drop them)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) / 2**20


def run(how: str) -> dict:
    import threading

    import torch

    from helpers import llm

    peak, stop = [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _anon_gib())
            time.sleep(0.01)

    out = CACHE / f"merged-{how}"
    shutil.rmtree(out, ignore_errors=True)  # merge_adapter refuses a folder that is not empty
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    llm.merge_adapter(ADAPTER, out, how=how)
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return {"how": how, "seconds": round(seconds, 1), "peak_anon_gib": round(peak[0], 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else 0.0}


def largest_difference(a: Path, b: Path) -> float:
    from safetensors import safe_open

    worst = 0.0
    for shard in sorted(b.glob("*.safetensors")):
        with safe_open(str(shard), "pt") as fb:
            for key in fb.keys():
                found = [s for s in a.glob("*.safetensors") if key in safe_open(str(s), "pt").keys()]
                with safe_open(str(found[0]), "pt") as fa:
                    worst = max(worst, float((fa.get_tensor(key).float() - fb.get_tensor(key).float()).abs().max()))
    return worst


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "run":
        print(json.dumps(run(sys.argv[2])))
        return
    make_adapter()
    rows = []
    import torch

    for how in ("shards", "gpu", "cpu") if torch.cuda.is_available() else ("shards", "cpu"):
        res = subprocess.run([sys.executable, __file__, "run", how], capture_output=True, text=True)
        if res.returncode:
            rows.append({"how": how, "error": res.stderr[-2000:]})
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    for row in rows:
        if row["how"] != "shards" and "error" not in row:
            row["max_abs_diff_vs_shards"] = largest_difference(CACHE / f"merged-{row['how']}", CACHE / "merged-shards")
    line = {"model": f"{CKPT.name} (bf16 stand-in)", "adapter": "LoRA r16/alpha32, seven projections, random",
            "rows": rows, "command": "python bench/merge_check.py"}
    save_row(line, "merge_check.jsonl")


if __name__ == "__main__":
    main()
