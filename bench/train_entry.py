"""Training speed of the entry point users call — ``helpers.llm.train`` with its defaults —
against unsloth used the way a careful user would (length-sorted batches of 16, same LoRA,
same data), each after a warm-up, over three windows of at least 30 s, in one lease.

Data: 대화 맥락 추론 records rendered through the kit's own prompts, with conversations built
from the shipped sample utterances to a spread of lengths like the real 2024 training file
(mean about 450 tokens, 200–1,000). Model: the Llama-3-8B-shaped random-weight checkpoint of
``bench/llm_speed.py prepare`` (nf4 QLoRA, r 16 / alpha 32, dropout 0, the seven projections:
the unsloth engine's defaults, used by both paths).

    python bench/llm_speed.py prepare
    python bench/train_entry.py kit            # llm.train(LLMConfig(model_name=CKPT)) — the defaults
    python bench/train_entry.py unsloth-sorted
    python bench/train_entry.py unsloth-sorted-no-checkpointing   # the same with checkpointing off
    python bench/train_entry.py unsloth-sorted-no-checkpointing --batch 8   # where 16 does not fit
    python bench/train_entry.py sft-trainer    # unsloth as its notebooks use it (trl SFTTrainer)
    python bench/train_entry.py seed-recipe    # llm.train, hf engine, batch 1 x accumulation 64
    python bench/train_entry.py --cap-gib 15 --fp16 kit   # a T4's memory, standing in (not its speed)
    python bench/train_entry.py --cap-gib 15 --fp16 unsloth-sorted   # unsloth in fp16 too, as on a T4
    python bench/train_entry.py kit --set gradient_checkpointing=true   # one named change undone
    python bench/train_entry.py kit --set answer_only_head=false
    BENCH_CKPT=$BENCH_CACHE/solar-11b-shape python bench/train_entry.py --cap-gib 80 --method lora kit   # the 80 GB default

Each run appends one JSON line to ``$BENCH_OUT/train_entry.jsonl``: tokens/s of each window,
their mean and spread, peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("BENCH_CACHE", ROOT / ".bench-cache"))
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results"))
CKPT = Path(os.environ.get("BENCH_CKPT", CACHE / "llama3-8b-shape"))
#: qlora (nf4 + LoRA) or lora (16-bit + LoRA), for every path: ``--method``
METHOD = os.environ.get("BENCH_METHOD", "qlora")
WINDOW_S, WINDOWS, WARMUP_STEPS = float(os.environ.get("BENCH_WINDOW_S", 30)), 3, int(os.environ.get("BENCH_WARMUP", 10))


def save_row(row: dict, name: str) -> None:
    """Append ``row`` to ``$BENCH_OUT/<name>`` (JSON lines, Korean unescaped) and print it."""
    from helpers.core.io import append_jsonl

    append_jsonl([row], OUT / name)
    print(json.dumps(row, ensure_ascii=False), flush=True)


def records(tok, n: int = 1200, seed: int = 0, target_mean: int = 450):
    """CCI records whose rendered prompts have about the real length distribution."""
    from helpers import data, synthetic
    from helpers.core.chat import render
    from helpers.tasks.base import Utterance

    pool = [u.utterance for split in ("train", "dev") for r in data.load_cci(data.sample_file("cci", split))
            for u in r.conversation]
    rng = random.Random(seed)
    out = []
    for i, rec in enumerate(synthetic.synthetic_cci(n, seed=seed)):
        target = min(1000, max(200, int(rng.lognormvariate(0, 0.35) * target_mean)))
        conv = list(rec.conversation)
        while True:
            prompt = render(tok, synthetic.tasks.get("cci").messages(rec))
            if len(tok(prompt, add_special_tokens=False)["input_ids"]) >= target:
                break
            conv.insert(0, Utterance(1 + len(conv) % 2, rng.choice(pool), f"PAD{i:05d}.{len(conv)}"))
            rec.conversation = conv
        out.append(rec)
    return out


class Windows:
    """Times optimizer steps after a warm-up and closes three windows of at least WINDOW_S seconds."""

    def __init__(self):
        self.steps, self.t0, self.tokens, self.done = 0, None, 0, []

    def step(self, tokens: int) -> bool:
        """Call after each optimizer step with the real tokens it processed; True when finished."""
        import torch

        torch.cuda.synchronize()
        self.steps += 1
        if self.steps == WARMUP_STEPS:
            self.t0, self.tokens = time.perf_counter(), 0
            torch.cuda.reset_peak_memory_stats()
            return False
        if self.t0 is None:
            return False
        self.tokens += tokens
        elapsed = time.perf_counter() - self.t0
        if elapsed >= WINDOW_S:
            self.done.append(self.tokens / elapsed)
            self.t0, self.tokens = time.perf_counter(), 0
        return len(self.done) >= WINDOWS


def run_kit(recs, tok, **overrides) -> dict:
    from transformers import TrainerCallback

    from helpers import llm

    windows, seen = Windows(), {"tokens": 0}
    overrides = {"method": METHOD, **overrides}
    cfg = llm.LLMConfig(model_name=str(CKPT), output_dir="/tmp/bench-kit", save_steps=10**6, epochs=50.0, **overrides)

    class Count(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if windows.step(seen.pop("tokens", 0)):
                control.should_training_stop = True
            seen["tokens"] = 0

    # count real tokens of every micro-batch through the collator the Trainer uses
    from helpers import batching

    original = batching.AnswerOnlyCollator.__call__

    def counting(self, features):
        seen["tokens"] = seen.get("tokens", 0) + sum(len(f["input_ids"]) for f in features)
        return original(self, features)

    batching.AnswerOnlyCollator.__call__ = counting
    result = llm.train(cfg, recs, resume=False, callbacks=[Count()])
    budget = cfg.max_tokens_per_batch
    return {"engine": result.engine, "windows": windows.done,
            "budget": llm.auto_token_budget(cfg, result.engine) if budget == "auto" else budget,
            "checkpointing": llm.use_checkpointing(cfg, result.engine), "answer_only_head": cfg.answer_only_head}


def unsloth_model(checkpointing: bool = True):
    """The stand-in through unsloth, 4-bit (16-bit with ``--method lora``) + LoRA r 16 / alpha 32, dropout 0, the seven
    projections, gradient checkpointing "unsloth" (its notebooks' settings; the kit's engine
    defaults too) or none."""
    from unsloth import FastLanguageModel

    from helpers import llm

    import torch

    dtype = torch.float16 if os.environ.get("KIT_PRECISION") == "fp16" else None  # --fp16: as unsloth picks on a T4
    model, tok = FastLanguageModel.from_pretrained(model_name=str(CKPT), max_seq_length=1024, dtype=dtype,
                                                   load_in_4bit=METHOD == "qlora", local_files_only=True)
    model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=32, lora_dropout=0,
                                             target_modules=list(llm.SEVEN_PROJECTIONS),
                                             use_gradient_checkpointing="unsloth" if checkpointing else False,
                                             random_state=42)
    return model, tok


def run_unsloth_sorted(recs, tok_unused, checkpointing: bool = True, batch: int = 16) -> dict:
    """unsloth's own loop over length-sorted batches of ``batch`` (shuffled batch order)."""
    import torch

    from helpers import llm
    from helpers.batching import AnswerOnlyCollator

    model, tok = unsloth_model(checkpointing)
    cfg = llm.LLMConfig(model_name=str(CKPT))
    examples = llm.sft_examples(recs, tok, cfg)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    random.Random(0).shuffle(batches)
    collate = AnswerOnlyCollator(tok.pad_token_id, pad_to_multiple_of=64, max_length=1024)  # few shapes, few compiles
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4, weight_decay=0.1)
    model.train()
    windows = Windows()
    while True:
        for b in batches:
            feats = [examples[i] for i in b]
            tensors = {k: v.cuda() for k, v in collate(feats).items()}
            model(**tensors).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if windows.step(sum(len(f["input_ids"]) for f in feats)):
                return {"engine": "unsloth (plain loop)", "windows": windows.done, "batch": batch,
                        "checkpointing": checkpointing}


