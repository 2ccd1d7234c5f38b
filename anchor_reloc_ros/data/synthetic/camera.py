"""Pinhole intrinsics and the OpenGL projection built exactly from them.

Pixel convention (OpenCV/ROS): pixel ``(col, row)`` has its centre at ``u = col``,
``v = row``; a point ``(x, y, z)`` in the optical frame (x right, y down, z forward)
projects to ``u = fx x / z + cx``, ``v = fy y / z + cy``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> "PinholeCamera":
        """Square pixels, principal point at the image centre."""
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(width, height, float(f), float(f), width / 2.0, height / 2.0)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(N, 2) pixel coordinates ``(u, v)`` of optical-frame points ``(N, 3)``."""
        p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        return np.stack([self.fx * p[:, 0] / p[:, 2] + self.cx, self.fy * p[:, 1] / p[:, 2] + self.cy], axis=1)

    def gl_projection(self, near: float, far: float) -> np.ndarray:
        """4x4 matrix taking OPTICAL-frame points straight to OpenGL clip space.

        Framebuffer row ``r`` (window y = r) is image row ``v = r``, so the pixels read
        back with ``glReadPixels`` are already top row first: no flip is needed and the
        y-down optical frame needs no axis change. Window pixel ``col`` spans
        ``[col, col + 1]`` with its centre at ``col + 0.5`` = ``u + 0.5``; hence the
        ``+ 0.5`` terms. Depth is the standard OpenGL mapping of ``z`` in ``[near, far]``.
        """
        W, H = self.width, self.height
        P = np.zeros((4, 4))
        P[0, 0] = 2.0 * self.fx / W
        P[0, 2] = 2.0 * (self.cx + 0.5) / W - 1.0
        P[1, 1] = 2.0 * self.fy / H
        P[1, 2] = 2.0 * (self.cy + 0.5) / H - 1.0
        P[2, 2] = (far + near) / (far - near)
        P[2, 3] = -2.0 * far * near / (far - near)
        P[3, 2] = 1.0
        return P
