"""Street preset: a gently curving road between rows of buildings, with street furniture.

Route coordinates: road ``|d| < ROAD_HALF``, kerb and pavement up to ``PAVEMENT_EDGE``,
then building frontages (with set-backs), a taller back row and a few towers.
"""
from __future__ import annotations

import numpy as np

from .layout import STATIC, TEST_ONLY, SceneLayout, add_sky_and_ground, place
from .meshes import MeshBuilder
from .props import add_car, add_lamp, add_person, add_tree, add_van, random_tint
from .route import Route, smooth_noise
from .textures import TextureSet

ROAD_HALF = 4.0
PAVEMENT_EDGE = 7.0
KERB = 0.12
PARKING_D = 3.2
END_MARGIN = 40.0
FLOOR_HEIGHT = 3.2


def _street_route(rng: np.random.Generator, walk_length: float) -> Route:
    total = walk_length + 2.0 * END_MARGIN
    s = np.arange(0.0, total, 1.0)
    max_turn = np.radians(rng.uniform(10.0, 35.0))  # total heading swing stays gentle
    curvature = smooth_noise(rng, s, total / 2.0, n_waves=2) * max_turn * 2.0 / total
    return Route.from_headings(np.zeros(2), rng.uniform(-np.pi, np.pi), curvature, 1.0)



def _road(mb: MeshBuilder, ts: TextureSet, route: Route) -> None:
    L = route.length
    mb.add_ribbon(route, 0.0, L, -ROAD_HALF, ROAD_HALF, 0.0, 0.0, ts.first("asphalt"), tile=5.0)
    for side in (-1.0, 1.0):
        mb.add_ribbon(route, 0.0, L, side * ROAD_HALF, side * ROAD_HALF, 0.0, KERB, ts.first("pavement"),
                      tile=2.0, tint=(0.9, 0.9, 0.9))
        mb.add_ribbon(route, 0.0, L, side * ROAD_HALF, side * PAVEMENT_EDGE, KERB, KERB, ts.first("pavement"),
                      tile=2.5)
        mb.add_ribbon(route, 0.0, L, side * (ROAD_HALF - 0.35), side * (ROAD_HALF - 0.25), 0.01, 0.01,
                      ts.first("white"), tile=1.0, tint=(0.85, 0.85, 0.8))
    for s in np.arange(0.0, L - 3.0, 6.0):  # dashed centre line
        mb.add_ribbon(route, s, s + 3.0, -0.07, 0.07, 0.01, 0.01, ts.first("white"), tile=1.0,
                      tint=(0.9, 0.85, 0.5), step=3.0)


def _building(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, route: Route, s: float,
              width: float, d_front: float, side: float, floors: int, shop: bool) -> None:
    depth = rng.uniform(10.0, 18.0)
    xy, yaw = place(route, s + width / 2.0, side * (d_front + depth / 2.0))
    height = floors * FLOOR_HEIGHT + rng.uniform(0.3, 1.2)
    mb.add_box(xy, 0.0, (width, depth, height), yaw, ts.pick(rng, "facade"), ts.first("roof"),
               tile=(6.0, 2.0 * FLOOR_HEIGHT), snap=True, tint=random_tint(rng, 0.15))
    if shop:
        c, s_ = np.cos(yaw), np.sin(yaw)
        y = -side * (depth / 2.0 + 0.03)  # street-facing face, box-local
        x0, x1 = -width / 2.0 + 0.4, width / 2.0 - 0.4
        local = np.array([[x0, y, 0.15], [x1, y, 0.15], [x1, y, 3.6], [x0, y, 3.6]])
        world = np.stack([xy[0] + c * local[:, 0] - s_ * local[:, 1], xy[1] + s_ * local[:, 0] + c * local[:, 1],
                          local[:, 2]], axis=1)
        reps = max(1.0, round((x1 - x0) / 5.0))
        uv = np.array([[0.0, 1.0], [reps, 1.0], [reps, 0.0], [0.0, 0.0]])
        if side < 0:  # keep the lettering readable from the street
            uv = uv[[1, 0, 3, 2]]
        mb.add_quad(world, uv, ts.pick(rng, "shop"))


