import pytest
from transformers import LlamaConfig

from helpers import memory

LLAMA3_8B = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)


def test_parameter_count_of_an_8b_shape():
    s = memory.shape_of(LLAMA3_8B)
    total = s.linear_params + s.embedding_params
    assert total == pytest.approx(8.03e9, rel=0.005)   # Llama-3-8B has 8.03 B parameters (norms aside)


def test_estimates_by_mode_order_and_scale():
    q = memory.estimate_memory(LLAMA3_8B, "qlora", 1024, 1)
    lora = memory.estimate_memory(LLAMA3_8B, "lora", 1024, 1)
    full = memory.estimate_memory(LLAMA3_8B, "full", 1024, 1)
    assert q["weights"] == pytest.approx(5.3, abs=0.2)          # ~4.2 bits per linear weight + 16-bit embeddings
    assert lora["weights"] == pytest.approx(16 * 8.03e9 / 8 / 2**30, rel=0.01)
    assert q["total_gib"] < lora["total_gib"] < full["total_gib"]
    b8 = memory.estimate_memory(LLAMA3_8B, "qlora", 1024, 8)
    assert b8["logits"] == pytest.approx(8 * q["logits"]) and b8["weights"] == q["weights"]
    assert memory.estimate_memory(LLAMA3_8B, "qlora", 1024, 8, chunked_loss=True)["logits"] == 0


def test_fits_a_t4_or_not():
    ok, need = memory.fits(LLAMA3_8B, "qlora", 1024, 1, memory.GPU_SIZES_GIB["colab-t4"])
    assert ok and need < 13.5
    ok, need = memory.fits(LLAMA3_8B, "lora", 1024, 1, memory.GPU_SIZES_GIB["colab-t4"])
    assert not ok and need > 15


def test_inference_counts_the_kv_cache():
    short = memory.estimate_memory(LLAMA3_8B, "inference-16bit", 128, 32)
    long = memory.estimate_memory(LLAMA3_8B, "inference-16bit", 1024, 32)
    assert long["kv_cache"] == pytest.approx(8 * short["kv_cache"])
    assert long["kv_cache"] == pytest.approx(32 * 1024 * 2 * 32 * 8 * 128 * 2 / 2**30)


def test_fit_report_warns_for_a_card_that_is_too_small():
    text = memory.fit_report(LLAMA3_8B, "lora", 1024, 1, gpu_gib=15.0)
    assert "this GPU" in text and "WARNING: this will not fit" in text
    assert "WARNING" not in memory.fit_report(LLAMA3_8B, "qlora", 1024, 1, gpu_gib=24.0)
