"""Indoor presets: a furnished room walked as a loop, and a long corridor with turns."""
from __future__ import annotations

import numpy as np

from .layout import STATIC, TEST_ONLY, SceneLayout, is_straight, place
from .meshes import MeshBuilder
from .props import add_cabinet, add_person, add_table, random_tint
from .route import Route
from .textures import TextureSet



def _wall_item(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, origin: np.ndarray,
               along: np.ndarray, inward: np.ndarray) -> float:
    """A door, poster or window on a wall, starting at ground point ``origin`` and running along
    the unit vector ``along``; ``inward`` is the wall's unit normal into the room. Returns its width."""
    kind = str(rng.choice(["door", "poster", "poster", "window"]))
    width, z0, z1, layer, emissive = {
        "door": (1.0, 0.0, 2.1, ts.pick(rng, "wood"), 0.0),
        "poster": (rng.uniform(0.6, 1.6), 1.1, rng.uniform(1.7, 2.3), ts.pick(rng, "poster"), 0.0),
        "window": (rng.uniform(1.2, 2.0), 0.9, 2.3, ts.pick(rng, "poster"), 1.0),
    }[kind]
    a = np.asarray(origin[:2], float) + 0.02 * np.asarray(inward[:2], float)  # just in front of the wall
    b = a + width * np.asarray(along[:2], float)
    corners = np.array([[*a, z0], [*b, z0], [*b, z1], [*a, z1]])
    uv = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    viewer_right = np.array([inward[1], -inward[0]])  # (-inward) x up
    mb.add_quad(corners, uv if np.dot(viewer_right, along[:2]) > 0 else uv[[1, 0, 3, 2]], layer, emissive=emissive)
    return width


def _indoor_occluders(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, route: Route,
                      s_range: tuple[float, float], d_range: tuple[float, float], rate: float) -> np.ndarray:
    """People and cartons on either side of the walk (test pass only)."""
    centres = []
    for s in np.arange(*s_range, 1.0):
        if rng.random() < rate:
            side = rng.choice([-1.0, 1.0])
            xy, yaw = place(route, s, side * rng.uniform(*d_range))
            if rng.random() < 0.6:
                add_person(mb, ts, rng, xy, yaw + rng.uniform(-np.pi, np.pi))
            else:
                size = rng.uniform(0.35, 0.6)
                mb.add_box(xy, 0.0, (size, size, size * rng.uniform(0.7, 1.5)), yaw + rng.uniform(0, 1.5),
                           ts.first("paint"), tint=(0.7, 0.55, 0.35))
            centres.append((*xy, 0.8))
    return np.array(centres, dtype=np.float64).reshape(-1, 3)


def _rounded_rectangle(half_x: float, half_y: float, radius: float, step: float = 0.1) -> np.ndarray:
    """Counter-clockwise loop points (the room's inside is on the walker's left).

    Only the corner arcs are sampled; consecutive arcs are joined by straight sides.
    """
    corners = ((half_x - radius, half_y - radius, 0.0), (-half_x + radius, half_y - radius, 0.5 * np.pi),
               (-half_x + radius, -half_y + radius, np.pi), (half_x - radius, -half_y + radius, 1.5 * np.pi))
    pts = []
    for cx, cy, a0 in corners:
        a = a0 + np.linspace(0.0, 0.5 * np.pi, max(2, int(radius * np.pi / 2 / step)))
        pts.append(np.stack([cx + radius * np.cos(a), cy + radius * np.sin(a)], axis=1))
    return np.concatenate(pts)


