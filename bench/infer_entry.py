"""Speed of the prediction entry points users call — ``inference.predict_cci_file`` (option
scoring into a resumable JSON-lines file) and ``inference.generate_outputs`` (generation) —
against a plain batched loop a careful user would write (prompts sorted by length, left
padding, batches of a fixed size, only the last position's logits for scoring), on the same
model and the same rendered prompts, in one process.

After a warm-up, the two sides alternate in windows of at least 30 s (kit, plain, kit, plain,
kit, plain), so both see the same GPU state; each window repeats the whole record set as often
as it takes. The model is the Llama-3-8B-shaped random-weight checkpoint of
``bench/llm_speed.py prepare`` in bf16 — what ``llm.load_for_inference`` returns on a GPU after
merging an adapter. Prompts: 대화 맥락 추론 records at the real length distribution
(``bench/train_entry.records``, mean about 450 tokens) and 일상 대화 요약 records padded the
same way (mean about 600 tokens), rendered by the kit's prompts. Random weights rarely stop
early, so generation runs to ``max_new_tokens`` on both sides.

    python bench/infer_entry.py score
    python bench/infer_entry.py generate

Appends one JSON line per phase to ``$BENCH_OUT/infer_entry.jsonl``: items/s per window for each
side, their means and spreads, the ratio, and whether both sides gave the same answers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_entry import CKPT, WINDOW_S, records, save_row  # noqa: E402

WINDOWS = 3
SCORE_BATCH = 16  # the plain loop's batch (the kit uses its token budget)
GEN_BATCH = 16    # both sides: GenerationConfig's default batch_size
GEN_NEW = 64


def load():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(CKPT)
    model = AutoModelForCausalLM.from_pretrained(CKPT, dtype=torch.bfloat16, device_map={"": 0})
    model.eval()
    return model, tok


def dcs_records(tok, n: int, seed: int = 0, target_mean: int = 600):
    """일상 대화 요약 records whose rendered prompts have a spread of lengths around ``target_mean``."""
    from helpers import data, synthetic, tasks
    from helpers.core.chat import render
    from helpers.tasks.base import Utterance

    pool = [u.utterance for split in ("train", "dev") for r in data.load_cci(data.sample_file("cci", split))
            for u in r.conversation]
    task, rng, out = tasks.get("dcs"), random.Random(seed), []
    for i, rec in enumerate(synthetic.synthetic_dcs(n, seed=seed)):
        target = min(1500, max(250, int(rng.lognormvariate(0, 0.35) * target_mean)))
        while len(tok(render(tok, task.messages(rec)), add_special_tokens=False)["input_ids"]) < target:
            rec.conversation.insert(0, Utterance(1 + len(rec.conversation) % 2, rng.choice(pool), f"PAD{i:05d}"))
        out.append(rec)
    return out


def alternate(kit, plain, n_items: int) -> dict:
    """Alternating windows of at least WINDOW_S seconds; items/s of each."""
    import torch

    rates = {"kit": [], "plain": []}
    for _ in range(WINDOWS):
        for name, fn in (("kit", kit), ("plain", plain)):
            torch.cuda.synchronize()
            t0, done = time.perf_counter(), 0
            while time.perf_counter() - t0 < WINDOW_S:
                fn()
                torch.cuda.synchronize()
                done += n_items
            rates[name].append(done / (time.perf_counter() - t0))
    out = {}
    for name, r in rates.items():
        out[name] = {"windows": [round(x, 2) for x in r], "mean": round(statistics.mean(r), 2),
                     "spread": [round(min(r), 2), round(max(r), 2)]}
    out["ratio_kit_over_plain"] = round(out["kit"]["mean"] / out["plain"]["mean"], 3)
    return out


def sorted_batches(tok, prompts: list[str], size: int, device):
    """``(indices, left-padded encoding)`` of prompts sorted by length, ``size`` at a time."""
    tok.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for lo in range(0, len(order), size):
        idx = order[lo: lo + size]
        yield idx, tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(device)


def plain_score(model, tok, prompts: list[str], letter_ids: list[int]) -> list[list[float]]:
    """A careful user's scoring loop: sorted by length, left-padded batches, last position only."""
    import torch

    rows: list = [None] * len(prompts)
    with torch.inference_mode():
        for idx, enc in sorted_batches(tok, prompts, SCORE_BATCH, model.device):
            logits = model(**enc, logits_to_keep=1).logits[:, -1, letter_ids].float()
            for i, p in zip(idx, logits.softmax(-1).tolist()):
                rows[i] = p
    return rows


