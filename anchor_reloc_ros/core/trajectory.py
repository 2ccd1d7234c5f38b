"""A timed pose trajectory and its interpolation at query times (numpy only).

Poses follow ``core.geometry``: ``positions`` (N, 3) and w-first ``quats_wxyz`` (N, 4)
of ``T_world_frame``. Interpolation is linear in position and SLERP in rotation
between the two samples that bracket a query time.

Gap rule (``max_dt``): a query gets a pose only when it lies between two samples
(inclusive) and is at most ``max_dt`` seconds from EACH of them; a query that falls
exactly on a sample always gets that sample. Nothing is extrapolated: queries before
the first or after the last sample get no pose. This keeps long holes in the ground
truth from being bridged by a straight line.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import quat_normalize, quat_slerp


def pose_arrays(stamps: np.ndarray, positions: np.ndarray, quats_wxyz: np.ndarray,
                what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,), (N, 3), (N, 4) float arrays; ``ValueError`` naming ``what`` on mismatched
    lengths or non-finite values."""
    t = np.asarray(stamps, dtype=np.float64).reshape(-1)
    p = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    q = np.asarray(quats_wxyz, dtype=np.float64).reshape(-1, 4)
    if not len(t) == len(p) == len(q):
        raise ValueError(f"{what}: {len(t)} timestamps, {len(p)} positions, {len(q)} quaternions")
    if not (np.isfinite(t).all() and np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError(f"{what}: non-finite timestamp, position or quaternion")
    return t, p, q


@dataclass(frozen=True)
class Trajectory:
    """Poses sorted by time, one per distinct timestamp (seconds)."""

    stamps: np.ndarray       # (N,) strictly increasing
    positions: np.ndarray    # (N, 3)
    quats_wxyz: np.ndarray   # (N, 4) unit, w >= 0

    def __len__(self) -> int:
        return len(self.stamps)

    @classmethod
    def from_samples(cls, stamps: np.ndarray, positions: np.ndarray,
                     quats_wxyz: np.ndarray) -> "Trajectory":
        """Sort by time; of samples sharing a timestamp, the LAST given wins.

        Raises ``ValueError`` for mismatched lengths or non-finite values.
        """
        t, p, q = pose_arrays(stamps, positions, quats_wxyz, "trajectory")
        order = np.argsort(t, kind="stable")
        t, p, q = t[order], p[order], q[order]
        keep = np.append(t[1:] != t[:-1], True) if len(t) else np.zeros(0, bool)
        q = quat_normalize(q[keep]) if keep.any() else np.zeros((0, 4))
        return cls(t[keep], p[keep], q)

    def interpolate(self, query_stamps: np.ndarray, max_dt: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Poses at ``query_stamps`` (any order): ``positions (M, 3)``, ``quats (M, 4)``
        and ``valid (M,)``; rows without a pose (see the gap rule) are NaN."""
        query = np.asarray(query_stamps, dtype=np.float64).reshape(-1)
        m = len(query)
        positions = np.full((m, 3), np.nan)
        quats = np.full((m, 4), np.nan)
        valid = np.zeros(m, dtype=bool)
        if len(self.stamps) == 0 or m == 0:
            return positions, quats, valid
        t = self.stamps
        # right: first sample strictly after the query; left = right - 1 (<= query)
        right = np.searchsorted(t, query, side="right")
        left = right - 1
        exact = (left >= 0) & (t[np.clip(left, 0, None)] == query)
        inside = (left >= 0) & (right < len(t))
        li = np.clip(left, 0, len(t) - 1)
        ri = np.clip(right, 0, len(t) - 1)
        close = inside & (query - t[li] <= max_dt) & (t[ri] - query <= max_dt)
        positions[exact] = self.positions[li[exact]]
        quats[exact] = self.quats_wxyz[li[exact]]
        blend = close & ~exact
        if blend.any():
            a, b = li[blend], ri[blend]
            w = (query[blend] - t[a]) / (t[b] - t[a])
            positions[blend] = self.positions[a] + w[:, None] * (self.positions[b] - self.positions[a])
            quats[blend] = quat_slerp(self.quats_wxyz[a], self.quats_wxyz[b], w)
        valid = exact | blend
        return positions, quats, valid
