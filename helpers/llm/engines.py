"""Engines: how a causal LM is loaded, given adapters, and run for scoring and generation.

One interface, :class:`Engine`, with two implementations:

- :class:`HFEngine` (``hf``): transformers + peft + bitsandbytes, everywhere (the CPU too);
- :class:`UnslothEngine` (``unsloth``): unsloth's patched models and fused LoRA kernels, on a
  CUDA GPU where unsloth is installed.

:func:`engine_name` is the only reader of ``KIT_ENGINE`` and the only place the choice is
made; :func:`get_engine` imports unsloth *before* transformers when it is chosen (it patches
them). A new engine (vLLM for inference, say) is one subclass and one :func:`register_engine`.

    >>> engine_name("hf")
    'hf'
    >>> get_engine("hf", load=False).pad_multiple
    8
"""

from __future__ import annotations

import importlib.util
import contextlib
import os
import sys
from typing import Sequence

from ..core.messages import KitError, msg

#: The attention and MLP projections of Llama-style models.
SEVEN_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: The seed recipe's LoRA targets: the seven projections and the output head.
SEED_TARGETS = SEVEN_PROJECTIONS + ("lm_head",)

__all__ = ["Engine", "eval_mode", "generation_mode", "checkpointing_flags", "kv_cache_token_budget", "forward_token_budget", "gpu_room_gib", "generation_token_budget", "scoring_token_budget", "generation_batches", "generation_row_tokens", "unsloth_decoding", "UNSLOTH_DECODE_SLACK", "keep_4bit_trainable_on_cpu", "HFEngine", "UnslothEngine", "ENGINES", "register_engine", "engine_name", "get_engine",
           "SEVEN_PROJECTIONS", "SEED_TARGETS"]


class Engine:
    """What the kit needs of an LLM engine. Subclasses override what differs."""

    name = "base"
    #: Padding granularity of training batches.
    pad_multiple = 8

    def lora_defaults(self) -> tuple[float, tuple[str, ...]]:
        """``(dropout, target modules)`` where the config leaves them unset."""
        raise NotImplementedError

    def load_tokenizer(self, name: str, cfg: LLMConfig):
        raise NotImplementedError

    def load(self, cfg: LLMConfig):
        """``(model, tokenizer)`` of ``cfg.model_name`` for ``cfg.method``, without adapters."""
        raise NotImplementedError

    def prepare_for_training(self, model, cfg: LLMConfig):
        """The loaded base ready for adapters (k-bit preparation, gradient checkpointing)."""
        raise NotImplementedError

    def add_adapters(self, model, cfg: LLMConfig):
        raise NotImplementedError

    def score(self, model, tokenizer, prompts: Sequence[str], letters: Sequence[str], *, max_tokens: int,
              max_batch: int | None, progress: bool) -> list[list[float]]:
        """Probabilities of each letter as the next token after each prompt (input order)."""
        raise NotImplementedError

    def generate(self, model, tokenizer, prompts: Sequence[str], gen, *, progress: bool) -> list[str]:
        """The new text after each prompt (input order), decoded without special tokens."""
        raise NotImplementedError


def _remote_code_kwargs(cfg: LLMConfig) -> dict:
    """``trust_remote_code`` only for a pinned revision (a repository's code can change under a
    moving branch)."""
    if cfg.trust_remote_code and not cfg.revision and not os.path.isdir(cfg.model_name):
        raise KitError(msg(f"trust_remote_code는 revision(커밋)을 고정할 때만 켤 수 있습니다: {cfg.model_name}",
                           f"trust_remote_code needs a pinned revision (a commit) for {cfg.model_name}"))
    kw = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.revision:
        kw["revision"] = cfg.revision
    return kw


