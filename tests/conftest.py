"""Shared test settings: headless plots, fixed threads, offline hub."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Tests read the kit's messages in English (``KIT_LANG=en``); lessons and doctests keep
    the Korean default."""
    monkeypatch.setenv("KIT_LANG", "en")


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Send everything the helpers write under outputs/ to a temporary folder."""
    monkeypatch.setenv("KIT_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


@pytest.fixture
def write_json(tmp_path):
    """Write an object as a UTF-8 JSON file (or raw text) and return its path."""

    def _write(obj, name="data.json", raw=None, bom=False):
        path = Path(tmp_path) / name
        text = raw if raw is not None else json.dumps(obj, ensure_ascii=False)
        path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def kit_tok(tmp_path_factory):
    """The kit's morpheme-level WordPiece tokenizer, trained once per test session."""
    from helpers.korquad import kit_tokenizer

    return kit_tokenizer(tmp_path_factory.mktemp("tok") / "kit-wordpiece")


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory):
    """A tiny random Llama + BPE tokenizer saved like a hub checkpoint, built once per session."""
    from helpers.llm import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def trained_cci(tiny_llm_dir, tmp_path_factory):
    """A tiny QLoRA model trained on the synthetic multiple-choice set (seed 0), its tokenizer,
    config, and the dev records: shared by the inference tests."""
    from helpers import llm, synthetic
    from helpers.runtime import seed_everything

    seed_everything(0, threads=2)
    out = tmp_path_factory.mktemp("cci-run")
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(out), seed=0)
    res = llm.train(cfg, synthetic.synthetic_cci(320, seed=0))
    model, tok = res.model, res.tokenizer
    dev = synthetic.synthetic_cci(60, seed=100, split="dev")
    return model, tok, cfg, dev
