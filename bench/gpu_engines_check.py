"""GPU check of the engine interface: both engines train, score and generate through the
kit's entry points (``llm.train``, ``inference.predict_file``, ``inference.generate_outputs``)
on a stand-in checkpoint (Llama architecture, random weights, the kit's BPE tokenizer).

This is a correctness run of the redesign on a GPU, not a speed benchmark (see
``llm_speed.py`` for those). Run on the device machine::

    export PYTHONPATH=$PWD/.device-site:$PWD
    python bench/gpu_engines_check.py --out $OUT/gpu_engines.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def standin(path: Path, hidden: int = 1024, layers: int = 8) -> Path:
    """A Llama-architecture checkpoint with random weights and the kit's tokenizer."""
    if (path / "config.json").is_file():
        return path
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from helpers.core.chat import CHAT_TEMPLATE
    from helpers.synthetic import vocabulary_texts
    from helpers.vocab import shipped_texts, train_bpe

    tok = train_bpe(list(shipped_texts()) + vocabulary_texts(), vocab_size=4000,
                    extra_special=("<|system|>", "<|user|>", "<|assistant|>"))
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                      num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=8,
                      max_position_embeddings=2048, tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--engines", default="hf,unsloth")
    parser.add_argument("--seed-lora", action="store_true",
                        help="the seed's LoRA (dropout 0.01, lm_head adapter) on every engine, for a like-for-like check")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if "unsloth" in engines:
        import unsloth  # noqa: F401  (before transformers)
    import torch

    from helpers import inference, lessons, llm, metrics, synthetic
    from helpers.core.hardware import precision

    out = open(args.out, "w", encoding="utf-8")

    def log(row):
        print(json.dumps(row, ensure_ascii=False), flush=True)
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()

    base = standin(Path("/tmp/standin-llama"))
    log({"gpu": torch.cuda.get_device_name(0), "precision": precision(), "torch": torch.__version__})
    train = synthetic.synthetic_cci(512, seed=0)
    dev = synthetic.synthetic_cci(128, seed=1, split="dev")
    for engine in engines:
        torch.cuda.reset_peak_memory_stats()
        cfg = lessons.preset("cci", smoke=False, model_name=str(base), engine=engine, max_length=512, epochs=2.0,
                             per_device_batch_size=16, gradient_accumulation_steps=1, learning_rate=1e-3,
                             warmup_steps=5, lr_scheduler_type="constant_with_warmup", weight_decay=0.0,
                             gradient_checkpointing=False, max_tokens_per_batch="auto", logging_steps=5,
                             save_steps=1000, output_dir=f"/tmp/run-{engine}", method="qlora",
                             **(dict(lora_dropout=0.01, target_modules=list(llm.SEED_TARGETS)) if args.seed_lora else {}))
        result = llm.train(cfg, train, resume=False)
        peak = torch.cuda.max_memory_allocated() / 2**30
        losses = result.losses
        t0 = time.perf_counter()
        preds = inference.predict_file(result.model, result.tokenizer, dev, f"/tmp/pred-{engine}-{time.time_ns()}.jsonl",
                                       progress=False, engine=engine)
        score_s = time.perf_counter() - t0
        acc = metrics.accuracy_of(preds, dev)
        gen = inference.generate_outputs(result.model, result.tokenizer, dev[:8],
                                         inference.GenerationConfig(max_new_tokens=4, batch_size=8))
        log({"engine": result.engine, "requested": engine, "lora": list(cfg.lora_settings(result.engine)), "examples": result.examples,
             "train_s": round(result.seconds, 1), "first_loss": losses[0][1] if losses else None,
             "last_loss": losses[-1][1] if losses else None, "logged": len(losses), "peak_gib": round(peak, 2),
             "dev_accuracy": round(acc, 2), "score_s": round(score_s, 2),
             "generated_letters": list(gen.values())[:4], "adapter_files": sorted(os.listdir(result.adapter_dir))})
        del result
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