def plain_generate(model, tok, prompts: list[str]) -> list[str]:
    """A careful user's generation loop: sorted by length, left-padded batches, greedy."""
    import torch

    outs: list = [None] * len(prompts)
    with torch.inference_mode():
        for idx, enc in sorted_batches(tok, prompts, GEN_BATCH, model.device):
            gen = model.generate(**enc, max_new_tokens=GEN_NEW, do_sample=False, num_beams=1,
                                 pad_token_id=tok.pad_token_id)
            for i, row in zip(idx, gen[:, enc["input_ids"].shape[1]:]):
                outs[i] = tok.decode(row, skip_special_tokens=True)
    return outs


def score() -> dict:
    import tempfile

    from helpers import inference
    from helpers.llm.engines import letter_token_ids

    model, tok = load()
    recs = records(tok, n=128, seed=5)
    prompts = inference.cci_prompts(recs, tok)
    letter_ids = letter_token_ids(tok, ("A", "B", "C"))
    tmp = Path(tempfile.mkdtemp())

    def kit():
        path = tmp / "dev.jsonl"
        path.unlink(missing_ok=True)
        return inference.predict_cci_file(model, tok, recs, path)

    kit_rows, plain_rows = kit(), plain_score(model, tok, prompts, letter_ids)  # warm-up (and the answers)
    kit()
    same = sum(k["output"] == f"inference_{1 + max(range(3), key=p.__getitem__)}" for k, p in zip(kit_rows, plain_rows))
    res = alternate(kit, lambda: plain_score(model, tok, prompts, letter_ids), len(recs))
    mean_len = statistics.mean(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    return {"phase": "score", "entry": "inference.predict_cci_file", "plain": f"sorted, left-padded batches of {SCORE_BATCH}, logits_to_keep=1",
            "records": len(recs), "mean_prompt_tokens": round(mean_len), "same_answers": f"{same}/{len(recs)}", **res}


def generate() -> dict:
    from helpers import inference

    model, tok = load()
    recs = dcs_records(tok, n=64, seed=6)
    prompts = inference.prompts_of(recs, tok)
    cfg = inference.GenerationConfig(max_new_tokens=GEN_NEW, batch_size=GEN_BATCH)

    def kit():
        return inference.generate_outputs(model, tok, recs, cfg)

    kit_out, plain_out = kit(), plain_generate(model, tok, prompts)  # warm-up (and the answers)
    same = sum(kit_out[r.id] == inference.clean_generation(p) for r, p in zip(recs, plain_out))
    res = alternate(kit, lambda: plain_generate(model, tok, prompts), len(recs))
    mean_len = statistics.mean(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    return {"phase": "generate", "entry": "inference.generate_outputs", "plain": f"sorted, left-padded batches of {GEN_BATCH}, greedy",
            "records": len(recs), "mean_prompt_tokens": round(mean_len), "max_new_tokens": GEN_NEW,
            "same_outputs": f"{same}/{len(recs)}", **res}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["score", "generate"])
    args = parser.parse_args()
    row = {"score": score, "generate": generate}[args.phase]()
    row.update(gpu=torch.cuda.get_device_name(0), torch=torch.__version__, window_s=WINDOW_S,
               command=f"python bench/infer_entry.py {args.phase}")
    save_row(row, "infer_entry.jsonl")


if __name__ == "__main__":
    main()
