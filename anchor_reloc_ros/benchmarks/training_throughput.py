"""Training throughput (images/s) through the real ``Trainer`` on a generated dataset.

Modes: the whole network on the CPU, heads on cached frozen-backbone features on the CPU
(``--freeze-backbone``; the one-time feature caching is reported as setup time), and
the whole network with AMP on CUDA when present. Each mode runs one warm-up epoch,
then the median of the timed epochs (training steps only: no validation or saving).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..training.config import TrainConfig
from ..training.trainer import Trainer
from .synthetic import write_corridor_dataset

VAL_EVERY = 4  # every 4th frame held out: the training split is a whole number of batches


@dataclass(frozen=True)
class TrainMode:
    name: str
    device: str
    freeze_backbone: bool
    amp: bool


@dataclass
class TrainRow:
    backbone: str
    mode: str
    train_images: int
    batch_size: int
    setup_s: float          # data preparation (+ feature caching when frozen)
    epoch_s: float          # median timed epoch
    images_per_s: float


def available_modes() -> list[TrainMode]:
    modes = [TrainMode("cpu", "cpu", False, False), TrainMode("cpu frozen-features", "cpu", True, False)]
    if torch.cuda.is_available():
        modes += [TrainMode("cuda amp", "cuda", False, True), TrainMode("cuda frozen-features", "cuda", True, True)]
    return modes


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_training(dataset: Path, out: Path, backbone: str, size_hw: tuple[int, int], mode: TrainMode,
                     threads: int, batch_size: int, timed_epochs: int, cache_copies: int) -> TrainRow:
    config = TrainConfig(data=dataset, out=out, backbone=backbone, pretrained=False,
                         freeze_backbone=mode.freeze_backbone, image_size=size_hw, epochs=timed_epochs + 1,
                         batch_size=batch_size, device=mode.device, amp=mode.amp, threads=threads,
                         feature_cache_augmentations=cache_copies, anchor_every=4, val_every=VAL_EVERY, seed=0)
    t0 = time.perf_counter()
    trainer = Trainer(config, progress=False)
    _sync(mode.device)
    setup = time.perf_counter() - t0
    times = []
    for epoch in range(timed_epochs + 1):
        t0 = time.perf_counter()
        trainer._train_epoch(epoch)  # the training steps alone, as Trainer.run performs them
        _sync(mode.device)
        times.append(time.perf_counter() - t0)
    epoch_s = statistics.median(times[1:])
    n = len(trainer.data.train_frames)
    return TrainRow(backbone, mode.name, n, batch_size, setup, epoch_s, n / epoch_s)


def benchmark_training(backbone: str, size_hw: tuple[int, int], threads: int, workdir: Path, quick: bool
                       ) -> list[TrainRow]:
    batch_size = 8 if quick else 32
    n_images = batch_size * 3 * VAL_EVERY // (VAL_EVERY - 1)  # 3 full batches after the validation split
    dataset = write_corridor_dataset(workdir / "train_data", n_images, 4, size_hw)
    rows = []
    for i, mode in enumerate(available_modes()):
        rows.append(measure_training(dataset, workdir / f"train_run{i}", backbone, size_hw, mode, threads,
                                     batch_size=batch_size, timed_epochs=1 if quick else 3,
                                     cache_copies=1 if quick else 4))
    return rows


def rows_as_dicts(rows: list[TrainRow]) -> list[dict]:
    return [asdict(r) for r in rows]