def build_room(rng: np.random.Generator, ts: TextureSet) -> SceneLayout:
    hx, hy, height = rng.uniform(8.0, 10.0), rng.uniform(5.5, 7.0), rng.uniform(3.0, 3.4)
    margin = 2.5
    route = Route.from_points(_rounded_rectangle(hx - margin, hy - margin, 1.5), closed=True)
    mb, test_only = MeshBuilder(), MeshBuilder()
    floor = np.array([[-hx, -hy, 0.0], [hx, -hy, 0.0], [hx, hy, 0.0], [-hx, hy, 0.0]])
    mb.add_quad(floor, floor[:, :2] / 1.5, ts.pick(rng, str(rng.choice(["wood", "carpet"]))))
    mb.add_quad(floor + [0, 0, height], floor[:, :2] / 1.2, ts.first("ceiling"))
    for k in range(4):  # walls, each its own colour
        a, b = floor[k], floor[(k + 1) % 4]
        corners = np.array([a, b, b + [0, 0, height], a + [0, 0, height]])
        w = float(np.linalg.norm(b - a))
        mb.add_quad(corners, np.array([[0, height], [w, height], [w, 0], [0, 0]]) / 2.0, ts.pick(rng, "plaster"),
                    tint=random_tint(rng, 0.2))
    for k in range(4):  # decor and furniture along each wall
        a, b = floor[k, :2], floor[(k + 1) % 4, :2]
        along = (b - a) / np.linalg.norm(b - a)
        inward = np.array([-along[1], along[0]])  # corners run counter-clockwise
        x, wall_length = rng.uniform(0.3, 1.5), float(np.linalg.norm(b - a))
        while x < wall_length - 2.2:
            if rng.random() < 0.5:
                x += _wall_item(mb, ts, rng, a + x * along, along, inward)
            else:
                size = (rng.uniform(0.6, 1.8), rng.uniform(0.4, 0.7), rng.uniform(0.8, 2.1))
                centre = a + (x + size[0] / 2) * along + (size[1] / 2 + 0.01) * inward
                add_cabinet(mb, ts, rng, centre, float(np.arctan2(along[1], along[0])), size)
                x += size[0]
            x += rng.uniform(0.2, 1.5)
    for x in np.arange(-hx + margin + 2.2, hx - margin - 1.8, 2.6):  # central island of tables
        xy = (x + rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
        if rng.random() < 0.7:
            add_table(mb, ts, rng, xy, rng.uniform(-0.2, 0.2))
        else:
            add_cabinet(mb, ts, rng, xy, rng.uniform(0, np.pi), (1.2, 0.5, rng.uniform(1.0, 1.8)))
    for x in np.arange(-hx + 1.5, hx, 3.0):  # ceiling lights
        for y in (-hy / 2, hy / 2):
            quad = np.array([[x - 0.6, y - 0.3], [x + 0.6, y - 0.3], [x + 0.6, y + 0.3], [x - 0.6, y + 0.3]])
            mb.add_quad(np.column_stack([quad, np.full(4, height - 0.01)]), np.zeros((4, 2)), ts.first("white"),
                        emissive=1.0)
    occluders = _indoor_occluders(test_only, ts, rng, route, (0.0, route.length), (0.9, 1.2), 0.25)
    s0 = rng.uniform(0.0, route.length)
    s1 = rng.uniform(0.0, route.length)
    return SceneLayout(route=route, meshes={STATIC: mb.build(), TEST_ONLY: test_only.build()},
                       train_s=(s0, s0 + 2.0 * route.length), test_s=(s1, s1 + route.length),
                       lateral_limit=0.5, outdoor=False, test_occluders=occluders)


CORRIDOR_HALF = 1.3
CORRIDOR_HEIGHT = 2.8


def _corridor_route(rng: np.random.Generator, n_segments: int = 6, radius: float = 2.5, step: float = 0.1) -> Route:
    """Straight segments joined by rounded 90-degree turns, alternating left/right (no self-crossing)."""
    turn = rng.choice([-1.0, 1.0])
    curvature = []
    for k in range(n_segments):
        curvature.append(np.zeros(int(rng.uniform(12.0, 25.0) / step)))
        if k < n_segments - 1:
            curvature.append(np.full(int(radius * np.pi / 2 / step), turn / radius))
            turn = -turn
    return Route.from_headings(np.zeros(2), rng.uniform(-np.pi, np.pi), np.concatenate(curvature), step)


def build_corridor(rng: np.random.Generator, ts: TextureSet) -> SceneLayout:
    route = _corridor_route(rng)
    L = route.length
    mb, test_only = MeshBuilder(), MeshBuilder()
    for s in np.arange(0.0, L, 8.0):  # wall material changes every few metres
        s1 = min(L, s + 8.0)
        for side in (-1.0, 1.0):
            d = side * CORRIDOR_HALF
            mb.add_ribbon(route, s, s1, d, d, 0.0, CORRIDOR_HEIGHT, ts.pick(rng, "plaster"), tile=2.0,
                          tint=random_tint(rng, 0.2), step=0.5)
            mb.add_ribbon(route, s, s1, d * 0.995, d * 0.995, 0.0, 0.12, ts.first("paint"), tile=1.0,
                          tint=(0.3, 0.25, 0.2), step=0.5)
        mb.add_ribbon(route, s, s1, -CORRIDOR_HALF, CORRIDOR_HALF, 0.0, 0.0, ts.pick(rng, "carpet"), tile=1.5,
                      step=0.5)
        mb.add_ribbon(route, s, s1, -CORRIDOR_HALF, CORRIDOR_HALF, CORRIDOR_HEIGHT, CORRIDOR_HEIGHT,
                      ts.first("ceiling"), tile=1.2, step=0.5)
    for s_end in (0.0, L):
        a, b = route.to_world(s_end, np.array([-CORRIDOR_HALF, CORRIDOR_HALF]), 0.0)
        mb.add_quad(np.array([a, b, b + [0, 0, CORRIDOR_HEIGHT], a + [0, 0, CORRIDOR_HEIGHT]]),
                    np.array([[0, 1], [1, 1], [1, 0], [0, 0]]), ts.pick(rng, "poster"))
    for s in np.arange(1.0, L - 2.0, 1.0):
        side = rng.choice([-1.0, 1.0])
        if not (is_straight(route, s) and is_straight(route, s + 2.0)):
            continue
        if rng.random() < 0.35:
            along = np.append(route.tangent(s), 0.0)
            inward = -side * np.array([-along[1], along[0]])
            _wall_item(mb, ts, rng, route.to_world(s, side * CORRIDOR_HALF, 0.0), along, inward)
        elif rng.random() < 0.08:
            xy, yaw = place(route, s, side * (CORRIDOR_HALF - 0.22))
            add_cabinet(mb, ts, rng, xy, yaw, (rng.uniform(0.8, 1.6), 0.4, rng.uniform(0.5, 1.9)))
    for s in np.arange(1.0, L, 3.5):
        a = route.to_world(np.array([s, s + 1.2]), np.array([[-0.3], [0.3]]), CORRIDOR_HEIGHT - 0.01)
        mb.add_quad(np.array([a[0, 0], a[0, 1], a[1, 1], a[1, 0]]), np.zeros((4, 2)), ts.first("white"), emissive=1.0)
    occluders = _indoor_occluders(test_only, ts, rng, route, (2.0, L - 2.0), (0.85, 1.0), 0.12)
    return SceneLayout(route=route, meshes={STATIC: mb.build(), TEST_ONLY: test_only.build()},
                       train_s=(1.5, L - 2.5), test_s=(1.5, L - 2.5), lateral_limit=0.35, outdoor=False,
                       test_occluders=occluders)