@contextlib.contextmanager
def eval_mode(model):
    """The model in eval mode inside the block (dropout off: LoRA's dropout stays active in
    train mode, where ``Trainer`` leaves a model, and would make predictions random), restored
    after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def generation_mode(model):
    """:func:`eval_mode` for ``generate``, with the model's saved ``max_length`` set aside inside
    the block: every kit call passes ``max_new_tokens``, and a checkpoint whose generation config
    also carries a ``max_length`` (unsloth writes its ``max_seq_length`` there) makes
    transformers warn on every batch that one overrides the other.

    The layers' gradient-checkpointing flags are put back afterwards. unsloth's ``generate``
    clears them (its ``for_inference``) and restores them only for a model that was in train
    mode, which a model here never is. Without this, a model that generates and then trains
    (DPO pairs from its own answers, GRPO's sampling) trained without checkpointing: lesson 07's
    summary DPO ran out of memory on an H200 capped to a T4's 15 GiB."""
    config = getattr(model, "generation_config", None)
    saved = getattr(config, "max_length", None)
    flags = checkpointing_flags(model)
    with eval_mode(model):
        if saved is not None:
            config.max_length = None
        try:
            yield model
        finally:
            if saved is not None:
                config.max_length = saved
            for module, value in flags:
                module.gradient_checkpointing = value


def checkpointing_flags(model) -> list[tuple[object, object]]:
    """``(module, gradient_checkpointing)`` for each module of ``model`` that has the flag itself:
    the base model and its decoder layers (peft's wrappers and the ``…ForCausalLM`` head class do
    not resolve the name in transformers 5.17 / peft 0.21, so unsloth's ``for_inference`` leaves
    them alone too).

    >>> import torch
    >>> class Layer(torch.nn.Linear):
    ...     gradient_checkpointing = False
    >>> net = torch.nn.Sequential(Layer(2, 2), torch.nn.ReLU())
    >>> net[0].gradient_checkpointing = True
    >>> [(type(m).__name__, v) for m, v in checkpointing_flags(net)]
    [('Layer', True)]
    """
    return [(m, m.gradient_checkpointing) for m in model.modules()
            if "gradient_checkpointing" in vars(m) or hasattr(type(m), "gradient_checkpointing")]


def keep_4bit_trainable_on_cpu(model) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for its CPU inference kernel; returns how
    many layers it applies to.

    bitsandbytes 0.50 repacks a ``Linear4bit`` weight for its AVX512-BF16 CPU kernel the first
    time the layer runs in eval mode without gradients (a prediction, a generation), and keeps
    that layout: every later call, training included, then goes through ``gemv_4bit``, which has
    no backward. Gradients through the frozen base weights are silently dropped (torch warns of
    "silently incorrect behavior"; measured here: after one eval forward of the tiny model some
    LoRA gradients were exactly zero). Lessons predict before they train (06, 07), so on a CPU
    the kit keeps the layout training uses; the GPU path never repacks.
    """
    n = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def _kv_bytes_per_token(get, dtype_bytes: int) -> int:
    """Key and value of one token over every layer (``get`` reads the config)."""
    heads = get("num_attention_heads")
    head_dim = get("head_dim") or get("hidden_size") // heads
    return 2 * get("num_hidden_layers") * (get("num_key_value_heads") or heads) * head_dim * dtype_bytes


def _getter(config):
    return config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)


def kv_cache_token_budget(config, free_gib: float, num_beams: int = 1, dtype_bytes: int = 2) -> int:
    """Tokens (prompts plus new tokens, summed over a generation batch) whose key/value cache
    fills half of ``free_gib`` — the other half stays for the prefill's activations and the
    allocator. Beam search keeps ``num_beams`` copies of every sequence.

    >>> llama3_8b = dict(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096)
    >>> kv_cache_token_budget(llama3_8b, free_gib=4.0)   # 128 KiB a token in 16 bits
    16384
    >>> kv_cache_token_budget(llama3_8b, free_gib=4.0, num_beams=4)
    4096
    """
    per_token = _kv_bytes_per_token(_getter(config), dtype_bytes)
    return max(1, int(0.5 * free_gib * 2**30 / (per_token * max(1, num_beams))))


def forward_token_budget(config, free_gib: float, dtype_bytes: int = 2) -> int:
    """Padded tokens of a forward pass without gradients (scoring) whose tensors fill half of
    ``free_gib``, the other half left to the allocator. A token counts one layer's hidden states,
    attention and MLP tensors in 16 bits, LoRA's fp32 copies of the MLP's input and outputs
    (peft casts to the adapter's dtype), and the key/value cache of every layer (a forward
    builds one unless told not to).

    >>> llama3_8b = dict(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096,
    ...                  intermediate_size=14336)
    >>> forward_token_budget(llama3_8b, free_gib=4.0)   # 396 KiB a token
    5295
    """
    get = _getter(config)
    h, i = get("hidden_size"), get("intermediate_size") or 4 * get("hidden_size")
    per_token = (2 * h + 3 * i) * dtype_bytes + 3 * i * 4 + _kv_bytes_per_token(get, dtype_bytes)
    return max(1, int(0.5 * free_gib * 2**30 / per_token))


#: Key/value-cache tokens a row of unsloth's fast decoding holds besides two copies of its own
#: cache: unsloth copies the prefill's cache into a buffer 512 tokens longer than the row and
#: regrows it 512 at a time, each time a copy (unsloth 2026.10, ``KV_CACHE_INCREMENT``).
UNSLOTH_DECODE_SLACK = 1024


def unsloth_decoding(model) -> bool:
    """Whether ``model`` (or the model under its peft wrapper) generates through unsloth's fast
    decoding: unsloth replaces the ``generate`` of a causal LM it loads with
    ``unsloth_fast_generate``. A checkpoint unsloth saved but plain transformers loaded does not.

    >>> from types import SimpleNamespace as NS
    >>> def unsloth_fast_generate(*args): ...
    >>> unsloth_decoding(NS(generate=unsloth_fast_generate)), unsloth_decoding(NS(generate=print))
    (True, False)
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(getattr(base, "generate", None), "__name__", "") == "unsloth_fast_generate"


def generation_row_tokens(model, prompt_tokens: int, max_new_tokens: int) -> int:
    """The key/value-cache tokens one generated row holds at its peak, what
    :func:`generation_token_budget` is counted in: the prompt and the new tokens, and through
    unsloth's fast decoding (:func:`unsloth_decoding`) twice that plus
    :data:`UNSLOTH_DECODE_SLACK`: while it copies a cache into its own longer buffer both are live
    (read from unsloth's code; counted high). Lesson 07's sampled reward report ran out of a
    15 GiB cap in unsloth's decoding with one copy counted.

    >>> from types import SimpleNamespace as NS
    >>> def unsloth_fast_generate(*args): ...
    >>> generation_row_tokens(NS(generate=print), 700, 4), generation_row_tokens(NS(generate=unsloth_fast_generate), 700, 4)
    (704, 2432)
    """
    tokens = prompt_tokens + max_new_tokens
    if unsloth_decoding(model):
        return 2 * tokens + UNSLOTH_DECODE_SLACK
    return tokens


def gpu_room_gib() -> float | None:
    """GiB left of 85 % of the GPU (``KIT_GPU_GIB`` counts) after what this process has
    allocated, and no more than the device reports free (another process may hold some). None
    on a CPU. Generation, scoring and the loaders' notice all size themselves by it."""
    from ..core.hardware import gpu_info

    info = gpu_info()
    if info is None:
        return None
    import torch

    room = 0.85 * info[1] - torch.cuda.memory_allocated() / 2**30
    return min(room, torch.cuda.mem_get_info()[0] / 2**30)


def _text_config(model):
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    return config if config is not None and getattr(config, "num_hidden_layers", None) else None


def generation_token_budget(model, num_beams: int = 1) -> int | None:
    """The token budget of a generation batch on this GPU: the KV cache of
    :func:`kv_cache_token_budget` in :func:`gpu_room_gib` (what is left of 85 % of the card
    after the model, a reference adapter…). None on a CPU (the batch size alone then limits a
    batch). Lesson 07's summaries of 512 new tokens, 16 at a time, ran out of a 15 GiB cap with
    an 8B model without it."""
    return _budget_in_room(model, kv_cache_token_budget, num_beams=num_beams)


def scoring_token_budget(model) -> int | None:
    """The padded-token budget of a scoring batch on this GPU: :func:`forward_token_budget` in
    :func:`gpu_room_gib`. None on a CPU. :meth:`HFEngine.score` takes the smaller of this and the
    caller's budget, so a card still holding another model scores in smaller batches. Lesson
    07 under a 15 GiB cap ran out of memory scoring at 8,192 tokens with a second 8B model
    still loaded."""
    return _budget_in_room(model, forward_token_budget)


def _budget_in_room(model, budget, **kwargs) -> int | None:
    """``budget(config, GiB, **kwargs)`` for ``model``'s text config in :func:`gpu_room_gib`
    (at least 0.25 GiB, so a full card still gets batches of one); None on a CPU or for a model
    whose shape cannot be read."""
    config = _text_config(model)
    room = gpu_room_gib() if config is not None else None
    if room is None:
        return None
    return budget(config, max(room, 0.25), **kwargs)


def generation_batches(model, prompt_lengths: Sequence[int], max_new_tokens: int, max_batch: int | None, *,
                       num_beams: int = 1, rows_per_prompt: int = 1) -> list[list[int]] | None:
    """Prompt indices per ``generate`` call on this GPU: at most ``max_batch`` prompts, each
    ``rows_per_prompt`` rows (samples), within :func:`generation_token_budget` with every row
    counted by :func:`generation_row_tokens`; shortest first. None on a CPU, where no memory
    budget applies (the caller batches by count). The one place generation is sized for memory:
    :meth:`HFEngine.generate` and :func:`helpers.preference.reward_report`'s sampling use it."""
    budget = generation_token_budget(model, num_beams)
    if budget is None:
        return None
    from ..batching import token_budget_batches

    lengths = [generation_row_tokens(model, n, max_new_tokens) for n in prompt_lengths]
    return token_budget_batches(lengths, max(1, budget // rows_per_prompt), max_batch)


class HFEngine(Engine):
    """transformers + peft (+ bitsandbytes for QLoRA): runs everywhere."""

    name = "hf"
    pad_multiple = 8

    def lora_defaults(self) -> tuple[float, tuple[str, ...]]:
        return 0.01, SEED_TARGETS

    def load_tokenizer(self, name: str, cfg: LLMConfig):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name, **_remote_code_kwargs(cfg))
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok

    def load(self, cfg: LLMConfig):
        from ..core.quiet import quiet_bitsandbytes

        quiet_bitsandbytes()
        import torch
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        from ..core.hardware import torch_dtype

        dtype = torch_dtype()
        device_map = {"": int(os.environ.get("LOCAL_RANK", 0))} if torch.cuda.is_available() else "cpu"
        kwargs = dict(dtype=dtype, device_map=device_map, **_remote_code_kwargs(cfg))
        if cfg.method == "qlora":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype)
        model = AutoModelForCausalLM.from_pretrained(cfg.model_name, **kwargs)
        if cfg.method == "qlora" and not torch.cuda.is_available():
            keep_4bit_trainable_on_cpu(model)
        return model, self.load_tokenizer(cfg.model_name, cfg)

    def prepare_for_training(self, model, cfg: LLMConfig):
        """The loaded base ready for adapters: k-bit preparation for QLoRA and gradient
        checkpointing as ``cfg`` asks (also used before loading a saved adapter to train on)."""
        from peft import prepare_model_for_kbit_training

        # "auto" is decided by helpers.llm.train.with_checkpointing before this; left unresolved it means on
        ckpt, on = {"use_reentrant": False}, cfg.gradient_checkpointing is not False
        if cfg.method == "qlora":
            return prepare_model_for_kbit_training(model, use_gradient_checkpointing=on,
                                                   gradient_checkpointing_kwargs=ckpt)
        if on:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt)
            if cfg.method != "full":
                model.enable_input_require_grads()
        return model

    def add_adapters(self, model, cfg: LLMConfig):
        from peft import LoraConfig, get_peft_model

        model = self.prepare_for_training(model, cfg)
        if cfg.method == "full":
            return model
        dropout, targets = cfg.lora_settings(self.name)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=dropout,
                          target_modules=list(targets), task_type="CAUSAL_LM")
        return get_peft_model(model, lora)

    def score(self, model, tokenizer, prompts, letters, *, max_tokens, max_batch, progress):
        import torch
        from tqdm.auto import tqdm

        from ..batching import left_padded, prompt_token_ids, token_budget_batches

        letter_ids = letter_token_ids(tokenizer, letters)
        ids = prompt_token_ids(tokenizer, prompts)  # once: for the batches and the tensors
        fits = scoring_token_budget(model)   # a GPU holding other models scores in smaller batches
        batches = token_budget_batches([len(x) for x in ids], min(max_tokens, fits) if fits else max_tokens, max_batch)
        out: list = [None] * len(prompts)
        device = next(model.parameters()).device
        with torch.inference_mode(), eval_mode(model):
            for batch in tqdm(batches, desc="scoring", disable=not progress or len(batches) < 2):
                input_ids, mask = left_padded(tokenizer, [ids[i] for i in batch], device)
                logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :]
                probs = torch.softmax(logits[:, letter_ids].float(), dim=-1).cpu().tolist()
                for i, p in zip(batch, probs):
                    out[i] = p
        return out

    def generate(self, model, tokenizer, prompts, gen, *, progress):
        import torch
        from tqdm.auto import tqdm

        from ..batching import left_padded, pad_id, prompt_token_ids, token_budget_batches

        ids = prompt_token_ids(tokenizer, prompts)
        plain = [len(x) + gen.max_new_tokens for x in ids]
        if gen.max_tokens:  # the user's budget counts prompt and new tokens as they are
            batches = token_budget_batches(plain, gen.max_tokens, gen.batch_size)
        else:  # a GPU's memory, or (None: a CPU) the batch size alone
            batches = generation_batches(model, [len(x) for x in ids], gen.max_new_tokens, gen.batch_size,
                                         num_beams=gen.num_beams) or token_budget_batches(plain, 10**12, gen.batch_size)
        out: list[str] = [""] * len(prompts)
        device = next(model.parameters()).device
        pad = pad_id(tokenizer)
        with torch.inference_mode(), generation_mode(model):
            for batch in tqdm(batches, desc="generating", disable=not progress or len(batches) < 2):
                input_ids, mask = left_padded(tokenizer, [ids[i] for i in batch], device)
                new = model.generate(input_ids=input_ids, attention_mask=mask, pad_token_id=pad,
                                     eos_token_id=tokenizer.eos_token_id, use_cache=True, **gen.generate_kwargs())
                for row, i in enumerate(batch):
                    out[i] = tokenizer.decode(new[row, input_ids.shape[1]:], skip_special_tokens=True)
        return out


