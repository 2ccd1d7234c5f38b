"""Reusable objects (cars, people, trees, lamps, furniture) placed at a ground point + yaw."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .meshes import MeshBuilder
from .textures import TextureSet

_CAR_COLOURS = ((0.8, 0.1, 0.1), (0.1, 0.2, 0.6), (0.9, 0.9, 0.9), (0.15, 0.15, 0.15), (0.6, 0.6, 0.62),
                (0.2, 0.45, 0.25), (0.9, 0.75, 0.2), (0.45, 0.3, 0.2))


def _offset(xy: Sequence[float], yaw: float, forward: float, left: float = 0.0) -> tuple[float, float]:
    c, s = np.cos(yaw), np.sin(yaw)
    return (xy[0] + c * forward - s * left, xy[1] + s * forward + c * left)


def random_tint(rng: np.random.Generator, spread: float = 0.12) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(1.0 - spread, 1.0 + spread, 3))


def add_car(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float,
            length: float = 4.2, width: float = 1.75, body_height: float = 0.75) -> None:
    """Saloon-like car: dark underbody, painted body, glazed cabin."""
    colour = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    paint, dark = ts.first("paint"), ts.first("asphalt")
    mb.add_box(xy, 0.0, (length * 0.86, width * 0.92, 0.35), yaw, dark, tint=(0.4, 0.4, 0.4))
    mb.add_box(xy, 0.3, (length, width, body_height), yaw, paint, tint=colour)
    cabin = _offset(xy, yaw, -length * rng.uniform(0.0, 0.1))
    mb.add_box(cabin, 0.3 + body_height, (length * 0.55, width * 0.9, 0.55), yaw, paint,
               tint=tuple(0.35 * np.asarray(colour) + 0.1))


def add_van(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float) -> None:
    """Delivery van / parked box: a tall box, sometimes with an advert on its side."""
    side = ts.pick(rng, "shop") if rng.random() < 0.5 else ts.first("paint")
    mb.add_box(xy, 0.25, (rng.uniform(4.5, 6.0), 2.0, rng.uniform(2.0, 2.6)), yaw, side,
               top_layer=ts.first("paint"), tile=(6.0, 2.6), snap=True, tint=random_tint(rng))
    mb.add_box(xy, 0.0, (4.0, 1.8, 0.3), yaw, ts.first("asphalt"), tint=(0.3, 0.3, 0.3))


def add_person(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float) -> None:
    """Pedestrian-like occluder: legs, clothed torso, head."""
    height = rng.uniform(1.55, 1.9)
    cloth = ts.pick(rng, "cloth")
    mb.add_box(xy, 0.0, (0.25, 0.4, height * 0.47), yaw, ts.first("paint"), tint=tuple(rng.uniform(0.1, 0.5, 3)))
    mb.add_box(xy, height * 0.47, (0.3, 0.5, height * 0.38), yaw, cloth, tint=random_tint(rng, 0.3))
    skin = rng.uniform(0.35, 0.95)
    mb.add_ellipsoid((xy[0], xy[1], height * 0.93), (0.11, 0.1, 0.13), ts.first("paint"),
                     tint=(skin, skin * 0.8, skin * 0.65), rings=4, segments=6)


def add_tree(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float]) -> None:
    trunk_h = rng.uniform(2.2, 3.6)
    mb.add_cylinder(xy, 0.0, rng.uniform(0.12, 0.25), trunk_h + 0.8, ts.first("bark"), tint=random_tint(rng))
    r = rng.uniform(1.4, 2.6)
    rz = r * rng.uniform(0.9, 1.4)
    mb.add_ellipsoid((xy[0], xy[1], trunk_h + 0.8 * rz), (r, r * rng.uniform(0.8, 1.2), rz),
                     ts.first("leaves"), tint=random_tint(rng, 0.25))


def add_lamp(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float) -> None:
    """Street lamp: pole, arm reaching over the road, lamp head; sometimes a sign."""
    grey = (0.35, 0.36, 0.38)
    height = rng.uniform(4.5, 6.5)
    mb.add_cylinder(xy, 0.0, 0.07, height, ts.first("paint"), tint=grey, sides=6)
    arm = _offset(xy, yaw, 0.0, 0.6)
    mb.add_box(arm, height - 0.1, (0.1, 1.2, 0.1), yaw, ts.first("paint"), tint=grey)
    head = _offset(xy, yaw, 0.0, 1.1)
    mb.add_box(head, height - 0.3, (0.5, 0.3, 0.2), yaw, ts.first("white"), tint=(1.0, 0.95, 0.8), emissive=1.0)
    if rng.random() < 0.35:
        mb.add_box(xy, 2.2, (0.7, 0.04, 0.7), yaw, ts.pick(rng, "poster"), tile=(0.7, 0.7), snap=True)


def add_table(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float,
              size: tuple[float, float] = (1.6, 0.9)) -> None:
    wood = ts.pick(rng, "wood")
    tint = random_tint(rng)
    mb.add_box(xy, 0.72, (size[0], size[1], 0.04), yaw, wood, tint=tint)
    for fx in (-1, 1):
        for fy in (-1, 1):
            leg = _offset(xy, yaw, fx * (size[0] / 2 - 0.06), fy * (size[1] / 2 - 0.06))
            mb.add_box(leg, 0.0, (0.05, 0.05, 0.72), yaw, wood, tint=tint)


def add_cabinet(mb: MeshBuilder, ts: TextureSet, rng: np.random.Generator, xy: Sequence[float], yaw: float,
                size: tuple[float, float, float]) -> None:
    """Shelf, cupboard or sofa-like block; fronts show wood, posters (book spines) or cloth."""
    front = ts.pick(rng, str(rng.choice(("wood", "poster", "cloth"))))
    mb.add_box(xy, 0.0, size, yaw, front, top_layer=ts.pick(rng, "wood"), tile=(size[0], size[2]),
               snap=True, tint=random_tint(rng))
