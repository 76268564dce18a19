"""BERT-small KorQuAD fine-tuning speed: the contest recipe's fp32 against the kit's bf16.

Run on the device::

    python bench/bert_speed.py            # appends to $BENCH_OUT/bert_runs.jsonl

A KorQuAD-sized synthetic set (60,407 questions, as many as KorQuAD 1.0's train split) is
turned into 512-token windows by the kit's feature builder; each precision trains for a fixed
number of steps of batch 16 (the contest's) and reports examples/s, peak memory and the time
one epoch would take. The tokenizer is the kit's WordPiece without morpheme segmentation
(kiwipiepy is not installed on the GPU image); the windows are padded to 512 tokens either way.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results"))
KORQUAD_TRAIN_QUESTIONS = 60407
STEPS = int(os.environ.get("BERT_STEPS", 300))


def main() -> None:
    import torch
    from transformers import BertForQuestionAnswering, Trainer, TrainingArguments

    from helpers import korquad, synthetic
    from helpers.vocab import shipped_texts, train_wordpiece

    t0 = time.time()
    examples = synthetic.synthetic_qa(KORQUAD_TRAIN_QUESTIONS, seed=0)
    tok = train_wordpiece(list(shipped_texts()) + synthetic.vocabulary_texts(), vocab_size=8000, segmented=False)
    cfg = korquad.QAConfig()  # 512 / 128 / 96 / batch 16 / lr 5e-5
    feats = korquad.build_features(examples, tok, cfg)
    prep_s = time.time() - t0
    dataset = korquad._Features(feats, korquad._MODEL_KEYS)
    OUT.mkdir(parents=True, exist_ok=True)
    for precision in ("fp32", "bf16"):
        torch.manual_seed(42)
        model = BertForQuestionAnswering(korquad.bert_small_config(len(tok))).cuda()
        args = TrainingArguments(output_dir="/tmp/bert-bench", per_device_train_batch_size=cfg.batch_size,
                                 learning_rate=cfg.learning_rate, max_steps=STEPS, bf16=precision == "bf16",
                                 save_strategy="no", report_to=[], logging_steps=STEPS, disable_tqdm=True, seed=42)
        torch.cuda.reset_peak_memory_stats()
        out = Trainer(model=model, args=args, train_dataset=dataset).train()
        ex_s = STEPS * cfg.batch_size / out.metrics["train_runtime"]
        rec = {"precision": precision, "windows": len(dataset), "steps": STEPS, "batch": cfg.batch_size,
               "examples_per_s": round(ex_s, 1), "epoch_minutes": round(len(dataset) / ex_s / 60, 1),
               "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2), "train_loss": round(out.training_loss, 3),
               "feature_building_s": round(prep_s, 1), "device": torch.cuda.get_device_name(0), "torch": torch.__version__}
        with open(OUT / "bert_runs.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)
        del model


if __name__ == "__main__":
    main()
