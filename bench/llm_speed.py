"""LLM speed and memory on one GPU: the seed recipe, unsloth's plain use and the kit, side by side.

Run on the device (PYTHONPATH holds the carried wheels, see bench/README.md)::

    python bench/llm_speed.py prepare                       # random-weight Llama-3-8B-shaped checkpoint
    python bench/llm_speed.py prepare --shape solar-11b     # the 40/80 GB default's shape (Solar-Ko-Recovery-11B)
    python bench/llm_speed.py train --paths seed unsloth kit kit-hf
    python bench/llm_speed.py score
    python bench/llm_speed.py generate
    python bench/llm_speed.py report                        # JSON + Markdown into bench/results/

Every path of a phase runs in its own process (unsloth patches transformers when imported),
on the same seeded sequences, and appends one JSON line to ``$BENCH_OUT/llm_runs.jsonl``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("BENCH_CACHE", ROOT / ".bench-cache"))
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results"))
CKPT = CACHE / "llama3-8b-shape"
N_SEQ, MIN_LEN, MAX_LEN, ANSWER_TOKENS = 64, 300, 1000, 8
MODEL_LEN = 1024  # max_length the models are loaded with (sequences are at most MAX_LEN)
from helpers.llm.choice import KNOWN_SHAPES  # noqa: E402  (the sizes the memory estimate uses: one source)

#: MLP-KTLim/llama-3-Korean-Bllossom-8B: Llama 3 8B with its 128k vocabulary.
LLAMA3_8B = dict(KNOWN_SHAPES["MLP-KTLim/llama-3-Korean-Bllossom-8B"], max_position_embeddings=8192,
                 rope_theta=500000.0, tie_word_embeddings=False)
#: beomi/Solar-Ko-Recovery-11B: Solar 10.7B's depth-upscaled Llama (48 layers) with the extended
#: Korean vocabulary.
SOLAR_11B = dict(KNOWN_SHAPES["beomi/Solar-Ko-Recovery-11B"], max_position_embeddings=4096, rope_theta=10000.0,
                 tie_word_embeddings=False)
SHAPES = {"llama3-8b": LLAMA3_8B, "solar-11b": SOLAR_11B}


def log(record: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "llm_runs.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(json.dumps(record, ensure_ascii=False), flush=True)


def sequences(seed: int = 0) -> list[dict]:
    """64 token sequences of 300–1000 tokens; the last 8 are the answer (answer-only loss)."""
    rng = random.Random(seed)
    out = []
    for _ in range(N_SEQ):
        n = rng.randint(MIN_LEN, MAX_LEN)
        ids = [rng.randrange(10, 3900) for _ in range(n)]
        out.append({"input_ids": ids, "attention_mask": [1] * n, "labels": [-100] * (n - ANSWER_TOKENS) + ids[-ANSWER_TOKENS:]})
    return out


# ----------------------------------------------------------------------------- prepare


def prepare(shape: str = "llama3-8b") -> None:
    """A random-weight checkpoint of ``shape`` (:data:`SHAPES`) under ``$BENCH_CACHE/<shape>-shape``,
    with a BPE tokenizer trained on the shipped text; built once."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from helpers.core.chat import CHAT_TEMPLATE
    from helpers.vocab import train_bpe

    folder = CACHE / f"{shape}-shape"
    if (folder / "config.json").is_file():
        print("checkpoint exists:", folder)
        return
    t0 = time.time()
    tok = train_bpe(vocab_size=4000, extra_special=("<|system|>", "<|user|>", "<|assistant|>"))
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(LlamaConfig(**SHAPES[shape], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                             pad_token_id=tok.pad_token_id))
    for p in model.parameters():  # small random weights keep activations finite through all layers
        p.data.normal_(0, 0.02)
    model.save_pretrained(folder, max_shard_size="4GB")
    tok.save_pretrained(folder)
    print(f"prepared {folder} in {time.time() - t0:.0f} s")