class UnslothEngine(HFEngine):
    """unsloth's patched model and fused LoRA: CUDA only. Dropout 0 and no ``lm_head`` adapter by
    default, because dropout > 0 leaves unsloth's fused LoRA kernels (measured -11 % tokens/s)
    and an ``lm_head`` adapter costs a 128k-vocabulary matrix product's worth of memory and time.
    Its compiled decoder blocks recompile for every new sequence length, so training batches are
    padded to multiples of 64 (few lengths, few compiles)."""

    name = "unsloth"
    pad_multiple = 64

    def lora_defaults(self) -> tuple[float, tuple[str, ...]]:
        return 0.0, SEVEN_PROJECTIONS

    def load(self, cfg: LLMConfig):
        from unsloth import FastLanguageModel

        from ..core.hardware import torch_dtype

        model, tok = FastLanguageModel.from_pretrained(
            model_name=cfg.model_name, max_seq_length=cfg.max_length, dtype=torch_dtype(),
            load_in_4bit=cfg.method == "qlora", full_finetuning=cfg.method == "full",
            local_files_only=os.path.isdir(cfg.model_name), **_remote_code_kwargs(cfg))
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return model, tok

    def add_adapters(self, model, cfg: LLMConfig):
        if cfg.method == "full":
            return super().add_adapters(model, cfg)
        from unsloth import FastLanguageModel

        dropout, targets = cfg.lora_settings(self.name)
        return FastLanguageModel.get_peft_model(
            model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=dropout, target_modules=list(targets),
            use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing is not False else False, random_state=cfg.seed)


