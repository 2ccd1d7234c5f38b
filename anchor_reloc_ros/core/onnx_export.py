"""ONNX export of ``RelocNet`` with the checkpoint's metadata inside the file.

The exported graph takes ``image_B3HW`` (float32 pixels 0..255, dynamic or fixed
batch, the checkpoint's input size) and returns the head outputs under the same
names as ``RelocNet.forward``'s dict keys. The full checkpoint metadata JSON is stored
in the model's ``metadata_props`` under ``anchor_reloc``, so an ``.onnx`` file alone
rebuilds the Localizer's preprocessing and decoding. ONNX is protobuf: loading it
never unpickles anything.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .anchors import RouteFrame
from .checkpoint import METADATA_KEY, CheckpointContents, _check_format, atomic_write_bytes, load_checkpoint
from .checkpoint_metadata import validate_metadata
from .decoding import UncertaintyCalibration
from .errors import CheckpointError
from .model import COMMITTEE_LOGITS_KEY, COMMITTEE_OFFSETS_KEY, RelocNet
from .ood import BANK_KEY, OOD_SCORE_KEY

INPUT_NAME = "image_B3HW"
OUTPUT_NAMES = {"anchor": ("logits_BN", "offsets_BND", "absolute_BA"), "posenet": ("position_B3", "quat_B4")}
DEFAULT_OPSET = 17


class _ExportWrapper(nn.Module):
    """Dict outputs -> a tuple in ``OUTPUT_NAMES`` order; fp16 weights behind a float32 interface."""

    def __init__(self, model: RelocNet, fp16: bool) -> None:
        super().__init__()
        self.model = model.half() if fp16 else model
        self.fp16 = fp16
        has_ood = getattr(model, BANK_KEY) is not None
        committee = (COMMITTEE_LOGITS_KEY, COMMITTEE_OFFSETS_KEY) if model.config.committee_heads else ()
        self.names = OUTPUT_NAMES[model.config.head] + committee + ((OOD_SCORE_KEY,) if has_ood else ())

    def forward(self, image_B3HW: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = image_B3HW.half() if self.fp16 else image_B3HW
        out = self.model(x)
        return tuple(out[name].float() for name in self.names)


def export_model_onnx(model: RelocNet, metadata: dict[str, Any], out_path: str | Path, fp16: bool = False,
                      batch: int | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Export an in-memory model; ``batch=None`` makes the batch axis dynamic."""
    h, w = (int(v) for v in metadata["preprocessing"]["image_size"])
    wrapper = _ExportWrapper(model.float().cpu().eval(), fp16).eval()
    names = wrapper.names
    example = torch.full((batch or 1, 3, h, w), 127.0)
    dynamic = None if batch else {n: {0: "B"} for n in (INPUT_NAME, *names)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter needs no onnxscript; torch marks it as legacy.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        # The out-of-scene bank's row count is fixed per model, so tracing it as a constant is right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(wrapper, (example,), buf, dynamo=False, input_names=[INPUT_NAME], output_names=list(names),
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True)
    import onnx

    proto = onnx.load_from_string(buf.getvalue())
    meta = dict(metadata)
    meta["onnx"] = {"input": INPUT_NAME, "outputs": list(names), "fp16": fp16, "batch": batch, "opset": opset,
                    "torch": torch.__version__}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.producer_name = "anchor_reloc_ros"
    onnx.checker.check_model(proto)
    atomic_write_bytes(Path(out_path), proto.SerializeToString())
    return Path(out_path)


def export_onnx(checkpoint_path: str | Path, out_path: str | Path, fp16: bool = False, batch: int | None = None,
                opset: int = DEFAULT_OPSET) -> Path:
    """Export a ``.safetensors`` checkpoint to ``out_path`` (.onnx) with its metadata."""
    contents = load_checkpoint(Path(checkpoint_path))
    return export_model_onnx(contents.model, contents.metadata, out_path, fp16=fp16, batch=batch, opset=opset)


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The anchor_reloc metadata of an exported ``.onnx`` file (graph checked, no pickle)."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model file not found: {path}")
    try:
        proto = onnx.load_model_from_string(path.read_bytes())
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"corrupt or truncated ONNX file: {path} ({exc})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise CheckpointError(
            f"not an anchor_reloc ONNX export (no '{METADATA_KEY}' metadata; foreign or truncated file): {path}")
    if not proto.graph.node:
        raise CheckpointError(f"corrupt or truncated ONNX file (empty graph): {path}")
    try:
        meta = json.loads(props[METADATA_KEY])
    except ValueError as exc:
        raise CheckpointError(f"corrupt anchor_reloc metadata in ONNX file {path}: {exc}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"corrupt anchor_reloc metadata in ONNX file {path}")
    _check_format(meta, path)
    validate_metadata(meta, path)
    return meta


def load_onnx_contents(path: str | Path) -> tuple[dict[str, Any], RouteFrame, np.ndarray, UncertaintyCalibration]:
    """(metadata, route frame, anchors in the route frame (N, 3), calibration) of an export."""
    meta = read_onnx_metadata(path)
    try:
        frame = RouteFrame.from_dict(meta["route_frame"])
        anchors = np.asarray(meta["anchors"]["positions_route"], dtype=np.float64).reshape(-1, 3)
        calibration = UncertaintyCalibration.from_dict(meta["calibration"])
        model = meta["model"]
        head, n_anchors = str(model["head"]), int(model["num_anchors"])
        _h, _w = (int(v) for v in meta["preprocessing"]["image_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"incompatible anchor_reloc metadata in ONNX file {path}: {exc}") from None
    if head == "anchor" and len(anchors) != n_anchors:
        raise CheckpointError(f"incompatible ONNX file {path}: {len(anchors)} anchors for a {n_anchors}-way head")
    return meta, frame, anchors, calibration


def onnx_checkpoint_contents(path: str | Path) -> CheckpointContents:
    """A ``CheckpointContents`` without a torch model, for a Localizer with an ONNX backend."""
    meta, frame, anchors, calibration = load_onnx_contents(path)
    return CheckpointContents(None, meta, frame, anchors, calibration)  # type: ignore[arg-type]
