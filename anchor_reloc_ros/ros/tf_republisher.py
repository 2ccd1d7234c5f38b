"""Keep ``map -> odom`` alive between estimates, as AMCL does (ROS-free).

``map -> odom`` is a correction of odometry's drift: it stays valid while the robot
moves, so the latest accepted one is re-broadcast every ``transform_publish_period``
with the stamp ``max(estimate stamp, now) + transform_tolerance``. A TF lookup of
``base_link`` in ``map`` at "now" then succeeds however long the camera stalls, one-shot
mode waits for ``~/relocalize`` or the gate withholds poses; ``/diagnostics`` says
when the camera is stale. ``map -> base_link`` and ``map -> camera`` are poses at the
image time and are never re-broadcast: restamping one would claim a moving robot is
still where it was.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StampedTransform:
    T: np.ndarray    # 4x4, parent <- child
    parent: str
    child: str
    stamp_ns: int


class LatestTransform:
    """The newest accepted transform and its future-dated re-broadcast stamp."""

    def __init__(self) -> None:
        self._latest: StampedTransform | None = None
        self._lock = threading.Lock()

    def set(self, T: np.ndarray, parent: str, child: str, stamp_ns: int) -> None:
        """Keep a newly broadcast transform (the node never broadcasts an older estimate
        after a newer one, so the last one set is the newest)."""
        kept = StampedTransform(np.array(T, dtype=np.float64), parent, child, int(stamp_ns))
        with self._lock:
            self._latest = kept

    def clear(self) -> None:
        with self._lock:
            self._latest = None

    def restamped(self, now_ns: int, tolerance_ns: int) -> StampedTransform | None:
        """The kept transform stamped ``max(its stamp, now) + tolerance``; None if none."""
        with self._lock:
            latest = self._latest
        if latest is None:
            return None
        stamp = max(latest.stamp_ns, int(now_ns)) + int(tolerance_ns)
        return StampedTransform(latest.T, latest.parent, latest.child, stamp)