# ----------------------------------------------------------------------------- train


def _micro_batches(path: str, data: list[dict], budget: int | None) -> list[list[int]]:
    from helpers.batching import token_budget_batches

    if path == "seed":
        return [[i] for i in range(len(data))]
    if path == "unsloth":
        return [list(range(i, min(i + 16, len(data)))) for i in range(0, len(data), 16)]
    return token_budget_batches([len(d["input_ids"]) for d in data], budget)


def _load(path: str):
    """(model, engine) for a path, the kit's paths through helpers.llm."""
    from helpers import llm

    if path == "seed":
        cfg = llm.LLMConfig(model_name=str(CKPT), engine="hf", max_length=MODEL_LEN)
    elif path == "unsloth":
        from unsloth import FastLanguageModel
        import torch

        model, tok = FastLanguageModel.from_pretrained(model_name=str(CKPT), max_seq_length=MODEL_LEN, dtype=torch.bfloat16,
                                                       load_in_4bit=True, local_files_only=True)
        model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=32, lora_dropout=0,
                                                 target_modules=list(llm.SEVEN_PROJECTIONS),
                                                 use_gradient_checkpointing="unsloth", random_state=42)
        return model, tok, None
    else:
        extra = dict(lora_dropout=0.01, target_modules=llm.SEED_TARGETS) if path == "kit-seed-lora" else {}
        cfg = llm.LLMConfig(model_name=str(CKPT), engine="hf" if path == "kit-hf" else "auto", max_length=MODEL_LEN,
                            max_tokens_per_batch="auto", **extra)
    model, tok = llm.load_model(cfg)
    model = llm.add_adapters(model, cfg)
    return model, tok, cfg


def train_path(path: str) -> None:
    import torch

    from helpers import llm
    from helpers.memory import estimate_memory

    data = sequences()
    t_load = time.time()
    model, tok, cfg = _load(path)
    load_s = time.time() - t_load
    engine = "unsloth" if path == "unsloth" else llm.get_engine(cfg.engine if cfg else "hf", load=False).name
    budget = llm.auto_token_budget(cfg, engine) if cfg and cfg.max_tokens_per_batch == "auto" else None
    batches = _micro_batches(path, data, budget)
    collate = llm.AnswerOnlyCollator(tok.pad_token_id or 0, pad_to_multiple_of=llm.ENGINES[engine].pad_multiple, max_length=MODEL_LEN)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.1)
    model.train()
    first_loss = None
    # warm-up: one pass over every micro-batch shape (unsloth compiles each decoder block per
    # shape; the seed path compiles nothing, a few steps settle its allocator)
    for b in (batches[:4] if path == "seed" else batches):
        warm = collate([data[i] for i in b])
        model(**{k: v.cuda() for k, v in warm.items()}).loss.backward()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    tokens, losses = 0, []
    t0 = time.time()
    for n, b in enumerate(batches):
        batch = {k: v.cuda() for k, v in collate([data[i] for i in b]).items()}
        out = model(**batch)
        out.loss.backward()
        losses.append(float(out.loss.detach()))
        if first_loss is None:
            first_loss = losses[0]
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    torch.cuda.synchronize()
    secs = time.time() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30
    sizes = [len(b) for b in batches]
    lm_head = path in ("seed", "kit-seed-lora")
    widest = max(max(len(data[i]["input_ids"]) for i in b) * len(b) for b in batches)
    est = estimate_memory(LLAMA3_8B, "qlora", MAX_LEN, max(1, widest // MAX_LEN), lora_on_lm_head=lm_head,
                          chunked_loss=engine == "unsloth", offload_checkpoints=engine == "unsloth")["total_gib"]
    log({"phase": "train", "path": path, "engine": engine, "micro_batches": len(batches), "mean_batch": sum(sizes) / len(sizes),
         "token_budget": budget, "tokens": tokens, "seconds": round(secs, 2), "tokens_per_s": round(tokens / secs, 1),
         "peak_gib": round(peak, 2), "estimate_gib": round(est, 2), "load_s": round(load_s, 1),
         "first_loss": round(first_loss, 4), "last_loss": round(losses[-1], 4)})


def parity(engine: str) -> None:
    """Loss of the same batch at step 0 (LoRA B = 0, so the base model's loss) on one engine."""
    import torch

    from helpers import llm

    cfg = llm.LLMConfig(model_name=str(CKPT), engine=engine, max_length=MODEL_LEN)
    model, tok = llm.load_model(cfg)
    model = llm.add_adapters(model, cfg)
    data = sequences(seed=1)[:4]
    batch = {k: v.cuda() for k, v in llm.AnswerOnlyCollator(tok.pad_token_id or 0)(data).items()}
    with torch.no_grad():
        loss = float(model(**batch).loss)
    log({"phase": "parity", "engine": llm.get_engine(engine, load=False).name, "loss": round(loss, 5)})


# ----------------------------------------------------------------------------- score and generate


def _prompts(n: int, seed: int = 2) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(10, 3900) for _ in range(rng.randint(MIN_LEN, MAX_LEN))] for _ in range(n)]


