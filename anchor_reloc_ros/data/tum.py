"""TUM RGB-D trajectory files: ``timestamp tx ty tz qx qy qz qw`` per line.

The file stores the quaternion x, y, z, w (w LAST); this module converts to and from
the package's w-first ``quats_wxyz``. Poses are ``T_world_cam`` (the translation is the
camera centre, the rotation maps camera vectors into the world), as in the TUM
benchmark. ``#`` starts a comment (whole line or trailing); blank lines, tabs, commas
between fields and CRLF endings are accepted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.geometry import quat_normalize
from ..core.trajectory import pose_arrays
from .text_lines import parse_floats, parse_unit_quat, read_text_lines

_HEADER = "# timestamp tx ty tz qx qy qz qw"


def read_tum(path: Path | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a trajectory: ``timestamps (N,)``, ``positions (N, 3)``, ``quats_wxyz (N, 4)``.

    Rows keep file order; quaternions come back normalised with ``w >= 0``.
    """
    lines = read_text_lines(Path(path), comment="#", what="TUM trajectory")
    rows = np.empty((len(lines), 8))
    for i, line in enumerate(lines):
        tokens = line.text.replace(",", " ").split()
        if len(tokens) != 8:
            raise line.error(f"expected 8 fields 'timestamp tx ty tz qx qy qz qw', got {len(tokens)}")
        values = parse_floats(line, tokens, "trajectory values")
        values[4:] = parse_unit_quat(line, np.roll(values[4:], 1))  # xyzw -> wxyz
        rows[i] = values
    return rows[:, 0].copy(), rows[:, 1:4].copy(), rows[:, 4:8].copy()


def write_tum(
    path: Path | str,
    timestamps: np.ndarray,
    positions: np.ndarray,
    quats_wxyz: np.ndarray,
) -> None:
    """Write a trajectory (quaternions are normalised and stored x, y, z, w).

    Timestamps get 9 decimals (nanoseconds), positions and quaternions 12.
    Raises ``ValueError`` on mismatched shapes or non-finite values.
    """
    t, p, q = pose_arrays(timestamps, positions, quats_wxyz, "write_tum")
    q_xyzw = np.roll(quat_normalize(q), -1, axis=-1) if len(q) else q
    lines = [_HEADER]
    for stamp, pos, quat in zip(t, p, q_xyzw):
        numbers = " ".join(f"{v:.12f}" for v in (*pos, *quat))
        lines.append(f"{stamp:.9f} {numbers}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
