"""GPU memory estimate for training and inference of a causal LM, before you load it.

    >>> from transformers import LlamaConfig
    >>> cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
    ...                   num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)
    >>> round(estimate_memory(cfg, "qlora", seq_len=1024, batch=1)["total_gib"], 1) < 15
    True

The estimate adds up weights (4-bit linear layers with their quantisation constants, bf16
embeddings and head), trainable state (LoRA or full weights, gradients, AdamW moments),
activations (with gradient checkpointing: one hidden state per layer plus one layer being
recomputed), the logits the loss needs, and a fixed allowance for the CUDA context and
allocator. The bench prints it beside measured peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelShape", "shape_of", "estimate_memory", "fits", "fit_report", "GPU_SIZES_GIB"]

GiB = 2**30
#: Usable memory of common cards (what a T4 on Colab and a 24 GB card report).
GPU_SIZES_GIB = {"colab-t4": 15.0, "24gb": 24.0, "a100-40gb": 40.0, "h100": 79.6}
_OVERHEAD_GIB = 1.0  # CUDA context, cuBLAS workspaces, allocator slack


@dataclass(frozen=True)
class ModelShape:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    tied: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each projection of one decoder layer."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, self.intermediate), "up_proj": (h, self.intermediate), "down_proj": (self.intermediate, h)}

    @property
    def linear_params(self) -> int:
        return self.layers * sum(i * o for i, o in self.linear_shapes().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)


def shape_of(model_id_or_config) -> ModelShape:
    """The sizes that matter, from a ``transformers`` config, a config dict, or a hub id / folder."""
    cfg = model_id_or_config
    if isinstance(cfg, ModelShape):
        return cfg
    if isinstance(cfg, str):
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(cfg)
    get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
    heads = get("num_attention_heads")
    return ModelShape(
        vocab=get("vocab_size"), hidden=get("hidden_size"), intermediate=get("intermediate_size"),
        layers=get("num_hidden_layers"), heads=heads, kv_heads=get("num_key_value_heads") or heads,
        tied=bool(get("tie_word_embeddings", False)),
    )


def _lora_params(shape: ModelShape, r: int, lm_head: bool) -> int:
    per_layer = sum(r * (i + o) for i, o in shape.linear_shapes().values())
    return shape.layers * per_layer + (r * (shape.hidden + shape.vocab) if lm_head else 0)


#: Without gradient checkpointing, the activations kept per token and layer, in multiples of one
#: layer's forward tensors. Measured on an H200 capped to 80 GiB, Solar 11B LoRA, 4 sequences of
#: 1,024 tokens (``bench/results/train_entry.jsonl``): the unsloth engine peaked at 45.4 GiB
#: (1.03, derived: the peak less the estimate's weights, adapter state and overhead; 1.5 is kept
#: for headroom), the hf engine at 71.5 GiB (2.07, derived the same way; probably the unfused
#: attention, MLP and LoRA inputs transformers keeps, not measured apart). 2.2 keeps headroom too.
NO_CHECKPOINTING_FUSED = 1.5
NO_CHECKPOINTING_PLAIN = 2.2


def estimate_memory(model_id_or_config, mode: str, seq_len: int, batch: int, *, lora_r: int = 16,
                    lora_on_lm_head: bool = False, gradient_checkpointing: bool = True,
                    optimizer_bytes: int = 8, chunked_loss: bool = False,
                    offload_checkpoints: bool = False, fused_kernels: bool = False) -> dict[str, float]:
    """Peak GPU memory (GiB) of ``mode`` in ``{"qlora", "lora", "full", "inference-4bit",
    "inference-16bit"}`` at ``batch`` sequences of ``seq_len`` tokens.

    ``optimizer_bytes``: AdamW moments per trainable parameter (8 for fp32 AdamW, 2 for 8-bit).
    ``chunked_loss``: the engine never materialises the full fp32 logits (unsloth's fused loss).
    ``offload_checkpoints``: the checkpointed hidden states live in CPU memory (unsloth's
    ``use_gradient_checkpointing="unsloth"``).
    ``fused_kernels``: the engine fuses attention, MLP and LoRA (unsloth), so training without
    checkpointing keeps fewer of each layer's tensors than plain transformers does.
    Returns the parts and ``total_gib``.
    """
    s = shape_of(model_id_or_config)
    tokens = batch * seq_len
    parts: dict[str, float] = {}
    four_bit = mode in ("qlora", "inference-4bit")
    # nf4: 4 bits + double-quantised absmax (about 0.127 bits) per weight; embeddings and head stay 16-bit.
    parts["weights"] = (s.linear_params * (0.5 + 0.127 / 8) if four_bit else s.linear_params * 2) + s.embedding_params * 2
    if mode in ("qlora", "lora"):
        n = _lora_params(s, lora_r, lora_on_lm_head)
        parts["trainable_state"] = n * (4 + 4 + optimizer_bytes)  # fp32 weights + grads + moments
    elif mode == "full":
        n = s.linear_params + s.embedding_params
        parts["trainable_state"] = n * (2 + optimizer_bytes)  # bf16 grads + moments (weights counted above)
    if mode in ("qlora", "lora", "full"):
        h, i = s.hidden, s.intermediate
        per_token_layer = 2 * (4 * h + 2 * s.kv_heads * s.head_dim + 3 * i)  # bf16 tensors of one layer's forward
        if gradient_checkpointing:
            kept = 0 if offload_checkpoints else s.layers * h * 2
            parts["activations"] = tokens * (kept + 2 * per_token_layer)
        else:
            parts["activations"] = tokens * s.layers * per_token_layer * (
                NO_CHECKPOINTING_FUSED if fused_kernels else NO_CHECKPOINTING_PLAIN)
        # bf16 logits, the fp32 upcast, log-softmax, its gradient, and the bf16 gradient of the logits
        parts["logits"] = 0.0 if chunked_loss else tokens * s.vocab * (2 + 4 + 4 + 4 + 2)
    else:
        kv = 2 * s.layers * s.kv_heads * s.head_dim * 2  # K and V, bf16, per token
        parts["kv_cache"] = tokens * kv
        parts["activations"] = batch * seq_len * (s.hidden * 2 * 4 + s.intermediate * 2 * 2) / max(s.layers, 1) * 2
        parts["logits"] = batch * s.vocab * 4 * 2  # last position only
    out = {k: v / GiB for k, v in parts.items()}
    out["overhead"] = _OVERHEAD_GIB
    out["total_gib"] = sum(out.values())
    return out


def fits(model_id_or_config, mode: str, seq_len: int, batch: int, gpu_gib: float, **kw) -> tuple[bool, float]:
    """``(fits, estimated GiB)`` for a card of ``gpu_gib`` (keeps a 10 % margin)."""
    need = estimate_memory(model_id_or_config, mode, seq_len, batch, **kw)["total_gib"]
    return need <= 0.9 * gpu_gib, need


def fit_report(model_id_or_config, mode: str, seq_len: int, batch: int = 1, gpu_gib: float | None = None, **kw) -> str:
    """A one-paragraph verdict to print before loading: the estimate against this GPU (if any),
    a Colab T4 and a 24 GB card, with a warning where it will not fit."""
    need = estimate_memory(model_id_or_config, mode, seq_len, batch, **kw)["total_gib"]
    cards = dict(GPU_SIZES_GIB)
    if gpu_gib is None:
        try:
            import torch

            if torch.cuda.is_available():
                gpu_gib = torch.cuda.get_device_properties(0).total_memory / GiB
        except ImportError:
            pass
    from .core.messages import msg

    lines = [msg(f"예상 최대 메모리: {need:.1f} GiB ({mode}, {batch} × {seq_len} 토큰)",
                 f"estimated peak: {need:.1f} GiB ({mode}, {batch} × {seq_len} tokens)")]
    if gpu_gib:
        cards = {"this GPU": gpu_gib, **cards}
    for name, size in cards.items():
        ok = need <= 0.9 * size
        lines.append(f"  {name:>10} {size:5.1f} GiB: {'OK' if ok else msg('부족', 'will not fit')}")
    if gpu_gib and need > 0.9 * gpu_gib:
        lines.append("경고: 이 GPU에 맞지 않습니다. QLoRA, 더 짧은 max_length, 더 작은 모델을 쓰세요 / "
                     "WARNING: this will not fit this GPU; use QLoRA, a shorter max_length or a smaller model")
    return "\n".join(lines)
