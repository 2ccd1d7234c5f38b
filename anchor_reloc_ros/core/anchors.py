"""Anchor points and the route frame they live in.

The network regresses positions in a *route frame*: the world translated to the mean
training camera centre, rotated so that its first two axes span the route's
horizontal plane (the "anchored" plane) and its third axis is up, and divided by one
isotropic scale so that targets are O(1) whatever the dataset's units.

Cambridge Landmarks and 7-Scenes are not z-up, so the up axis is detected from the
training trajectory (the direction of least variance of the camera centres, signed
to agree with the cameras' own "up") unless the user names it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .geometry import quat_to_matrix

UP_AXIS_CHOICES = ("auto", "x", "y", "z", "-x", "-y", "-z")


@dataclass(frozen=True)
class RouteFrame:
    """``p_route = R_route_world @ (p_world - origin) / scale``."""

    origin: np.ndarray         # (3,) world
    R_route_world: np.ndarray  # (3, 3); rows = anchored axis 1, anchored axis 2, up
    scale: float               # metres per route unit
    up_axis: str               # how the up axis was chosen ("auto" or a named axis)

    def to_route(self, p_world: np.ndarray) -> np.ndarray:
        return (np.asarray(p_world, dtype=np.float64) - self.origin) @ self.R_route_world.T / self.scale

    def to_world(self, p_route: np.ndarray) -> np.ndarray:
        return np.asarray(p_route, dtype=np.float64) * self.scale @ self.R_route_world + self.origin

    def to_dict(self) -> dict:
        return {"origin": self.origin.tolist(), "R_route_world": self.R_route_world.tolist(),
                "scale": self.scale, "up_axis": self.up_axis}

    @staticmethod
    def from_dict(d: dict) -> "RouteFrame":
        return RouteFrame(np.asarray(d["origin"], dtype=np.float64),
                          np.asarray(d["R_route_world"], dtype=np.float64),
                          float(d["scale"]), str(d["up_axis"]))


def _named_axis(name: str) -> np.ndarray:
    sign = -1.0 if name.startswith("-") else 1.0
    axis = np.zeros(3)
    axis["xyz".index(name[-1])] = sign
    return axis


def detect_up_axis(positions: np.ndarray, quats_wxyz: np.ndarray | None = None) -> np.ndarray:
    """Unit normal of the plane of least variance of the camera centres.

    Its sign is chosen so that it agrees on average with the cameras' own up direction
    (optical -y in the world) when orientations are given, else with +world z.
    """
    P = np.asarray(positions, dtype=np.float64)
    if len(P) < 3:
        raise ConfigError("need at least 3 training poses to detect the up axis; pass --up-axis")
    centred = P - P.mean(axis=0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    up = vecs[:, 0]
    if quats_wxyz is not None and len(quats_wxyz):
        cam_up = -quat_to_matrix(np.asarray(quats_wxyz))[:, :, 1]  # optical -y in world
        reference = cam_up.mean(axis=0)
    else:
        reference = np.array([0.0, 0.0, 1.0])
    return up if float(up @ reference) >= 0.0 else -up


def route_frame_from_trajectory(positions: np.ndarray, quats_wxyz: np.ndarray | None = None,
                                up_axis: str = "auto") -> RouteFrame:
    """Build the route frame from training camera centres (and orientations)."""
    if up_axis not in UP_AXIS_CHOICES:
        raise ConfigError(f"--up-axis must be one of {UP_AXIS_CHOICES}, got {up_axis!r}")
    P = np.asarray(positions, dtype=np.float64)
    up = detect_up_axis(P, quats_wxyz) if up_axis == "auto" else _named_axis(up_axis)
    origin = P.mean(axis=0)
    centred = P - origin
    # First anchored axis: the dominant horizontal direction of the route.
    horizontal = centred - np.outer(centred @ up, up)
    _, vecs = np.linalg.eigh(horizontal.T @ horizontal)
    e1 = vecs[:, -1] - (vecs[:, -1] @ up) * up
    if np.linalg.norm(e1) < 1e-9:  # degenerate (a single point): any horizontal axis
        e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    R = np.stack([e1, e2, up])
    scale = float(np.sqrt(np.mean(np.sum(centred ** 2, axis=1))))
    return RouteFrame(origin, R, max(scale, 1e-3), up_axis)


@dataclass(frozen=True)
class AnchorSet:
    """Anchor positions (route frame), the frames they came from and the anchored dims."""

    positions_route: np.ndarray  # (N, 3)
    frame_indices: np.ndarray    # (N,) indices into the training list
    every_k: int
    dims: int                    # 2: anchored plane (paper); 3: all axes (drones)

    @property
    def count(self) -> int:
        return int(len(self.positions_route))

    @staticmethod
    def from_metadata(anchors: dict) -> "AnchorSet":
        """The set a checkpoint's ``anchors`` metadata section describes."""
        return AnchorSet(np.asarray(anchors["positions_route"], dtype=np.float64).reshape(-1, 3),
                         np.asarray(anchors["frame_indices"]), int(anchors["every_k"]), int(anchors["dims"]))


def select_anchors(positions_route: np.ndarray, every_k: int, dims: int = 2) -> AnchorSet:
    """Every k-th training frame along the route becomes an anchor (the paper's rule)."""
    if every_k < 1:
        raise ConfigError(f"--anchor-every must be >= 1, got {every_k}")
    if dims not in (2, 3):
        raise ConfigError(f"anchor dims must be 2 or 3, got {dims}")
    P = np.asarray(positions_route, dtype=np.float64)
    if len(P) == 0:
        raise ConfigError("cannot select anchors from an empty training set")
    idx = np.arange(0, len(P), every_k)
    return AnchorSet(P[idx].copy(), idx, every_k, dims)


def anchor_offsets(positions_route: np.ndarray, anchors: AnchorSet) -> np.ndarray:
    """(B, N, dims) offsets from every anchor to every position, in route units."""
    P = np.asarray(positions_route, dtype=np.float64)[:, None, : anchors.dims]
    return P - anchors.positions_route[None, :, : anchors.dims]


def nearest_anchor(positions_route: np.ndarray, anchors: AnchorSet) -> np.ndarray:
    """(B,) index of the anchor nearest to each position in the anchored dims."""
    return np.argmin(np.sum(anchor_offsets(positions_route, anchors) ** 2, axis=-1), axis=1)
