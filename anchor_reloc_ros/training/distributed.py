"""DistributedDataParallel for the Trainer, launched by ``torchrun``.

``init_distributed`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK), starts
the process group (NCCL on CUDA, gloo on the CPU) and records a ``DistContext``; the
Trainer asks ``current_context()`` for it, which is a single-process no-op context when
nothing was initialised, so ordinary training is unchanged bit for bit.

What the Trainer gets from the context:
* ``wrap(model)``: one forward for both training paths (images, or cached frozen
  features -> heads) so DDP sees every step and all-reduces the gradients;
* ``sampler`` / ``shard``: each rank trains on its own equal-sized share of an epoch;
* ``rank_seed``: per-rank augmentation seeds (rank 0 keeps the single-process seed);
* ``is_main`` / ``main_first``: only rank 0 writes checkpoints, logs and caches.
"""
from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from ..core.errors import ConfigError, DeviceError
from ..core.model import RelocNet

log = logging.getLogger(__name__)
RANK_SEED_STRIDE = 1_000_003


class ModelEntry(nn.Module):
    """``forward(images)`` -> all heads; ``forward(features, features=True)`` -> heads on cached features."""

    def __init__(self, model: RelocNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, features: bool = False) -> dict[str, torch.Tensor]:
        return self.model.heads(x) if features else self.model(x)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: not distributed

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """A different seed on every rank; rank 0 keeps ``seed``."""
        return seed + RANK_SEED_STRIDE * self.rank

    def wrap(self, model: RelocNet, heads_only: bool = False) -> nn.Module:
        """The module the training step calls: DDP around ``ModelEntry`` when distributed."""
        entry = ModelEntry(model)
        if not self.distributed:
            return entry
        if heads_only:
            model.backbone.requires_grad_(False)  # unused by the step: DDP must not wait for its gradients
        device = next(model.parameters()).device
        ids = [device.index if device.index is not None else self.local_rank] if device.type == "cuda" else None
        return DistributedDataParallel(entry, device_ids=ids)

    def sampler(self, dataset: Dataset, seed: int, epoch: int) -> DistributedSampler | None:
        """This rank's shuffled share of ``dataset`` for ``epoch`` (None when not distributed)."""
        if not self.distributed:
            return None
        sampler = DistributedSampler(dataset, self.world_size, self.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return sampler

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's equal share of an epoch order (the remainder is dropped, so step counts match)."""
        if not self.distributed:
            return order
        usable = len(order) - len(order) % self.world_size
        return order[:usable][self.rank::self.world_size]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. computes and writes a cache), then the others."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


_CONTEXT = DistContext()


def current_context() -> DistContext:
    """The context ``init_distributed`` set up, else the single-process one."""
    return _CONTEXT


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def init_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistContext:
    """Join the torchrun process group; without torchrun's environment, stay single-process."""
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        return _CONTEXT  # already joined (idempotent)
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        _CONTEXT = DistContext()
        return _CONTEXT
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DeviceError(f"device={device} requested but CUDA is not available on this machine")
        torch.cuda.set_device(local_rank)  # "cuda" now means this rank's GPU
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))
    _CONTEXT = DistContext(rank, world_size, local_rank, backend)
    log.info("rank %d/%d (local %d) joined the %s process group", rank, world_size, local_rank, backend)
    return _CONTEXT


def shutdown_distributed() -> None:
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = DistContext()


def max_parameter_divergence(model: nn.Module) -> float:
    """Largest |parameter difference| between this rank and any other (0.0 when in sync)."""
    ctx = current_context()
    flat = torch.cat([p.detach().float().reshape(-1) for p in model.parameters()])
    if not ctx.distributed:
        return 0.0
    gathered = [torch.empty_like(flat) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, flat)
    return float(max((g - flat).abs().max() for g in gathered))
