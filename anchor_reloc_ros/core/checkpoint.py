"""Checkpoints: safetensors weights + JSON metadata that rebuild everything.

A checkpoint holds the model weights and, in the safetensors header, a JSON document
with the backbone and heads, preprocessing (input size, normalisation), route frame,
anchors, uncertainty calibration, training config, dataset fingerprint, metrics and a
format version. Loading never unpickles and needs no command-line flags.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .anchors import RouteFrame
from .backbones import UNUSED_BACKBONE_KEYS
from .checkpoint_metadata import validate_metadata
from .decoding import UncertaintyCalibration
from .errors import CheckpointError
from .model import ModelConfig, RelocNet
from .ood import BANK_KEY, NORM_KEY, OodCalibration

FORMAT_NAME = "anchor_reloc_ros/checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "anchor_reloc"


@dataclass
class CheckpointContents:
    model: RelocNet
    metadata: dict[str, Any]
    frame: RouteFrame
    anchors_route: np.ndarray  # (N, 3); (0, 3) for PoseNet
    calibration: UncertaintyCalibration

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.metadata["preprocessing"]["image_size"]
        return int(h), int(w)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder + rename: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: Path, model: RelocNet, metadata: dict[str, Any], half: bool = False) -> Path:
    """Atomically write weights + metadata. ``half`` stores fp16 weights (smaller files)."""
    meta = dict(metadata)
    meta["format"] = FORMAT_NAME
    meta["format_version"] = FORMAT_VERSION
    meta["model"] = model.config.to_dict()
    meta["weights_dtype"] = "float16" if half else "float32"
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if half and t.is_floating_point():
            t = t.half()
        tensors[name] = t.contiguous()
    blob = save_safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(meta)})
    atomic_write_bytes(Path(path), blob)
    return Path(path)


def read_metadata(path: Path) -> dict[str, Any]:
    """Only the JSON metadata (cheap: reads the header), validated (``checkpoint_metadata``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            if header_len <= 0 or header_len > 100_000_000 or header_len + 8 > path.stat().st_size:
                raise ValueError("bad header length")
            header = json.loads(fh.read(header_len))
        meta = json.loads(header["__metadata__"][METADATA_KEY])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"not an anchor_reloc checkpoint, or the file is corrupt or truncated: {path} ({exc})"
        ) from None
    _check_format(meta, path)
    validate_metadata(meta, path)
    return meta


def _check_format(meta: dict, path: Path) -> None:
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"not an anchor_reloc checkpoint (format {meta.get('format')!r}): {path}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format version {version} is not supported (expected {FORMAT_VERSION}): {path}"
        )


def load_checkpoint(path: Path) -> CheckpointContents:
    """Rebuild the model and its decoding context from the file alone (no pickle)."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        tensors = load_safetensors_bytes(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"corrupt or truncated weights file: {path} ({exc})") from None
    try:
        config = ModelConfig(**meta["model"])
        model = RelocNet(config, pretrained=False)
        state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()
                 if not k.startswith(UNUSED_BACKBONE_KEYS)}
        if BANK_KEY in state:  # the out-of-scene bank (core/ood.py)
            ood = OodCalibration.from_metadata(meta)
            model.set_ood_bank(state[BANK_KEY], ood.k if ood else 1, state.get(NORM_KEY))
        model.load_state_dict(state, strict=True)
        frame = RouteFrame.from_dict(meta["route_frame"])
        anchors = np.asarray(meta["anchors"]["positions_route"], dtype=np.float64).reshape(-1, 3)
        calibration = UncertaintyCalibration.from_dict(meta["calibration"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"incompatible checkpoint {path}: {exc}") from None
    if config.head == "anchor" and len(anchors) != config.num_anchors:
        raise CheckpointError(
            f"incompatible checkpoint {path}: {len(anchors)} anchors for a {config.num_anchors}-way head"
        )
    model.eval()
    return CheckpointContents(model, meta, frame, anchors, calibration)
