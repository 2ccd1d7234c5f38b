"""A route centreline in the ground plane, parametrised by arc length ``s``.

Scene layouts place geometry in route coordinates ``(s, d, z)``: ``s`` metres along
the route, ``d`` metres to the LEFT of it, ``z`` metres up (world z-up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def smooth_noise(rng: np.random.Generator, x: np.ndarray, length: float, n_waves: int = 4) -> np.ndarray:
    """Zero-mean, roughly unit-amplitude smooth random signal over ``x``.

    A sum of ``n_waves`` sinusoids with wavelengths around ``length`` and random
    phases; the result is scaled so that its maximum magnitude over ``x`` is 1.
    """
    x = np.asarray(x, dtype=np.float64)
    wavelengths = length * rng.uniform(0.5, 2.0, n_waves)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_waves)
    weights = rng.uniform(0.5, 1.0, n_waves)
    signal = sum(w * np.sin(2.0 * np.pi * x / lam + ph) for w, lam, ph in zip(weights, wavelengths, phases))
    peak = float(np.max(np.abs(signal))) if signal.size else 1.0
    return signal / max(peak, 1e-9)


@dataclass(frozen=True)
class Route:
    """Densely sampled centreline ``points_xy (M, 2)`` with cumulative arc length ``s``."""

    points_xy: np.ndarray
    s: np.ndarray
    closed: bool = False

    @classmethod
    def from_headings(cls, start_xy: np.ndarray, heading0: float, curvature: np.ndarray,
                      step: float, closed: bool = False) -> "Route":
        """Integrate a per-step curvature (rad/m) from a start point and heading."""
        headings = heading0 + np.concatenate([[0.0], np.cumsum(curvature * step)])
        steps = step * np.stack([np.cos(headings[:-1]), np.sin(headings[:-1])], axis=1)
        points = np.asarray(start_xy, dtype=np.float64) + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, 0)])
        return cls.from_points(points, closed)

    @classmethod
    def from_points(cls, points_xy: np.ndarray, closed: bool = False) -> "Route":
        points = np.asarray(points_xy, dtype=np.float64)
        if closed:
            points = np.concatenate([points, points[:1]])
        seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
        return cls(points, np.concatenate([[0.0], np.cumsum(seg)]), closed)

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def _wrap(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        return np.mod(s, self.length) if self.closed else s

    def point(self, s: np.ndarray) -> np.ndarray:
        """(..., 2) centreline points; open routes extrapolate linearly past the ends."""
        s = self._wrap(s)
        i = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.s) - 2)
        t = (s - self.s[i]) / (self.s[i + 1] - self.s[i])
        p0, p1 = self.points_xy[i], self.points_xy[i + 1]
        return p0 + (p1 - p0) * t[..., None]

    def tangent(self, s: np.ndarray, ds: float = 1.0) -> np.ndarray:
        """(..., 2) unit tangents, smoothed over ``ds`` metres."""
        d = self.point(np.asarray(s) + ds) - self.point(np.asarray(s) - ds)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def heading(self, s: np.ndarray) -> np.ndarray:
        t = self.tangent(s)
        return np.arctan2(t[..., 1], t[..., 0])

    def to_world(self, s: np.ndarray, d: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(..., 3) world points for route coordinates (``d`` positive to the left)."""
        s, d, z = np.broadcast_arrays(np.asarray(s, float), np.asarray(d, float), np.asarray(z, float))
        t = self.tangent(s)
        left = np.stack([-t[..., 1], t[..., 0]], axis=-1)
        xy = self.point(s) + left * d[..., None]
        return np.concatenate([xy, z[..., None]], axis=-1)
