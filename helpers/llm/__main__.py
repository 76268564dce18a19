"""``python -m helpers.llm train|merge``: fine-tune on a task file, or merge an adapter.

Flags are the fields of :class:`~helpers.llm.config.LLMConfig` and :class:`TrainArgs`, parsed by
transformers' ``HfArgumentParser``; a single ``.json`` argument is read as a recipe instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..core.messages import KitError, msg


@dataclass
class TrainArgs:
    """What to train on (the model's settings are in :class:`LLMConfig`)."""

    task: str = field(default="cci", metadata={"help": "task name (cci, dcs, sc, …)"})
    train: Optional[str] = field(default=None, metadata={"help": "training file (default: the task's data or sample)"})
    smoke: bool = field(default=False, metadata={"help": "the tiny local model (default when there is no GPU)"})
    synthetic: int = field(default=0, metadata={"help": "train on N synthetic records of the task instead"})
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimizer steps"})
    resume: bool = field(default=True, metadata={"help": "continue from the newest checkpoint in output_dir"})
    force_resume: bool = field(default=False, metadata={"help": "resume even if the data or adapter settings changed"})


def _train(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    from .. import data, tasks
    from ..core.hardware import cuda_available
    from .config import SMOKE_SETTINGS, LLMConfig
    from .train import train

    parser = HfArgumentParser((LLMConfig, TrainArgs), prog="python -m helpers.llm train")
    if len(argv) == 1 and argv[0].endswith(".json"):
        cfg, args = parser.parse_json_file(argv[0])
        given = set(cfg.__dict__)
    else:
        cfg, args = parser.parse_args_into_dataclasses(argv)
        given = {a.lstrip("-").split("=")[0].replace("-", "_") for a in argv if a.startswith("--")}
    task = tasks.get(args.task)
    smoke = args.smoke or not cuda_available()
    if smoke:  # smoke settings where the command line did not set a value
        from .tiny import tiny_model_dir

        for key, value in {**SMOKE_SETTINGS, "model_name": None}.items():
            if key not in given:
                setattr(cfg, key, value if key != "model_name" else str(tiny_model_dir()))
    if args.synthetic:
        records = task.synthetic(args.synthetic, seed=cfg.seed)
    else:
        path = args.train or data.data_file(task.name, "train")
        records = task.load(path)  # checked before any model loads
    extra = {"max_steps": args.max_steps} if args.max_steps > 0 else {}
    result = train(cfg, records, resume=args.resume, force_resume=args.force_resume, **extra)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    print(f"rank {rank}/{world} done", flush=True)
    if rank == 0:
        print(f"saved -> {result.adapter_dir}", flush=True)
    return 0


def main(argv=None) -> int:
    from ..core.cli import run

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m helpers.llm", description="LLM fine-tuning (answer-only loss)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="fine-tune on a task file (every LLMConfig field is a flag); --help lists them",
                   add_help=False)
    mg = sub.add_parser("merge", help="merge a LoRA adapter into its base model")
    mg.add_argument("adapter_dir")
    mg.add_argument("out_dir")

    def command(args) -> int:
        if args.command == "train":
            return _train(argv[1:])
        from .train import merge_adapter

        if Path(args.out_dir).resolve() == Path(args.adapter_dir).resolve():
            raise KitError(msg("출력 폴더가 어댑터 폴더와 같습니다", "the output folder is the adapter folder"))
        print(merge_adapter(args.adapter_dir, args.out_dir))
        return 0

    if argv[:1] == ["train"]:
        return run(lambda _: _train(argv[1:]), argparse.ArgumentParser(add_help=False), [])
    return run(command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
