"""Validation of a checkpoint's metadata JSON (``.safetensors`` and ``.onnx`` alike).

Everything the Localizer and the node build from the metadata is checked when the file
is read, so a bad value stops the start-up with a ``CheckpointError`` naming the file and
the field, instead of a ``ValueError`` deep inside the first frame:

* ``model``: a known backbone and head, integer anchor count and dims;
* ``preprocessing``: ``image_size`` two integers [height, width] in 16..4096, and
  ``mean`` / ``std`` (when present) three finite numbers, ``std > 0``;
* ``route_frame``: a finite origin, an orthonormal right-handed 3x3 rotation, scale > 0;
* ``anchors.positions_route``: N finite 3-D points, N = the head's anchor count (0 for
  PoseNet), with ``anchors.dims`` (when present) equal to the head's anchor dims;
* ``calibration``: a symmetric positive semi-definite 3x3 position covariance, a finite
  rotation variance >= 0 and a temperature > 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .backbones import BACKBONES
from .errors import CheckpointError
from .model import HEAD_TYPES, MAX_COMMITTEE_HEADS, TRUNK_TYPES

IMAGE_SIDE_RANGE = (16, 4096)
ORTHONORMAL_TOLERANCE = 1e-6
PSD_TOLERANCE = 1e-9
MAX_HEAD_HIDDEN = 65536  # a hidden layer this wide is already ~10^8 weights per head


class _Invalid(Exception):
    """One field's problem: (dotted field name, what is wrong)."""


def validate_metadata(meta: dict, path: Path | str) -> None:
    """Raise ``CheckpointError("invalid metadata in <file>: <field> ...")`` for the first bad field."""
    try:
        model = _section(meta, "model")
        head = _choice(model, "model.head", "head", HEAD_TYPES)
        _choice(model, "model.backbone", "backbone", tuple(sorted(BACKBONES)))
        n_anchors = _integer(model, "model.num_anchors", "num_anchors", 1 if head == "anchor" else 0)
        dims = _integer(model, "model.anchor_dims", "anchor_dims", 2, 3)
        _integer(model, "model.head_hidden", "head_hidden", 0, MAX_HEAD_HIDDEN)
        if "committee_heads" in model:  # older checkpoints predate the committee
            _integer(model, "model.committee_heads", "committee_heads", 0, MAX_COMMITTEE_HEADS)
            _integer(model, "model.committee_hidden", "committee_hidden", 1, MAX_HEAD_HIDDEN)
        if "trunk" in model:  # older checkpoints predate the shared trunk
            _choice(model, "model.trunk", "trunk", TRUNK_TYPES)
        if not 0.0 <= _number(model, "model.dropout", "dropout") < 1.0:
            raise _Invalid("model.dropout", f"must be in [0, 1), got {model['dropout']!r}")
        _check_preprocessing(_section(meta, "preprocessing"))
        _check_route_frame(_section(meta, "route_frame"))
        _check_anchors(_section(meta, "anchors"), n_anchors if head == "anchor" else 0, dims, head)
        _check_calibration(_section(meta, "calibration"))
    except _Invalid as exc:
        field, problem = exc.args
        raise CheckpointError(f"invalid metadata in checkpoint {path}: {field} {problem}") from None


def _section(meta: dict, name: str) -> dict:
    value = meta.get(name) if isinstance(meta, dict) else None
    if not isinstance(value, dict):
        raise _Invalid(name, "is missing" if value is None else f"must be an object, got {value!r:.80}")
    return value


def _get(section: dict, field: str, key: str) -> Any:
    if key not in section:
        raise _Invalid(field, "is missing")
    return section[key]


