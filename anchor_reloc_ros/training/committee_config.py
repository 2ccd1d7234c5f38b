"""``add-committee``'s settings (no torch import: the CLI parser reads the defaults)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError


@dataclass(frozen=True)
class CommitteeConfig:
    heads: int = 8
    hidden: int = 64
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    augmented_views: int = 3   # per training image, beside the clean one
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("heads", "hidden", "steps", "batch_size"):   # the model bounds the heads (core.model)
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.augmented_views < 0 or not self.lr > 0:
            raise ConfigError(f"--augmented-views must be >= 0 and --lr > 0, got {self.augmented_views} and {self.lr}")
