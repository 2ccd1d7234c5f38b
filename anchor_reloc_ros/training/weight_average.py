"""An exponential moving average of the trained weights (``--ema-decay``).

Validation picks ``best.safetensors`` once per epoch. With a noisy per-epoch validation
median (on the street preset it swung between 4 and 9 m from one epoch to the next),
that pick is partly luck; the average of the last ~1/(1-decay) steps changes slowly, so
the epoch it picks is one the neighbouring epochs agree with.

``torch.optim.swa_utils.AveragedModel`` keeps the averaged copy (parameters and
buffers); the decay warms up as ``min(decay, (1 + n) / (10 + n))`` over the first steps,
so a run of a few hundred steps averages its own recent steps, not its initial weights.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def _ema_step(decay: float):
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        d = min(decay, (1.0 + float(n_averaged)) / (10.0 + float(n_averaged)))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1.0 - d)
        else:  # integer buffers (BatchNorm's num_batches_tracked): follow the model
            for a, c in zip(averaged, current):
                a.copy_(c)
    return update


class WeightAverage:
    """The EMA of ``model``'s weights; ``update`` after every optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.averaged = AveragedModel(model, multi_avg_fn=_ema_step(decay), use_buffers=True)

    @property
    def model(self) -> nn.Module:
        """The averaged network (same class and keys as the trained one)."""
        return self.averaged.module

    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    @contextmanager
    def swapped_into(self, model: nn.Module) -> Iterator[None]:
        """``model`` holds the averaged weights inside the block and its own afterwards."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.model.state_dict())
        try:
            yield
        finally:
            model.load_state_dict(own)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.averaged.load_state_dict(state)
