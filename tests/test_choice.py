"""The hardware choice: fake GPU sizes give the expected model, method and budget, each fitting
in 85 % of the card while the next stronger setup does not."""

import pytest

from helpers import lessons
from helpers.core import hardware
from helpers.llm import choice
from helpers.memory import estimate_memory

CARDS = {"Colab T4": (15.0, "fp16"), "24 GB": (24.0, "bf16"), "A100 40 GB": (40.0, "bf16"), "H100 80 GB": (79.6, "bf16")}
EXPECTED = {"Colab T4": ("beomi/Solar-Ko-Recovery-11B", "qlora"), "24 GB": ("beomi/Solar-Ko-Recovery-11B", "qlora"),
            "A100 40 GB": ("beomi/Solar-Ko-Recovery-11B", "lora"), "H100 80 GB": ("beomi/Solar-Ko-Recovery-11B", "lora")}
#: (gradient checkpointing, token budget) each card's default trains with on the unsloth engine. On 80 GB,
#: 4,096 tokens without checkpointing: 1.43x the checkpointed 16,384 (measured, bench/results/SUMMARY.md).
TRAINING = {"Colab T4": (True, 16384), "24 GB": (True, 16384), "A100 40 GB": (True, 16384), "H100 80 GB": (False, 4096)}


@pytest.fixture
def fake_gpu(monkeypatch):
    def use(gib, prec):
        monkeypatch.setattr(hardware, "gpu_info", lambda: ("fake", gib, prec == "bf16"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return use


@pytest.mark.parametrize("card", list(CARDS))
def test_each_card_gets_the_strongest_setup_that_fits(card, fake_gpu, capsys):
    gib, prec = CARDS[card]
    fake_gpu(gib, prec)
    cfg = lessons.preset("cci", smoke=False)
    assert (cfg.model_name, cfg.method) == EXPECTED[card]
    assert cfg.max_tokens_per_batch == "auto"
    printed = capsys.readouterr().out
    assert cfg.model_name in printed and f"GPU {gib:.0f} GiB ({prec})" in printed
    picked = next(i for i, c in enumerate(choice.LADDER) if (c.model, c.method) == (cfg.model_name, cfg.method))
    need = estimate_memory(choice.shape_for(cfg.model_name), cfg.method, cfg.max_length, 1,
                           lora_on_lm_head=True)["total_gib"]
    assert need <= 0.85 * gib                                     # the choice fits
    if picked > 0:                                                # the next stronger one does not
        stronger = choice.LADDER[picked - 1]
        assert estimate_memory(choice.shape_for(stronger.model), stronger.method, cfg.max_length, 1,
                               lora_on_lm_head=True)["total_gib"] > 0.85 * gib


@pytest.mark.parametrize("card", list(CARDS))
def test_each_card_trains_its_default_with_the_checkpointing_and_budget_measured(card, fake_gpu):
    from helpers import llm

    fake_gpu(*CARDS[card])
    cfg = lessons.preset("cci", smoke=False, verbose=False)
    assert (llm.use_checkpointing(cfg, "unsloth"), llm.auto_token_budget(cfg, "unsloth")) == TRAINING[card]


def test_a_small_card_gets_a_smaller_model_and_a_tiny_one_a_clear_error(fake_gpu):
    fake_gpu(8.0, "fp16")
    assert lessons.preset("cci", smoke=False, verbose=False).model_name == "Qwen/Qwen2.5-3B-Instruct"
    fake_gpu(3.0, "fp16")
    with pytest.raises(ValueError, match="nothing fits this 3 GiB GPU"):
        lessons.preset("cci", smoke=False)


def test_overrides_by_environment_and_config(fake_gpu, monkeypatch, tmp_path, tiny_llm_dir):
    fake_gpu(24.0, "bf16")
    monkeypatch.setenv("KIT_GPU_GIB", "15")  # a capped run chooses as a smaller card would
    monkeypatch.setattr(hardware, "gpu_info", lambda: ("fake", float(__import__("os").environ["KIT_GPU_GIB"]), True))
    assert lessons.preset("cci", smoke=False, verbose=False).method == "qlora"
    monkeypatch.setenv("KIT_LLM_MODEL", str(tiny_llm_dir))       # a local folder works like a hub id
    cfg = lessons.preset("cci", smoke=False, verbose=False)
    assert (cfg.model_name, cfg.method) == (str(tiny_llm_dir), "lora")   # tiny: 16-bit LoRA fits
    cfg = lessons.preset("cci", smoke=False, verbose=False, model_name="x/y", method="qlora")
    assert (cfg.model_name, cfg.method) == ("x/y", "qlora")      # the config wins, nothing estimated


def test_no_gpu_keeps_the_config_defaults(monkeypatch):
    monkeypatch.setattr(hardware, "gpu_info", lambda: None)
    cfg = lessons.preset("cci", smoke=False)
    assert cfg.model_name == "beomi/Solar-Ko-Recovery-11B" and cfg.method == "qlora"


#: the stand-in checkpoints of bench/llm_speed.py prepare and the hub models whose shapes they copy
STAND_INS = {"llama3-8b-shape": "MLP-KTLim/llama-3-Korean-Bllossom-8B", "solar-11b-shape": "beomi/Solar-Ko-Recovery-11B"}


def test_every_measured_peak_of_the_kit_is_within_the_estimate_it_decides_with():
    """The checkpointing rule and the token budget trust the estimate to 85 % of the card, so no
    peak measured on the GPU (bench/results/train_entry.jsonl, llm.train through the Trainer) may
    exceed it: the hf engine without checkpointing peaked at 71.5 GiB where the estimate said
    58.8, so its 80 GB default now keeps checkpointing on."""
    import importlib
    import json
    from pathlib import Path

    from helpers.llm.config import LLMConfig

    train = importlib.import_module("helpers.llm.train")
    rows = [json.loads(line) for line in
            (Path(__file__).resolve().parent.parent / "bench" / "results" / "train_entry.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r["path"].split()[0] == "kit" and r.get("model") in STAND_INS and r.get("budget")]
    assert {r["engine"] for r in rows} == {"unsloth", "hf"} and any(not r["checkpointing"] for r in rows)
    for r in rows:
        cfg = LLMConfig(model_name=STAND_INS[r["model"]], method=r["method"])
        _, targets = cfg.lora_settings(r["engine"])
        fused = r["engine"] == "unsloth"
        need = estimate_memory(choice.shape_for(cfg.model_name), cfg.method, cfg.max_length, r["budget"] // cfg.max_length,
                               lora_r=cfg.lora_r, lora_on_lm_head="lm_head" in targets,
                               gradient_checkpointing=r["checkpointing"], chunked_loss=fused,
                               offload_checkpoints=fused and r["checkpointing"], fused_kernels=fused)["total_gib"]
        assert need >= r["peak_gib"], (r["lease"], r["path"], r["engine"], r["model"], need)
    solar = LLMConfig(model_name=STAND_INS["solar-11b-shape"], method="lora")
    assert train.use_checkpointing(solar, "hf", 80) and not train.use_checkpointing(solar, "unsloth", 80)
