"""Distributed training: ``torchrun --nproc_per_node N -m anchor_reloc_ros.tools.train_ddp --data DIR --out RUN ...``.

Takes exactly the options of ``anchor-reloc train``. Every process trains the same model
on its own share of each epoch (DistributedDataParallel: NCCL on CUDA, one GPU per
process; gloo on the CPU); rank 0 alone writes checkpoints, logs and caches.
``--batch-size`` is per process, so the effective batch is N times larger.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..core.errors import AnchorRelocError, ConfigError
from . import train as train_tool
from .cli import CommandParser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node N -m anchor_reloc_ros.tools.train_ddp",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", parser_class=CommandParser)  # --help shows defaults
    train_tool.register(sub)  # the same options as `anchor-reloc train`
    return parser


def run(args: argparse.Namespace) -> int:
    from ..training import trainer as trainer_module
    from ..training.distributed import init_distributed, max_parameter_divergence, shutdown_distributed

    ctx = init_distributed(args.device)
    try:
        if ctx.distributed and not hasattr(trainer_module, "current_context"):
            raise ConfigError("training/trainer.py has no DDP hook yet (see training/distributed.py)")
        config = train_tool.config_from_args(args, args.data, args.out)  # every `train` flag
        trainer = trainer_module.Trainer(config, progress=ctx.is_main and not args.quiet)
        best = trainer.run()
        divergence = max_parameter_divergence(trainer.model)
        if ctx.is_main:
            print(f"ranks: {ctx.world_size} ({ctx.backend or 'single process'}); "
                  f"max parameter difference between ranks: {divergence:.3g}")
            print(f"best checkpoint: {best}")
        if divergence > 0.0:
            raise AnchorRelocError(f"rank {ctx.rank}: parameters diverged across ranks by {divergence:.3g}")
        return 0
    finally:
        shutdown_distributed()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except AnchorRelocError as exc:
        print(f"train_ddp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
