"""What a scene layout hands to the walk sampler and the renderer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .meshes import MeshBuilder
from .route import Route
from .textures import TextureSet

STATIC = "static"
TEST_ONLY = "test_only"


@dataclass(frozen=True)
class SceneLayout:
    """Geometry in mesh groups plus the route the camera walks.

    ``train_s`` / ``test_s`` are the arc-length intervals each pass walks (for closed
    routes they may exceed the loop length: several laps). ``lateral_limit`` bounds the walker's offset
    from the centreline; test-only occluders keep clear of that corridor.
    ``test_occluders`` holds ``(x, y, z)`` centres of the objects only the test pass
    sees (for tests and scene.json).
    """

    route: Route
    meshes: dict[str, np.ndarray]
    train_s: tuple[float, float]
    test_s: tuple[float, float]
    lateral_limit: float
    outdoor: bool
    test_occluders: np.ndarray


def add_sky_and_ground(mb: MeshBuilder, ts: TextureSet, route: Route, margin: float = 250.0) -> None:
    """Ground plane under the route's bounding box and an emissive sky box around it."""
    lo = route.points_xy.min(axis=0) - margin
    hi = route.points_xy.max(axis=0) + margin
    ground = np.array([[lo[0], lo[1], -0.03], [hi[0], lo[1], -0.03], [hi[0], hi[1], -0.03], [lo[0], hi[1], -0.03]])
    mb.add_quad(ground, ground[:, :2] / 6.0, ts.first("pavement"), tint=(0.8, 0.8, 0.75))
    centre = (lo + hi) / 2.0
    extent = float(np.max(hi - lo)) + 600.0
    mb.add_box(centre, -2.0, (extent, extent, 400.0), 0.0, ts.first("sky"), tile=(extent, 400.0),
               emissive=1.0)


def place(route: Route, s: float, d: float) -> tuple[tuple[float, float], float]:
    """Ground point and heading (yaw) at route coordinate ``(s, d)``."""
    p = route.to_world(s, d, 0.0)
    return (float(p[0]), float(p[1])), float(route.heading(s))


def is_straight(route: Route, s: float, reach: float = 1.5) -> bool:
    """Whether the route does not turn within ``reach`` metres of ``s``."""
    turn = np.angle(np.exp(1j * (route.heading(s + reach) - route.heading(s - reach))))
    return bool(abs(turn) < 1e-3)