def score() -> None:
    """Option scoring: seed-style one question at a time on nf4, the kit's batched bf16 path."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from helpers import inference
    from helpers.memory import estimate_memory

    tok = AutoTokenizer.from_pretrained(CKPT)
    texts = [tok.decode(p) for p in _prompts(64)]
    letters = ("A", "B", "C")

    def timed(model, batch_max):
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        if batch_max == 1:
            rows = [inference.score_options(model, tok, [t], letters, progress=False)[0] for t in texts]
        else:
            rows = inference.score_options(model, tok, texts, letters, max_tokens=batch_max, max_batch=64, progress=False)
        torch.cuda.synchronize()
        return rows, len(texts) / (time.time() - t0), torch.cuda.max_memory_allocated() / 2**30

    q = AutoModelForCausalLM.from_pretrained(CKPT, device_map={"": 0}, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16))
    q.eval()
    _, qps, peak = timed(q, 1)
    log({"phase": "score", "path": "seed: nf4, one at a time", "questions_per_s": round(qps, 2), "peak_gib": round(peak, 2)})
    del q; gc.collect(); torch.cuda.empty_cache()
    m = AutoModelForCausalLM.from_pretrained(CKPT, dtype=torch.bfloat16, device_map={"": 0})  # merged adapters: plain bf16
    m.eval()
    single, sps, _ = timed(m, 1)
    for budget in (16384, 32768):
        rows, qps, peak = timed(m, budget)
        same = sum(max(range(3), key=a.__getitem__) == max(range(3), key=b.__getitem__) for a, b in zip(rows, single))
        est = estimate_memory(LLAMA3_8B, "inference-16bit", MAX_LEN, budget // MAX_LEN)["total_gib"]
        log({"phase": "score", "path": f"kit: bf16 merged, token budget {budget}", "questions_per_s": round(qps, 2),
             "peak_gib": round(peak, 2), "estimate_gib": round(est, 2), "same_argmax_as_one_at_a_time": f"{same}/{len(rows)}",
             "one_at_a_time_bf16_questions_per_s": round(sps, 2)})


def generate() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers import inference

    tok = AutoTokenizer.from_pretrained(CKPT)
    texts = [tok.decode(p[:300]) for p in _prompts(64, seed=3)]
    m = AutoModelForCausalLM.from_pretrained(CKPT, dtype=torch.bfloat16, device_map={"": 0})
    m.eval()
    cfg1 = inference.GenerationConfig(max_new_tokens=20, batch_size=1)
    t0 = time.time()
    single = inference.generate_texts(m, tok, texts[:16], cfg1, clean=False, progress=False)
    single_rate = 16 / (time.time() - t0)
    log({"phase": "generate", "path": "one at a time (bf16)", "answers_per_s": round(single_rate, 2)})
    for bs in (64,):
        torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        outs = inference.generate_texts(m, tok, texts, inference.GenerationConfig(max_new_tokens=20, batch_size=bs), clean=False, progress=False)
        rate = len(texts) / (time.time() - t0)
        same = sum(a == b for a, b in zip(outs[:16], single))
        log({"phase": "generate", "path": f"kit: batch {bs}, sorted, left-padded, KV cache", "answers_per_s": round(rate, 2),
             "speedup": round(rate / single_rate, 1), "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
             "identical_to_one_at_a_time": f"{same}/16"})


# ----------------------------------------------------------------------------- driver


def run_each(phase: str, names: list[str]) -> None:
    for name in names:
        cmd = [sys.executable, __file__, phase, "--one", name]
        print("$", " ".join(cmd[1:]), flush=True)
        res = subprocess.run(cmd)
        if res.returncode:
            log({"phase": phase, "path": name, "error": f"exit {res.returncode}"})


def report() -> None:
    import platform

    rows = [json.loads(line) for line in (OUT / "llm_runs.jsonl").read_text(encoding="utf-8").splitlines()]
    train = {r["path"]: r for r in rows if r["phase"] == "train" and "tokens_per_s" in r}
    lines = ["# LLM speed and memory (Llama-3-8B shape, random weights, nf4 + LoRA r 16)", "",
             f"Commands and notes: `bench/results/SUMMARY.md`", "",
             "| path | engine | micro-batch (mean) | tokens/s | × seed | × unsloth plain | peak GiB | estimate GiB |",
             "|---|---|---|---|---|---|---|---|"]
    seed, uns = train.get("seed", {}).get("tokens_per_s"), train.get("unsloth", {}).get("tokens_per_s")
    for r in train.values():
        tps = r["tokens_per_s"]
        lines.append(f"| {r['path']} | {r['engine']} | {r['mean_batch']:.1f} | {tps:,.0f} | "
                     f"{tps / seed:.1f} | {tps / uns:.2f} | {r['peak_gib']} | {r['estimate_gib']} |" if seed and uns else
                     f"| {r['path']} | {r['engine']} | {r['mean_batch']:.1f} | {tps:,.0f} | – | – | {r['peak_gib']} | {r['estimate_gib']} |")
    par = [r for r in rows if r["phase"] == "parity"]
    if par:
        lines += ["", "Loss on the same batch at step 0: " + ", ".join(f"{r['engine']} {r['loss']}" for r in par)]
    for phase, key in (("score", "questions_per_s"), ("generate", "answers_per_s")):
        sub = [r for r in rows if r["phase"] == phase and key in r]
        if sub:
            lines += ["", f"| {phase} path | {key} | details |", "|---|---|---|"]
            for r in sub:
                extra = {k: v for k, v in r.items() if k not in ("phase", "path", key)}
                lines.append(f"| {r['path']} | {r[key]} | {extra} |")
    lines += ["", f"Python {platform.python_version()}"]
    (OUT / "llm_speed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (OUT / "llm_speed.json").write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["prepare", "train", "parity", "score", "generate", "report"])
    parser.add_argument("--paths", nargs="*", default=["seed", "unsloth", "kit", "kit-hf"])
    parser.add_argument("--one", default=None)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b", help="prepare: which architecture")
    args = parser.parse_args()
    if args.phase == "prepare":
        prepare(args.shape)
    elif args.phase == "report":
        report()
    elif args.one:
        if args.one in ("unsloth", "kit", "kit-seed-lora") or (args.phase == "parity" and args.one == "unsloth"):
            import unsloth  # noqa: F401  (before transformers)
        {"train": train_path, "parity": parity}[args.phase](args.one)
    elif args.phase in ("train", "parity"):
        run_each(args.phase, args.paths if args.phase == "train" else ["hf", "unsloth"])
    else:
        {"score": score, "generate": generate}[args.phase]()


if __name__ == "__main__":
    main()
