"""Causal LMs for the tasks: settings (:mod:`.config`), engines (:mod:`.engines`), answer-only
fine-tuning with resume, merge and inference loading (:mod:`.train`).

Training also runs as a script, on one GPU or several (DDP)::

    python -m helpers.llm train --task cci --train data/raw/cci/train.json --output-dir outputs/llm/cci
    python -m helpers.llm train recipe.json            # every LLMConfig field from a JSON file
    accelerate launch --num_processes 2 -m helpers.llm train --task cci ...
    torchrun --nproc_per_node 2 -m helpers.llm train --task cci ...

Smoke mode builds a tiny Llama from a config (random weights) with a tokenizer trained on
the shipped text, saves it like a hub checkpoint and loads it through the same functions.
"""

from ..batching import AnswerOnlyCollator, TokenBudgetSampler
from .config import SEED_TARGETS, SEVEN_PROJECTIONS, SMOKE_SETTINGS, LLMConfig
from .engines import ENGINES, Engine, engine_name, get_engine, register_engine
from .tiny import tiny_model_dir
from .train import (CONFIG_FILE, TrainResult, add_adapters, auto_token_budget, encode_example, held_gpu_notice,
                    last_checkpoint, load_for_inference, load_model, load_tokenizer, merge_adapter, merge_lora_shards,
                    prompt_and_answer, save_adapter, sft_examples, train, training_arguments, use_checkpointing)

__all__ = ["LLMConfig", "SEVEN_PROJECTIONS", "SEED_TARGETS", "SMOKE_SETTINGS", "Engine", "ENGINES", "engine_name",
           "get_engine", "register_engine", "resolve_engine", "tiny_model_dir", "TrainResult", "load_model",
           "add_adapters", "load_tokenizer", "encode_example", "prompt_and_answer", "sft_examples", "auto_token_budget",
           "last_checkpoint", "training_arguments", "train", "save_adapter", "merge_adapter", "merge_lora_shards",
           "use_checkpointing", "load_for_inference", "held_gpu_notice",
           "AnswerOnlyCollator", "TokenBudgetSampler", "CONFIG_FILE"]


def resolve_engine(engine: str = "auto") -> str:
    """The engine name a run with ``engine`` uses (see :func:`engine_name`)."""
    return engine_name(engine)
