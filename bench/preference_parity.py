"""Parity of the kit's hand-written preference losses with trl's trainers, on one batch (CUDA GPU).

``helpers.preference`` writes the DPO and GRPO losses by hand because trl 1.15's ``DPOTrainer`` and
``GRPOTrainer`` compute log-probabilities with a Triton kernel (``fused_lm_head=True``) that the CPU
build of torch lacks. This script checks, where Triton exists, that both give the same numbers:

- **DPO**: trl's ``DPOTrainer`` (LoRA, reference = the same model with the adapter off) tokenizes and
  collates a batch of the kit's pairs; on that very batch, ``DPOTrainer.compute_loss`` is compared
  with :func:`helpers.preference.completion_logps` + :func:`helpers.preference.reference` +
  :func:`helpers.preference.dpo_loss`, and trl's logged ``rewards/margins`` with the kit's.
- **GRPO**: one batch of prompts and completions (prompts of one length, completions of different
  lengths, right-padded) with rewards, old log-probabilities that differ from the current ones (so
  the clip acts) and reference log-probabilities (β > 0); ``GRPOTrainer._compute_loss`` (loss types
  ``bnpo`` and ``dapo``, which agree with one process and no accumulation) against
  :func:`helpers.preference.grpo_loss`; trl's per-token log-probabilities against the kit's; and the
  kit's :func:`helpers.preference.group_advantages` against trl's formula (trl's ``nanstd``).

Before the comparison the LoRA ``B`` matrices get random values, so the policy differs from the
reference (a fresh adapter would make every margin 0 and the DPO loss log 2 on both sides).

Models: the kit's tiny Llama (built from a config, random weights, saved to a folder first: trl's
``DPOTrainer`` builds its reference from ``name_or_path``), fp32, LoRA on the seven projections —
trl refuses an adapter on ``lm_head`` (its fused head reads ``lm_head.weight`` directly), which the
kit's hf engine adds by default.

Tolerance: 1e-3 absolute on losses and mean margins, 2e-3 on per-token log-probabilities (trl's
Triton kernel may use TF32 products). Prints one JSON object; exit status 1 when a check fails.

Run on the GPU machine (its image lacks trl/datasets/bitsandbytes; see ``../shared/tools/device-site.sh``)::

    export PYTHONPATH=$PWD/.device-site:$PWD; python3 bench/preference_parity.py --out $OUT/preference_parity.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KIT_LANG", "en")

LOSS_TOL = 1e-3
LOGP_TOL = 2e-3
SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _perturb_lora(model, seed: int) -> None:
    import torch

    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_((torch.randn(p.shape, generator=gen) * 0.05).to(p.device, p.dtype))


def dpo_parity(model_dir: Path, work: Path, seed: int) -> dict:
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from helpers import preference, synthetic

    tok = AutoTokenizer.from_pretrained(model_dir)
    pairs = preference.preference_pairs(synthetic.synthetic_cci(16, seed=seed), tok, seed=seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).cuda()
    beta = 0.1
    args = DPOConfig(output_dir=str(work / "dpo"), per_device_train_batch_size=8, beta=beta, max_length=512,
                     report_to=[], bf16=False, fp16=False, seed=seed, loss_type=["sigmoid"])
    trainer = DPOTrainer(model=model, args=args, train_dataset=pairs, processing_class=tok,
                         peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=SEVEN,
                                                task_type="CAUSAL_LM"))
    _perturb_lora(trainer.model, seed)
    trainer.model.eval()
    batch = next(iter(trainer.get_train_dataloader()))
    batch = {k: v.cuda() if hasattr(v, "cuda") else v for k, v in batch.items()}
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(trainer.model, batch))
        trl_margin = float(trainer._metrics["eval"]["rewards/margins"][-1]) \
            if trainer._metrics["eval"].get("rewards/margins") else None
        ids, att, comp = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
        logps = preference.completion_logps(trainer.model, ids, att, comp).sum(-1)
        with preference.reference(trainer.model) as ref_model:
            ref = preference.completion_logps(ref_model, ids, att, comp).sum(-1)
    pc, pr = logps.chunk(2)
    rc, rr = ref.chunk(2)
    kit_loss = float(preference.dpo_loss(pc, pr, rc, rr, beta).mean())
    kit_margin = float((beta * ((pc - rc) - (pr - rr))).mean())
    out = {"pairs": int(ids.shape[0] // 2), "beta": beta, "trl_loss": trl_loss, "kit_loss": kit_loss,
           "loss_abs_diff": abs(trl_loss - kit_loss), "kit_rewards_margin": kit_margin,
           "trl_rewards_margin": trl_margin, "policy_differs_from_reference": bool((logps - ref).abs().max() > 1e-3)}
    checks = [out["loss_abs_diff"] <= LOSS_TOL, out["policy_differs_from_reference"]]
    if trl_margin is not None:
        out["margin_abs_diff"] = abs(trl_margin - kit_margin)
        checks.append(out["margin_abs_diff"] <= LOSS_TOL)
    out["pass"] = all(checks)
    return out


def grpo_parity(model_dir: Path, work: Path, seed: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import nanstd

    from helpers import preference, synthetic
    from helpers.core.chat import render
    from helpers.tasks import get

    tok = AutoTokenizer.from_pretrained(model_dir)
    rec = synthetic.synthetic_cci(1, seed=seed)[0]
    prompt = render(tok, get("cci").messages(rec))
    groups, g = 2, 4
    n = groups * g
    gen = torch.Generator(device="cpu").manual_seed(seed)
    letters = [tok(x, add_special_tokens=False)["input_ids"][0] for x in ("A", "B", "C")]
    # completions: a letter, sometimes a second token, then eos; right-padded
    lengths = [1 + int(torch.randint(1, 3, (1,), generator=gen)) for _ in range(n)]
    width = max(lengths)
    comp_ids = torch.full((n, width), tok.pad_token_id, dtype=torch.long)
    comp_mask = torch.zeros((n, width), dtype=torch.long)
    for i, length in enumerate(lengths):
        body = [letters[int(torch.randint(0, 3, (1,), generator=gen))] for _ in range(length - 1)]
        comp_ids[i, :length] = torch.tensor(body + [tok.eos_token_id])
        comp_mask[i, :length] = 1
    p_ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]] * n)
    p_mask = torch.ones_like(p_ids)
    rewards = torch.tensor([float(int(torch.randint(0, 2, (1,), generator=gen))) for _ in range(n)])
    rewards[:g] = torch.tensor([1.0, 0.0, 0.0, 0.5])  # one group surely not constant

    beta, eps = 0.04, 0.2
    out: dict = {"completions": n, "group_size": g, "beta": beta, "epsilon": eps}
    # advantages: the kit's against trl's formula
    grouped = rewards.view(-1, g)
    trl_adv = ((grouped - grouped.mean(1, keepdim=True)) / (nanstd(grouped, dim=1, keepdim=True) + 1e-4)).view(-1)
    kit_adv = preference.group_advantages(rewards, g)
    out["advantages_abs_diff"] = float((trl_adv - kit_adv).abs().max())

    ds = Dataset.from_list([{"prompt": prompt}] * n)
    results = {}
    for loss_type in ("bnpo", "dapo"):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).cuda()
        args = GRPOConfig(output_dir=str(work / f"grpo-{loss_type}"), per_device_train_batch_size=n,
                          num_generations=g, max_completion_length=width, beta=beta, epsilon=eps,
                          loss_type=loss_type, report_to=[], bf16=False, fp16=False, temperature=1.0, seed=seed)
        trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                              args=args, train_dataset=ds, processing_class=tok,
                              peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=SEVEN,
                                                     task_type="CAUSAL_LM"))
        _perturb_lora(trainer.model, seed)
        trainer.model.train()
        if not hasattr(trainer, "current_gradient_accumulation_steps"):
            trainer.current_gradient_accumulation_steps = 1
        cuda = {k: v.cuda() for k, v in dict(p_ids=p_ids, p_mask=p_mask, c_ids=comp_ids, c_mask=comp_mask).items()}
        input_ids = torch.cat([cuda["p_ids"], cuda["c_ids"]], 1)
        attention = torch.cat([cuda["p_mask"], cuda["c_mask"]], 1)
        full_mask = torch.cat([torch.zeros_like(cuda["p_mask"]), cuda["c_mask"]], 1)
        with torch.no_grad():
            kit_logps = preference.completion_logps(trainer.model, input_ids, attention, full_mask)[:, -width:]
            trl_logps = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention, width)[0]
            with preference.reference(trainer.model) as ref_model:
                ref_logps = preference.completion_logps(ref_model, input_ids, attention, full_mask)[:, -width:]
            noise = torch.randn(kit_logps.shape, generator=gen).cuda() * 0.3
            old_logps = (kit_logps + noise) * cuda["c_mask"]
            adv = kit_adv.cuda()
            inputs = {"prompt_ids": cuda["p_ids"], "prompt_mask": cuda["p_mask"], "completion_ids": cuda["c_ids"],
                      "completion_mask": cuda["c_mask"], "advantages": adv, "old_per_token_logps": old_logps,
                      "ref_per_token_logps": ref_logps, "num_items_in_batch": cuda["c_mask"].sum()}
            trl_loss = float(trainer._compute_loss(trainer.model, inputs))
            kit_loss = float(preference.grpo_loss(kit_logps, old_logps, adv, cuda["c_mask"], epsilon=eps, beta=beta,
                                                  ref_logps=ref_logps))
            mask = cuda["c_mask"].bool()
            ratio = torch.exp(kit_logps - old_logps)[mask]
        results[loss_type] = {"trl_loss": trl_loss, "kit_loss": kit_loss, "loss_abs_diff": abs(trl_loss - kit_loss),
                              "logps_abs_diff": float((kit_logps - trl_logps)[mask].abs().max()),
                              "clipped_tokens": int(((ratio < 1 - eps) | (ratio > 1 + eps)).sum()),
                              "tokens": int(mask.sum())}
        del trainer, model
        torch.cuda.empty_cache()
    out["loss_types"] = results
    out["pass"] = out["advantages_abs_diff"] <= 1e-5 and all(
        r["loss_abs_diff"] <= LOSS_TOL and r["logps_abs_diff"] <= LOGP_TOL and r["clipped_tokens"] > 0
        for r in results.values())
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import importlib.metadata as md

    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"error": "needs a CUDA GPU (trl's fused LM head is a Triton kernel)"}))
        return 1
    torch.manual_seed(args.seed)
    from helpers.llm.tiny import tiny_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = tiny_model_dir(work / "tiny-llama")
        report = {"device": torch.cuda.get_device_name(0),
                  "versions": {p: md.version(p) for p in ("torch", "transformers", "trl", "peft", "datasets")},
                  "dtype": "float32", "tolerance": {"loss_abs": LOSS_TOL, "logp_abs": LOGP_TOL, "advantages_abs": 1e-5},
                  "dpo": dpo_parity(model_dir, work, args.seed), "grpo": grpo_parity(model_dir, work, args.seed)}
    report["pass"] = report["dpo"]["pass"] and report["grpo"]["pass"]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
