"""The tiny smoke-mode model: a small Llama with random weights and a byte-level BPE tokenizer
trained on the shipped text, saved like a hub checkpoint so it loads through the same code."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tiny_model_dir"]


def tiny_model_dir(path: str | Path | None = None, rebuild: bool = False, seed: int = 0) -> Path:
    """``outputs/models/tiny-llama`` (or ``path``), built on first use."""
    from ..core.paths import outputs_dir

    path = Path(path) if path else outputs_dir("models") / "tiny-llama"
    if (path / "config.json").is_file() and not rebuild:
        return path
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ..core.chat import CHAT_TEMPLATE
    from ..synthetic import vocabulary_texts
    from ..vocab import shipped_texts, train_bpe

    tok = train_bpe(list(shipped_texts()) + vocabulary_texts(), vocab_size=4000,
                    extra_special=("<|system|>", "<|user|>", "<|assistant|>"))
    tok.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