def run_seed_recipe(recs, tok_unused) -> dict:
    """The seed recipe through the same entry point: ``llm.train`` on the hf engine with batch 1 ×
    accumulation 64 (no token budget), gradient checkpointing on, the LM head over every position,
    the seed's dropout 0.01 and ``lm_head`` adapter."""
    os.environ["KIT_ENGINE"] = "hf"
    return run_kit(recs, tok_unused, engine="hf", max_tokens_per_batch=None, gradient_checkpointing=True,
                   answer_only_head=False)


def run_sft_trainer(recs, tok_unused) -> dict:
    """unsloth as its own Colab notebooks use it: ``FastLanguageModel`` 4-bit + LoRA (r 16,
    alpha 32, dropout 0, the seven projections, gradient checkpointing "unsloth") trained by trl's
    ``SFTTrainer`` with the notebooks' batch 2 × accumulation 4, AdamW 8-bit, linear schedule;
    prompt/completion records with ``completion_only_loss`` (the loss on the answer only, as the
    kit and the notebooks' ``train_on_responses_only`` do). Same records, same prompts."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from helpers import llm
    from helpers.llm.train import prompt_and_answer

    model, tok = unsloth_model()
    cfg = llm.LLMConfig(model_name=str(CKPT))
    pairs = [prompt_and_answer(r, tok, cfg.prompt_style) for r in recs]
    data = Dataset.from_list([{"prompt": p, "completion": a} for p, a in pairs])
    windows, seen = Windows(), {"tokens": 0}

    class Count(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if windows.step(seen.pop("tokens", 0)):
                control.should_training_stop = True
            seen["tokens"] = 0

    args = SFTConfig(output_dir="/tmp/bench-sft", per_device_train_batch_size=2, gradient_accumulation_steps=4,
                     learning_rate=2e-4, warmup_steps=5, num_train_epochs=50, optim="adamw_8bit", weight_decay=0.01,
                     lr_scheduler_type="linear", logging_steps=10**6, save_strategy="no", report_to="none",
                     max_length=1024, packing=False, completion_only_loss=True, seed=3407,
                     fp16=os.environ.get("KIT_PRECISION") == "fp16", bf16=os.environ.get("KIT_PRECISION") != "fp16")
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=data, args=args, callbacks=[Count()])
    collate = trainer.data_collator

    def counting(features):
        seen["tokens"] = seen.get("tokens", 0) + sum(len(f["input_ids"]) for f in features)
        return collate(features)

    trainer.data_collator = counting
    trainer.train()
    return {"engine": "unsloth + trl SFTTrainer (notebook settings)", "windows": windows.done, "batch": "2 x 4"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", choices=["kit", "unsloth-sorted", "unsloth-sorted-no-checkpointing", "sft-trainer",
                                         "seed-recipe"])
    parser.add_argument("--cap-gib", type=float, default=None, help="cap GPU memory (torch per-process fraction)")
    parser.add_argument("--fp16", action="store_true", help="fp16 instead of bf16 (a T4 has no bf16)")
    parser.add_argument("--method", choices=["qlora", "lora"], default=METHOD,
                        help="every path: nf4 QLoRA or 16-bit LoRA (the 40/80 GB default for Solar 11B); the "
                             "checkpoint is $BENCH_CKPT (default: the Llama-3-8B shape)")
    parser.add_argument("--batch", type=int, default=16, help="unsloth-sorted paths: rows per length-sorted batch")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="kit path: an LLMConfig field other than its default (gradient_checkpointing=true, "
                             "answer_only_head=false): one named change measured on its own")
    args = parser.parse_args()
    if args.batch != 16 and not args.path.startswith("unsloth-sorted"):
        parser.error("--batch applies to the unsloth-sorted paths only")
    if args.set and args.path != "kit":
        parser.error("--set applies to the kit path only")
    globals()["METHOD"] = args.method  # read by every path
    import torch

    if args.path in ("kit", "seed-recipe"):
        # the kit's first question to the GPU sets its allocator default before CUDA starts, as in
        # a user's run; capping below starts CUDA, so ask it first (the unsloth paths get the same
        # setting from unsloth's import)
        from helpers.core.hardware import cuda_available

        cuda_available()

    if args.path.startswith("unsloth-sorted") or args.path == "sft-trainer" or (args.path == "kit" and os.environ.get("KIT_ENGINE", "auto") != "hf"):
        import unsloth  # noqa: F401  (before transformers)
    if args.cap_gib:
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(args.cap_gib / total)
        os.environ["KIT_GPU_GIB"] = str(args.cap_gib)
    if args.fp16:
        os.environ["KIT_PRECISION"] = "fp16"  # the kit's one precision decision, as on a card without bf16
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(CKPT)
    recs = records(tok)
    from helpers.inference import prompts_of

    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts_of(recs[:200], tok)]
    t0 = time.time()
    runs = {"kit": run_kit, "sft-trainer": run_sft_trainer, "seed-recipe": run_seed_recipe,
            "unsloth-sorted": lambda r, t: run_unsloth_sorted(r, t, batch=args.batch),
            # as a careful user with a large card would also run it; 16 rows of the longest prompts
            # may not fit without checkpointing (--batch 8), where the kit sizes micro-batches by tokens
            "unsloth-sorted-no-checkpointing": lambda r, t: run_unsloth_sorted(r, t, checkpointing=False,
                                                                               batch=args.batch)}
    overrides = dict(kv.split("=", 1) for kv in args.set)
    for key in [k for k, v in overrides.items() if v.lower() in ("true", "false")]:
        overrides[key] = overrides[key].lower() == "true"
    res = run_kit(recs, tok, **overrides) if overrides else runs[args.path](recs, tok)
    w = res.pop("windows")
    row = {"path": args.path + "".join(f" {k}={v}" for k, v in overrides.items()), **res, "cap_gib": args.cap_gib, "fp16": args.fp16,
           "model": CKPT.name, "method": METHOD, "records": len(recs),
           "mean_prompt_tokens": round(sum(lengths) / len(lengths)), "tokens_per_s": [round(x) for x in w],
           "mean": round(sum(w) / max(len(w), 1)), "spread_pct": round(100 * (max(w) - min(w)) / (sum(w) / len(w)), 1)
           if w else None, "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
           "wall_s": round(time.time() - t0),
           # what the CUDA allocator ran with (unsloth and the kit both ask for expandable segments)
           "allocator": "expandable" if any(s.get("is_expandable") for s in torch.cuda.memory._snapshot()["segments"])
           else "fixed"}
    save_row(row, "train_entry.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
