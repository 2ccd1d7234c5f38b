"""One rank of the DDP test (launched by torchrun from test_ddp.py; not a test module).

Phase 1 checks ``training/distributed.py`` directly: ranks start from different random
weights, DDP makes them equal, and after a few steps on disjoint shards (real loss) the
weights are identical on every rank and equal to one process training on the union of
the shards. Phase 2 (``--data``) runs the real Trainer through ``tools.train_ddp``.
Each rank writes ``rank<N>.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from anchor_reloc_ros.core.loss import LossWeights, reloc_loss
from anchor_reloc_ros.core.model import ModelConfig, RelocNet
from anchor_reloc_ros.training.distributed import init_distributed, max_parameter_divergence

STEPS, GLOBAL_BATCH = 4, 8


def _data() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (STEPS * GLOBAL_BATCH, 3, 32, 32), generator=g).float()
    quat = torch.nn.functional.normalize(torch.randn(len(images), 4, generator=g), dim=1)
    return images, {"position_B3": torch.randn(len(images), 3, generator=g), "quat_B4": quat}


def _train(model: torch.nn.Module, shard: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """SGD steps on this rank's shard of each global batch (eval mode: BatchNorm is batch-size independent)."""
    images, targets = _data()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05)
    model.eval()
    for step in range(STEPS):
        idx = shard(torch.arange(step * GLOBAL_BATCH, (step + 1) * GLOBAL_BATCH))
        loss, _ = reloc_loss(model(images[idx]), {k: v[idx] for k, v in targets.items()}, LossWeights(0, 1, 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def phase_distributed_primitives(rank: int) -> dict:
    ctx = init_distributed("cpu")
    torch.manual_seed(rank)  # different initial weights on every rank
    model = RelocNet(ModelConfig("tiny_cnn", head="posenet", head_hidden=16, dropout=0.0))
    before = max_parameter_divergence(model)
    ddp = ctx.wrap(model)  # DDP broadcasts rank 0's weights
    initial = _flat(model).clone()
    _train(ddp, ctx.shard)
    after = max_parameter_divergence(model)
    reference = RelocNet(ModelConfig("tiny_cnn", head="posenet", head_hidden=16, dropout=0.0))
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(initial.clone(), reference.parameters())  # (it keeps views)
    _train(reference, lambda idx: idx)  # one process, the whole global batch
    return {"world_size": ctx.world_size, "divergence_before": before, "divergence_after": after,
            "moved": float((_flat(model) - initial).abs().max()),
            "vs_single_process": float((_flat(model) - _flat(reference)).abs().max())}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    result = phase_distributed_primitives(rank)
    if args.data:
        from anchor_reloc_ros.tools import train_ddp

        result["train_ddp_exit"] = train_ddp.main(
            ["--data", str(args.data), "--out", str(args.out / "run"), "--backbone", "tiny_cnn", "--no-pretrained",
             "--image-size", "64x48", "--epochs", "2", "--batch-size", "8", "--anchor-every", "6",
             "--val-every", "6", "--device", "cpu", "--threads", "1", "--quiet"])
    (args.out / f"rank{rank}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