def _building_rows(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, route: Route) -> None:
    L = route.length
    for side in (-1.0, 1.0):
        s = -5.0
        while s < L + 5.0:
            width = rng.uniform(8.0, 22.0)
            _building(mb, ts, rng, route, s, width, PAVEMENT_EDGE + rng.choice([0.0, 0.0, 1.0, 3.0]),
                      side, int(rng.integers(2, 8)), shop=rng.random() < 0.5)
            s += width + (rng.uniform(4.0, 10.0) if rng.random() < 0.2 else rng.uniform(0.0, 0.6))
        s = -20.0
        while s < L + 20.0:  # back row, visible through alleys and above low frontages
            width = rng.uniform(15.0, 35.0)
            _building(mb, ts, rng, route, s, width, rng.uniform(30.0, 45.0), side, int(rng.integers(4, 12)), False)
            s += width + rng.uniform(0.0, 8.0)
    for _ in range(3):  # distant towers as global landmarks
        xy, yaw = place(route, rng.uniform(0.0, L), rng.choice([-1.0, 1.0]) * rng.uniform(70.0, 130.0))
        size = (rng.uniform(15, 30), rng.uniform(15, 30), rng.uniform(40, 80))
        mb.add_box(xy, 0.0, size, yaw + rng.uniform(-0.5, 0.5), ts.pick(rng, "facade"), ts.first("roof"),
                   tile=(6.0, 2.0 * FLOOR_HEIGHT), snap=True, tint=random_tint(rng, 0.3))
    for s_end in (-12.0, L + 12.0):  # close the vista at both ends
        xy, yaw = place(route, s_end, 0.0)
        mb.add_box(xy, 0.0, (12.0, 40.0, rng.uniform(12.0, 25.0)), yaw, ts.pick(rng, "facade"),
                   ts.first("roof"), tile=(6.0, 2.0 * FLOOR_HEIGHT), snap=True)


def _furniture(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator,
               route: Route) -> list[list[tuple[float, float]]]:
    """Trees, lamps and parked cars; returns the occupied parking intervals per side."""
    L = route.length
    parked: list[list[tuple[float, float]]] = []
    for side in (-1.0, 1.0):
        for s in np.arange(rng.uniform(0, 10), L, 1.0):
            if rng.random() < 0.07:
                add_tree(mb, ts, rng, place(route, s, side * rng.uniform(5.5, 6.4))[0])
        for s in np.arange(rng.uniform(0, 25), L, 25.0):
            xy, yaw = place(route, s, side * (ROAD_HALF + 0.4))
            add_lamp(mb, ts, rng, xy, yaw + (np.pi if side > 0 else 0.0))
        taken = []
        for s in np.arange(0.0, L, 6.0):
            if rng.random() < 0.35:
                xy, yaw = place(route, s + 3.0, side * PARKING_D)
                add_car(mb, ts, rng, xy, yaw + rng.uniform(-0.04, 0.04))
                taken.append((s, s + 6.0))
        parked.append(taken)
    return parked


def _test_occluders(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, route: Route,
                    parked: list[list[tuple[float, float]]]) -> np.ndarray:
    """People on pavements and kerbs, vans in free parking bays: seen only by the test pass."""
    L = route.length
    centres = []
    for side, taken in zip((-1.0, 1.0), parked):
        for s in np.arange(END_MARGIN - 10.0, L - END_MARGIN + 10.0, 1.0):
            if rng.random() < 0.1:
                d = side * rng.uniform(4.6, 6.8)
                xy, yaw = place(route, s, d)
                add_person(mb, ts, rng, xy, yaw + rng.uniform(-np.pi, np.pi))
                centres.append((*xy, 0.9))
        for s in np.arange(0.0, L, 6.0):
            free = all(e <= s - 1.0 or b >= s + 7.0 for b, e in taken)
            if free and rng.random() < 0.2:
                xy, yaw = place(route, s + 3.0, side * (PARKING_D + 0.1))
                add_van(mb, ts, rng, xy, yaw)
                centres.append((*xy, 1.2))
    return np.array(centres, dtype=np.float64).reshape(-1, 3)


def build_street(rng: np.random.Generator, ts: TextureSet, walk_length: float = 220.0) -> SceneLayout:
    route = _street_route(rng, walk_length)
    static, test_only = MeshBuilder(), MeshBuilder()
    add_sky_and_ground(static, ts, route)
    _road(static, ts, route)
    _building_rows(static, ts, rng, route)
    parked = _furniture(static, ts, rng, route)
    occluders = _test_occluders(test_only, ts, rng, route, parked)
    return SceneLayout(route=route, meshes={STATIC: static.build(), TEST_ONLY: test_only.build()},
                       train_s=(END_MARGIN, route.length - END_MARGIN),
                       test_s=(END_MARGIN, route.length - END_MARGIN), lateral_limit=2.0, outdoor=True,
                       test_occluders=occluders)
