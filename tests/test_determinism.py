"""Seed 42 means the same result: the vocabulary and the pretraining documents do not depend
on Python's string hashing (PYTHONHASHSEED), which changes the order of any set."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

CODE = """
import hashlib, json, sys
from helpers import korquad, pretrain
tok = korquad.kit_tokenizer(sys.argv[1], rebuild=True)
docs = pretrain.shipped_documents()
print(hashlib.sha256(json.dumps(docs, ensure_ascii=False).encode()).hexdigest())
"""


def _run(tmp_path: Path, hashseed: str) -> tuple[str, bytes]:
    folder = tmp_path / f"tok-{hashseed}"
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "KIT_OUTPUTS": str(tmp_path / f"out-{hashseed}")}
    res = subprocess.run([sys.executable, "-c", CODE, str(folder)], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1], (folder / "tokenizer.json").read_bytes()


def test_two_hash_seeds_give_identical_vocabularies_and_documents(tmp_path):
    docs0, vocab0 = _run(tmp_path, "0")
    docs1, vocab1 = _run(tmp_path, "1")
    assert docs0 == docs1
    assert hashlib.sha256(vocab0).hexdigest() == hashlib.sha256(vocab1).hexdigest()
    assert len(json.loads(vocab0)["model"]["vocab"]) > 1000   # a real vocabulary was trained