ENGINES: dict[str, type[Engine]] = {"hf": HFEngine, "unsloth": UnslothEngine}


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Make an engine class available under ``cls.name``."""
    ENGINES[cls.name] = cls
    return cls


def letter_token_ids(tokenizer, letters: Sequence[str]) -> list[int]:
    """The token id each answer letter starts with, as training encodes it (the letter tokenized
    on its own, right after the generation prompt)."""
    ids = [tokenizer(letter, add_special_tokens=False)["input_ids"][0] for letter in letters]
    if len(set(ids)) != len(ids):
        raise KitError(msg(f"선택지 글자가 같은 토큰이 됩니다: {dict(zip(letters, ids))}",
                           f"option letters share a token: {dict(zip(letters, ids))}"))
    return ids


def _cuda() -> bool:
    from ..core.hardware import cuda_available

    return cuda_available()


def engine_name(requested: str = "auto") -> str:
    """The engine a run uses: ``KIT_ENGINE`` (if set) or ``requested``; ``auto`` is unsloth on a
    CUDA GPU where it is installed, else hf.

    >>> engine_name("auto") in ENGINES
    True
    """
    env = os.environ.get("KIT_ENGINE", "").strip().lower()
    choice = env or requested or "auto"
    if choice != "auto" and choice not in ENGINES:
        raise KitError(msg(f"알 수 없는 엔진 '{choice}' (가능: auto, {', '.join(ENGINES)})",
                           f"unknown engine '{choice}' (choose from auto, {', '.join(ENGINES)})"))
    if choice == "unsloth" and not _cuda():
        raise KitError(msg("unsloth 엔진은 CUDA GPU가 필요합니다", "the unsloth engine needs a CUDA GPU"))
    if choice == "auto":
        return "unsloth" if _cuda() and importlib.util.find_spec("unsloth") is not None else "hf"
    return choice


_BROKEN: set[str] = set()


def get_engine(requested: str = "auto", *, load: bool = True) -> Engine:
    """The :class:`Engine` for ``requested`` (see :func:`engine_name`). With ``load`` the
    engine's library is imported now (unsloth before transformers); an ``auto`` choice whose
    import fails falls back to hf, saying so."""
    name = engine_name(requested)
    if name == "unsloth" and load and "unsloth" not in sys.modules:
        if "transformers" in sys.modules:
            print(msg("주의: transformers가 unsloth보다 먼저 불러와졌습니다. 런타임을 다시 시작하고 첫 셀부터 실행하면 "
                      "unsloth의 최적화가 모두 적용됩니다",
                      "note: transformers was imported before unsloth; restart the runtime and run the first cell "
                      "first for all of unsloth's optimisations"), file=sys.stderr)
        try:
            import unsloth  # noqa: F401
        except Exception as err:  # a broken install must not stop the lesson in auto mode
            if (os.environ.get("KIT_ENGINE") or requested) == "unsloth":
                raise
            if name not in _BROKEN:
                print(msg(f"unsloth를 불러올 수 없어 hf 엔진을 씁니다 ({type(err).__name__})",
                          f"unsloth failed to import ({type(err).__name__}); using hf"), file=sys.stderr)
                _BROKEN.add(name)
            name = "hf"
    if name in _BROKEN:
        name = "hf"
    return ENGINES[name]()