def _choice(section: dict, field: str, key: str, choices: tuple[str, ...]) -> str:
    value = _get(section, field, key)
    if value not in choices:
        raise _Invalid(field, f"= {value!r:.80} is unknown; expected one of {', '.join(choices)}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(section: dict, field: str, key: str, low: int, high: int | None = None) -> int:
    value = _get(section, field, key)
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise _Invalid(field, f"must be an integer {bound}, got {value!r:.80}")
    return value


def _array(value: Any, field: str, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """Finite float64 array of ``shape`` (None = any length) from JSON lists."""
    try:
        if isinstance(value, (str, bool)):
            raise TypeError
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Invalid(field, f"must be {what}, got {value!r:.80}") from None
    if shape[0] is None and array.size == 0:
        array = array.reshape(0, *shape[1:])  # [] is an empty list of points
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        raise _Invalid(field, f"must be {what}, got {value!r:.80}")
    if not np.all(np.isfinite(array)):
        raise _Invalid(field, f"must be finite, got {value!r:.80}")
    return array


def _number(section: dict, field: str, key: str) -> float:
    value = _get(section, field, key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
        raise _Invalid(field, f"must be a finite number, got {value!r:.80}")
    return float(value)


def _check_preprocessing(pre: dict) -> None:
    size = _get(pre, "preprocessing.image_size", "image_size")
    low, high = IMAGE_SIDE_RANGE
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and low <= v <= high for v in size)):
        raise _Invalid("preprocessing.image_size",
                       f"must be two integers [height, width] in {low}..{high}, got {size!r:.80}")
    for key in ("mean", "std"):
        if key in pre:
            values = _array(pre[key], f"preprocessing.{key}", (3,), "three numbers (R, G, B)")
            if key == "std" and np.any(values <= 0):
                raise _Invalid("preprocessing.std", f"must be > 0, got {pre[key]!r:.80}")


def _check_route_frame(frame: dict) -> None:
    _array(_get(frame, "route_frame.origin", "origin"), "route_frame.origin", (3,), "three numbers")
    R = _array(_get(frame, "route_frame.R_route_world", "R_route_world"), "route_frame.R_route_world",
               (3, 3), "a 3x3 matrix")
    if np.abs(R @ R.T - np.eye(3)).max() > ORTHONORMAL_TOLERANCE or np.linalg.det(R) <= 0:
        raise _Invalid("route_frame.R_route_world", f"is not a rotation (R R^T != I or det <= 0): {R.tolist()}")
    if _number(frame, "route_frame.scale", "scale") <= 0:
        raise _Invalid("route_frame.scale", f"must be > 0, got {frame['scale']!r}")
    if not isinstance(_get(frame, "route_frame.up_axis", "up_axis"), str):
        raise _Invalid("route_frame.up_axis", "must be a string")


def _check_anchors(anchors: dict, expected: int, dims: int, head: str) -> None:
    points = _array(_get(anchors, "anchors.positions_route", "positions_route"), "anchors.positions_route",
                    (None, 3), "a list of [x, y, z] points")
    if len(points) != expected:
        raise _Invalid("anchors.positions_route",
                       f"holds {len(points)} anchors, but the {head} head has {expected}")
    if head == "anchor" and "dims" in anchors and anchors["dims"] != dims:
        raise _Invalid("anchors.dims", f"= {anchors['dims']!r:.80} differs from model.anchor_dims {dims}")


def _check_calibration(cal: dict) -> None:
    cov = _array(_get(cal, "calibration.position_cov", "position_cov"), "calibration.position_cov",
                 (3, 3), "a 3x3 matrix")
    if np.abs(cov - cov.T).max() > 1e-9 * max(1.0, np.abs(cov).max()) or \
            np.linalg.eigvalsh(cov).min() < -PSD_TOLERANCE * max(1.0, np.abs(cov).max()):
        raise _Invalid("calibration.position_cov", f"is not a covariance (symmetric, PSD): {cov.tolist()}")
    if _number(cal, "calibration.rotation_var", "rotation_var") < 0:
        raise _Invalid("calibration.rotation_var", f"must be >= 0, got {cal['rotation_var']!r}")
    if _number(cal, "calibration.temperature", "temperature") <= 0:
        raise _Invalid("calibration.temperature", f"must be > 0, got {cal['temperature']!r}")
