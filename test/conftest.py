"""Test-wide settings: keep every ROS process on loopback and on its own DDS domain."""
from __future__ import annotations

import os
import sys

# Set before anything imports rclpy. Each pytest run gets its own domain (1..100) so
# parallel runs on one machine never see each other's topics.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
sys.path.insert(0, os.path.dirname(__file__))  # test helpers (synthetic_fixture, ...)
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from synthetic_fixture import make_strip_dataset  # noqa: E402


@pytest.fixture(scope="session")
def strip_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Cambridge-format dataset whose images really determine the pose."""
    return make_strip_dataset(tmp_path_factory.mktemp("strip"), n_train=48, n_test=12)


@pytest.fixture(scope="session")
def tiny_checkpoint(strip_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A really trained (small, fast) anchor checkpoint on ``strip_dataset``."""
    from anchor_reloc_ros.training.config import TrainConfig
    from anchor_reloc_ros.training.trainer import train

    out = tmp_path_factory.mktemp("tiny_run")
    config = TrainConfig(data=strip_dataset, out=out, backbone="tiny_cnn", pretrained=False,
                         image_size=(48, 64), epochs=25, batch_size=16, anchor_every=6, lr=3e-3,
                         head_hidden=64, val_every=6, device="cpu", seed=0)
    return train(config, progress=False)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_checkpoint`` exported to ONNX (fp32, dynamic batch)."""
    from anchor_reloc_ros.core.onnx_export import export_onnx

    return export_onnx(tiny_checkpoint, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
